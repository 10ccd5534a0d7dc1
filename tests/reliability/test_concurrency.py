"""Concurrency: four `gateway worker` processes share one PostgreSQL queue (FOR UPDATE SKIP
LOCKED) over SMS dispatches to the sandbox; one is SIGKILLed mid-send halfway through and the
survivors' sweeper re-queues what it left in flight. The benchmark version
(`python -m bench.bench_workers`) runs the same scenario over 10,000 dispatches."""

from __future__ import annotations

import os

import pytest

from tests.reliability import harness

pytestmark = [pytest.mark.slow, pytest.mark.postgres]

DISPATCHES = 400
WORKERS = 4
STALE_AFTER_SECONDS = 3


def assert_exactly_once(run: harness.WorkersRun, count: int) -> None:
    """The outcomes every run must have, whatever the timing."""
    final, sandbox = run.final, run.sandbox
    # Zero double sends: one message per dispatch, under its key, with the id the dispatch recorded.
    assert sorted(sandbox.messages) == sorted(run.keys)
    assert {key: message.id for key, message in sandbox.messages.items()} == final.messages_by_key
    assert len({message.to for message in sandbox.messages.values()}) == count
    # Zero stuck rows: every dispatch delivered, every attempt finished or abandoned, every job done.
    assert final.dispatch_states == {"delivered": count}
    assert set(final.attempt_outcomes) <= {"sent", "abandoned"} and final.attempt_outcomes["sent"] == count
    assert {state for (_, state) in final.jobs} == {"done"}, final.failed_jobs
    reports = harness.expected_reports(sandbox)
    assert harness.report_statuses(sandbox) == {"202": reports}
    assert (final.inbound_events, final.inbound_unhandled, final.inbound_errors) == (reports, 0, [])
    assert (final.claims, final.documents) == (count, count)


def test_four_workers_share_the_queue_and_the_sweeper_takes_over_a_dead_ones_work(tmp_path):
    if not harness.postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail("PostgreSQL is required under CI=true")
        pytest.skip("PostgreSQL unreachable")
    with harness.fresh_postgres("concurrency") as url:
        run = harness.run_workers(url, DISPATCHES, workers=WORKERS, logs=tmp_path, stale_after_seconds=STALE_AFTER_SECONDS, timeout=240)
    assert_exactly_once(run, DISPATCHES)
    # The killed worker died mid-send: its dispatch was left in flight, then abandoned and re-sent.
    assert run.killed_pid is not None and run.killed_holding == 1
    assert run.final.attempt_outcomes.get("abandoned", 0) >= 1
    print(
        f"\nconcurrency: {WORKERS} workers, {DISPATCHES} dispatches, one worker SIGKILLed with {run.killed_holding} dispatch in flight; "
        f"{run.final.attempt_outcomes.get('abandoned', 0)} attempt(s) abandoned and re-sent, "
        f"{sum(run.sandbox.resubmissions.values())} resubmission(s) seen by the provider; "
        f"sent in {run.sent_seconds:.1f} s ({DISPATCHES / run.sent_seconds:.0f} dispatches/s), all delivered in {run.final_seconds:.1f} s"
    )
