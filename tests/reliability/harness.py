"""Real processes for the reliability tests and benchmarks: a fresh PostgreSQL database, seeded SMS
dispatches, the SMS sandbox on loopback, the API (`python -m tests.reliability.api_process`) and
`gateway worker` processes started with GATEWAY_* environment variables, and a final census.

Nothing of ours is mocked: workers are the real CLI, the provider is the real SMS client talking
HTTP to the sandbox, delivery reports come back over HTTP to the real callback route.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections import Counter
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from pathlib import Path

import psycopg
import requests
from sqlalchemy import func, insert, select

from gateway.channels.sms.sandbox import SmsSandbox, outcome_for
from gateway.delivery import service as delivery
from gateway.kit.ids import new_id
from gateway.kit.time import utc_now
from gateway.store.migrate import upgrade
from gateway.store.models import Claim, CreditorEntity, Debtor, Dispatch, DispatchAttempt, Document, InboundEvent, Job
from gateway.store.session import Database
from gateway.workers import queue

POSTGRES_ADMIN_URL = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[2]
SMS_API_KEY = "reliability-sms-key"
SMS_SECRET = "reliability-sms-callback-secret"
# Last digits whose sandbox reports end in DELIVRD (0-5 directly, 9 via ENROUTE): every dispatch has one final state.
DELIVERED_DIGITS = "0123459"
SEED_CHUNK = 1000  # rows per INSERT batch when seeding


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _admin(statement: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True, connect_timeout=5) as connection:
        connection.execute(statement)


def postgres_available() -> bool:
    try:
        _admin("SELECT 1")
    except psycopg.OperationalError:
        return False
    return True


@contextmanager
def fresh_postgres(label: str):
    """A migrated database of its own (name carries the pid: concurrent runs stay apart), dropped after."""
    name = f"gateway_{label}_{os.getpid()}"
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _admin(f"CREATE DATABASE {name}")
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    try:
        upgrade(url)
        yield url
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def phone(index: int) -> str:
    """A unique Belgian mobile number per dispatch whose last digit leads to DELIVRD."""
    return f"+3247{index:06d}{DELIVERED_DIGITS[index % len(DELIVERED_DIGITS)]}"


def seed_sms_dispatches(database: Database, count: int, *, start: int = 0, sent: bool = False) -> list[str]:
    """`count` consumer claims, each with one issued letter and one queued SMS dispatch (and its
    transmit job), inserted in bulk; returns the dispatches' idempotency keys. With `sent`, the
    dispatches are already accepted by the provider (state sent, message id `sms-seed-<n>`, no job)."""
    now = utc_now()
    keys: list[str] = []
    with database.session_scope() as session:
        creditor = session.scalar(select(CreditorEntity).where(CreditorEntity.code == "reliability"))
        if creditor is None:
            creditor = CreditorEntity(
                code="reliability", kind="municipality", name="Gemeente Betrouwbaar", enterprise_number="0207451227", vat_number="BE0207451227",
                iban="BE48320070184927", street="Botermarkt 1", postal_code="9000", city="Gent", country="BE", created_at=now,
            )
            session.add(creditor)
            session.flush()
        creditor_id = creditor.id
    for offset in range(start, start + count, SEED_CHUNK):
        debtors, claims, documents, dispatches, jobs = [], [], [], [], []
        for index in range(offset, min(offset + SEED_CHUNK, start + count)):
            debtor_id, claim_id, document_id, dispatch_id = new_id(), new_id(), new_id(), new_id()
            debtors.append({"id": debtor_id, "creditor_id": creditor_id, "external_id": f"R-{index}", "kind": "consumer", "name": f"Debiteur {index}", "language": "nl", "country": "BE", "created_at": now})
            base = f"{9_000_000_000 + index:010d}"  # a range of its own: intake assigns OGMs from claim numbers
            claims.append({
                "id": claim_id, "creditor_id": creditor_id, "debtor_id": debtor_id, "number": f"R{index:07d}", "claim_type": "retribution", "fiscal": False,
                "currency": "EUR", "issue_date": date(2026, 11, 2), "due_date": date(2026, 12, 2), "structured_communication": base + f"{(int(base) % 97) or 97:02d}",
                "status": "open", "total_net": Decimal("45.00"), "total_vat": Decimal("0.00"), "total_amount": Decimal("45.00"), "amount_paid": Decimal("0.00"), "created_at": now,
            })
            content = f"%PDF-1.7 letter {index}".encode()
            documents.append({
                "id": document_id, "claim_id": claim_id, "creditor_id": creditor_id, "kind": "letter", "prefix": "L", "sequence": index + 1, "number": f"L{index + 1:07d}",
                "media_type": "application/pdf", "content": content, "sha256": hashlib.sha256(content).hexdigest(), "issued_at": now, "meta": {}, "created_at": now,
            })
            recipient = phone(index)
            key = delivery.idempotency_key(document_id, "sms", recipient)
            keys.append(key)
            dispatches.append({
                "id": dispatch_id, "document_id": document_id, "claim_id": claim_id, "channel": "sms", "recipient": recipient, "state": "sent" if sent else "queued",
                "idempotency_key": key, "attempt_count": 1 if sent else 0, "provider": "sms" if sent else None,
                "provider_message_id": f"sms-seed-{index}" if sent else None, "routing_reason": "reliability test", "created_at": now, "updated_at": now,
            })
            if not sent:
                jobs.append(queue.job_row(delivery.TRANSMIT, {"dispatch_id": str(dispatch_id)}, now=now, dedup_key=f"{delivery.TRANSMIT}:{dispatch_id}:1"))
        with database.session_scope() as session:
            for model, rows in ((Debtor, debtors), (Claim, claims), (Document, documents), (Dispatch, dispatches), (Job, jobs)):
                if rows:
                    session.execute(insert(model), rows)
    return keys


class CountingSmsSandbox(SmsSandbox):
    """The SMS sandbox with a pause before it answers (so a SIGKILL often lands mid-send) and a
    count of repeated submissions per client reference (resubmissions after a crash)."""

    def __init__(self, *, accept_delay_seconds: float = 0.0, **kwargs) -> None:
        self.accept_delay_seconds = accept_delay_seconds
        self.resubmissions: Counter[str] = Counter()
        super().__init__(**kwargs)

    def accept(self, body: bytes) -> tuple[int, dict]:
        if self.accept_delay_seconds:
            time.sleep(self.accept_delay_seconds)
        status, payload = super().accept(body)
        if status == 200:
            with self.lock:
                self.resubmissions[json.loads(body)["client_reference"]] += 1
        return status, payload


def process_env(database_url: str, *, sms_url: str, api_port: int, **settings: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.update({
        "GATEWAY_DATABASE_URL": database_url,
        "GATEWAY_SMS_API_URL": sms_url,
        "GATEWAY_SMS_API_KEY": SMS_API_KEY,
        "GATEWAY_SMS_CALLBACK_SECRET": SMS_SECRET,
        "GATEWAY_PUBLIC_BASE_URL": f"http://127.0.0.1:{api_port}",
        "GATEWAY_PORT": str(api_port),
        "GATEWAY_CHANNEL_TIMEOUT_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
        # Periodic jobs are not under test here; switched off so the job table holds only ours.
        "GATEWAY_EBOX_RECEIPT_POLL_SECONDS": "0",
        "GATEWAY_PRINT_BATCH_CLOSE_SECONDS": "0",
    })
    env.update({f"GATEWAY_{name.upper()}": str(value) for name, value in settings.items()})
    return env


def start_worker(env: dict[str, str], log: Path) -> subprocess.Popen:
    """The real `gateway worker` command."""
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "gateway.cli", "worker"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)


def start_api(env: dict[str, str], log: Path, *, processes: int = 1) -> subprocess.Popen:
    with open(log, "ab") as out:
        process = subprocess.Popen([sys.executable, "-m", "tests.reliability.api_process", "--workers", str(processes)], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{env['GATEWAY_PORT']}/healthz"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, f"the API exited: {log.read_text()[-2000:]}"
        try:
            if requests.get(url, timeout=1).status_code == 200:
                return process
        except requests.RequestException:
            pass
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the API did not start: {log.read_text()[-2000:]}")


def kill(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGKILL)
    process.wait(10)


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            kill(process)


def rss_kib(pid: int) -> int:
    """Resident set size of a process from /proc (KiB); 0 for a process that is gone."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return 0
    for line in status.splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def serving_processes(pid: int) -> list[int]:
    """The processes of a uvicorn server that serve requests: its spawned workers, or itself when
    it has none (the parent of `--workers N` only supervises; multiprocessing's resource tracker
    serves nothing)."""
    children = []
    for child in sorted(process_tree(pid) - {pid}):
        try:
            command = Path(f"/proc/{child}/cmdline").read_bytes()
        except OSError:
            continue
        if b"resource_tracker" not in command:
            children.append(child)
    return children or [pid]


def process_tree(pid: int) -> set[int]:
    """The process and its descendants (uvicorn --workers forks its serving processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            children.setdefault(parent, []).append(int(entry.name))
    found, todo = set(), [pid]
    while todo:
        current = todo.pop()
        found.add(current)
        todo.extend(children.get(current, []))
    return found


@dataclass
class Census:
    """Where every row stands; the reliability assertions read this."""

    dispatch_states: dict[str, int]
    attempt_outcomes: dict[str | None, int]
    jobs: dict[tuple[str, str], int]
    inbound_events: int
    inbound_unhandled: int
    inbound_errors: list[str]
    failed_jobs: list[tuple[str, str | None]]
    claims: int
    documents: int
    messages_by_key: dict[str, str] = field(repr=False)  # idempotency key -> provider message id

    @property
    def unfinished(self) -> int:
        return sum(n for state, n in self.dispatch_states.items() if state in ("queued", "in_flight", "sent", "failed_temporary"))


def census(database: Database) -> Census:
    with database.session_scope() as session:
        return Census(
            dispatch_states=dict(session.execute(select(Dispatch.state, func.count()).group_by(Dispatch.state)).all()),
            attempt_outcomes=dict(session.execute(select(DispatchAttempt.outcome, func.count()).group_by(DispatchAttempt.outcome)).all()),
            jobs={(kind, state): n for kind, state, n in session.execute(select(Job.kind, Job.state, func.count()).group_by(Job.kind, Job.state))},
            inbound_events=session.scalar(select(func.count()).select_from(InboundEvent)),
            inbound_unhandled=session.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.handled_at.is_(None))),
            inbound_errors=list(session.scalars(select(InboundEvent.error).where(InboundEvent.error.is_not(None)).limit(5))),
            failed_jobs=[tuple(row) for row in session.execute(select(Job.kind, Job.last_error).where(Job.state == "failed").limit(5))],
            claims=session.scalar(select(func.count()).select_from(Claim)),
            documents=session.scalar(select(func.count()).select_from(Document)),
            messages_by_key=dict(session.execute(select(Dispatch.idempotency_key, Dispatch.provider_message_id)).all()),
        )


def wait_for(predicate, *, timeout: float, interval: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


def report_statuses(sandbox: SmsSandbox) -> Counter:
    """How our callback route answered each delivery report the sandbox sent."""
    return Counter(str(report["status"]) for message in list(sandbox.messages.values()) for report in list(message.reports))


def expected_reports(sandbox: SmsSandbox) -> int:
    """Reports the sandbox sends for the messages it created (two for a last digit 9: ENROUTE, DELIVRD)."""
    return sum(len(outcome_for(message.to)) for message in list(sandbox.messages.values()))


def run_worker(settings_values: dict) -> None:
    """A worker process as `gateway worker` runs it (Worker.run_forever), for a forkserver child.

    The crash test forks its workers from a forkserver that has imported the gateway once, so a
    replacement is working within milliseconds of a SIGKILL instead of after seconds of imports."""
    from gateway.channels.setup import build_providers
    from gateway.config import Settings
    from gateway.workers.run import Worker

    settings = Settings(**settings_values)
    Worker(Database(settings.database_url), settings, providers=build_providers(settings)).run_forever()


def worker_settings(env: dict[str, str]) -> dict:
    """The GATEWAY_* environment of `process_env` as Settings keyword arguments."""
    return {key.removeprefix("GATEWAY_").lower(): value for key, value in env.items() if key.startswith("GATEWAY_")}


def jobs_left(database: Database) -> int:
    """Jobs pending or running (due or not)."""
    with database.session_scope() as session:
        return session.scalar(select(func.count()).select_from(Job).where(Job.state.in_(("pending", "running"))))


def running_jobs_of(database: Database, pid: int) -> int:
    """Jobs leased by the worker process `pid` (worker names are host:pid:thread)."""
    with database.session_scope() as session:
        return session.scalar(select(func.count()).select_from(Job).where(Job.state == "running", Job.locked_by.like(f"%:{pid}:%")))


@dataclass
class WorkersRun:
    """What `run_workers` saw: the final census, the sandbox, and the timings."""

    final: Census
    sandbox: CountingSmsSandbox
    keys: list[str]
    workers: int
    killed_pid: int | None
    killed_holding: int  # dispatches the killed worker had in flight when it died
    seed_seconds: float
    sent_seconds: float  # workers started -> no dispatch queued or in flight
    final_seconds: float  # workers started -> every dispatch delivered and every report applied
    worker_rss_kib: list[int]


KILL_TRIES = 5  # moments tried to kill a worker mid-send (run_workers)


def run_workers(url: str, count: int, *, workers: int, logs: Path, stale_after_seconds: int, kill_at_fraction: float | None = 0.5, timeout: float = 600, accept_delay_seconds: float = 0.01) -> WorkersRun:
    """Seed `count` SMS dispatches, start the API and `workers` real `gateway worker` processes,
    SIGKILL one of them while it holds a transmit job once `kill_at_fraction` of the dispatches
    are sent, and wait until everything is final. The sweeper (in the survivors) re-queues its work."""
    database = Database(url)
    sandbox = CountingSmsSandbox(api_key=SMS_API_KEY, callback_secret=SMS_SECRET, report_delay_seconds=0.05, accept_delay_seconds=accept_delay_seconds)
    processes: list[subprocess.Popen] = []
    api = None
    try:
        started = time.monotonic()
        keys = seed_sms_dispatches(database, count)
        seed_seconds = time.monotonic() - started
        env = process_env(url, sms_url=sandbox.url, api_port=free_port(), worker_stale_after_seconds=stale_after_seconds, worker_poll_seconds=0.1, retry_base_seconds=1)
        api = start_api(env, logs / "api.log")
        started = time.monotonic()
        processes = [start_worker(env, logs / f"worker-{index}.log") for index in range(workers)]
        killed_pid, killed_holding = None, 0
        sent_seconds = None
        rss: list[int] = []
        deadline = started + timeout
        while time.monotonic() < deadline:
            state = census(database)
            waiting = state.dispatch_states.get("queued", 0) + state.dispatch_states.get("in_flight", 0)
            if kill_at_fraction is not None and killed_pid is None and waiting <= count * (1 - kill_at_fraction):
                rss = [rss_kib(process.pid) for process in processes]
                # Kill the first worker at a moment when it has a dispatch in flight, so it dies
                # mid-send. On a loaded machine the send can finish between the look and the kill:
                # then that worker is replaced and the next moment is tried (at most KILL_TRIES).
                for _ in range(KILL_TRIES):
                    victim = processes[0]
                    holding_deadline = time.monotonic() + 20
                    while time.monotonic() < holding_deadline and not _in_flight_of(database, victim.pid):
                        pass
                    kill(victim)
                    killed_pid, killed_holding = victim.pid, _in_flight_of(database, victim.pid)
                    if killed_holding:
                        break
                    processes[0] = start_worker(env, logs / "worker-0-replacement.log")
            if sent_seconds is None and waiting == 0:
                sent_seconds = time.monotonic() - started
            if state.dispatch_states == {"delivered": count} and not any(job_state in ("pending", "running") for (_, job_state) in state.jobs):
                break
            time.sleep(0.5)
        final_seconds = time.monotonic() - started
        if not rss:
            rss = [rss_kib(process.pid) for process in processes]
        sandbox.wait_for_reports()
        return WorkersRun(census(database), sandbox, keys, workers, killed_pid, killed_holding, seed_seconds, sent_seconds or final_seconds, final_seconds, rss)
    finally:
        for process in processes:
            stop(process)
        if api is not None:
            stop(api)
        sandbox.close()
        database.dispose()


def _in_flight_of(database: Database, pid: int) -> int:
    """Dispatches in flight under transmit jobs leased by worker process `pid`: it is mid-send."""
    with database.session_scope() as session:
        payloads = session.scalars(select(Job.payload).where(Job.state == "running", Job.kind == delivery.TRANSMIT, Job.locked_by.like(f"%:{pid}:%"))).all()
        ids = [uuid.UUID(payload["dispatch_id"]) for payload in payloads]
        if not ids:
            return 0
        return session.scalar(select(func.count()).select_from(Dispatch).where(Dispatch.id.in_(ids), Dispatch.state == "in_flight"))
