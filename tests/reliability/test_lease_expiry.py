"""A worker that is slow rather than dead: its dispatch is swept back (the lease expired) and
sent again by another worker while the first is still waiting on the provider. Both then record
their outcome; the second record must not fail the job (the provider deduplicated on the key)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from gateway.channels.base import SendResult
from gateway.delivery import service as delivery
from gateway.domain.transmission import DeliveryState
from gateway.kit.time import utc_now
from gateway.store.models import Dispatch, DispatchAttempt
from tests.reliability import harness


def test_a_swept_attempt_that_finishes_late_does_not_fail_the_retry(database):
    [key] = harness.seed_sms_dispatches(database, 1)
    with database.session_scope() as session:
        dispatch_id = session.scalar(select(Dispatch.id).where(Dispatch.idempotency_key == key))
        assert delivery.claim_for_send(session, dispatch_id, provider="sms", now=utc_now()) is not None  # slow worker A
    with database.session_scope() as session:
        assert delivery.requeue_stale(session, now=utc_now() + timedelta(seconds=301), stale_after=timedelta(seconds=300)) == 1
    with database.session_scope() as session:
        assert delivery.claim_for_send(session, dispatch_id, provider="sms", now=utc_now()) is not None  # worker B
    result = SendResult(DeliveryState.SENT, provider_message_id="sms-1", status_code=200)
    for _ in ("A", "B"):  # A's answer comes back first, then B's (the same message: one key)
        with database.session_scope() as session:
            delivery.record_success(session, dispatch_id, result, duration_ms=5, now=utc_now())
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        attempts = session.execute(select(DispatchAttempt.number, DispatchAttempt.outcome).where(DispatchAttempt.dispatch_id == dispatch_id).order_by(DispatchAttempt.number)).all()
    assert (dispatch.state, dispatch.attempt_count, dispatch.provider_message_id) == ("sent", 2, "sms-1")
    assert attempts == [(1, "abandoned"), (2, "sent")]


def test_a_dispatch_claimed_by_another_worker_meanwhile_is_not_claimed_twice(database):
    """Two transmit jobs for one dispatch (the swept one and the sweeper's new one) run at once:
    the second worker loaded the row before the first one's claim committed. PostgreSQL only:
    on SQLite one worker process runs per database file."""
    if database.is_sqlite:
        pytest.skip("one worker per SQLite file")
    [key] = harness.seed_sms_dispatches(database, 1)
    with database.session_scope() as session:
        dispatch_id = session.scalar(select(Dispatch.id).where(Dispatch.idempotency_key == key))
    with database.session_scope() as late:
        assert late.get(Dispatch, dispatch_id).state == "queued"  # loaded before the other claim
        with database.session_scope() as first:
            assert delivery.claim_for_send(first, dispatch_id, provider="sms", now=utc_now()) is not None
        assert delivery.claim_for_send(late, dispatch_id, provider="sms", now=utc_now()) is None
    with database.session_scope() as session:
        assert session.scalars(select(DispatchAttempt.number).where(DispatchAttempt.dispatch_id == dispatch_id)).all() == [1]
