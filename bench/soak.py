"""Soak: claim intake and provider callbacks at a steady rate for 10 minutes (PostgreSQL), with the
memory of the API and worker processes sampled from start to end.

Running: the API (`python -m tests.reliability.api_process`: the app with the providers built
from GATEWAY_* settings) and `gateway worker` processes on a fresh PostgreSQL database. Every
second this driver
- posts a batch of claims to `POST /v1/claims/batch` (half business, half consumer, debtors
  reused over 500 external ids, as in bench_intake), which the workers route and issue;
- posts signed SMS delivery reports (DELIVRD, and one in ten a repeat) to `POST /v1/callbacks/sms`
  for dispatches the provider accepted (seeded `sent`); the API stores them, the workers apply them.
Reports are posted by the driver rather than by the sandbox after a real send, so their rate does
not depend on how far the workers are behind on the claims.
RSS (VmRSS from /proc) of the API and each worker is sampled every `--sample` seconds.

    python -m bench.soak [--seconds 600] [--claims-per-second 50] [--callbacks-per-second 100] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gateway.channels.sms.client import signature
from gateway.kit.time import utc_now
from gateway.services import auth
from gateway.store.models import InboundEvent, Job
from gateway.store.session import Database
from tests.factories import claim_payload, consumer_claim
from tests.reliability import harness


def _claims(start: int, count: int) -> list[dict]:
    items = []
    for index in range(start, start + count):
        payload = claim_payload(f"S{index:08d}") if index % 2 else consumer_claim(f"S{index:08d}")
        payload["debtor"] = {**payload["debtor"], "external_id": f"D{index % 500}"}
        items.append(payload)
    return items


def _report(base: str, index: int) -> int:
    body = json.dumps({"event_id": uuid.uuid4().hex, "message_id": f"sms-seed-{index}", "stat": "DELIVRD", "err": "000"}).encode()
    stamp = str(int(time.time()))
    headers = {"Content-Type": "application/json", "X-Timestamp": stamp, "X-Signature": signature(harness.SMS_SECRET.encode(), stamp, body)}
    return requests.post(f"{base}/v1/callbacks/sms", data=body, headers=headers, timeout=60).status_code


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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=600)
    parser.add_argument("--claims-per-second", type=int, default=50)
    parser.add_argument("--callbacks-per-second", type=int, default=100)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--sample", type=int, default=60, help="seconds between RSS samples")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if not harness.postgres_available():
        print("skipped: PostgreSQL unreachable")
        return
    repeats = args.callbacks_per_second // 10  # providers repeat reports: one in ten is a duplicate
    dispatches_per_second = args.callbacks_per_second - repeats
    with tempfile.TemporaryDirectory() as logs, harness.fresh_postgres("soak") as url:
        database = Database(url)
        key = _api_key(database)
        env = harness.process_env(url, sms_url="http://127.0.0.1:9", api_port=harness.free_port(), worker_stale_after_seconds=60, retry_base_seconds=5)
        api = harness.start_api(env, Path(logs) / "api.log")
        workers = [harness.start_worker(env, Path(logs) / f"worker-{index}.log") for index in range(args.workers)]
        http = requests.Session()
        http.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
        base = f"http://127.0.0.1:{env['GATEWAY_PORT']}"
        samples: list[tuple[int, int, list[int]]] = []
        accepted = refused = seeded = 0
        late_ticks = 0
        answers: dict[int, int] = {}
        pool = ThreadPoolExecutor(8)
        try:
            time.sleep(5)  # let the workers finish importing before the first sample
            started = time.monotonic()
            next_sample = started
            tick = 0
            while time.monotonic() - started < args.seconds:  # wall time: a loaded machine falls behind the rate, not past the end
                now = time.monotonic()
                if now >= next_sample:
                    samples.append((round(now - started), harness.rss_kib(api.pid), [harness.rss_kib(w.pid) for w in workers]))
                    next_sample += args.sample
                try:
                    harness.seed_sms_dispatches(database, dispatches_per_second, start=seeded, sent=True)
                except IntegrityError:  # a seeded OGM equal to one intake drew at random (1 in 10^10 per pair): next numbers
                    seeded += dispatches_per_second
                    harness.seed_sms_dispatches(database, dispatches_per_second, start=seeded, sent=True)
                indices = list(range(seeded, seeded + dispatches_per_second)) + list(range(seeded, seeded + repeats))
                seeded += dispatches_per_second
                reports = pool.map(lambda index: _report(base, index), indices)
                answer = http.post(f"{base}/v1/claims/batch", data=json.dumps({"claims": _claims(tick * args.claims_per_second, args.claims_per_second)}), timeout=60)
                answer.raise_for_status()
                accepted += answer.json()["accepted"]
                refused += answer.json()["refused"]
                for status in reports:
                    answers[status] = answers.get(status, 0) + 1
                pause = started + tick + 1 - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                else:
                    late_ticks += 1
                tick += 1
            elapsed = time.monotonic() - started
            samples.append((round(elapsed), harness.rss_kib(api.pid), [harness.rss_kib(w.pid) for w in workers]))
            counts = _counts(database)
            alive = [w.poll() is None for w in workers] + [api.poll() is None]
        finally:
            for process in workers:
                harness.stop(process)
            harness.stop(api)
            pool.shutdown()
            database.dispose()
    print(f"soak: {elapsed:.0f} s, {args.workers} workers, PostgreSQL; every process alive at the end: {all(alive)}")
    print(f"intake: {accepted:,} claims accepted ({accepted / elapsed:.1f}/s, target {args.claims_per_second}/s), {refused} refused; seconds behind schedule: {late_ticks}")
    posted = sum(answers.values())
    print(f"callbacks: {posted:,} posted ({posted / elapsed:.1f}/s, target {args.callbacks_per_second}/s), answers {answers}; "
          f"{counts['callbacks']:,} stored once ({seeded:,} reports + repeats collapsed), {counts['callbacks_applied']:,} applied by the end")
    print(f"jobs: {counts['jobs_done']:,} done, {counts['jobs_pending']:,} pending at the end (backlog), {counts['jobs_failed']} failed {counts['failed_errors']}")
    print("| t (s) | API RSS (MiB) | worker RSS (MiB) |")
    print("|---|---|---|")
    for at, api_rss, worker_rss in samples:
        print(f"| {at} | {api_rss / 1024:.0f} | {', '.join(f'{value / 1024:.0f}' for value in worker_rss)} |")


if __name__ == "__main__":
    main()
