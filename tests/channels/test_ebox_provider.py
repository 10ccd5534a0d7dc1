"""eBox provider end to end: the store (SQLite and PostgreSQL), the loopback eBox sandbox over real
HTTP (token endpoint verifying our RS256 client assertion, multipart publication with
Idempotency-Key, status), the worker, fallback, and read receipts polled into the inbox."""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.app import create_app
from gateway.channels.base import SendRequest
from gateway.channels.ebox.client import CLIENT_ASSERTION_TYPE, EboxClient, client_assertion, sha256_digest
from gateway.channels.ebox.provider import EboxProvider
from gateway.channels.ebox.receipts import poll_read_receipts
from gateway.channels.ebox.sandbox import PUBLICATION_SCOPE, EboxSandbox
from gateway.channels.registry import ProviderRegistry
from gateway.channels.setup import build_providers
from gateway.delivery import service as delivery
from gateway.errors import RetryableError, TerminalError
from gateway.kit.time import utc_now
from gateway.store.models import Dispatch, DispatchAttempt, InboundEvent, Job
from gateway.workers.run import Worker
from tests.channels.test_sms_provider import issue_with_document
from tests.factories import consumer_claim, seed_creditors

CLIENT_ID = "urn:be:smals:ebox:client:gent-test"
NRN = "85073003328"  # the consumer of tests.factories.consumer_claim
SENDER = "0207451227"


@pytest.fixture(scope="module")
def private_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def sandbox(private_key):
    running = EboxSandbox(client_id=CLIENT_ID, public_key=private_key.public_key())
    yield running
    running.close()


def make_provider(sandbox: EboxSandbox, key: rsa.RSAPrivateKey) -> EboxProvider:
    client = EboxClient(api_url=sandbox.api_url, token_url=sandbox.token_url, client_id=CLIENT_ID, private_key=key, scope=PUBLICATION_SCOPE, timeout_seconds=5)
    return EboxProvider(client, sender_enterprise_number=SENDER, sender_application_id="GENT-INVOICING", message_type_id="INVOICE")


@pytest.fixture
def world(database, settings, sandbox, private_key):
    providers = ProviderRegistry()
    providers.add(make_provider(sandbox, private_key))
    settings = settings.model_copy(update={"max_attempts": 3})
    keys = seed_creditors(database)
    return keys, Worker(database, settings, name="t", providers=providers), providers, settings


def ebox_claim(number: str) -> dict:
    payload = consumer_claim(number)
    payload["debtor"]["consents"].append({"channel": "ebox", "given": True, "date": "2026-02-01", "source": "myebox"})
    return payload


def queue_ebox(database, keys, number: str, recipient: str = NRN) -> uuid.UUID:
    return issue_with_document(database, keys.municipality_key, ebox_claim(number), channel="ebox", recipient=recipient)


def rows(database):
    with database.session_scope() as session:
        return session.scalars(select(Dispatch).order_by(Dispatch.created_at)).all()


def test_a_publication_is_delivered_with_the_documented_message(database, world, sandbox):
    keys, worker, _, _ = world
    dispatch_id = queue_ebox(database, keys, "E1")
    worker.drain()
    [message] = sandbox.messages.values()
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        assert (dispatch.state, dispatch.provider, dispatch.provider_message_id) == ("delivered", "ebox", message.message_id)
        assert message.idempotency_key == dispatch.idempotency_key
        [attempt] = session.scalars(select(DispatchAttempt)).all()
        assert (attempt.outcome, attempt.status_code) == ("delivered", 201)
    content = b"%PDF-1.7 test letter E1"
    assert message.files == {"upfile1": content}
    assert message.message == {
        "recipient": {"eboxType": "citizen", "ssin": NRN},
        "sender": {"eboxType": "enterprise", "enterpriseNumber": SENDER},
        "subject": {"nl": "Stad Gent: document L-E1"},
        "senderApplicationId": "GENT-INVOICING",
        "messageTypeId": "INVOICE",
        "isReplyAuthorized": False,
        "attachments": [{"httpPartName": "upfile1", "isMainContent": True, "isAttachmentSigned": False, "digest": {"digestMethod": "sha_256", "digestValue": sha256_digest(content)}}],
    }
    assert (sandbox.token_requests, sandbox.publish_requests) == (1, 1)


def test_no_digital_user_fails_permanently_and_falls_back_to_email(database, world, sandbox):
    keys, worker, _, _ = world
    sandbox.without_ebox = frozenset({NRN})
    queue_ebox(database, keys, "E2")
    worker.drain()
    ebox, email = rows(database)
    [message] = sandbox.messages.values()
    assert (ebox.channel, ebox.state, ebox.attempt_count) == ("ebox", "failed_permanent", 1)
    assert ebox.last_error == f"TerminalError: eBox NO_DIGITAL_USER: the recipient has never opened an eBox (message {message.message_id})"
    assert (email.channel, email.recipient, email.state, email.document_id) == ("email", "an.peeters@telenet.be", "queued", ebox.document_id)
    assert email.routing_reason.startswith("after ebox failed (TerminalError: eBox NO_DIGITAL_USER")


def test_a_retry_after_a_crash_reuses_the_idempotency_key_and_gets_the_first_publication(database, world, sandbox):
    keys, worker, providers, settings = world
    queue_ebox(database, keys, "E3")
    [dispatch] = rows(database)
    with database.session_scope() as session:
        request = delivery.claim_for_send(session, dispatch.id, provider="ebox", now=utc_now())
    first = providers.for_channel("ebox").send(request)  # published, then the worker dies
    stale_after = timedelta(seconds=settings.worker_stale_after_seconds)
    with database.session_scope() as session:
        assert delivery.requeue_stale(session, now=utc_now() + stale_after + timedelta(seconds=1), stale_after=stale_after) == 1
        for job in session.scalars(select(Job).where(Job.state == "pending")):
            job.run_after = utc_now() - timedelta(seconds=1)
    worker.drain()
    [dispatch] = rows(database)
    assert (dispatch.state, dispatch.attempt_count, dispatch.provider_message_id) == ("delivered", 2, first.provider_message_id)
    with database.session_scope() as session:
        attempts = session.scalars(select(DispatchAttempt).order_by(DispatchAttempt.number)).all()
        assert [(a.number, a.outcome, a.status_code) for a in attempts] == [(1, "abandoned", None), (2, "delivered", 409)]
        assert json.loads(attempts[1].response_excerpt) == {"messageId": first.provider_message_id, "code": None, "repeated": True}
    assert (sandbox.publish_requests, len(sandbox.messages)) == (2, 1)


def test_a_retry_of_a_publication_to_nobody_still_fails_with_no_digital_user(database, world, sandbox):
    keys, worker, providers, _ = world
    sandbox.without_ebox = frozenset({NRN})
    queue_ebox(database, keys, "E8")
    [dispatch] = rows(database)
    with database.session_scope() as session:
        request = delivery.claim_for_send(session, dispatch.id, provider="ebox", now=utc_now())
    provider = providers.for_channel("ebox")
    with pytest.raises(TerminalError, match="NO_DIGITAL_USER"):
        provider.send(request)
    with pytest.raises(TerminalError) as again:  # the same key again: 409, then the status says not visible
        provider.send(request)
    [message] = sandbox.messages.values()
    assert str(again.value) == f"eBox NO_DIGITAL_USER: the recipient has never opened an eBox (message {message.message_id}, published earlier)"
    assert sandbox.publish_requests == 2


def test_server_errors_retry_with_the_same_key_and_invalid_input_is_terminal(database, world, sandbox):
    keys, worker, _, _ = world
    sandbox.fail_next = [503]
    queue_ebox(database, keys, "E4")
    worker.drain()
    [dispatch] = rows(database)
    assert (dispatch.state, dispatch.last_error) == ("failed_temporary", "RetryableError: eBox publish HTTP 503: " + json.dumps({"code": "TECHNICAL_ERROR", "message": "simulated failure"}))
    with database.session_scope() as session:
        for job in session.scalars(select(Job).where(Job.state == "pending")):
            job.run_after = utc_now() - timedelta(seconds=1)
    worker.drain()
    assert [(d.state, d.attempt_count) for d in rows(database)] == [("delivered", 2)]
    assert len(sandbox.messages) == 1

    sandbox.invalid = frozenset({NRN})
    dispatch_id = queue_ebox(database, keys, "E5")
    worker.drain()
    with database.session_scope() as session:
        failed = session.get(Dispatch, dispatch_id)
        assert (failed.state, failed.last_error) == ("failed_permanent", f"TerminalError: eBox publish HTTP 400 INVALID_INPUT: {NRN} is not a valid citizen")


def test_an_assertion_signed_with_another_key_gets_no_token_and_nothing_is_published(database, world, sandbox):
    keys, worker, providers, _ = world
    providers.add(make_provider(sandbox, rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    queue_ebox(database, keys, "E6")
    worker.drain()
    [dispatch] = rows(database)
    assert dispatch.state == "failed_temporary"
    assert dispatch.last_error == 'RetryableError: eBox token endpoint HTTP 401: {"error": "invalid_client", "error_description": "the client assertion signature does not verify"}'
    assert (sandbox.token_requests, sandbox.publish_requests, sandbox.messages) == (1, 0, {})


def test_the_token_endpoint_checks_audience_expiry_replay_and_scope(sandbox, private_key):
    def ask(assertion: str, scope: str = PUBLICATION_SCOPE):
        form = {"grant_type": "client_credentials", "client_assertion_type": CLIENT_ASSERTION_TYPE, "client_assertion": assertion, "scope": scope}
        answer = requests.post(sandbox.token_url, data=form, timeout=5)
        return answer.status_code, answer.json().get("error_description", answer.json().get("token_type"))

    now = time.time()
    good = client_assertion(private_key, client_id=CLIENT_ID, audience=sandbox.token_url, now=now, jti="jti-1")
    assert ask(good) == (200, "Bearer")
    assert ask(good) == (401, "jti missing or already used")
    assert ask(client_assertion(private_key, client_id=CLIENT_ID, audience="https://elsewhere.example/token", now=now)) == (401, "aud must be the token endpoint")
    assert ask(client_assertion(private_key, client_id=CLIENT_ID, audience=sandbox.token_url, now=now - 120)) == (401, "the client assertion has expired")
    assert ask(client_assertion(private_key, client_id="urn:someone:else", audience=sandbox.token_url, now=now)) == (401, "iss and sub must be the client id")
    assert ask(client_assertion(private_key, client_id=CLIENT_ID, audience=sandbox.token_url, now=now), scope="openid") == (400, "the publication scope is required")
    header, claims, signature = good.split(".")
    assert ask(f"{header}.{claims}x.{signature}")[0] == 401


def test_the_access_token_is_cached_and_renewed_after_a_401(sandbox, private_key):
    provider = make_provider(sandbox, private_key)

    def request(number: str) -> SendRequest:
        return SendRequest(uuid.uuid4(), f"key-{number}", "ebox", NRN, number, "application/pdf", b"%PDF " + number.encode(), language="fr", sender_name="Ville de Gand")

    first = provider.send(request("A"))
    second = provider.send(request("B"))
    sandbox.tokens.clear()  # the registry forgets every token (expiry, revocation)
    third = provider.send(request("C"))
    assert [r.state.value for r in (first, second, third)] == ["delivered"] * 3
    assert (provider.client.tokens_fetched, sandbox.token_requests, sandbox.publish_requests) == (2, 2, 3)  # C: refused with 401 before publishing, new token, published
    assert sandbox.by_id[third.provider_message_id].message["subject"] == {"fr": "Ville de Gand : document C"}


def test_recipient_forms(sandbox, private_key):
    provider = make_provider(sandbox, private_key)
    enterprise = provider.send(SendRequest(uuid.uuid4(), "k-ent", "ebox", "0403.019.261", "F-1", "application/pdf", b"%PDF", language="en"))
    message = sandbox.by_id[enterprise.provider_message_id].message
    assert (message["recipient"], message["subject"]) == ({"eboxType": "enterprise", "enterpriseNumber": "0403019261"}, {"nl": "document F-1"})
    with pytest.raises(TerminalError, match="neither a national register number"):
        provider.send(SendRequest(uuid.uuid4(), "k-bad", "ebox", "an.peeters@telenet.be", "F-2", "application/pdf", b"%PDF"))
    assert sandbox.publish_requests == 1


def test_read_receipts_are_polled_into_the_inbox_once_and_move_the_dispatch_to_read(database, world, sandbox):
    keys, worker, providers, _ = world
    dispatch_id = queue_ebox(database, keys, "E7")
    worker.drain()
    provider = providers.for_channel("ebox")
    assert poll_read_receipts(database, provider, now=utc_now()) == 0  # published, not opened yet
    [message] = sandbox.messages.values()
    assert requests.post(f"{sandbox.url}/sandbox/messages/{message.message_id}/read", timeout=5).status_code == 200
    assert poll_read_receipts(database, provider, now=utc_now()) == 1
    assert poll_read_receipts(database, provider, now=utc_now()) == 0  # the same receipt again: stored once
    worker.drain()
    with database.session_scope() as session:
        assert session.get(Dispatch, dispatch_id).state == "read"
        [event] = session.scalars(select(InboundEvent)).all()
        assert (event.source, event.external_id, event.handled_at is not None, event.error) == ("ebox", f"{message.message_id}:read", True, None)
    assert poll_read_receipts(database, provider, now=utc_now()) == 0  # read dispatches are no longer polled


def test_pushed_ebox_callbacks_are_refused(database, world):
    _, _, providers, settings = world
    with TestClient(create_app(settings, database=database, providers=providers)) as client:
        answer = client.post("/v1/callbacks/ebox", content=b'{"messageId": "x", "visible": true, "readStatus": true}')
    assert answer.status_code == 401
    with database.session_scope() as session:
        assert session.scalars(select(InboundEvent)).all() == []


def test_build_providers_adds_ebox_only_when_configured(settings, tmp_path, private_key):
    assert "ebox" not in build_providers(settings).providers
    key_path = tmp_path / "ebox.pem"
    key_path.write_bytes(private_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    configured = build_providers(settings.model_copy(update={
        "ebox_api_url": "http://127.0.0.1:9/messageRegistry/v3", "ebox_token_url": "http://127.0.0.1:9/oauth/v5/token",
        "ebox_client_id": CLIENT_ID, "ebox_private_key_path": key_path, "ebox_sender_enterprise_number": SENDER,
    }))
    provider = configured.providers["ebox"]
    assert (provider.client.token_url, provider.client.scope, provider.sender_enterprise_number) == ("http://127.0.0.1:9/oauth/v5/token", PUBLICATION_SCOPE, SENDER)
    assert configured.verifiers["ebox"] is provider


def test_an_unreachable_ebox_is_retryable(private_key):
    client = EboxClient(api_url="http://127.0.0.1:9/x", token_url="http://127.0.0.1:9/token", client_id=CLIENT_ID, private_key=private_key, scope=PUBLICATION_SCOPE, timeout_seconds=2)
    with pytest.raises(RetryableError, match="eBox unreachable"):
        client.access_token()
