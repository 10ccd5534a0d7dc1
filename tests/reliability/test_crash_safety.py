"""Crash safety: worker processes SIGKILLed at random moments while they send SMS dispatches to
the sandbox over loopback HTTP, and while they issue, validate and send Peppol invoices through
the sandbox access point; replacements are started until every dispatch is final.

What must hold at the end (issue 8, "Crash safety"):
- the sandbox created exactly one message per dispatch, under the dispatch's idempotency key
  (a retry after a crash reused the key; repeats are counted apart as resubmissions);
- every dispatch is `delivered` (nothing queued / in flight / sent without its report), with the
  sandbox's message id;
- every attempt row is finished (sent) or `abandoned` by the sweeper;
- every delivery report reached our callback route (202), is stored once and handled; no job is
  left pending, running or failed; claims and documents are all still there.

Workers are forked from a forkserver that has imported the gateway once (a `gateway worker`
process takes ~2.5 s to import on this machine; 100 kills would otherwise be mostly kills of
processes still importing). The child runs exactly what `gateway worker` runs:
`Worker.run_forever` with the providers built from the GATEWAY_* settings.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import time
from collections import Counter

import pytest
from sqlalchemy import select

from gateway.api.payloads import ClaimIn
from gateway.kit.time import utc_now
from gateway.peppol.sandbox_ap import SandboxNetwork
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.store.models import Claim, Dispatch, Document
from gateway.store.session import Database
from tests.factories import claim_payload, seed_creditors
from tests.reliability import harness

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

SEED = 20261123  # the kill schedule is reproducible
DISPATCHES = 400
WORKERS = 3
KILLS = 120
KILL_INTERVAL_SECONDS = (0.05, 0.45)  # uniform pause between two kills
STALE_AFTER_SECONDS = 2  # the sweeper puts back work of a dead worker after this
SETTLE_TIMEOUT_SECONDS = 90


@pytest.fixture(scope="module")
def forkserver():
    context = multiprocessing.get_context("forkserver")
    # Imported once, before any fork (Saxon is not: it starts threads, which a fork would not carry).
    context.set_forkserver_preload(["tests.reliability.harness", "gateway.workers.run", "gateway.workers.tasks", "gateway.channels.sms.provider",
                                    "gateway.channels.peppol.provider", "gateway.peppol.discovery"])
    return context


class Workers:
    """`WORKERS` worker processes forked from the forkserver (each runs what `gateway worker`
    runs), SIGKILLed one at a time at seeded random moments and replaced at once."""

    def __init__(self, forkserver, settings_values: dict, database: Database) -> None:
        self.forkserver, self.settings_values, self.database = forkserver, settings_values, database
        self.processes = [self._spawn() for _ in range(WORKERS)]

    def _spawn(self):
        process = self.forkserver.Process(target=harness.run_worker, args=(self.settings_values,), daemon=True)
        process.start()
        return process

    def kill_repeatedly(self, kills: int, interval_seconds: tuple[float, float], rng: random.Random) -> int:
        """Kill `kills` times; returns how many kills hit a worker that held a job."""
        mid_job = 0
        for _ in range(kills):
            time.sleep(rng.uniform(*interval_seconds))
            victim = rng.randrange(WORKERS)
            self.processes[victim].kill()  # SIGKILL
            self.processes[victim].join(10)
            mid_job += harness.running_jobs_of(self.database, self.processes[victim].pid) > 0
            self.processes[victim] = self._spawn()
        return mid_job

    def kill_at_work(self, kills: int, pause_seconds: tuple[float, float], rng: random.Random) -> int:
        """Kill `kills` times, each after a random pause and then as soon as a worker is seen holding
        a job (that one dies); returns how many kills hit a worker that held a job. For slow-starting
        workers, where blind kills land mostly on start-up."""
        mid_job = 0
        for _ in range(kills):
            time.sleep(rng.uniform(*pause_seconds))
            deadline = time.monotonic() + BUSY_WAIT_SECONDS
            busy: list[int] = []
            while time.monotonic() < deadline and harness.jobs_left(self.database):
                busy = [index for index, process in enumerate(self.processes) if harness.running_jobs_of(self.database, process.pid)]
                if busy:
                    break
                time.sleep(0.01)
            victim = rng.choice(busy) if busy else rng.randrange(WORKERS)
            self.processes[victim].kill()  # SIGKILL
            self.processes[victim].join(10)
            mid_job += harness.running_jobs_of(self.database, self.processes[victim].pid) > 0
            self.processes[victim] = self._spawn()
        return mid_job

    def stop(self) -> None:
        for process in self.processes:
            process.kill()
            process.join(10)


def test_sigkilled_workers_neither_lose_nor_duplicate_anything(tmp_path, forkserver):
    if not harness.postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required under CI=true")
        pytest.skip("PostgreSQL unreachable")
    started = time.monotonic()
    rng = random.Random(SEED)
    sandbox = harness.CountingSmsSandbox(api_key=harness.SMS_API_KEY, callback_secret=harness.SMS_SECRET, accept_delay_seconds=0.02, report_delay_seconds=0.05)
    workers: Workers | None = None
    api = None
    with harness.fresh_postgres("crash") as url:
        database = Database(url)
        try:
            keys = harness.seed_sms_dispatches(database, DISPATCHES)
            env = harness.process_env(
                url, sms_url=sandbox.url, api_port=harness.free_port(),
                worker_stale_after_seconds=STALE_AFTER_SECONDS, retry_base_seconds=1, worker_poll_seconds=0.05,
            )
            api = harness.start_api(env, tmp_path / "api.log")
            workers = Workers(forkserver, harness.worker_settings(env), database)
            kills, kills_mid_job = KILLS, workers.kill_repeatedly(KILLS, KILL_INTERVAL_SECONDS, rng)
            kill_phase_seconds = time.monotonic() - started

            def settled() -> bool:
                state = harness.census(database)
                return state.dispatch_states == {"delivered": DISPATCHES} and not any(
                    st in ("pending", "running") for (_, st) in state.jobs
                ) and sum(len(m.reports) for m in list(sandbox.messages.values())) == harness.expected_reports(sandbox)

            assert harness.wait_for(settled, timeout=SETTLE_TIMEOUT_SECONDS), harness.census(database)
            sandbox.wait_for_reports()
            final = harness.census(database)
        finally:
            if workers is not None:
                workers.stop()
            if api is not None:
                harness.stop(api)
            sandbox.close()
            database.dispose()

    # Exactly one message per dispatch, under its own key, and the dispatch knows its id.
    assert sorted(sandbox.messages) == sorted(keys)
    assert {key: message.id for key, message in sandbox.messages.items()} == final.messages_by_key
    assert len({message.to for message in sandbox.messages.values()}) == DISPATCHES
    # Nothing stuck, nothing lost.
    assert final.dispatch_states == {"delivered": DISPATCHES}
    assert set(final.attempt_outcomes) <= {"sent", "abandoned"} and final.attempt_outcomes["sent"] == DISPATCHES
    assert {state for (_, state) in final.jobs} == {"done"}, final.failed_jobs
    reports = harness.expected_reports(sandbox)
    assert harness.report_statuses(sandbox) == {"202": reports}
    assert (final.inbound_events, final.inbound_unhandled, final.inbound_errors) == (reports, 0, [])
    assert (final.claims, final.documents) == (DISPATCHES, DISPATCHES)

    resubmissions = sum(sandbox.resubmissions.values())
    abandoned = final.attempt_outcomes.get("abandoned", 0)
    print(
        f"\ncrash safety: {kills} SIGKILLs ({kills_mid_job} while the worker held a job) over {WORKERS} workers, "
        f"{DISPATCHES} dispatches, {resubmissions} resubmissions seen by the provider (same key), "
        f"{abandoned} attempts abandoned, {sandbox.requests} provider requests, {reports} delivery reports; "
        f"kill phase {kill_phase_seconds:.1f} s, total {time.monotonic() - started:.1f} s"
    )
    # The kills must have hit work in progress, or the test proves nothing. (How many land between
    # the provider's answer and our record, i.e. resubmissions, depends on the machine's load: 4-13
    # per run here; the deterministic case is in tests/delivery and test_lease_expiry.)
    assert kills_mid_job >= 5 and abandoned >= 1


# --- Peppol: issue, validate, look up and submit under SIGKILL -----------------------------------

PEPPOL_CLAIMS = 60
PEPPOL_KILLS = 24
# A new worker spends its first seconds importing and compiling the official Schematron (3-7 s
# here): after each pause the kill waits for a worker that holds a job (issuing, validating, looking
# up, submitting, applying a callback), so kills land on work rather than on start-up.
PEPPOL_KILL_INTERVAL_SECONDS = (0.5, 2.5)
BUSY_WAIT_SECONDS = 20  # how long a kill waits for a worker holding a job
PEPPOL_SETTLE_TIMEOUT_SECONDS = 240
AP_SECRET = "reliability-peppol-callback-secret"


def enterprise_numbers(count: int, last_digit: str) -> list[str]:
    """Valid Belgian enterprise numbers (mod 97) ending in `last_digit`: the sandbox AP picks the
    outcome by the receiver's last digit ("2": delivered, with an MLR AP)."""
    numbers, base = [], 4_100_000
    while len(numbers) < count:
        base += 1
        number = f"0{base:07d}{97 - base % 97:02d}"
        if number.endswith(last_digit):
            numbers.append(number)
    return numbers


def test_sigkilled_workers_issue_and_send_each_peppol_invoice_once(tmp_path, forkserver, standards_dir):
    if not harness.postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required under CI=true")
        pytest.skip("PostgreSQL unreachable")
    started = time.monotonic()
    rng = random.Random(SEED + 1)
    numbers = enterprise_numbers(PEPPOL_CLAIMS, "2")
    workers: Workers | None = None
    api = network = None
    with harness.fresh_postgres("crash_peppol") as url:
        database = Database(url)
        try:
            keys = seed_creditors(database)
            with database.session_scope() as session:
                principal = authenticate(session, keys.municipality_key)
                for index, number in enumerate(numbers):
                    payload = claim_payload(f"P{index:05d}")
                    payload["debtor"] = {**payload["debtor"], "external_id": f"B-{number}", "enterprise_number": number, "vat_number": f"BE{number}",
                                         "peppol_id": f"0208:{number}", "contacts": []}
                    create_claim(session, principal, ClaimIn.model_validate(payload), now=utc_now())
            api_port = harness.free_port()
            network = SandboxNetwork([f"0208:{number}" for number in numbers], pki_dir=tmp_path / "pki", standards_dir=standards_dir,
                                     callback_url=f"http://127.0.0.1:{api_port}/v1/callbacks/peppol-ap", secret=AP_SECRET).start()
            env = harness.process_env(
                url, sms_url="http://127.0.0.1:9", api_port=api_port, worker_stale_after_seconds=STALE_AFTER_SECONDS, retry_base_seconds=1,
                worker_poll_seconds=0.05, standards_dir=standards_dir, **network.settings_update(),
            )
            api = harness.start_api(env, tmp_path / "api.log")
            workers = Workers(forkserver, harness.worker_settings(env), database)
            kills, kills_mid_job = PEPPOL_KILLS, workers.kill_at_work(PEPPOL_KILLS, PEPPOL_KILL_INTERVAL_SECONDS, rng)
            kill_phase_seconds = time.monotonic() - started

            def peppol_states() -> Counter:
                with database.session_scope() as session:
                    return Counter(session.scalars(select(Dispatch.state).where(Dispatch.channel == "peppol")))

            def settled() -> bool:
                return peppol_states() == Counter({"delivered": PEPPOL_CLAIMS}) and network.ap.wait_idle(0.1) and not any(
                    st in ("pending", "running") for (_, st) in harness.census(database).jobs
                )

            assert harness.wait_for(settled, timeout=PEPPOL_SETTLE_TIMEOUT_SECONDS, interval=1.0), (peppol_states(), harness.census(database))
            final = harness.census(database)
            with database.session_scope() as session:
                invoices = session.execute(select(Document.claim_id, Document.sequence).where(Document.kind == "invoice")).all()
                sent = session.execute(select(Dispatch.idempotency_key, Dispatch.provider_message_id).where(Dispatch.channel == "peppol")).all()
                claims = session.scalar(select(Claim.id).limit(1)) is not None
            ap_documents = {document.idempotency_key: document.id for document in network.ap.documents.values()}
            ap_requests = network.ap.requests
            refused = list(network.ap.refused)
        finally:
            if workers is not None:
                workers.stop()
            if api is not None:
                harness.stop(api)
            if network is not None:
                network.stop()
            database.dispose()

    # Each claim issued once: one invoice per claim, numbers consecutive (a killed issuance rolled back whole).
    assert len(invoices) == PEPPOL_CLAIMS and len({claim_id for claim_id, _ in invoices}) == PEPPOL_CLAIMS and claims
    sequence = sorted(number for _, number in invoices)
    assert sequence == list(range(sequence[0], sequence[0] + PEPPOL_CLAIMS))
    # Each dispatch reached the access point exactly once, under its own key, and knows its document id.
    assert dict(sent) == ap_documents
    assert len(ap_documents) == PEPPOL_CLAIMS
    # Every callback (MLR AP, then delivered) answered 2xx, stored once, applied; nothing stuck.
    assert refused == []
    assert set(final.attempt_outcomes) <= {"sent", "abandoned"} and final.attempt_outcomes["sent"] == PEPPOL_CLAIMS
    assert {state for (_, state) in final.jobs} == {"done"}, final.failed_jobs
    assert (final.inbound_unhandled, final.inbound_errors) == (0, [])
    print(
        f"\npeppol crash safety: {kills} SIGKILLs ({kills_mid_job} while the worker held a job) over {WORKERS} workers, "
        f"{PEPPOL_CLAIMS} invoices issued, validated and sent once; {ap_requests} AP requests, "
        f"{final.attempt_outcomes.get('abandoned', 0)} attempts abandoned, {final.inbound_events} callbacks; "
        f"kill phase {kill_phase_seconds:.1f} s, total {time.monotonic() - started:.1f} s"
    )
    assert kills_mid_job >= 3  # 5-16 per run here, fewer the busier the machine (a job can end between the look and the kill)
