"""Soak: claim intake and provider callbacks offered at the benchmark rates for 10 minutes
(PostgreSQL), with the memory of the API and worker processes sampled from start to end.

Running: the API (`python -m tests.reliability.api_process`: the app with the providers built
from GATEWAY_* settings, served by `--api-processes` uvicorn processes) and `--workers`
`gateway worker` processes on a fresh PostgreSQL database. The SMS dispatches the reports are
about are seeded `sent` before the clock starts (so seeding costs nothing during the run). Then,
every second, this driver
- posts claims to `POST /v1/claims/batch` (half business, half consumer, debtors reused over
  500 external ids, as in bench_intake), which the workers route and issue;
- posts signed SMS delivery reports (DELIVRD; one in ten a repeat, as providers do) to
  `POST /v1/callbacks/sms` over keep-alive connections (bench.loadgen); the API stores them,
  the workers apply them.
Both loads are open-loop per second: what a second could not post is not carried over, and the
seconds that ran late are counted, so the achieved rates say what the machine sustained.

Memory: VmRSS of every API process and every worker, sampled every `--sample` seconds. "Flat"
is judged from the end of the warm-up (`--warm-up`, by default 120 s: imports, Saxon, WeasyPrint
fonts, connection pools) to the end: each process may end at most `FLAT_TOLERANCE` above its RSS
at the end of the warm-up. The run exits 1 when a process grew more, or died.

    python -m bench.soak [--seconds 600] [--claims-per-second 1000] [--callbacks-per-second 500] [--workers 2] [--api-processes 2]

The defaults are the benchmark rates (intake >= 1,000 claims/s, issue 2; callbacks >= 500/s,
issue 4). On a 2-core machine that also runs the database, the workers and this driver, both
together are more than it has: the report says what was achieved.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import requests
from sqlalchemy import func, select

from bench.loadgen import KeepAliveClient
from gateway.channels.sms.client import signature
from gateway.kit.time import utc_now
from gateway.services import auth
from gateway.store.models import InboundEvent, Job
from gateway.store.session import Database
from tests.factories import claim_payload, consumer_claim
from tests.reliability import harness

FLAT_TOLERANCE = 0.10  # RSS growth allowed per process from the end of the warm-up to the end of the run
MAX_BATCH = 1000  # claims per POST /v1/claims/batch (GATEWAY_MAX_BATCH_ITEMS)
REPEAT_EVERY = 10  # one report in ten is posted twice


def _claims(start: int, count: int) -> list[dict]:
    items = []
    for index in range(start, start + count):
        payload = claim_payload(f"S{index:08d}") if index % 2 else consumer_claim(f"S{index:08d}")
        payload["debtor"] = {**payload["debtor"], "external_id": f"D{index % 500}"}
        items.append(payload)
    return items


def _report_body(index: int) -> bytes:
    return json.dumps({"event_id": uuid.uuid4().hex, "message_id": f"sms-seed-{index}", "stat": "DELIVRD", "err": "000"}).encode()


def _signed(body: bytes) -> dict[str, str]:
    stamp = str(int(time.time()))
    return {"Content-Type": "application/json", "X-Timestamp": stamp, "X-Signature": signature(harness.SMS_SECRET.encode(), stamp, body)}


def _api_key(database: Database) -> str:
    harness.seed_sms_dispatches(database, 0)  # creates the creditor entity "reliability"
    with database.session_scope() as session:
        return auth.create_key(session, "reliability", "soak", includes_children=False, now=utc_now())


def _counts(database: Database) -> dict:
    with database.session_scope() as session:
        jobs = dict(session.execute(select(Job.state, func.count()).group_by(Job.state)).all())
        return {
            "callbacks": session.scalar(select(func.count()).select_from(InboundEvent)),
            "callbacks_applied": session.scalar(select(func.count()).select_from(InboundEvent).where(InboundEvent.handled_at.is_not(None))),
            "jobs_pending": jobs.get("pending", 0), "jobs_failed": jobs.get("failed", 0), "jobs_done": jobs.get("done", 0),
            "failed_errors": sorted({(kind, (error or "")[:160]) for kind, error in session.execute(select(Job.kind, Job.last_error).where(Job.state == "failed"))}),
        }


class Load:
    """One open-loop load: `tick(second)` posts what that second is due; counts what happened."""

    def __init__(self, seconds: int) -> None:
        self.seconds = seconds
        self.late = 0
        self.answers: Counter = Counter()
        self.error: BaseException | None = None

    def run(self, started: float, stopping: threading.Event) -> None:
        try:
            second = 0
            while second < self.seconds and not stopping.is_set():
                self.tick(second)
                second += 1
                pause = started + second - time.monotonic()
                if pause > 0:
                    stopping.wait(pause)
                else:
                    self.late += 1
                    second = max(second, int(time.monotonic() - started))  # skip the seconds already gone
        except BaseException as exc:  # noqa: BLE001 - reported by the driver
            self.error = exc

    def tick(self, second: int) -> None:
        raise NotImplementedError


class Intake(Load):
    def __init__(self, seconds: int, base: str, key: str, per_second: int) -> None:
        super().__init__(seconds)
        self.base, self.per_second = base, per_second
        self.http = requests.Session()
        self.http.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/json"})

    def tick(self, second: int) -> None:
        for offset in range(0, self.per_second, MAX_BATCH):
            count = min(MAX_BATCH, self.per_second - offset)
            answer = self.http.post(f"{self.base}/v1/claims/batch", data=json.dumps({"claims": _claims(second * self.per_second + offset, count)}), timeout=120)
            answer.raise_for_status()
            self.answers["accepted"] += answer.json()["accepted"]
            self.answers["refused"] += answer.json()["refused"]


class Callbacks(Load):
    def __init__(self, seconds: int, base: str, per_second: int, connections: int = 16) -> None:
        super().__init__(seconds)
        self.base, self.per_second, self.connections = base, per_second, connections
        self.new_per_second = per_second - per_second // REPEAT_EVERY
        self.loop = asyncio.new_event_loop()

    def run(self, started: float, stopping: threading.Event) -> None:
        self.client = KeepAliveClient(self.base, self.connections)
        self.loop.run_until_complete(self.client.__aenter__())
        try:
            super().run(started, stopping)
        finally:
            self.loop.run_until_complete(self.client.__aexit__(None, None, None))
            self.loop.close()

    def tick(self, second: int) -> None:
        first = second * self.new_per_second
        bodies = [_report_body(index) for index in range(first, first + self.new_per_second)]
        bodies += bodies[: self.per_second - self.new_per_second]  # the repeats: same event ids, stored once
        for status, _ in self.loop.run_until_complete(self.client.post_all("/v1/callbacks/sms", bodies, _signed)):
            self.answers[status] += 1


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--claims-per-second", type=int, default=1000)
    parser.add_argument("--callbacks-per-second", type=int, default=500)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--api-processes", type=int, default=2)
    parser.add_argument("--sample", type=int, default=30, help="seconds between RSS samples")
    parser.add_argument("--warm-up", type=int, default=120, help="seconds before the memory baseline is taken")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if not harness.postgres_available():
        print("skipped: PostgreSQL unreachable")
        return
    warm_up = min(args.warm_up, args.seconds // 2)
    with tempfile.TemporaryDirectory() as logs, harness.fresh_postgres("soak") as url:
        database = Database(url)
        key = _api_key(database)
        seeded_at = time.monotonic()
        callbacks_new = args.callbacks_per_second - args.callbacks_per_second // REPEAT_EVERY
        harness.seed_sms_dispatches(database, args.seconds * callbacks_new, sent=True)
        seed_seconds = time.monotonic() - seeded_at
        env = harness.process_env(url, sms_url="http://127.0.0.1:9", api_port=harness.free_port(), worker_stale_after_seconds=60, retry_base_seconds=5)
        api = harness.start_api(env, Path(logs) / "api.log", processes=args.api_processes)
        workers = [harness.start_worker(env, Path(logs) / f"worker-{index}.log") for index in range(args.workers)]
        base = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
        api_pids = harness.serving_processes(api.pid)
        samples: list[tuple[int, list[int], list[int]]] = []
        loads = [Intake(args.seconds, base, key, args.claims_per_second), Callbacks(args.seconds, base, args.callbacks_per_second)]
        stopping = threading.Event()
        try:
            time.sleep(5)  # let the workers finish importing before the first sample
            started = time.monotonic()
            threads = [threading.Thread(target=load.run, args=(started, stopping), daemon=True) for load in loads]
            for thread in threads:
                thread.start()
            next_sample = started
            while time.monotonic() - started < args.seconds and all(thread.is_alive() for thread in threads):
                if time.monotonic() >= next_sample:
                    samples.append((round(time.monotonic() - started), [harness.rss_kib(pid) for pid in api_pids], [harness.rss_kib(w.pid) for w in workers]))
                    next_sample += args.sample
                time.sleep(0.5)
            stopping.set()
            for thread in threads:
                thread.join(timeout=180)
            elapsed = time.monotonic() - started
            samples.append((round(elapsed), [harness.rss_kib(pid) for pid in api_pids], [harness.rss_kib(w.pid) for w in workers]))
            counts = _counts(database)
            alive = [w.poll() is None for w in workers] + [harness.rss_kib(pid) > 0 for pid in api_pids]
        finally:
            stopping.set()
            for process in workers:
                harness.stop(process)
            harness.stop(api)
            database.dispose()
    intake, callbacks = loads
    problems = [f"{type(load).__name__} stopped: {load.error!r}" for load in loads if load.error is not None]
    if not all(alive):
        problems.append("a process died during the run")
    print(f"soak: {elapsed:.0f} s, {args.api_processes} API processes, {args.workers} workers, PostgreSQL; {len(samples)} RSS samples; "
          f"{args.seconds * callbacks_new:,} sent SMS dispatches seeded before the start ({seed_seconds:.0f} s)")
    print(f"intake: {intake.answers['accepted']:,} claims accepted ({intake.answers['accepted'] / elapsed:.0f}/s, offered {args.claims_per_second}/s), "
          f"{intake.answers['refused']} refused; seconds that ran late: {intake.late}")
    posted = sum(callbacks.answers.values())
    print(f"callbacks: {posted:,} posted ({posted / elapsed:.0f}/s, offered {args.callbacks_per_second}/s), answers {dict(callbacks.answers)}; "
          f"seconds that ran late: {callbacks.late}; {counts['callbacks']:,} stored once, {counts['callbacks_applied']:,} applied by the end")
    print(f"jobs: {counts['jobs_done']:,} done, {counts['jobs_pending']:,} pending at the end (backlog), {counts['jobs_failed']} failed {counts['failed_errors']}")
    if counts["jobs_failed"]:
        problems.append(f"{counts['jobs_failed']} jobs failed")
    print("| t (s) | API RSS (MiB) | worker RSS (MiB) |")
    print("|---|---|---|")
    for at, api_rss, worker_rss in samples:
        print(f"| {at} | {', '.join(f'{value / 1024:.0f}' for value in api_rss)} | {', '.join(f'{value / 1024:.0f}' for value in worker_rss)} |")
    baseline = next((sample for sample in samples if sample[0] >= warm_up), samples[0])
    end = samples[-1]
    for role, index in (("API", 1), ("worker", 2)):
        for number, (before, after) in enumerate(zip(baseline[index], end[index])):
            growth = (after - before) / before if before else 0.0
            verdict = "flat" if growth <= FLAT_TOLERANCE else "GREW"
            print(f"{role} {number}: {before / 1024:.0f} MiB at {baseline[0]} s -> {after / 1024:.0f} MiB at {end[0]} s ({growth:+.1%}, {verdict})")
            if growth > FLAT_TOLERANCE:
                problems.append(f"{role} {number} RSS grew {growth:+.1%} after the warm-up")
    if problems:
        print("FAILED: " + "; ".join(problems))
        raise SystemExit(1)


if __name__ == "__main__":
    main()
