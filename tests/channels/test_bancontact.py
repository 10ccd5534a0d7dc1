"""Bancontact payment requests end to end: the store (SQLite and PostgreSQL), the loopback Payment
API v3 sandbox over real HTTP, its signed callbacks into our route (uvicorn on 127.0.0.1), the
inbox, and booking on the claim."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from gateway.api.payloads import ClaimIn, PaymentIn
from gateway.app import create_app
from gateway.channels.payment import bancontact
from gateway.channels.payment.bancontact import BancontactVerifier, JwksCache, apply_pending, request_payment
from gateway.channels.payment.bancontact_client import BancontactClient
from gateway.channels.payment.bancontact_sandbox import BancontactSandbox
from gateway.channels.registry import ProviderRegistry
from gateway.channels.setup import build_providers
from gateway.errors import Conflict, RetryableError, TerminalError
from gateway.kit.time import utc_now
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim, record_payment
from gateway.store.models import AuditEvent, Claim, InboundEvent, Payment
from gateway.store.models.payment_request import PaymentRequest
from gateway.workers.run import Worker
from tests.channels.test_sms_provider import serve
from tests.factories import consumer_claim, seed_creditors

API_KEY = "bc-test-key"
PPID = "5fd0a2c1e4b0d9a1b2c3d4e5"


@pytest.fixture
def sandbox():
    running = BancontactSandbox(api_key=API_KEY, payment_profile_id=PPID)
    yield running
    running.close()


@pytest.fixture
def world(database, settings, sandbox):
    providers = ProviderRegistry()
    app = create_app(settings, database=database, providers=providers)
    with serve(app) as base_url:
        client = BancontactClient(sandbox.url, API_KEY, timeout_seconds=5)
        verifier = BancontactVerifier(
            payment_profile_id=PPID, callback_url=f"{base_url}/v1/callbacks/bancontact", jwks=JwksCache(lambda: client.fetch_jwks(sandbox.jwks_url)), client=client,
        )
        providers.add_verifier(verifier)
        keys = seed_creditors(database)
        yield keys, client, verifier, Worker(database, settings, name="t", providers=providers)


def new_claim(database, key: str, number: str):
    with database.session_scope() as session:
        return create_claim(session, authenticate(session, key), ClaimIn.model_validate(consumer_claim(number)), now=utc_now()).claim


def claim_row(database, claim_id):
    with database.session_scope() as session:
        return session.get(Claim, claim_id)


def payments(database):
    with database.session_scope() as session:
        return [(p.amount, p.source, p.external_id, p.reference) for p in session.scalars(select(Payment).order_by(Payment.created_at))]


def inbox(database):
    with database.session_scope() as session:
        return [(e.external_id, e.handled_at is not None, e.error) for e in session.scalars(select(InboundEvent).order_by(InboundEvent.received_at, InboundEvent.created_at))]


def apply(database, verifier):
    with database.session_scope() as session:
        return apply_pending(session, verifier, now=utc_now())


def post_callback(verifier, body: bytes, headers: dict):
    return requests.post(verifier.callback_url, data=body, headers=headers, timeout=5)


def test_a_payment_request_is_created_once_with_the_documented_fields(database, world, sandbox):
    keys, client, verifier, _ = world
    claim = new_claim(database, keys.municipality_key, "B1")
    link = request_payment(database, client, claim.id, callback_url=verifier.callback_url)
    again = request_payment(database, client, claim.id, callback_url=verifier.callback_url)
    assert again == link
    [payment] = sandbox.payments.values()
    assert (payment.amount, payment.currency, payment.reference, payment.description, payment.callback_url) == (4500, "EUR", claim.structured_communication, "Stad Gent B1", verifier.callback_url)
    assert (link.payment_id, link.amount, link.reference) == (payment.payment_id, Decimal("45.00"), claim.structured_communication)
    assert link.deeplink == f"https://pay.bancontact.net/pay/2/{payment.payment_id}"
    assert link.qrcode_url == f"https://qrcodegenerator.api.bancontact.net/qrcode?c=https%3A%2F%2Fpay.bancontact.net%2Fpay%2F2%2F{payment.payment_id}"
    assert timedelta(minutes=19) < link.expires_at - utc_now() <= timedelta(minutes=20)
    assert sandbox.create_requests == 1
    with database.session_scope() as session:
        [row] = session.scalars(select(PaymentRequest)).all()
        assert (row.state, row.provider_status, row.active_claim_id, row.payment_id) == ("pending", "PENDING", claim.id, payment.payment_id)


def test_succeeded_books_the_payment_once_even_when_the_callback_repeats(database, world, sandbox):
    keys, client, verifier, worker = world
    claim = new_claim(database, keys.municipality_key, "B2")
    link = request_payment(database, client, claim.id, callback_url=verifier.callback_url)
    paid = requests.post(f"{sandbox.url}/sandbox/payments/{link.payment_id}/pay", timeout=10).json()
    assert paid == {"status": "SUCCEEDED", "callback_status": 202}
    payment = sandbox.payments[link.payment_id]
    # Bancontact repeats a callback byte for byte until it gets a 2xx: stored once.
    assert sandbox.send_callback(payment) == 202
    body, headers = sandbox.signed_callback(payment)  # the same event re-signed (new jti)
    assert post_callback(verifier, body, headers).json() == {"stored": 0, "duplicates": 1}
    worker.drain()  # the inbox worker hands the stored callback to the verifier, which books it
    assert apply(database, verifier) == []  # nothing left to catch up on
    assert (claim_row(database, claim.id).status, claim_row(database, claim.id).amount_paid) == ("paid", Decimal("45.00"))
    assert payments(database) == [(Decimal("45.00"), "bancontact", link.payment_id, claim.structured_communication)]
    assert inbox(database) == [(f"{link.payment_id}:SUCCEEDED", True, None)]
    with database.session_scope() as session:
        row = session.scalar(select(PaymentRequest))
        assert (row.state, row.provider_status, row.active_claim_id) == ("succeeded", "SUCCEEDED", None)
        recorded = session.scalars(select(AuditEvent).where(AuditEvent.action == "payment.recorded")).all()
        assert [(e.actor, e.data["source"], e.data["status"]) for e in recorded] == [("bancontact", "bancontact", "paid")]
    # A SUCCEEDED stored again under another event id (a bug upstream) still books nothing twice.
    with database.session_scope() as session:
        stored = session.scalar(select(InboundEvent))
        stored.handled_at = None
    assert apply(database, verifier) == ["already_booked"]
    assert len(payments(database)) == 1


def test_a_partial_claim_is_paid_for_its_open_amount(database, world, sandbox):
    keys, client, verifier, _ = world
    claim = new_claim(database, keys.municipality_key, "B3")
    with database.session_scope() as session:
        record_payment(session, authenticate(session, keys.municipality_key), claim.id, PaymentIn(amount=Decimal("10.00"), paid_on=utc_now().date(), source="bank_statement", external_id="st-1"), now=utc_now())
    assert claim_row(database, claim.id).status == "partially_paid"
    link = request_payment(database, client, claim.id, callback_url=verifier.callback_url)
    assert (link.amount, sandbox.payments[link.payment_id].amount) == (Decimal("35.00"), 3500)
    requests.post(f"{sandbox.url}/sandbox/payments/{link.payment_id}/pay", timeout=10)
    assert apply(database, verifier) == ["booked"]
    assert (claim_row(database, claim.id).status, claim_row(database, claim.id).amount_paid) == ("paid", Decimal("45.00"))
    with pytest.raises(Conflict, match="is paid: nothing to pay"):
        request_payment(database, client, claim.id, callback_url=verifier.callback_url)


def test_other_statuses_book_nothing_and_out_of_order_callbacks_converge(database, world, sandbox):
    keys, client, verifier, _ = world
    claim = new_claim(database, keys.municipality_key, "B4")
    link = request_payment(database, client, claim.id, callback_url=verifier.callback_url)
    payment = sandbox.payments[link.payment_id]
    for status in ("IDENTIFIED", "CANCELLED"):
        assert requests.post(f"{sandbox.url}/sandbox/payments/{link.payment_id}/pay?status={status}", timeout=10).json()["callback_status"] == 202
    payment.status = "AUTHORIZED"  # a late, earlier status arrives after the final one
    body, headers = sandbox.signed_callback(payment)
    assert post_callback(verifier, body, headers).status_code == 202
    assert apply(database, verifier) == ["status", "status", "status"]
    assert (claim_row(database, claim.id).status, payments(database)) == ("open", [])
    with database.session_scope() as session:
        row = session.scalar(select(PaymentRequest))
        assert (row.state, row.provider_status, row.active_claim_id) == ("cancelled", "CANCELLED", None)
    # The request is closed: the next one is a new payment.
    assert request_payment(database, client, claim.id, callback_url=verifier.callback_url).payment_id != link.payment_id


def test_forged_altered_stale_and_replayed_callbacks_are_refused_and_nothing_is_stored(database, world, sandbox):
    keys, client, verifier, _ = world
    claim = new_claim(database, keys.municipality_key, "B5")
    link = request_payment(database, client, claim.id, callback_url=verifier.callback_url)
    payment = sandbox.payments[link.payment_id]
    payment.status, payment.succeeded_at = "SUCCEEDED", datetime.now(timezone.utc)
    kid = sandbox.keys[-1][0]
    stale = (datetime.now(timezone.utc) - timedelta(seconds=301)).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    good_body, good_headers = sandbox.signed_callback(payment)
    cases = {
        "foreign key, same kid": sandbox.signed_callback(payment, key=(kid, ec.generate_private_key(ec.SECP256R1()))),
        "altered body": (good_body.replace(b'"amount": 4500', b'"amount": 1'), good_headers),
        "stale iat": sandbox.signed_callback(payment, header_changes={bancontact.CLAIM_IAT: stale}),
        "other path": sandbox.signed_callback(payment, header_changes={bancontact.CLAIM_PATH: "https://evil.example/cb"}),
        "other profile": sandbox.signed_callback(payment, header_changes={bancontact.CLAIM_SUB: "someone-else"}),
        "other issuer": sandbox.signed_callback(payment, header_changes={bancontact.CLAIM_ISS: "Mallory"}),
        "no jti": sandbox.signed_callback(payment, header_changes={bancontact.CLAIM_JTI: None}),
        "unknown crit": sandbox.signed_callback(payment, header_changes={"crit": sorted(bancontact.KNOWN_CRIT | {"https://payconiq.com/new"})}),
        "crit without path": sandbox.signed_callback(payment, header_changes={"crit": sorted(bancontact.KNOWN_CRIT - {bancontact.CLAIM_PATH})}),
        "HS256": sandbox.signed_callback(payment, header_changes={"alg": "HS256"}),
        "unknown kid": sandbox.signed_callback(payment, header_changes={"kid": "nobody"}),
        "attached payload": (good_body, {**good_headers, "Signature": good_headers["Signature"].replace("..", ".e30.")}),
        "unsigned": (good_body, {"Content-Type": "application/json"}),
    }
    answers = {name: post_callback(verifier, body, headers) for name, (body, headers) in cases.items()}
    assert {name: answer.status_code for name, answer in answers.items()} == {name: 401 for name in cases}
    assert answers["stale iat"].json()["detail"] == "iat outside the 5-minute window"
    assert answers["unknown crit"].json()["detail"] == "crit names parameters we do not understand: ['https://payconiq.com/new']"
    # A jti seen with one body and replayed with another is refused; the first one goes through.
    first_body, first_headers = sandbox.signed_callback(payment, header_changes={bancontact.CLAIM_JTI: "jti-1"})
    assert post_callback(verifier, first_body, first_headers).status_code == 202
    payment.status = "CANCELLED"
    replay_body, replay_headers = sandbox.signed_callback(payment, header_changes={bancontact.CLAIM_JTI: "jti-1"})
    replayed = post_callback(verifier, replay_body, replay_headers)
    assert (replayed.status_code, replayed.json()["detail"]) == (401, "jti already used for another body (replay)")
    assert inbox(database) == [(f"{link.payment_id}:SUCCEEDED", False, None)]
    assert payments(database) == []


def test_an_unknown_kid_refetches_the_jwks_and_der_signatures_are_accepted(database, world, sandbox):
    keys, client, verifier, _ = world
    claim = new_claim(database, keys.municipality_key, "B6")
    link = request_payment(database, client, claim.id, callback_url=verifier.callback_url)
    payment = sandbox.payments[link.payment_id]
    payment.status = "IDENTIFIED"
    assert post_callback(verifier, *sandbox.signed_callback(payment)).status_code == 202
    assert (sandbox.jwks_requests, verifier.jwks.fetches) == (1, 1)
    sandbox.rotate_key()
    verifier.jwks.fetched_at -= bancontact.JWKS_MIN_REFETCH_SECONDS  # the last fetch is 30 s old
    payment.status = "AUTHORIZED"
    assert post_callback(verifier, *sandbox.signed_callback(payment, der=True)).status_code == 202
    assert (sandbox.jwks_requests, verifier.jwks.fetches) == (2, 2)
    # Forged kids do not cause a fetch storm: within 30 s an unknown kid is refused from the cache.
    assert post_callback(verifier, *sandbox.signed_callback(payment, header_changes={"kid": "forged"})).status_code == 401
    assert sandbox.jwks_requests == 2
    assert [e[0] for e in inbox(database)] == [f"{link.payment_id}:IDENTIFIED", f"{link.payment_id}:AUTHORIZED"]


def test_the_jwks_cache_expires_after_twelve_hours():
    clock = [1000.0]
    documents = [{"keys": []}]
    cache = JwksCache(lambda: documents[0], clock=lambda: clock[0])
    assert cache.key("k1") is None and cache.fetches == 1
    assert cache.key("k1") is None and cache.fetches == 1  # within 30 s: no refetch for an unknown kid
    clock[0] += 12 * 3600 + 1
    cache.key("k1")
    assert cache.fetches == 2


def test_a_signed_callback_for_an_unknown_payment_and_reference_changes_nothing(database, world, sandbox):
    keys, client, verifier, _ = world
    claim = new_claim(database, keys.municipality_key, "B7")
    link = request_payment(database, client, claim.id, callback_url=verifier.callback_url)
    ghost = sandbox.payments[link.payment_id]
    # a payment id we never created, for a reference no claim has (a payment we did not ask for at all)
    body = (ghost.callback_body().replace(link.payment_id.encode(), b"000000000000000000000000").replace(b'"PENDING"', b'"SUCCEEDED"')
            .replace(claim.structured_communication.encode(), b"000000000097"))
    assert post_callback(verifier, *sandbox.signed_callback(ghost, body=body)).status_code == 202
    identified = body.replace(b'"SUCCEEDED"', b'"IDENTIFIED"')
    assert post_callback(verifier, *sandbox.signed_callback(ghost, body=identified)).status_code == 202
    assert apply(database, verifier) == ["unknown_reference", "unknown_payment"]
    assert inbox(database) == [
        ("000000000000000000000000:SUCCEEDED", True, "payment 000000000000000000000000 not booked: no claim, payment-plan instalment or fee carries the structured reference '000000000097'"),
        ("000000000000000000000000:IDENTIFIED", True, "unknown payment id 000000000000000000000000 (IDENTIFIED): nothing to do"),
    ]
    assert (claim_row(database, claim.id).status, payments(database)) == ("open", [])


def test_a_lost_answer_is_reconciled_by_reference_and_never_creates_a_second_payment(database, world, sandbox):
    keys, client, verifier, _ = world
    claim = new_claim(database, keys.municipality_key, "B8")
    sandbox.lose_answer_next = True
    with pytest.raises(RetryableError, match="Bancontact HTTP 503"):
        request_payment(database, client, claim.id, callback_url=verifier.callback_url)
    with database.session_scope() as session:
        row = session.scalar(select(PaymentRequest))
        assert (row.state, row.payment_id, row.last_error) == ("creating", None, 'RetryableError: Bancontact HTTP 503: {"code": "TECHNICAL_ERROR", "message": "the answer was lost"}')
    link = request_payment(database, client, claim.id, callback_url=verifier.callback_url)
    [payment] = sandbox.payments.values()
    assert (link.payment_id, sandbox.create_requests) == (payment.payment_id, 1)


def test_a_failed_creation_is_retried_and_a_refusal_closes_the_request(database, world, sandbox):
    keys, client, verifier, _ = world
    claim = new_claim(database, keys.municipality_key, "B9")
    sandbox.fail_next = [503]
    with pytest.raises(RetryableError):
        request_payment(database, client, claim.id, callback_url=verifier.callback_url)
    link = request_payment(database, client, claim.id, callback_url=verifier.callback_url)  # search finds nothing: create
    assert (sandbox.create_requests, len(sandbox.payments), link.payment_id in sandbox.payments) == (2, 1, True)

    other = new_claim(database, keys.municipality_key, "B10")
    sandbox.fail_next = [422]
    with pytest.raises(TerminalError, match="Bancontact HTTP 422 TRY_AGAIN_LATER: simulated failure"):
        request_payment(database, client, other.id, callback_url=verifier.callback_url)
    with database.session_scope() as session:
        row = session.scalar(select(PaymentRequest).where(PaymentRequest.claim_id == other.id))
        assert (row.state, row.active_claim_id) == ("failed", None)


def test_a_request_being_created_elsewhere_is_not_created_twice(database, world, sandbox):
    keys, client, verifier, _ = world
    claim = new_claim(database, keys.municipality_key, "B11")
    now = utc_now()
    with database.session_scope() as session:
        session.add(PaymentRequest(
            claim_id=claim.id, creditor_id=claim.creditor_id, active_claim_id=claim.id, provider="bancontact", state="creating", amount=Decimal("45.00"),
            currency="EUR", reference=claim.structured_communication, description="x", updated_at=now, created_at=now,
        ))
    with pytest.raises(Conflict, match="is being created"):
        request_payment(database, client, claim.id, callback_url=verifier.callback_url, now=now)
    assert sandbox.create_requests == 0
    # Once stale (the other worker died), it is reconciled: nothing found, so one payment is created.
    link = request_payment(database, client, claim.id, callback_url=verifier.callback_url, now=now + timedelta(seconds=bancontact.CREATING_STALE_SECONDS + 1))
    assert (sandbox.create_requests, list(sandbox.payments)) == (1, [link.payment_id])


def test_build_providers_adds_the_bancontact_verifier_only_when_configured(settings):
    assert "bancontact" not in build_providers(settings).verifiers
    configured = build_providers(settings.model_copy(update={
        "bancontact_api_url": "http://127.0.0.1:9", "bancontact_api_key": "k", "bancontact_payment_profile_id": PPID, "bancontact_jwks_url": "http://127.0.0.1:9/jwks",
    }))
    verifier = configured.verifiers["bancontact"]
    assert (verifier.payment_profile_id, verifier.callback_url, verifier.client.api_url) == (PPID, "http://127.0.0.1:8000/v1/callbacks/bancontact", "http://127.0.0.1:9")
    assert "bancontact" not in configured.providers


def test_callback_body_is_the_documented_merchant_callback(sandbox):
    from gateway.channels.payment.bancontact_sandbox import SandboxPayment

    now = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)
    payment = SandboxPayment("a" * 24, 4500, "EUR", "123456789002", "Stad Gent B1", "https://x/cb", now, now + timedelta(minutes=20), status="SUCCEEDED", succeeded_at=now)
    assert set(json.loads(payment.callback_body())) == {"paymentId", "amount", "currency", "description", "reference", "createdAt", "expireAt", "succeededAt", "status", "debtor"}
