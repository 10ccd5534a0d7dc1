"""Crash safety: worker processes SIGKILLed at random moments while they send SMS dispatches to
the sandbox over loopback HTTP; replacements are started until every dispatch is final.

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

import pytest

from gateway.store.session import Database
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
    context.set_forkserver_preload(["tests.reliability.harness", "gateway.workers.run", "gateway.workers.tasks", "gateway.channels.sms.provider"])
    return context


def test_sigkilled_workers_neither_lose_nor_duplicate_anything(tmp_path, forkserver):
    if not harness.postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required under CI=true")
        pytest.skip("PostgreSQL unreachable")
    started = time.monotonic()
    rng = random.Random(SEED)
    sandbox = harness.CountingSmsSandbox(api_key=harness.SMS_API_KEY, callback_secret=harness.SMS_SECRET, accept_delay_seconds=0.02, report_delay_seconds=0.05)
    workers: list = []
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
            values = harness.worker_settings(env)

            def spawn():
                process = forkserver.Process(target=harness.run_worker, args=(values,), daemon=True)
                process.start()
                return process

            workers = [spawn() for _ in range(WORKERS)]
            kills = kills_mid_job = 0
            while kills < KILLS:
                time.sleep(rng.uniform(*KILL_INTERVAL_SECONDS))
                victim = rng.randrange(WORKERS)
                workers[victim].kill()  # SIGKILL
                workers[victim].join(10)
                kills += 1
                kills_mid_job += harness.running_jobs_of(database, workers[victim].pid) > 0
                workers[victim] = spawn()
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
            for process in workers:
                process.kill()
                process.join(10)
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
