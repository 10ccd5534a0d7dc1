"""Callback property tests (hypothesis) through the real route and the real inbox worker.

- Convergence: a provider's reports for one message, delivered in order to one dispatch (or
  payment) and duplicated and shuffled, with the worker running at random points in between, to
  a twin, end in the same state: dispatch state and error, fallback dispatches, claim status,
  stored events, pending jobs (SMS DLRs, Peppol AP statuses, Bancontact payment statuses).
- Refusal: fuzzed, unsigned and wrongly signed bodies on every callback endpoint (SMS, Peppol
  AP, e-mail bounce, Bancontact) answer 401, store nothing in the inbox, queue nothing, and move
  no dispatch.

eBox has no callback endpoint (read receipts are polled into the inbox), so it is not here.
Here the AP statuses without a response document are shuffled; MLRs and Invoice Responses, and
e-mail bounces, are in test_response_and_bounce_properties.py.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
import uuid

import pytest
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings as hypothesis_settings, strategies as st
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.channels.payment.bancontact import request_payment
from gateway.channels.payment.bancontact_sandbox import BancontactSandbox
from gateway.channels.setup import build_providers
from gateway.channels.sms.client import signature as sms_signature
from gateway.kit.time import utc_now
from gateway.store.models import Claim, Dispatch, InboundEvent, Job, Payment
from gateway.store.models.payment_request import PaymentRequest
from gateway.workers.run import Worker
from tests.reliability import harness

SMS_SECRET = "property-sms-secret"
AP_SECRET = "property-ap-secret"
VERP_SECRET = "property-verp-secret-0123456789"
BC_KEY = "property-bc-key"
BC_PPID = "5fd0a2c1e4b0d9a1b2c3d4e5"
BC_CALLBACK = "http://testserver/v1/callbacks/bancontact"
EXAMPLES = 20
PROPERTY_SETTINGS = hypothesis_settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
NUMBERS = itertools.count()  # every example seeds fresh rows: no clean-up between examples


@pytest.fixture
def bancontact():
    sandbox = BancontactSandbox(api_key=BC_KEY, payment_profile_id=BC_PPID)
    yield sandbox
    sandbox.close()


@pytest.fixture
def world(database, settings, bancontact):
    settings = settings.model_copy(update={
        "sms_api_url": "http://127.0.0.1:9", "sms_api_key": "k", "sms_callback_secret": SMS_SECRET,
        "peppol_ap_base_url": "http://127.0.0.1:9", "peppol_ap_callback_secret": AP_SECRET,
        "email_verp_secret": VERP_SECRET,
        "bancontact_api_url": bancontact.url, "bancontact_api_key": BC_KEY, "bancontact_payment_profile_id": BC_PPID,
        "bancontact_jwks_url": bancontact.jwks_url, "bancontact_callback_url": BC_CALLBACK,
        "max_attempts": 3, "ebox_receipt_poll_seconds": 0, "print_batch_close_seconds": 0,
    })
    providers = build_providers(settings)
    assert sorted(providers.verifiers) == ["bancontact", "email/bounce", "peppol-ap", "sms"]
    with TestClient(create_app(settings, database=database, providers=providers)) as client:
        yield client, Worker(database, settings, name="property", providers=providers), providers


# -- helpers -------------------------------------------------------------------------------------


def sent_dispatch(database, channel: str, message_id: str) -> uuid.UUID:
    """A dispatch the provider accepted (state sent, its message id recorded), seeded fresh."""
    number = next(NUMBERS)
    [key] = harness.seed_sms_dispatches(database, 1, start=number)
    with database.session_scope() as session:
        dispatch = session.scalar(select(Dispatch).where(Dispatch.idempotency_key == key))
        dispatch.channel, dispatch.state, dispatch.attempt_count, dispatch.provider, dispatch.provider_message_id = channel, "sent", 1, channel, message_id
        if channel != "sms":
            dispatch.recipient = f"0208:{number:010d}"
        for job in session.scalars(select(Job).where(Job.dedup_key == f"dispatch.transmit:{dispatch.id}:1")):
            job.state = "done"  # it was sent: the transmit job ran
        return dispatch.id


def fresh_claim(database) -> uuid.UUID:
    """A claim of its own (seeded with a letter whose SMS dispatch is parked: its transmit job is done)."""
    [key] = harness.seed_sms_dispatches(database, 1, start=next(NUMBERS))
    with database.session_scope() as session:
        dispatch = session.scalar(select(Dispatch).where(Dispatch.idempotency_key == key))
        for job in session.scalars(select(Job).where(Job.dedup_key == f"dispatch.transmit:{dispatch.id}:1")):
            job.state = "done"
        return dispatch.claim_id


def outcome(database, dispatch_id: uuid.UUID, message_id: str) -> tuple:
    """Everything a report may change, with the message's own ids taken out so twins compare."""
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        others = session.execute(select(Dispatch.channel, Dispatch.state).where(Dispatch.document_id == dispatch.document_id, Dispatch.id != dispatch.id)).all()
        claim = session.get(Claim, dispatch.claim_id)
        events = session.scalars(select(InboundEvent).where(InboundEvent.external_id.like(f"{message_id}:%"))).all()
        related = [str(dispatch.id)] + [str(d) for d in session.scalars(select(Dispatch.id).where(Dispatch.document_id == dispatch.document_id))]
        jobs = session.execute(select(Job.kind, Job.state, Job.payload)).all()
        return (
            dispatch.state, dispatch.last_error, dispatch.attempt_count, sorted(others), claim.status,
            sorted(e.external_id.removeprefix(message_id) for e in events), sorted((e.handled_at is not None, e.error) for e in events),
            sorted((kind, state) for kind, state, payload in jobs if payload.get("dispatch_id") in related),
        )


def deliver(client, worker, path: str, bodies: list[tuple[bytes, dict]], drains: list[bool]) -> None:
    for (body, headers), drain in zip(bodies, drains, strict=True):
        answer = client.post(path, content=body, headers=headers)
        assert answer.status_code == 202, answer.text
        if drain:
            worker.drain()
    worker.drain()


def chaos(data, reports: list) -> tuple[list, list[bool]]:
    """Every report at least once, some twice or three times, in any order; worker runs anywhere."""
    repeats = data.draw(st.lists(st.sampled_from(reports), max_size=2 * len(reports)), label="repeats")
    order = data.draw(st.permutations(reports + repeats), label="order")
    drains = data.draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)), label="drains")
    return order, drains


# -- SMS delivery reports -------------------------------------------------------------------------

SMS_INTERMEDIATE = ["ACCEPTD", "ENROUTE", "UNKNOWN"]
SMS_FINAL = ["DELIVRD", "UNDELIV", "REJECTD", "EXPIRED", "DELETED"]


def sms_report(message_id: str, stat: str) -> tuple[bytes, dict]:
    # A provider's repeat of a report is a new request (new event id and timestamp), same message and stat.
    body = json.dumps({"event_id": uuid.uuid4().hex, "message_id": message_id, "stat": stat, "err": "000" if stat == "DELIVRD" else "001"}).encode()
    stamp = str(int(time.time()))
    return body, {"Content-Type": "application/json", "X-Timestamp": stamp, "X-Signature": sms_signature(SMS_SECRET.encode(), stamp, body)}


@PROPERTY_SETTINGS
@given(data=st.data())
def test_sms_reports_converge_whatever_the_order_and_repeats(world, database, data):
    client, worker, _ = world
    reports = data.draw(st.lists(st.sampled_from(SMS_INTERMEDIATE), unique=True), label="intermediate") + [data.draw(st.sampled_from(SMS_FINAL), label="final")]
    number = next(NUMBERS)
    in_order, shuffled = f"sms-a{number}", f"sms-b{number}"
    a, b = sent_dispatch(database, "sms", in_order), sent_dispatch(database, "sms", shuffled)
    deliver(client, worker, "/v1/callbacks/sms", [sms_report(in_order, stat) for stat in reports], [True] * len(reports))
    order, drains = chaos(data, reports)
    deliver(client, worker, "/v1/callbacks/sms", [sms_report(shuffled, stat) for stat in order], drains)
    expected = outcome(database, a, in_order)
    assert outcome(database, b, shuffled) == expected
    final = {"DELIVRD": "delivered", "EXPIRED": "failed_temporary"}.get(reports[-1], "failed_permanent")
    assert expected[0] == final and len(expected[5]) == len(reports)


# -- Peppol access point statuses ------------------------------------------------------------------

AP_FINAL = ["delivered", "rejected", "not_serviced", "failed"]


def ap_report(document_id: str, status: str, event_id: str) -> tuple[bytes, dict]:
    body = json.dumps({"event_id": event_id, "document_id": document_id, "status": status}).encode()
    stamp = str(int(time.time()))
    return body, {"Content-Type": "application/json", "X-Timestamp": stamp, "X-Signature": hmac.new(AP_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()}


@PROPERTY_SETTINGS
@given(data=st.data())
def test_peppol_ap_reports_converge_whatever_the_order_and_repeats(world, database, data):
    client, worker, _ = world
    statuses = (["received"] if data.draw(st.booleans(), label="received first") else []) + [data.draw(st.sampled_from(AP_FINAL), label="final")]
    number = next(NUMBERS)
    in_order, shuffled = f"ap-a{number}", f"ap-b{number}"
    a, b = sent_dispatch(database, "peppol", in_order), sent_dispatch(database, "peppol", shuffled)
    # The AP's event id names one report: a repeat carries the same id (stored once).
    deliver(client, worker, "/v1/callbacks/peppol-ap", [ap_report(in_order, s, f"{in_order}:{s}") for s in statuses], [True] * len(statuses))
    order, drains = chaos(data, statuses)
    deliver(client, worker, "/v1/callbacks/peppol-ap", [ap_report(shuffled, s, f"{shuffled}:{s}") for s in order], drains)
    expected = outcome(database, a, in_order)
    assert outcome(database, b, shuffled) == expected
    assert expected[0] == ("delivered" if statuses[-1] == "delivered" else "failed_permanent")


# -- Bancontact payment statuses -------------------------------------------------------------------

BC_FINAL = ["SUCCEEDED", "CANCELLED", "FAILED", "EXPIRED", "AUTHORIZATION_FAILED"]


def payment_outcome(database, claim_id: uuid.UUID) -> tuple:
    with database.session_scope() as session:
        claim = session.get(Claim, claim_id)
        row = session.scalar(select(PaymentRequest).where(PaymentRequest.claim_id == claim_id))
        booked = session.scalars(select(Payment.amount).where(Payment.claim_id == claim_id)).all()
        events = session.scalars(select(InboundEvent).where(InboundEvent.external_id.like(f"{row.payment_id}:%"))).all()
        return (
            claim.status, claim.amount_paid, booked, row.state, row.provider_status, row.active_claim_id is None,
            sorted(e.external_id.split(":", 1)[1] for e in events), sorted((e.handled_at is not None, e.error) for e in events),
        )


@PROPERTY_SETTINGS
@given(data=st.data())
def test_bancontact_statuses_converge_whatever_the_order_and_repeats(world, database, bancontact, data):
    client, worker, providers = world
    verifier = providers.verifiers["bancontact"]
    statuses = data.draw(st.lists(st.sampled_from(["IDENTIFIED", "AUTHORIZED"]), unique=True), label="intermediate") + [data.draw(st.sampled_from(BC_FINAL), label="final")]
    claims = [fresh_claim(database), fresh_claim(database)]
    payments = [bancontact.payments[request_payment(database, verifier.client, claim_id, callback_url=BC_CALLBACK).payment_id] for claim_id in claims]

    def signed(payment, status):
        payment.status = status
        return bancontact.signed_callback(payment)

    deliver(client, worker, "/v1/callbacks/bancontact", [signed(payments[0], s) for s in statuses], [True] * len(statuses))
    order, drains = chaos(data, statuses)
    deliver(client, worker, "/v1/callbacks/bancontact", [signed(payments[1], s) for s in order], drains)
    expected = payment_outcome(database, claims[0])
    assert payment_outcome(database, claims[1]) == expected
    assert expected[0] == ("paid" if statuses[-1] == "SUCCEEDED" else "open")


# -- refusals: fuzzed, unsigned, wrongly signed ------------------------------------------------------

SOURCES = ["sms", "peppol-ap", "email/bounce", "bancontact"]


def plausible_body(source: str) -> st.SearchStrategy[bytes]:
    """Bodies shaped like the real ones (so a missing check would let them through), and noise."""
    shapes = {
        "sms": st.fixed_dictionaries({"event_id": st.text(max_size=8), "message_id": st.text(max_size=12), "stat": st.sampled_from(SMS_FINAL + ["BOGUS"])}),
        "peppol-ap": st.fixed_dictionaries({"event_id": st.text(max_size=8), "document_id": st.text(max_size=12), "status": st.sampled_from(AP_FINAL + ["buyer_response"])}),
        "bancontact": st.fixed_dictionaries({"paymentId": st.text(max_size=24), "status": st.sampled_from(BC_FINAL), "amount": st.integers(-10, 10**9)}),
        "email/bounce": st.just({}),
    }
    json_bodies = shapes[source].map(lambda value: json.dumps(value).encode())
    mime = st.builds(
        lambda to, status: f"From: MAILER-DAEMON@x\r\nTo: {to}\r\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\r\n\r\n--b\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; a@b.be\r\nAction: failed\r\nStatus: {status}\r\n--b--\r\n".encode(),
        st.sampled_from(["bounces+0193a.deadbeef@bounces.gateway.example", "bounces@bounces.gateway.example", "x"]), st.sampled_from(["5.1.1", "4.2.2", "x"]),
    )
    return st.one_of(json_bodies, mime, st.binary(max_size=512))


def forged_headers(source: str) -> st.SearchStrategy[dict]:
    now = str(int(time.time()))
    hexes = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)
    if source in ("sms", "peppol-ap"):
        return st.one_of(
            st.just({}),
            st.fixed_dictionaries({"X-Timestamp": st.sampled_from([now, str(int(now) - 301), "x", ""]), "X-Signature": hexes}),
        )
    if source == "bancontact":
        segment = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_", max_size=40)
        return st.one_of(st.just({}), st.builds(lambda h, s: {"Signature": f"{h}..{s}"}, segment, segment), st.builds(lambda v: {"Signature": v}, st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), max_size=60)))
    return st.fixed_dictionaries({}, optional={"Content-Type": st.sampled_from(["message/rfc822", "text/plain"])})


def wrong_key_headers(source: str, body: bytes, bancontact: BancontactSandbox) -> dict:
    """Properly formed signatures made with the wrong secret / key."""
    stamp = str(int(time.time()))
    if source in ("sms", "peppol-ap"):
        return {"X-Timestamp": stamp, "X-Signature": hmac.new(b"not-our-secret", stamp.encode() + b"." + body, hashlib.sha256).hexdigest()}
    if source == "bancontact":
        from cryptography.hazmat.primitives.asymmetric import ec

        payment = next(iter(bancontact.payments.values()))
        kid = bancontact.keys[-1][0]
        return bancontact.signed_callback(payment, body=body, key=(kid, ec.generate_private_key(ec.SECP256R1())))[1]
    return {}


def inbox_and_queue(database) -> tuple:
    with database.session_scope() as session:
        return (
            session.scalar(select(func.count()).select_from(InboundEvent)),
            sorted(session.execute(select(Job.kind, Job.state, Job.dedup_key)).all()),
            sorted(session.execute(select(Dispatch.id, Dispatch.state)).all()),
        )


@pytest.mark.parametrize("source", SOURCES)
@PROPERTY_SETTINGS
@given(data=st.data())
def test_fuzzed_unsigned_and_wrongly_signed_callbacks_change_nothing(world, database, bancontact, source, data):
    client, worker, providers = world
    if not bancontact.payments:  # a live payment to aim forged Bancontact callbacks at
        request_payment(database, providers.verifiers["bancontact"].client, fresh_claim(database), callback_url=BC_CALLBACK)
    sent_dispatch(database, "sms", "sms-target")
    before = inbox_and_queue(database)
    body = data.draw(plausible_body(source), label="body")
    for headers in (data.draw(forged_headers(source), label="headers"), wrong_key_headers(source, body, bancontact)):
        answer = client.post(f"/v1/callbacks/{source}", content=body, headers=headers)
        assert answer.status_code == 401, (answer.status_code, answer.text)
        assert answer.headers["content-type"] == "application/problem+json"
    worker.drain()
    after = inbox_and_queue(database)
    assert after == before, (set(after[1]) ^ set(before[1]))
