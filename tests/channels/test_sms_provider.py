"""SMS provider end to end: the store (SQLite and PostgreSQL), the loopback SMS sandbox over real
HTTP, its asynchronous signed delivery reports into our callback route (served by uvicorn on
127.0.0.1), and the worker applying them."""

from __future__ import annotations

import hashlib
import json
import threading
import time
import uuid
from contextlib import contextmanager

import pytest
import uvicorn
from sqlalchemy import func, select

from gateway.api.payloads import ClaimIn
from gateway.app import create_app
from gateway.channels.base import SendRequest
from gateway.channels.registry import ProviderRegistry
from gateway.channels.setup import build_providers, callback_url
from gateway.channels.sms.client import SmsClient
from gateway.channels.sms.provider import SmsProvider
from gateway.channels.sms.sandbox import SmsSandbox
from gateway.delivery import service as delivery
from gateway.kit.time import utc_now
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.store.models import AuditEvent, Claim, DebtorContact, Dispatch, DispatchAttempt, Document, InboundEvent, Job
from gateway.workers.run import Worker
from tests.factories import consumer_claim, seed_creditors

API_KEY = "sms-test-key"
SECRET = "sms-test-callback-secret"


@contextmanager
def serve(app):
    """Our API on a real loopback port, so a sandbox can call it back over HTTP."""
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


def issue_with_document(database, key: str, payload: dict, *, channel: str, recipient: str) -> uuid.UUID:
    """A stored claim with one issued PDF document and a dispatch queued on `channel`.

    The channel is tested on its own: the claim's `claim.issue` job (which would issue the real
    letter and route it) is dropped, so the only dispatch is the one queued here."""
    now = utc_now()
    with database.session_scope() as session:
        intake = create_claim(session, authenticate(session, key), ClaimIn.model_validate(payload), now=now)
        claim = session.get(Claim, intake.claim.id)
        for job in session.scalars(select(Job).where(Job.kind == "claim.issue")):
            if job.payload.get("claim_id") == str(claim.id):
                session.delete(job)
        content = b"%PDF-1.7 test letter " + payload["number"].encode()
        sequence = session.scalar(select(func.count()).select_from(Document).where(Document.creditor_id == claim.creditor_id)) + 1
        document = Document(
            claim_id=claim.id, creditor_id=claim.creditor_id, kind="letter", prefix="L", sequence=sequence, number=f"L-{payload['number']}",
            media_type="application/pdf", content=content, sha256=hashlib.sha256(content).hexdigest(), issued_at=now, meta={}, created_at=now,
        )
        session.add(document)
        session.flush()
        dispatch = delivery.queue_dispatch(session, document_id=document.id, claim_id=claim.id, channel=channel, recipient=recipient, reason="test", now=now)
        return dispatch.id


def sms_claim(number: str, phone: str) -> dict:
    payload = consumer_claim(number)
    payload["debtor"]["contacts"].append({"kind": "phone", "value": phone})
    return payload


def dispatch_rows(database):
    with database.session_scope() as session:
        return session.scalars(select(Dispatch).order_by(Dispatch.created_at)).all()


@pytest.fixture
def sandbox():
    running = SmsSandbox(api_key=API_KEY, callback_secret=SECRET)
    yield running
    running.close()


@pytest.fixture
def world(database, settings, sandbox):
    providers = ProviderRegistry()
    app = create_app(settings, database=database, providers=providers)
    with serve(app) as base_url:
        settings = settings.model_copy(update={"public_base_url": base_url, "max_attempts": 3})
        client = SmsClient(sandbox.url, API_KEY, timeout_seconds=5)
        providers.add(SmsProvider(client, callback_secret=SECRET, callback_url=callback_url(settings, "sms"), max_segments=3))
        keys = seed_creditors(database)
        yield keys, Worker(database, settings, name="t", providers=providers), base_url


@pytest.mark.parametrize(
    ("phone", "state", "stats"),
    [
        ("+32470000001", "delivered", ["DELIVRD"]),
        ("+32470000006", "failed_permanent", ["UNDELIV"]),
        ("+32470000007", "failed_temporary", ["EXPIRED"]),
        ("+32470000008", "failed_permanent", ["REJECTD"]),
        ("+32470000009", "delivered", ["ENROUTE", "DELIVRD"]),
    ],
)
def test_each_delivery_report_lands_on_its_state(database, world, sandbox, phone, state, stats):
    keys, worker, _ = world
    dispatch_id = issue_with_document(database, keys.municipality_key, sms_claim("S1", phone), channel="sms", recipient=phone)
    assert worker.drain() >= 1
    sandbox.wait_for_reports()
    [message] = sandbox.messages.values()
    assert [(r["stat"], r["status"]) for r in message.reports] == [(stat, 202) for stat in stats]
    worker.drain()
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        assert (dispatch.state, dispatch.provider, dispatch.provider_message_id) == (state, "sms", message.id)
        assert message.client_reference == dispatch.idempotency_key
        events = session.scalars(select(InboundEvent).order_by(InboundEvent.created_at)).all()
        assert [(e.source, e.external_id, e.handled_at is not None, e.error) for e in events] == [("sms", f"{message.id}:{stat}", True, None) for stat in stats]
        [attempt] = session.scalars(select(DispatchAttempt)).all()
        assert json.loads(attempt.response_excerpt) == {"message_id": message.id, "segments": 1, "encoding": "gsm7", "units": len(message.text), "repeated": False}
        contact = session.scalar(select(DebtorContact).where(DebtorContact.kind == "phone"))
        # Only UNDELIV blames the number (DLR_TABLE contact_invalid); REJECTD fails the dispatch for
        # good but is the operator's or route's refusal, so the number stays usable.
        assert contact.validity == ("unreachable" if stats == ["UNDELIV"] else "unverified")
        if state == "failed_temporary":
            assert session.scalar(select(Job).where(Job.kind == delivery.TRANSMIT, Job.state == "pending")) is not None


def test_undeliverable_number_falls_back_to_email(database, world, sandbox):
    keys, worker, _ = world
    issue_with_document(database, keys.municipality_key, sms_claim("S2", "+32470000006"), channel="sms", recipient="+32470000006")
    worker.drain()
    sandbox.wait_for_reports()
    worker.drain()
    sms, email = dispatch_rows(database)
    assert (sms.channel, sms.state, sms.last_error) == ("sms", "failed_permanent", "SMS UNDELIV (err 001)")
    assert (email.channel, email.recipient, email.state) == ("email", "an.peeters@telenet.be", "queued")


def test_an_operator_rejection_falls_back_to_email_and_keeps_the_number(database, world, sandbox):
    keys, worker, _ = world
    issue_with_document(database, keys.municipality_key, sms_claim("S5", "+32470000008"), channel="sms", recipient="+32470000008")
    worker.drain()
    sandbox.wait_for_reports()
    worker.drain()
    sms, email = dispatch_rows(database)
    assert (sms.channel, sms.state, sms.last_error) == ("sms", "failed_permanent", "SMS REJECTD (err 003)")
    assert (email.channel, email.recipient, email.state, email.document_id) == ("email", "an.peeters@telenet.be", "queued", sms.document_id)
    with database.session_scope() as session:
        assert {c.kind: c.validity for c in session.scalars(select(DebtorContact))} == {"email": "unverified", "phone": "unverified"}
        claim_id = sms.claim_id
        [fallback] = session.scalars(select(AuditEvent).where(AuditEvent.entity_id == claim_id, AuditEvent.action == "dispatch.fallback")).all()
        assert fallback.data["contact_invalidated"] is False
        assert fallback.data["contact_kept"].startswith("the failure is not the contact's fault")
        assert session.scalars(select(AuditEvent).where(AuditEvent.action.in_(["contact.invalidated", "contact_repair.requested"]))).all() == []
        assert session.scalars(select(Document).where(Document.kind == "contact_repair")).all() == []


def post(base_url: str, body: bytes, headers: dict[str, str]):
    import requests

    return requests.post(f"{base_url}/v1/callbacks/sms", data=body, headers=headers, timeout=5)


def test_repeated_and_out_of_order_reports_converge(database, world, sandbox):
    keys, worker, base_url = world
    issue_with_document(database, keys.municipality_key, sms_claim("S3", "+32470000002"), channel="sms", recipient="+32470000002")
    worker.drain()
    sandbox.wait_for_reports()
    [message] = sandbox.messages.values()
    # The same DELIVRD again (a provider retry), then a late ENROUTE, then ACCEPTD.
    for stat, expected in (("DELIVRD", {"stored": 0, "duplicates": 1}), ("ENROUTE", {"stored": 1, "duplicates": 0}), ("ACCEPTD", {"stored": 1, "duplicates": 0}), ("ENROUTE", {"stored": 0, "duplicates": 1})):
        body, headers = sandbox.signed_report(message.id, stat)
        answer = post(base_url, body, headers)
        assert (answer.status_code, answer.json()) == (202, expected)
    worker.drain()
    [dispatch] = dispatch_rows(database)
    assert dispatch.state == "delivered"
    with database.session_scope() as session:
        assert sorted(e.external_id for e in session.scalars(select(InboundEvent))) == sorted(f"{message.id}:{s}" for s in ("DELIVRD", "ENROUTE", "ACCEPTD"))


def test_forged_stale_and_unknown_reports_are_refused_and_nothing_is_stored(database, world, sandbox):
    keys, worker, base_url = world
    sandbox.report_delay_seconds = 0
    issue_with_document(database, keys.municipality_key, sms_claim("S4", "+32470000003"), channel="sms", recipient="+32470000003")
    with database.session_scope() as session:
        dispatch = session.scalar(select(Dispatch))
    body, headers = sandbox.signed_report("sms-x", "DELIVRD")
    forged = post(base_url, body, {**headers, "X-Signature": "0" * 64})
    altered = post(base_url, body.replace(b"DELIVRD", b"UNDELIV"), headers)
    stale_body, stale_headers = sandbox.signed_report("sms-x", "DELIVRD", timestamp=int(time.time()) - 301)
    stale = post(base_url, stale_body, stale_headers)
    future_body, future_headers = sandbox.signed_report("sms-x", "DELIVRD", timestamp=int(time.time()) + 301)
    future = post(base_url, future_body, future_headers)
    unknown_body, unknown_headers = sandbox.signed_report("sms-x", "BOGUS")
    unknown = post(base_url, unknown_body, unknown_headers)
    missing = post(base_url, body, {"Content-Type": "application/json"})
    assert [r.status_code for r in (forged, altered, stale, future, unknown, missing)] == [401] * 6
    assert forged.headers["content-type"] == "application/problem+json"
    with database.session_scope() as session:
        assert session.scalars(select(InboundEvent)).all() == []
        assert session.get(Dispatch, dispatch.id).state == "queued"


def test_a_retry_reuses_the_client_reference_and_the_sandbox_keeps_one_message(database, world, sandbox):
    keys, worker, _ = world
    issue_with_document(database, keys.municipality_key, sms_claim("S5", "+32470000004"), channel="sms", recipient="+32470000004")
    [dispatch] = dispatch_rows(database)
    provider = worker.providers.for_channel("sms")
    with database.session_scope() as session:
        request = delivery.claim_for_send(session, dispatch.id, provider="sms", now=utc_now())
    first = provider.send(request)  # the worker "dies" here, after the vendor took the message
    second = provider.send(request)
    assert first.provider_message_id == second.provider_message_id
    assert (first.status_code, second.status_code) == (201, 200)
    assert json.loads(second.response_excerpt)["repeated"] is True
    assert sandbox.requests == 2 and len(sandbox.messages) == 1
    sandbox.wait_for_reports()
    assert len(next(iter(sandbox.messages.values())).reports) == 1


def test_vendor_errors_map_onto_retryable_and_terminal(database, world, sandbox):
    keys, worker, _ = world
    sandbox.fail_next = [503, 400]
    issue_with_document(database, keys.municipality_key, sms_claim("S6", "+32470000005"), channel="sms", recipient="+32470000005")
    worker.drain()
    [dispatch] = dispatch_rows(database)
    assert (dispatch.state, dispatch.last_error) == ("failed_temporary", 'RetryableError: sms gateway HTTP 503: {"error": "simulated failure"}')
    with database.session_scope() as session:
        for job in session.scalars(select(Job).where(Job.state == "pending")):
            job.run_after = utc_now()
    worker.drain()
    sms, email = dispatch_rows(database)
    assert (sms.state, sms.last_error) == ("failed_permanent", 'TerminalError: sms gateway HTTP 400: {"error": "simulated failure"}')
    assert (email.channel, email.state) == ("email", "queued")
    assert sandbox.messages == {}


def test_a_text_over_the_segment_limit_is_terminal_and_nothing_is_sent(sandbox):
    provider = SmsProvider(SmsClient(sandbox.url, API_KEY, timeout_seconds=5), callback_secret=SECRET, callback_url="http://127.0.0.1:1/cb", max_segments=1)
    request = SendRequest(uuid.uuid4(), "k" * 64, "sms", "+32470000001", "L-1", "application/pdf", b"", extra={"text": "ç" * 71})
    with pytest.raises(Exception) as raised:
        provider.send(request)
    assert (type(raised.value).__name__, str(raised.value)) == ("TerminalError", "sms text refused: the SMS needs 2 parts (ucs2, 71 units); at most 1 allowed")
    assert sandbox.requests == 0


def test_build_providers_adds_sms_only_when_configured(settings):
    assert "sms" not in build_providers(settings).providers
    configured = build_providers(settings.model_copy(update={"sms_api_url": "http://127.0.0.1:9", "sms_api_key": "k", "sms_callback_secret": "s"}))
    assert configured.providers["sms"].callback_url == "http://127.0.0.1:8000/v1/callbacks/sms"
    assert configured.verifiers["sms"] is configured.providers["sms"]


def test_an_empty_secret_disables_the_callback_endpoint(sandbox):
    from gateway.channels.base import CallbackRejected

    provider = SmsProvider(SmsClient(sandbox.url, API_KEY, timeout_seconds=5), callback_secret="", callback_url="http://127.0.0.1:1/cb", max_segments=1)
    body, headers = sandbox.signed_report("sms-1", "DELIVRD")
    with pytest.raises(CallbackRejected, match="disabled"):
        provider.verify_callback({k.lower(): v for k, v in headers.items()}, body, utc_now())
