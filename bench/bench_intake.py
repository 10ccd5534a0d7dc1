"""Intake benchmark: the batch API into SQLite and PostgreSQL, and single-claim POST latency.

The gateway runs as `gateway serve --no-workers` in its own process (as in production, so the
client does not share its interpreter); the client posts over loopback HTTP with keep-alive.
Targets (issue 2): >= 1,000 claims/s through the batch API on this 2-core machine; p99 < 50 ms
for single-claim POSTs on SQLite.

    python -m bench.bench_intake [--claims 10000] [--singles 500] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import requests

from gateway.kit.time import utc_now
from gateway.services import auth
from gateway.store.migrate import upgrade
from gateway.store.models import CreditorEntity
from gateway.store.session import Database
from tests.factories import claim_payload, consumer_claim

POSTGRES_ADMIN = os.environ.get("GATEWAY_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _prepare(url: str) -> str:
    upgrade(url)
    database = Database(url)
    with database.session_scope() as session:
        session.add(CreditorEntity(code="bench", kind="municipality", name="Bench", iban="BE48320070184927", created_at=utc_now()))
        session.flush()
        key = auth.create_key(session, "bench", "bench", includes_children=False, now=utc_now())
    database.dispose()
    return key


def _backend_url(backend: str, workdir: Path) -> str:
    if backend == "sqlite":
        return f"sqlite:///{workdir / 'bench.sqlite'}"
    with psycopg.connect(POSTGRES_ADMIN, autocommit=True) as connection:
        connection.execute("DROP DATABASE IF EXISTS gateway_bench WITH (FORCE)")
        connection.execute("CREATE DATABASE gateway_bench")
    return POSTGRES_ADMIN.rsplit("/", 1)[0] + "/gateway_bench"


def _serve(url: str, port: int) -> subprocess.Popen:
    env = {**os.environ, "GATEWAY_DATABASE_URL": url, "GATEWAY_PORT": str(port)}
    process = subprocess.Popen([sys.executable, "-m", "uvicorn", "--factory", "bench.bench_intake:app_factory", "--port", str(port), "--log-level", "warning"], env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            requests.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
            return process
        except requests.ConnectionError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("server did not start")


def app_factory():
    from gateway.app import create_app

    return create_app(run_workers=False)


def _claims(start: int, count: int) -> list[dict]:
    items = []
    for index in range(start, start + count):
        payload = claim_payload(f"B{index:07d}") if index % 2 else consumer_claim(f"B{index:07d}")
        payload["debtor"] = {**payload["debtor"], "external_id": f"D{index % 500}"}
        items.append(payload)
    return items


def run_backend(backend: str, total_claims: int, singles: int, batch_size: int = 1000) -> dict:
    with tempfile.TemporaryDirectory() as workdir:
        url = _backend_url(backend, Path(workdir))
        key = _prepare(url)
        port = _free_port()
        process = _serve(url, port)
        try:
            http = requests.Session()
            http.headers.update({"Authorization": f"Bearer {key}", "Content-Type": "application/json"})
            base = f"http://127.0.0.1:{port}"
            bodies = [json.dumps({"claims": _claims(start, batch_size)}) for start in range(0, total_claims, batch_size)]
            started = time.perf_counter()
            accepted = 0
            for body in bodies:
                response = http.post(f"{base}/v1/claims/batch", data=body, timeout=120)
                response.raise_for_status()
                accepted += response.json()["accepted"]
            batch_seconds = time.perf_counter() - started
            latencies = []
            for index in range(singles):
                body = json.dumps(_claims(10_000_000 + index, 1)[0])
                began = time.perf_counter()
                response = http.post(f"{base}/v1/claims", data=body, timeout=30)
                latencies.append((time.perf_counter() - began) * 1000)
                assert response.status_code == 201, response.text
            latencies.sort()
        finally:
            process.terminate()
            process.wait(timeout=10)
    return {
        "backend": backend,
        "claims": accepted,
        "batch_claims_per_second": round(accepted / batch_seconds),
        "single_p50_ms": round(statistics.median(latencies), 1),
        "single_p99_ms": round(latencies[int(len(latencies) * 0.99) - 1], 1),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--claims", type=int, default=10_000)
    parser.add_argument("--singles", type=int, default=500)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args(argv)
    results = [run_backend(backend, args.claims, args.singles) for backend in args.backends.split(",")]
    print("| store | claims | batch intake (claims/s) | single POST p50 | single POST p99 |")
    print("|---|---|---|---|---|")
    for row in results:
        print(f"| {row['backend']} | {row['claims']} | {row['batch_claims_per_second']} | {row['single_p50_ms']} ms | {row['single_p99_ms']} ms |")
    return {"intake": results}


if __name__ == "__main__":
    main(sys.argv[1:])
