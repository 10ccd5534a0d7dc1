"""Callback convergence (hypothesis) for two more kinds of report, through the real route and the
real inbox worker, on SQLite and PostgreSQL (the style of test_callback_properties.py):

- Peppol access point callbacks carrying an MLR (T71) or Invoice Responses (T111), built the way
  the sandbox access point builds them and checked with the official rules on intake;
- e-mail bounces: the hand-written DSNs of tests/channels/bounce_samples (hard, soft, delayed,
  delivered), readdressed to the dispatch's signed VERP address.

One dispatch gets a report sequence in the order it happens; its twin gets the same reports
duplicated and shuffled, with the worker running at random points. Once the worker has nothing
left to do (retries made due), both end in the same state: the dispatch (state, error, attempts),
the document's other dispatches (fallback), the claim's status, the holds in effect, the debtor's contacts,
the stored inbox events and any work still pending.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, strategies as st
from sqlalchemy import func, select

from gateway.api.payloads import ClaimIn
from gateway.app import create_app
from gateway.channels.email.sink import SmtpSink
from gateway.channels.email.verp import return_path
from gateway.channels.setup import build_providers
from gateway.delivery import service as delivery
from gateway.kit.time import utc_now
from gateway.peppol.responses import Clarification, build_invoice_response, build_mlr
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.store.models import Claim, ClaimHold, DebtorContact, Dispatch, Document, InboundEvent, Job
from gateway.workers.run import Worker
from tests.factories import consumer_claim, seed_creditors
from tests.reliability.test_callback_properties import NUMBERS, PROPERTY_SETTINGS, chaos, deliver, sent_dispatch

AP_SECRET = "property-ap-secret"
VERP_SECRET = "property-verp-secret-0123456789"
MESSAGE_DOMAIN = "mail.gateway.example"
BOUNCE_DOMAIN = "bounces.gateway.example"
SAMPLES = Path(__file__).parents[1] / "channels" / "bounce_samples"


@pytest.fixture
def sink(tmp_path):
    with SmtpSink(mail_dir=tmp_path / "mail") as running:
        yield running


@pytest.fixture
def world(database, settings, standards_dir, sink):
    settings = settings.model_copy(update={
        # A real SMTP exchange with the loopback sink: a soft-bounced letter is really sent again.
        "smtp_host": "127.0.0.1", "smtp_port": sink.port, "smtp_tls": "none",
        "standards_dir": standards_dir,  # MLRs and Invoice Responses are checked with the official rules on intake
        "peppol_ap_base_url": "http://127.0.0.1:9", "peppol_ap_callback_secret": AP_SECRET,
        "email_verp_secret": VERP_SECRET, "email_message_domain": MESSAGE_DOMAIN, "email_bounce_domain": BOUNCE_DOMAIN,
        "max_attempts": 3, "ebox_receipt_poll_seconds": 0, "print_batch_close_seconds": 0,
    })
    providers = build_providers(settings)
    assert {"peppol-ap", "email/bounce"} <= set(providers.verifiers) and providers.for_channel("email") is not None
    key = seed_creditors(database).municipality_key  # the e-mail claims are taken in under this key
    with TestClient(create_app(settings, database=database, providers=providers)) as client:
        yield client, Worker(database, settings, name="property", providers=providers), key


def settle(database, worker) -> None:
    """Run the worker until nothing is left, later retries included (made due now)."""
    for _ in range(5):
        worker.drain()
        with database.session_scope() as session:
            pending = session.scalars(select(Job).where(Job.state == "pending")).all()
            for job in pending:
                job.run_after = utc_now() - timedelta(seconds=1)
        if not pending:
            return
    raise AssertionError("the worker keeps finding work")


def outcome(database, dispatch_id: uuid.UUID, message_id: str, *, external_prefix: str, contact: str | None = None) -> tuple:
    """Everything a report may change, the twin's own ids and address taken out so twins compare."""
    def plain(text):
        if not isinstance(text, str):
            return text
        text = re.sub(r"sha256:[0-9a-f]{64}", "sha256:<the bounce's own hash>", text)  # a bounce without Message-ID: the body (with the twin's address) names it
        return text.replace(contact, "<contact>") if contact else text

    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        claim = session.get(Claim, dispatch.claim_id)
        others = session.execute(select(Dispatch.channel, Dispatch.state, Dispatch.last_error).where(Dispatch.document_id == dispatch.document_id, Dispatch.id != dispatch.id)).all()
        related = {str(d) for d in session.scalars(select(Dispatch.id).where(Dispatch.claim_id == claim.id))}
        # The holds in effect: an ended hold is history (a query answered in order leaves one, a query that
        # arrived after its answer never made one), not state.
        holds = session.execute(select(ClaimHold.kind, ClaimHold.author, ClaimHold.reason, ClaimHold.ends_on).where(ClaimHold.claim_id == claim.id, ClaimHold.ended_at.is_(None))).all()
        contacts = session.execute(select(DebtorContact.kind, DebtorContact.value, DebtorContact.validity, DebtorContact.validity_reason).where(DebtorContact.debtor_id == claim.debtor_id)).all()
        events = session.scalars(select(InboundEvent).where(InboundEvent.external_id.like(f"{external_prefix}%"))).all()
        open_work = session.execute(select(Job.kind, Job.state, Job.payload).where(Job.state != "done")).all()
        return (
            dispatch.state, plain(dispatch.last_error), dispatch.attempt_count, sorted(((c, st, plain(e)) for c, st, e in others), key=str), claim.status, claim.amount_paid,
            sorted(holds, key=str), sorted((kind, plain(value), validity, plain(reason)) for kind, value, validity, reason in contacts),
            sorted(plain(e.external_id.removeprefix(external_prefix)) for e in events), sorted((e.handled_at is not None, e.error) for e in events),
            sorted((kind, state) for kind, state, payload in open_work if payload.get("dispatch_id") in related or payload.get("claim_id") == str(claim.id)),
        )


# -- Peppol: MLRs and Invoice Responses carried by AP callbacks ------------------------------------

SELLER, BUYER = "0208:0207451227", "0208:0403019261"
# The clarifications the sandbox access point sends with each code (gateway/peppol/sandbox_ap.py).
CLARIFICATIONS = {
    "UQ": (Clarification("REF", "OPStatusReason", "Which contract does this invoice belong to?"), Clarification("PIN", "OPStatusAction")),
    "RE": (Clarification("REF", "OPStatusReason", "The purchase order reference is missing."), Clarification("NIN", "OPStatusAction")),
    "CA": (Clarification("PAY", "OPStatusReason", "Accepted if paid to the account on the contract."),),
}
MLR_REJECTION = (Clarification("BV", None, "[BR-CO-15]-Invoice total amount with VAT = Invoice total amount without VAT + Invoice total VAT amount.", "NA"),)
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@lru_cache(maxsize=None)
def response_document(kind: str, code: str, position: int) -> bytes:
    """The same document for both twins (one buyer, one invoice), issued at its place in the sequence."""
    issued_at = T0 + timedelta(days=position)
    if kind == "mlr":
        return build_mlr(response_id=f"MLR-{position}", issued_at=issued_at, sender_id=BUYER, receiver_id=SELLER, referenced_id="ap-document",
                         code=code, lines=MLR_REJECTION if code == "RE" else ())
    return build_invoice_response(
        response_id=f"IR-{position}-{code}", issued_at=issued_at, buyer_id=BUYER, buyer_name="Bakkerij Janssens BV", seller_id=SELLER, seller_name="Stad Gent",
        invoice_number="F2026-0001", invoice_issue_date=date(2026, 11, 2), code=code, clarifications=CLARIFICATIONS.get(code, ()),
    )


@st.composite
def peppol_history(draw) -> list[tuple[str, str | None, str | None]]:
    """What an access point reports about one document, in the order it happens: (status, kind, code).

    Either the receiving side refuses it (MLR RE), or it is delivered (MLR AB / AP or none) and the
    buyer answers with Invoice Responses: some of AB, IP, UQ, CA in that order, then at most one of
    AP, RE, AP and PD, or PD alone."""
    history = [("received", None, None)] if draw(st.booleans(), label="received first") else []
    if draw(st.integers(0, 4), label="refused by the receiving side?") == 0:
        return history + [("rejected", "mlr", "RE")]
    history.append(("delivered", *draw(st.sampled_from([(None, None), ("mlr", "AB"), ("mlr", "AP")]), label="MLR")))
    for code in ("AB", "IP", "UQ", "CA"):
        if draw(st.booleans(), label=f"buyer says {code}"):
            history.append(("buyer_response", "invoice_response", code))
    final = draw(st.sampled_from([(), ("AP",), ("RE",), ("AP", "PD"), ("PD",)]), label="final answer")
    return history + [("buyer_response", "invoice_response", code) for code in final]


def ap_callback(document_id: str, event_id: str, report: tuple[str, str | None, str | None], position: int) -> tuple[bytes, dict]:
    status, kind, code = report
    payload = {"event_id": event_id, "document_id": document_id, "status": status}
    if kind is not None:
        payload[kind] = base64.b64encode(response_document(kind, code, position)).decode()
    body = json.dumps(payload).encode()
    stamp = str(int(time.time()))
    return body, {"Content-Type": "application/json", "X-Timestamp": stamp, "X-Signature": hmac.new(AP_SECRET.encode(), stamp.encode() + b"." + body, hashlib.sha256).hexdigest()}


@PROPERTY_SETTINGS
@given(data=st.data())
def test_peppol_responses_in_ap_callbacks_converge_whatever_the_order_and_repeats(world, database, data):
    client, worker, _ = world
    history = data.draw(peppol_history(), label="history")
    number = next(NUMBERS)
    in_order, shuffled = f"apr-a{number}", f"apr-b{number}"
    a, b = sent_dispatch(database, "peppol", in_order), sent_dispatch(database, "peppol", shuffled)
    positions = list(enumerate(history))  # a report's event id and document are fixed by its place in the history
    deliver(client, worker, "/v1/callbacks/peppol-ap", [ap_callback(in_order, f"{in_order}:{n}", r, n) for n, r in positions], [True] * len(positions))
    order, drains = chaos(data, positions)
    deliver(client, worker, "/v1/callbacks/peppol-ap", [ap_callback(shuffled, f"{shuffled}:{n}", r, n) for n, r in order], drains)
    settle(database, worker)
    expected = outcome(database, a, in_order, external_prefix=f"{in_order}:")
    assert outcome(database, b, shuffled, external_prefix=f"{shuffled}:") == expected
    codes = [code for status, _, code in history if status == "buyer_response"]
    state = expected[0]
    if history[-1][0] == "rejected":
        assert state == "failed_permanent"
    elif "PD" in codes:
        assert state == "paid"
    elif "RE" in codes:
        assert state == "rejected"
    elif "AP" in codes:
        assert state == "accepted"
    else:
        assert state == "delivered"
    running = {kind for kind, _, _, _ in expected[6]}
    assert ("buyer_response_re" in running) == ("RE" in codes)
    assert ("buyer_response_uq" in running) == ("UQ" in codes and not {"AP", "PD"} & set(codes))


# -- e-mail bounces --------------------------------------------------------------------------------


def _sample(name: str) -> tuple[bytes, dict]:
    expected = json.loads((SAMPLES / f"{name}.expected.json").read_text())
    return (SAMPLES / f"{name}.eml").read_bytes(), expected


BOUNCES = {
    # name: what the sample is (RFC 3464 DSNs about one recipient)
    "01_dsn_postfix_user_unknown": "hard",
    "04_dsn_host_unknown": "hard",
    "06_dsn_571_recipient_does_not_exist": "hard",
    "07_dsn_exim_status_500_with_511_diagnostic": "hard",
    "11_dsn_gmail_failure": "hard",
    "02_dsn_mailbox_full_522": "soft",
    "05_dsn_spam_block_571": "soft",
    "13_dsn_mailbox_disabled_521": "soft",
    "14_dsn_sender_domain_518": "soft",
    "03_dsn_delayed_greylisted": "delayed",
    "10_dsn_success_delivered": "delivered",
}


def test_the_bounce_samples_used_are_what_they_are_said_to_be():
    for name, what in BOUNCES.items():
        _, expected = _sample(name)
        assert expected["message_kind"] == "dsn" and expected["verp_token"], name
        if what == "delivered":
            assert (expected["is_bounce"], expected["recipients"]) == (False, []), name
            continue
        [recipient] = expected["recipients"]
        assert (recipient["kind"] if recipient["action"] == "failed" else recipient["action"]) == what, name


def readdressed(name: str, dispatch_id: uuid.UUID, recipient: str) -> bytes:
    """The sample as our relay would get it back for this dispatch: its signed VERP address, our
    Message-ID quoted, the dispatch's recipient as the failed address."""
    raw, expected = _sample(name)
    verp = return_path(str(dispatch_id), VERP_SECRET.encode(), BOUNCE_DOMAIN).encode()
    raw = re.sub(rb"bounces\+" + re.escape(expected["verp_token"].encode()) + rb"@[A-Za-z0-9.-]+", verp, raw)
    if expected.get("original_message_id"):
        raw = raw.replace(expected["original_message_id"].encode(), f"<{dispatch_id}@{MESSAGE_DOMAIN}>".encode())
    for failed in expected["recipients"]:
        raw = raw.replace(failed["address"].encode(), recipient.encode())
    return raw


@lru_cache(maxsize=1)
def letter_pdf() -> bytes:
    from tests.letters.test_render import letter
    from gateway.letters.render import render_letter

    return render_letter(letter())


def sent_email(database, key: str, number: int) -> tuple[uuid.UUID, str]:
    """A consumer claim taken in by the intake service, its letter sent by e-mail (state sent)."""
    recipient = f"debiteur{number}@telenet.be"
    payload = consumer_claim(f"M{number:06d}", email=recipient)
    payload["debtor"].pop("national_register_number")  # one debtor per claim: matched by external_id only
    now = utc_now()
    with database.session_scope() as session:
        claim = session.get(Claim, create_claim(session, authenticate(session, key), ClaimIn.model_validate(payload), now=now).claim.id)
        for job in session.scalars(select(Job).where(Job.kind == "claim.issue")):
            if job.payload.get("claim_id") == str(claim.id):
                session.delete(job)  # the letter is seeded below instead of rendered per example
        pdf = letter_pdf()
        sequence = session.scalar(select(func.count()).select_from(Document)) + 1
        document = Document(claim_id=claim.id, creditor_id=claim.creditor_id, kind="invoice", prefix="INV", sequence=sequence, number=f"INV{sequence:06d}",
                            media_type="application/pdf", content=pdf, sha256=hashlib.sha256(pdf).hexdigest(), issued_at=now, meta={}, created_at=now)
        session.add(document)
        session.flush()
        dispatch = delivery.queue_dispatch(session, document_id=document.id, claim_id=claim.id, channel="email", recipient=recipient, reason="test", now=now)
        dispatch.state, dispatch.attempt_count, dispatch.provider = "sent", 1, "email"
        dispatch.provider_message_id = f"<{dispatch.id}@{MESSAGE_DOMAIN}>"
        for job in session.scalars(select(Job).where(Job.dedup_key == f"{delivery.TRANSMIT}:{dispatch.id}:1")):
            job.state = "done"  # it was sent: the transmit job ran
        return dispatch.id, recipient


@st.composite
def bounce_history(draw) -> list[str]:
    """The DSNs about one send, in the order a relay returns them: delay warnings, then one final
    report (a hard bounce, a soft one, a soft one and then the hard one, or a success notice)."""
    history = ["03_dsn_delayed_greylisted"] if draw(st.booleans(), label="delayed first") else []
    hard = [name for name, what in BOUNCES.items() if what == "hard"]
    soft = [name for name, what in BOUNCES.items() if what == "soft"]
    final = draw(st.sampled_from(["hard", "soft", "soft then hard", "delivered"]), label="final")
    if final == "hard":
        history.append(draw(st.sampled_from(hard), label="hard"))
    elif final == "soft":
        history.append(draw(st.sampled_from(soft), label="soft"))
    elif final == "soft then hard":
        history += [draw(st.sampled_from(soft), label="soft"), draw(st.sampled_from(hard), label="hard")]
    else:
        history.append("10_dsn_success_delivered")
    return history


@PROPERTY_SETTINGS
@given(data=st.data())
def test_email_bounces_converge_whatever_the_order_and_repeats(world, database, data):
    client, worker, key = world
    history = data.draw(bounce_history(), label="history")
    number = next(NUMBERS)
    (a, contact_a), (b, contact_b) = sent_email(database, key, 2 * number), sent_email(database, key, 2 * number + 1)
    headers = {"Content-Type": "message/rfc822"}
    deliver(client, worker, "/v1/callbacks/email/bounce", [(readdressed(name, a, contact_a), headers) for name in history], [True] * len(history))
    order, drains = chaos(data, history)
    deliver(client, worker, "/v1/callbacks/email/bounce", [(readdressed(name, b, contact_b), headers) for name in order], drains)
    settle(database, worker)
    expected = outcome(database, a, f"<{a}@{MESSAGE_DOMAIN}>", external_prefix=f"{a}:", contact=contact_a)
    assert outcome(database, b, f"<{b}@{MESSAGE_DOMAIN}>", external_prefix=f"{b}:", contact=contact_b) == expected
    kinds = {BOUNCES[name] for name in history}
    state, contacts = expected[0], expected[7]
    email_validity = [validity for kind, _, validity, _ in contacts if kind == "email"]
    if "hard" in kinds:
        assert (state, email_validity) == ("failed_permanent", ["bounced"])
        assert [(channel, state) for channel, state, _ in expected[3]] == [("paper", "sent")]  # the letter went to paper instead
    elif "soft" in kinds:  # sent again once the retry was due (attempt 2), the address kept
        assert (state, expected[2], email_validity, expected[3]) == ("sent", 2, ["unverified"], [])
    else:
        assert (state, email_validity, expected[3]) == ("sent", ["unverified"], [])


def test_a_retry_queued_before_the_dispatch_ended_writes_nothing_over_its_error(database, settings, world):
    """Found by the bounce property: a soft bounce queues a retry, the hard bounce ends the dispatch,
    then the retry ran with no provider for the channel and wrote "no provider configured" over
    the bounce. A transmit job for a dispatch that can no longer be sent now does nothing."""
    from gateway.channels.registry import ProviderRegistry

    _, _, key = world
    dispatch_id, _ = sent_email(database, key, 999_999)
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        dispatch.state, dispatch.last_error = "failed_permanent", "bounce: 5.1.1 user_unknown"
    assert delivery.transmit(database, ProviderRegistry(), settings, dispatch_id) == "not_sendable"
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        assert (dispatch.state, dispatch.last_error, dispatch.attempt_count) == ("failed_permanent", "bounce: 5.1.1 user_unknown", 1)
