"""Dispatch transmission, callbacks and fallback end to end: real store (SQLite and PostgreSQL),
a provider service over loopback HTTP, the callback route over HTTP, the worker."""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.payloads import ClaimIn
from gateway.app import create_app
from gateway.channels.registry import ProviderRegistry
from gateway.delivery import service as delivery
from gateway.kit.time import utc_now
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.store.models import AuditEvent, DebtorContact, Dispatch, DispatchAttempt, InboundEvent, Job
from gateway.workers.run import Worker
from tests.delivery.loopback_provider import LoopbackProvider, LoopbackService
from tests.factories import claim_payload, seed_creditors


@pytest.fixture
def service():
    running = LoopbackService()
    yield running
    running.close()


@pytest.fixture
def world(database, settings, standards_dir, service):
    providers = ProviderRegistry()
    providers.add(LoopbackProvider("peppol", service.url))
    settings = settings.model_copy(update={"standards_dir": standards_dir, "max_attempts": 3})
    keys = seed_creditors(database)
    worker = Worker(database, settings, name="t", providers=providers)
    return keys, worker, providers, settings


def issue(database, key, payload):
    with database.session_scope() as session:
        create_claim(session, authenticate(session, key), ClaimIn.model_validate(payload), now=utc_now())


def dispatches(database):
    with database.session_scope() as session:
        return session.scalars(select(Dispatch).order_by(Dispatch.created_at)).all()


def attempts(database):
    with database.session_scope() as session:
        return [(a.number, a.outcome, a.error_class) for a in session.scalars(select(DispatchAttempt).order_by(DispatchAttempt.created_at))]


def backoff(database, dispatch_id) -> tuple[timedelta, int]:
    """(next_attempt_at - end of the last attempt, the try the pending transmit job is for), checking the job waits until next_attempt_at."""
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        last = session.scalar(select(DispatchAttempt).where(DispatchAttempt.dispatch_id == dispatch_id, DispatchAttempt.number == dispatch.attempt_count))
        [job] = session.scalars(select(Job).where(Job.kind == delivery.TRANSMIT, Job.state == "pending")).all()
        assert job.run_after == dispatch.next_attempt_at
        return dispatch.next_attempt_at - last.finished_at, int(job.dedup_key.rsplit(":", 1)[1])


def make_due(database):
    with database.session_scope() as session:
        for job in session.scalars(select(Job).where(Job.state == "pending")):
            job.run_after = utc_now() - timedelta(seconds=1)


def test_a_dispatch_is_sent_once_with_one_attempt_row(database, world, service):
    keys, worker, _, _ = world
    issue(database, keys.municipality_key, claim_payload("T1"))
    worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.channel, dispatch.state, dispatch.attempt_count, dispatch.provider, dispatch.provider_message_id) == ("peppol", "sent", 1, "loopback", "msg-1")
    assert attempts(database) == [(1, "sent", None)]
    assert list(service.messages) == [dispatch.idempotency_key]


def test_retryable_failures_back_off_then_succeed_with_the_same_key(database, world, service):
    keys, worker, _, settings = world
    service.fail_next = [503, 429]
    issue(database, keys.municipality_key, claim_payload("T2"))
    worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.state, dispatch.attempt_count, dispatch.last_error) == ("failed_temporary", 1, "RetryableError: HTTP 503")
    assert timedelta(seconds=29) < dispatch.next_attempt_at - utc_now() <= timedelta(seconds=30)
    # The delay doubles with each failed try: 30 s after the first, 60 s after the second (30 s × 2^(n-1)),
    # counted from the end of the failed attempt, and the next transmit job waits exactly that long.
    assert backoff(database, dispatch.id) == (timedelta(seconds=30), 2)
    make_due(database)
    worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.state, dispatch.attempt_count, dispatch.last_error) == ("failed_temporary", 2, "RetryableError: HTTP 429")
    assert backoff(database, dispatch.id) == (timedelta(seconds=60), 3)
    make_due(database)
    worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.state, dispatch.attempt_count) == ("sent", 3)
    assert attempts(database) == [(1, "failed_temporary", "RetryableError"), (2, "failed_temporary", "RetryableError"), (3, "sent", None)]
    assert service.requests == 3 and len(service.messages) == 1


def test_too_many_retryable_failures_end_the_dispatch(database, world, service):
    keys, worker, _, _ = world
    service.fail_next = [503, 503, 503]
    issue(database, keys.municipality_key, claim_payload("T3"))
    for _ in range(3):
        worker.drain()
        make_due(database)
    first = dispatches(database)[0]
    assert (first.state, first.attempt_count) == ("failed_permanent", 3)


def test_a_terminal_failure_falls_back_to_the_next_channel(database, world, service):
    keys, worker, _, _ = world
    service.fail_next = [400]
    issue(database, keys.municipality_key, claim_payload("T4"))
    worker.drain()
    failed, fallback = dispatches(database)
    assert (failed.channel, failed.state, failed.last_error) == ("peppol", "failed_permanent", "TerminalError: HTTP 400")
    # The business debtor has an e-mail address: the same document goes there next.
    assert (fallback.channel, fallback.recipient, fallback.state, fallback.document_id) == ("email", "boekhouding@janssens.be", "queued", failed.document_id)
    assert fallback.routing_reason == "after peppol failed (TerminalError: HTTP 400): Peppol failed: e-mail with PDF and UBL"
    with database.session_scope() as session:
        actions = session.scalars(select(AuditEvent.action).where(AuditEvent.entity_type == "claim").order_by(AuditEvent.id)).all()
    assert actions == ["claim.created", "claim.routed", "document.issued", "dispatch.fallback"]


def test_a_worker_dying_mid_send_neither_loses_nor_duplicates(database, world, service):
    keys, worker, providers, settings = world
    issue(database, keys.municipality_key, claim_payload("T5"))
    worker.run_once()  # claim.issue only
    [dispatch] = dispatches(database)
    # Step 1 commits, then the "worker" dies before recording the outcome (after the provider got it).
    with database.session_scope() as session:
        request = delivery.claim_for_send(session, dispatch.id, provider="loopback", now=utc_now())
    providers.for_channel("peppol").send(request)
    assert dispatches(database)[0].state == "in_flight"
    with database.session_scope() as session:
        assert delivery.requeue_stale(session, now=utc_now() + timedelta(seconds=settings.worker_stale_after_seconds + 1), stale_after=timedelta(seconds=settings.worker_stale_after_seconds)) == 1
    make_due(database)
    worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.state, dispatch.attempt_count, dispatch.provider_message_id) == ("sent", 2, "msg-1")
    assert attempts(database) == [(1, "abandoned", None), (2, "sent", None)]
    assert service.requests == 2 and len(service.messages) == 1  # the retry reused the key: one message


def callback(client, payload: dict, *, timestamp: str | None = None, signature: str | None = None):
    body = json.dumps(payload).encode()
    timestamp = timestamp or str(int(time.time()))
    headers = {"X-Timestamp": timestamp, "X-Signature": signature or LoopbackProvider.sign(body, timestamp), "Content-Type": "application/json"}
    return client.post("/v1/callbacks/loopback", content=body, headers=headers)


def test_callbacks_are_verified_stored_once_and_never_move_backwards(database, world, settings, service):
    keys, worker, providers, settings = world
    issue(database, keys.municipality_key, claim_payload("T6"))
    worker.drain()
    with TestClient(create_app(settings, database=database, providers=providers)) as client:
        forged = callback(client, {"id": "msg-1", "status": "delivered"}, signature="0" * 64)
        assert forged.status_code == 401 and forged.headers["content-type"] == "application/problem+json"
        stale = callback(client, {"id": "msg-1", "status": "delivered"}, timestamp=str(int(time.time()) - 301))
        assert stale.status_code == 401
        assert client.post("/v1/callbacks/nobody", content=b"{}").status_code == 404
        with database.session_scope() as session:
            assert session.scalars(select(InboundEvent)).all() == []
        assert callback(client, {"id": "msg-1", "status": "delivered"}).json() == {"stored": 1, "duplicates": 0}
        assert callback(client, {"id": "msg-1", "status": "delivered"}).json() == {"stored": 0, "duplicates": 1}
        assert callback(client, {"id": "msg-1", "status": "sent"}).json() == {"stored": 1, "duplicates": 0}  # late
    worker.drain()
    [dispatch] = dispatches(database)
    assert dispatch.state == "delivered"
    with database.session_scope() as session:
        events = session.scalars(select(InboundEvent).order_by(InboundEvent.created_at)).all()
        assert [(e.external_id, e.handled_at is not None) for e in events] == [("msg-1:delivered", True), ("msg-1:sent", True)]
        reported = session.scalars(select(AuditEvent).where(AuditEvent.action == "dispatch.reported").order_by(AuditEvent.id)).all()
        assert [(e.data["reported"], e.data["state"]) for e in reported] == [("delivered", "delivered"), ("sent", "delivered")]


def test_an_email_bounce_marks_the_contact_and_falls_back_to_paper(database, world, service):
    keys, worker, providers, _ = world
    providers.add(LoopbackProvider("email", service.url))
    payload = claim_payload("T7")
    payload["debtor"] = {**payload["debtor"], "peppol_id": None}  # no Peppol: e-mail first
    issue(database, keys.municipality_key, payload)
    worker.drain()
    [email] = dispatches(database)
    assert (email.channel, email.state) == ("email", "sent")
    with database.session_scope() as session:
        # as the bounce verifier reports a hard bounce: the address itself is wrong
        delivery.apply_provider_report(session, email.provider_message_id, delivery.D.FAILED_PERMANENT, detail={"reason": "5.1.1 user unknown", "contact_invalid": True}, now=utc_now(), max_attempts=3)
    worker.drain()
    email, paper = dispatches(database)
    assert (email.state, paper.channel, paper.recipient, paper.state) == ("failed_permanent", "paper", "Markt 1, 9000 Gent, BE", "queued")
    with database.session_scope() as session:
        contact = session.scalar(select(DebtorContact))
        assert (contact.value, contact.validity, contact.validity_reason) == ("boekhouding@janssens.be", "bounced", "5.1.1 user unknown")


def test_soft_failures_after_sending_stop_at_the_attempt_limit(database, world, service):
    keys, worker, _, settings = world  # max_attempts = 3
    issue(database, keys.municipality_key, claim_payload("T8"))
    worker.drain()
    for expected_attempts in (1, 2):
        [dispatch] = dispatches(database)
        assert (dispatch.state, dispatch.attempt_count) == ("sent", expected_attempts)
        with database.session_scope() as session:  # e.g. "mailbox full" after the provider accepted it
            delivery.apply_provider_report(session, dispatch.provider_message_id, delivery.D.FAILED_TEMPORARY, detail={"reason": "4.2.2 mailbox full"}, now=utc_now(), max_attempts=settings.max_attempts)
        make_due(database)
        worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.state, dispatch.attempt_count) == ("sent", 3)
    with database.session_scope() as session:
        delivery.apply_provider_report(session, dispatch.provider_message_id, delivery.D.FAILED_TEMPORARY, detail={"reason": "4.2.2 mailbox full"}, now=utc_now(), max_attempts=settings.max_attempts)
    worker.drain()
    first, fallback = dispatches(database)
    assert (first.state, first.attempt_count, first.last_error) == ("failed_permanent", 3, "4.2.2 mailbox full")
    assert (fallback.channel, fallback.state) == ("email", "queued")
    assert service.requests == 3 and len(service.messages) == 1
