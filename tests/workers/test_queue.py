"""The outbox worker on SQLite and PostgreSQL: run, retry with backoff, fail, sweep, no double claims."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.api.payloads import ClaimIn
from gateway.errors import RetryableError
from gateway.kit.time import utc_now
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.store.models import AuditEvent, Dispatch, Job
from gateway.workers import queue
from gateway.workers.registry import HANDLERS, handler
from gateway.workers.run import Worker
from tests.factories import claim_payload, consumer_claim, seed_creditors

CALLS: list[str] = []


@handler("test.flaky")
def _flaky(task, payload, now):
    CALLS.append(payload["name"])
    raise RetryableError("provider timed out")


@handler("test.broken")
def _broken(task, payload, now):
    raise ValueError("bug")


def test_claim_issue_job_routes_the_claim(database, settings):
    keys = seed_creditors(database)
    with database.session_scope() as session:
        principal = authenticate(session, keys.municipality_key)
        create_claim(session, principal, ClaimIn.model_validate(claim_payload("W1")), now=utc_now())
        create_claim(session, principal, ClaimIn.model_validate(consumer_claim("W2")), now=utc_now())
    worker = Worker(database, settings, name="t")
    assert worker.drain() == 3  # two claim.issue jobs, then the consumer letter's dispatch.transmit
    assert worker.drain() == 0
    with database.session_scope() as session:
        assert sorted(session.scalars(select(Job.kind)).all()) == ["claim.issue", "claim.issue", "dispatch.transmit"]
        assert session.scalars(select(Job.state)).all() == ["done", "done", "done"]
        # no e-mail provider configured: the letter's dispatch waits, queued, and says why
        [dispatch] = session.scalars(select(Dispatch)).all()
        assert (dispatch.channel, dispatch.state, dispatch.last_error) == ("email", "queued", "no provider configured for channel email")
        routed = session.scalars(select(AuditEvent).where(AuditEvent.action == "claim.routed").order_by(AuditEvent.id)).all()
        assert [(e.data["channel"], e.data["recipient"]) for e in routed] == [("peppol", "0208:0403019261"), ("email", "an.peeters@telenet.be")]


def test_retryable_failure_backs_off_then_fails_after_max_attempts(database, settings):
    settings = settings.model_copy(update={"max_attempts": 3, "retry_base_seconds": 30})
    CALLS.clear()
    now = utc_now()
    with database.session_scope() as session:
        queue.enqueue(session, "test.flaky", {"name": "x"}, now=now)
    worker = Worker(database, settings, name="t")
    assert worker.run_once() is True
    with database.session_scope() as session:
        job = session.scalar(select(Job))
        assert (job.state, job.attempts, job.last_error) == ("pending", 1, "RetryableError: provider timed out")
        assert timedelta(seconds=29) < job.run_after - now < timedelta(seconds=40)  # 30 s x 2^0
        job.run_after = now - timedelta(seconds=1)
    worker.run_once()
    with database.session_scope() as session:
        job = session.scalar(select(Job))
        assert (job.state, job.attempts) == ("pending", 2)
        assert timedelta(seconds=59) < job.run_after - now < timedelta(seconds=70)  # 30 s x 2^1
        job.run_after = now - timedelta(seconds=1)
    worker.run_once()
    with database.session_scope() as session:
        job = session.scalar(select(Job))
        assert (job.state, job.attempts) == ("failed", 3)
    assert CALLS == ["x", "x", "x"]


def test_a_handler_bug_fails_the_job_and_keeps_the_worker(database, settings):
    with database.session_scope() as session:
        queue.enqueue(session, "test.broken", {}, now=utc_now())
    worker = Worker(database, settings, name="t")
    assert worker.run_once() is True
    with database.session_scope() as session:
        job = session.scalar(select(Job))
        assert (job.state, job.last_error) == ("failed", "ValueError: bug")


def test_sweeper_requeues_work_left_running_by_a_dead_worker(database, settings):
    now = utc_now()
    with database.session_scope() as session:
        queue.enqueue(session, "test.broken", {}, now=now)
    with database.session_scope() as session:
        assert queue.claim_next(session, "dead-worker", now=now) is not None
    with database.session_scope() as session:
        assert queue.requeue_stale(session, now=now + timedelta(seconds=10), stale_after=timedelta(seconds=300)) == 0
        assert queue.requeue_stale(session, now=now + timedelta(seconds=301), stale_after=timedelta(seconds=300)) == 1
        job = session.scalar(select(Job))
        assert (job.state, job.locked_by) == ("pending", None)


def test_dedup_key_queues_a_logical_job_once(database):
    from sqlalchemy.exc import IntegrityError

    with pytest.raises(IntegrityError):
        with database.session_scope() as session:
            queue.enqueue(session, "test.broken", {}, now=utc_now(), dedup_key="same")
            session.flush()
            queue.enqueue(session, "test.broken", {}, now=utc_now(), dedup_key="same")
    with database.session_scope() as session:
        assert session.scalars(select(Job)).all() == []


@pytest.mark.parametrize("database", ["postgres"], indirect=True)
def test_concurrent_claims_never_take_the_same_job_on_postgres(database):
    now = utc_now()
    with database.session_scope() as session:
        for index in range(200):
            queue.enqueue(session, "test.broken", {"n": index}, now=now)
    claimed: list[str] = []
    lock = threading.Lock()

    def claimer(name: str) -> None:
        while True:
            with database.session_scope() as session:
                job = queue.claim_next(session, name, now=utc_now(), kinds=["test.broken"])
                if job is None:
                    return
                with lock:
                    claimed.append(str(job.id))

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(claimed) == 200 and len(set(claimed)) == 200


def test_registry_has_the_pipeline_handlers():
    Worker  # noqa: B018 - importing run registers the pipeline handlers
    from gateway.workers.run import load_handlers

    load_handlers()
    assert "claim.issue" in HANDLERS
