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


def _consumer_claim_with_issue_job(database, settings):
    from gateway.api.payloads import ClaimIn
    from gateway.services.auth import authenticate
    from gateway.services.claims import create_claim
    from tests.factories import consumer_claim, seed_creditors

    keys = seed_creditors(database)
    with database.session_scope() as session:
        intake = create_claim(session, authenticate(session, keys.municipality_key), ClaimIn.model_validate(consumer_claim("L-1")), now=utc_now())
    return intake.claim.id


def _issue(database, settings, claim_id) -> None:
    from gateway.channels.registry import ProviderRegistry
    from gateway.workers.registry import Task
    from gateway.workers.tasks import issue_claim

    with database.session_scope() as session:
        issue_claim(Task(session, settings, database, ProviderRegistry()), {"claim_id": str(claim_id)}, utc_now())


def _invoices(database, claim_id) -> list[tuple[str, str]]:
    from gateway.store.models import Document

    with database.session_scope() as session:
        return session.execute(select(Document.kind, Document.number).where(Document.claim_id == claim_id)).all()


def test_a_claim_issued_by_a_late_try_of_its_job_is_not_issued_twice(database, settings):
    """The slow try committed first; the try that replaced it finds the invoice and issues nothing."""
    claim_id = _consumer_claim_with_issue_job(database, settings)
    _issue(database, settings, claim_id)
    _issue(database, settings, claim_id)
    assert _invoices(database, claim_id) == [("invoice", "INV000001")]


def test_two_tries_of_one_issue_job_at_once_issue_one_invoice(database, settings):
    """PostgreSQL: the second try waits on the claim's row lock while the first issues, then sees
    the invoice (the crash test found two invoices for one claim when the lease expired mid-issue)."""
    import threading

    from sqlalchemy import text

    if database.is_sqlite:
        pytest.skip("one worker per SQLite file; writers are serialised")
    claim_id = _consumer_claim_with_issue_job(database, settings)
    with database.session_scope() as holder:  # the first try, mid-transaction, holding the claim
        holder.execute(text("SELECT id FROM claim WHERE id = :id FOR UPDATE"), {"id": claim_id})
        errors: list[BaseException] = []

        def second_try() -> None:
            try:
                _issue(database, settings, claim_id)
            except BaseException as exc:  # noqa: BLE001 - asserted below
                errors.append(exc)

        second = threading.Thread(target=second_try)
        second.start()
        second.join(timeout=1.0)
        assert second.is_alive()  # waiting for the claim's lock
        from gateway.services import documents
        from gateway.store.models import Claim

        documents.issue_consumer_invoice(holder, holder.get(Claim, claim_id), now=utc_now(), settings=settings)
    second.join(timeout=30)
    assert errors == []  # it found the invoice; it did not run into the unique index
    assert _invoices(database, claim_id) == [("invoice", "INV000001")]


def test_the_database_refuses_a_second_invoice_for_a_claim(database, settings):
    from sqlalchemy.exc import IntegrityError

    from gateway.services import documents
    from gateway.store.models import Claim

    claim_id = _consumer_claim_with_issue_job(database, settings)
    _issue(database, settings, claim_id)
    with pytest.raises(IntegrityError, match="uq_document_one_invoice_per_claim|UNIQUE constraint failed: document.claim_id"):
        with database.session_scope() as session:
            documents.issue_consumer_invoice(session, session.get(Claim, claim_id), now=utc_now(), settings=settings)
    assert _invoices(database, claim_id) == [("invoice", "INV000001")]
