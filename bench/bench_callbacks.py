"""Callback-ingestion benchmark (issue 4): signed Peppol AP callbacks over real HTTP into the
gateway API (uvicorn, its own process) and applied by 4 worker processes on PostgreSQL.

Seeds N Peppol dispatches in `sent` (bulk insert: claim, invoice document, dispatch with an AP
document id). The client POSTs, from several threads with keep-alive, two signed callbacks per
dispatch (`received`, a stale report that must not move it, and `delivered`) plus a repeat of
every tenth `delivered` (must store nothing), to `/v1/callbacks/peppol-ap`. The workers
(`gateway.workers.run.Worker` with the providers from the settings, as `gateway worker` builds
them) apply the inbox at the same time. Reported: ingest rate (callbacks answered 202 per
second of posting) and apply rate (inbox events handled per second, from the first POST to the
last one handled). Checked at the end, from the database:

- every stored inbound event is handled exactly once: 2N rows, each with `handled_at` and no
  error, and exactly one `inbox.apply` job per row, `done` after a single attempt;
- each dispatch moved once per event: exactly one `dispatch.reported` audit row per event
  (one `reported: sent`, one `reported: delivered` per dispatch), final state `delivered`;
- repeats were answered `duplicates: 1` and stored nothing.

    python -m bench.bench_callbacks [--dispatches 5000] [--workers 4] [--clients 16] [--api-processes 2] [--sequential]

Target: >= 500 callbacks/s ingested. The machine this runs on is shared (2 cores; API, client,
4 workers and PostgreSQL all on it), so the figure is a floor, not a capacity.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import date
from decimal import Decimal
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import requests
from sqlalchemy import func, insert, select

from bench.loadgen import KeepAliveClient
from gateway.channels.peppol.provider import sign
from gateway.kit.ids import new_id
from gateway.kit.time import utc_now
from gateway.store.migrate import upgrade
from gateway.store.models import AuditEvent, Claim, CreditorEntity, Debtor, Dispatch, Document, InboundEvent, Job
from gateway.store.session import Database
from tests.reliability.harness import process_tree

POSTGRES_ADMIN = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")
ROOT = Path(__file__).resolve().parents[1]
SECRET = "bench-peppol-callback-secret"
SEED_CHUNK = 1000  # rows per INSERT when seeding
REPEAT_EVERY = 10  # every tenth `delivered` callback is posted twice


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _admin(statement: str) -> None:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True, connect_timeout=5) as connection:
        connection.execute(statement)


def _env(url: str, port: int) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GATEWAY_")}
    env.update({
        "GATEWAY_DATABASE_URL": url,
        "GATEWAY_PORT": str(port),
        # The Peppol provider exists (so its callback verifier does); nothing is sent to this AP.
        "GATEWAY_PEPPOL_AP_BASE_URL": "http://127.0.0.1:9",
        "GATEWAY_PEPPOL_AP_CALLBACK_SECRET": SECRET,
        # Only the inbox work under test: the periodic jobs are off.
        "GATEWAY_EBOX_RECEIPT_POLL_SECONDS": "0",
        "GATEWAY_PRINT_BATCH_CLOSE_SECONDS": "0",
        "GATEWAY_PEPPOL_STATUS_POLL_SECONDS": "0",
        "GATEWAY_WORKER_POLL_SECONDS": "0.2",
        "PYTHONUNBUFFERED": "1",
    })
    return env


def app_factory():
    """`uvicorn --factory bench.bench_callbacks:app_factory`: the API with the providers of its settings."""
    from gateway.app import create_app
    from gateway.channels.setup import build_providers
    from gateway.config import get_settings

    settings = get_settings()
    return create_app(settings, run_workers=False, providers=build_providers(settings))


def worker_main() -> None:
    """One worker process, as `gateway worker` runs it (providers from the settings)."""
    from gateway.channels.setup import build_providers
    from gateway.config import get_settings
    from gateway.workers.run import Worker

    settings = get_settings()
    worker = Worker(Database(settings.database_url), settings, providers=build_providers(settings))
    try:
        worker.run_forever()
    except KeyboardInterrupt:
        worker.stop()


def seed(database: Database, count: int) -> list[str]:
    """`count` business claims, each with an issued invoice and a Peppol dispatch already `sent`; returns the AP document ids."""
    now = utc_now()
    with database.session_scope() as session:
        creditor = CreditorEntity(code="bench", kind="municipality", name="Gemeente Bench", iban="BE48320070184927", enterprise_number="0207451227", created_at=now)
        session.add(creditor)
        session.flush()
        creditor_id = creditor.id
    ap_ids = []
    for offset in range(0, count, SEED_CHUNK):
        debtors, claims, documents, dispatches = [], [], [], []
        for index in range(offset, min(offset + SEED_CHUNK, count)):
            debtor_id, claim_id, document_id = new_id(), new_id(), new_id()
            debtors.append({"id": debtor_id, "creditor_id": creditor_id, "external_id": f"B-{index}", "kind": "business", "name": f"Bedrijf {index}",
                            "language": "nl", "country": "BE", "peppol_id": f"0208:04{index:08d}", "created_at": now})
            base = f"{index:10d}"
            claims.append({
                "id": claim_id, "creditor_id": creditor_id, "debtor_id": debtor_id, "number": f"CB{index:07d}", "claim_type": "invoice", "fiscal": False,
                "currency": "EUR", "issue_date": date(2026, 11, 2), "due_date": date(2026, 12, 2), "structured_communication": base + f"{(int(base) % 97) or 97:02d}",
                "status": "open", "total_net": Decimal("100.00"), "total_vat": Decimal("21.00"), "total_amount": Decimal("121.00"), "amount_paid": Decimal("0.00"), "created_at": now,
            })
            content = f"<Invoice>{index}</Invoice>".encode()
            documents.append({
                "id": document_id, "claim_id": claim_id, "creditor_id": creditor_id, "kind": "invoice", "prefix": "INV", "sequence": index + 1, "number": f"INV{index + 1:06d}",
                "media_type": "application/xml", "content": content, "sha256": hashlib.sha256(content).hexdigest(), "issued_at": now, "meta": {}, "created_at": now,
            })
            ap_id = f"ap-bench-{index:07d}"
            ap_ids.append(ap_id)
            dispatches.append({
                "id": new_id(), "document_id": document_id, "claim_id": claim_id, "channel": "peppol", "recipient": f"0208:04{index:08d}", "state": "sent",
                "idempotency_key": hashlib.sha256(f"{document_id}|peppol".encode()).hexdigest(), "attempt_count": 1, "provider_message_id": ap_id,
                "routing_reason": "benchmark", "created_at": now, "updated_at": now,
            })
        with database.session_scope() as session:
            for model, rows in ((Debtor, debtors), (Claim, claims), (Document, documents), (Dispatch, dispatches)):
                session.execute(insert(model), rows)
    return ap_ids


def callbacks(ap_ids: list[str]) -> list[bytes]:
    """The bodies in posting order: per dispatch `received` then `delivered`, every tenth `delivered` again at the end."""
    bodies, repeats = [], []
    for index, ap_id in enumerate(ap_ids):
        bodies.append(json.dumps({"event_id": f"{ap_id}:1", "document_id": ap_id, "status": "received"}).encode())
        delivered = json.dumps({"event_id": f"{ap_id}:2", "document_id": ap_id, "status": "delivered"}).encode()
        bodies.append(delivered)
        if index % REPEAT_EVERY == 0:
            repeats.append(delivered)
    return bodies + repeats


def post_all(url: str, bodies: list[bytes], clients: int) -> tuple[float, Counter]:
    """POST every body (signed at send time) over `clients` keep-alive connections; returns the seconds taken and the answers."""
    parts = urlsplit(url)

    def signed(body: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        return {"Content-Type": "application/json", "X-Timestamp": timestamp, "X-Signature": sign(SECRET.encode(), timestamp, body)}

    async def post() -> list[tuple[int, bytes]]:
        async with KeepAliveClient(f"{parts.scheme}://{parts.netloc}", clients) as client:
            return await client.post_all(parts.path, bodies, signed)

    started = time.perf_counter()
    responses = asyncio.run(post())
    seconds = time.perf_counter() - started
    answers: Counter = Counter()
    for status, body in responses:
        if status != 202:
            answers[f"http {status}"] += 1
            continue
        parsed = json.loads(body)
        answers["stored"] += parsed["stored"]
        answers["duplicates"] += parsed["duplicates"]
    return seconds, answers


def _wait_http(url: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the API exited: {log.read_text()[-2000:]}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.ConnectionError:
            time.sleep(0.1)
    raise RuntimeError("the API did not start")


def _cpu_seconds(pids: set[int]) -> float:
    """User + system CPU seconds used so far by these processes (Linux /proc; 0 for any gone)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def _settle(pids: set[int], limit_seconds: float = 60.0) -> float:
    """Wait until the processes have finished starting (less than 0.05 CPU s in 0.5 s); their CPU seconds then."""
    deadline = time.monotonic() + limit_seconds
    before = _cpu_seconds(pids)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _cpu_seconds(pids)
        if now - before < 0.05:
            return now
        before = now
    return before


def _backend_pids(database_name: str) -> set[int]:
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        return {row[0] for row in connection.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s", (database_name,))}


def census(database: Database, dispatches: int) -> dict:
    """The end state, checked: each event handled once, each dispatch moved once per event."""
    with database.session_scope() as session:
        events = session.execute(select(func.count(), func.count(InboundEvent.handled_at), func.count(InboundEvent.error))).one()
        jobs = Counter((state, attempts) for state, attempts in session.execute(select(Job.state, Job.attempts).where(Job.kind == "inbox.apply")))
        states = Counter(session.scalars(select(Dispatch.state)))
        reported = session.execute(select(AuditEvent.entity_id, AuditEvent.data).where(AuditEvent.action == "dispatch.reported")).all()
    per_claim = Counter((entity_id, data["reported"]) for entity_id, data in reported)
    expected = 2 * dispatches
    problems = []
    if tuple(events) != (expected, expected, 0):
        problems.append(f"inbound events (rows, handled, errors) = {tuple(events)}, expected ({expected}, {expected}, 0)")
    if jobs != Counter({("done", 1): expected}):
        problems.append(f"inbox.apply jobs by (state, attempts) = {dict(jobs)}, expected {{('done', 1): {expected}}}")
    if states != Counter({"delivered": dispatches}):
        problems.append(f"dispatch states = {dict(states)}")
    if len(reported) != expected or set(per_claim.values()) != {1} or len(per_claim) != expected:
        problems.append(f"dispatch.reported rows = {len(reported)} (expected {expected}, one 'sent' and one 'delivered' per dispatch)")
    return {"events": events[0], "jobs": dict(jobs), "states": dict(states), "reported": len(reported), "problems": problems}


def run(dispatches: int, workers: int, clients: int, api_processes: int, sequential: bool = False) -> dict:
    name = f"gateway_bench_callbacks_{os.getpid()}"
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    _admin(f"CREATE DATABASE {name}")
    url = POSTGRES_ADMIN.rsplit("/", 1)[0] + f"/{name}"
    processes: list[subprocess.Popen] = []
    try:
        upgrade(url)
        database = Database(url)
        seeded = time.perf_counter()
        ap_ids = seed(database, dispatches)
        seed_seconds = time.perf_counter() - seeded
        bodies = callbacks(ap_ids)
        client_cpu = time.process_time()
        port = _free_port()
        env = _env(url, port)
        with tempfile.TemporaryDirectory() as logs:
            api_log = Path(logs) / "api.log"
            with open(api_log, "ab") as out:
                api = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "bench.bench_callbacks:app_factory", "--port", str(port), "--log-level", "warning",
                                        "--workers", str(api_processes)],
                                       env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT)
            processes.append(api)
            _wait_http(f"http://127.0.0.1:{port}/healthz", api, api_log)

            api_base = _cpu_seconds(process_tree(api.pid))  # after start-up: imports are not per-callback cost
            for number in range(workers):
                with open(Path(logs) / f"worker-{number}.log", "ab") as out:
                    processes.append(subprocess.Popen([sys.executable, "-m", "bench.bench_callbacks", "--worker"], env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT))
            worker_pids = {p.pid for p in processes if p is not api}
            workers_base = _settle(worker_pids)
            if sequential:  # ingest alone: the workers are paused (idle, outside any transaction) until every POST is answered
                for pid in worker_pids:
                    os.kill(pid, signal.SIGSTOP)
            started = time.perf_counter()
            post_seconds, answers = post_all(f"http://127.0.0.1:{port}/v1/callbacks/peppol-ap", bodies, clients)
            if sequential:  # then the apply alone, timed from the moment they resume
                started = time.perf_counter()
                for pid in worker_pids:
                    os.kill(pid, signal.SIGCONT)
            expected = 2 * dispatches
            deadline = time.monotonic() + 600
            while time.monotonic() < deadline:
                with database.session_scope() as session:
                    handled = session.scalar(select(func.count(InboundEvent.handled_at)))
                if handled >= expected:
                    break
                time.sleep(0.1)
            apply_seconds = time.perf_counter() - started
            # CPU actually spent, whatever else ran on the machine: a figure the load does not distort much.
            cpu = {
                "api": _cpu_seconds(process_tree(api.pid)) - api_base,
                "workers": _cpu_seconds(worker_pids) - workers_base,
                "postgres": _cpu_seconds(_backend_pids(name)),
                "client": time.process_time() - client_cpu,
            }
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=20)
        result = census(database, dispatches)
        database.dispose()
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    return {
        "dispatches": dispatches, "workers": workers, "clients": clients, "api_processes": api_processes, "sequential": sequential, "seed_seconds": round(seed_seconds, 1),
        "callbacks_posted": len(bodies), "answers": dict(answers), "post_seconds": round(post_seconds, 2),
        "ingest_per_second": round(len(bodies) / post_seconds), "apply_seconds": round(apply_seconds, 2),
        "apply_per_second": round(2 * dispatches / apply_seconds),
        "cpu_ms": {part: round(seconds * 1000 / len(bodies if part in ("api", "client") else range(2 * dispatches)), 2) for part, seconds in cpu.items()}, **result,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dispatches", type=int, default=5000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--clients", type=int, default=16, help="client connections posting callbacks")
    parser.add_argument("--api-processes", type=int, default=2, help="uvicorn worker processes serving the API")
    parser.add_argument("--sequential", action="store_true", help="post everything first, then start the workers (ingest and apply measured alone)")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if args.worker:
        worker_main()
        return {}
    try:
        _admin("SELECT 1")
    except psycopg.OperationalError as exc:
        print(f"skipped: PostgreSQL unreachable ({exc})")
        return {}
    load = os.getloadavg()[0]
    result = run(args.dispatches, args.workers, args.clients, args.api_processes, args.sequential)
    repeats = (args.dispatches + REPEAT_EVERY - 1) // REPEAT_EVERY
    print(f"seeded {result['dispatches']:,} Peppol dispatches in sent ({result['seed_seconds']} s); load average before the run {load:.1f}")
    print(f"ingest: {result['callbacks_posted']:,} signed callbacks over HTTP ({result['api_processes']} uvicorn processes) over {result['clients']} client connections in {result['post_seconds']} s = "
          f"{result['ingest_per_second']:,} callbacks/s (target >= 500); answers {result['answers']}")
    since = "from the workers' start (after all posts)" if result["sequential"] else "from the first POST (workers running while posting)"
    print(f"apply: {result['workers']} worker processes handled {2 * result['dispatches']:,} inbox events in {result['apply_seconds']} s {since} = "
          f"{result['apply_per_second']:,} events/s")
    cpu = result["cpu_ms"]
    print(f"CPU per callback: API {cpu['api']} ms, client {cpu['client']} ms; per applied event: workers {cpu['workers']} ms; "
          f"PostgreSQL backends (ingest + apply) {cpu['postgres']} ms per event")
    print(f"checks: inbound events {result['events']:,}, inbox.apply jobs {result['jobs']}, dispatch states {result['states']}, "
          f"dispatch.reported rows {result['reported']:,}; repeats expected as duplicates: {repeats:,}")
    if result["answers"].get("duplicates") != repeats or result["answers"].get("stored") != 2 * result["dispatches"]:
        result["problems"].append(f"answers {result['answers']}: expected stored {2 * result['dispatches']}, duplicates {repeats}")
    if result["problems"]:
        print("FAILED: " + "; ".join(result["problems"]))
        raise SystemExit(1)
    print("no event applied twice: every inbound event handled once by one inbox.apply job in one attempt; each dispatch reported once per event")
    return {"callbacks": result}


if __name__ == "__main__":
    main(sys.argv[1:])
