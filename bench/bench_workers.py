"""Worker benchmark: 4 `gateway worker` processes on PostgreSQL over 10,000 SMS dispatches to the
loopback sandbox (real HTTP both ways: sends, and signed delivery reports into the API's callback
route), one worker SIGKILLed halfway while it has a dispatch in flight. Checks zero double sends and
zero stuck rows (the same assertions as tests/reliability/test_concurrency.py) and reports the
throughput.

    python -m bench.bench_workers [--dispatches 10000] [--workers 4] [--stale-after 10]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from tests.reliability import harness
from tests.reliability.test_concurrency import assert_exactly_once


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dispatches", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--stale-after", type=int, default=10, help="GATEWAY_WORKER_STALE_AFTER_SECONDS for the run")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    if not harness.postgres_available():
        print("skipped: PostgreSQL unreachable")
        return
    with tempfile.TemporaryDirectory() as logs, harness.fresh_postgres("bench_workers") as url:
        run = harness.run_workers(url, args.dispatches, workers=args.workers, logs=Path(logs), stale_after_seconds=args.stale_after, timeout=1800)
        assert_exactly_once(run, args.dispatches)
    final = run.final
    print(f"seeded {args.dispatches:,} dispatches in {run.seed_seconds:.1f} s")
    print(f"{args.workers} workers: all sent in {run.sent_seconds:.1f} s = {args.dispatches / run.sent_seconds:,.0f} dispatches/s; "
          f"all delivered (reports applied) in {run.final_seconds:.1f} s = {args.dispatches / run.final_seconds:,.0f} dispatches/s")
    print(f"killed worker pid {run.killed_pid} with {run.killed_holding} dispatch(es) in flight; attempts abandoned and re-sent: {final.attempt_outcomes.get('abandoned', 0)}; "
          f"resubmissions seen by the provider: {sum(run.sandbox.resubmissions.values())}")
    print(f"double sends: 0 (sandbox messages {len(run.sandbox.messages):,} = dispatches); stuck rows: 0 (states {final.dispatch_states}); "
          f"delivery reports stored and applied: {final.inbound_events:,}")
    print(f"worker RSS at the kill (KiB): {run.worker_rss_kib}")


if __name__ == "__main__":
    main()
