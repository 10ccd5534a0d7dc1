"""Peppol sending end to end on SQLite and PostgreSQL: claim -> lookup (loopback SML/SMP) ->
UBL -> validation -> sandbox access point over HTTP -> signed callbacks over HTTP to
/v1/callbacks/peppol-ap -> inbox -> worker -> dispatch states and buyer-response events."""

from __future__ import annotations

import re
import time

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from gateway.app import create_app
from gateway.channels.peppol.client import AccessPointClient
from gateway.channels.peppol.provider import sign
from gateway.kit.time import utc_now
from gateway.peppol.sandbox_smp import PeppolSandbox, SandboxParticipant
from gateway.store.models import AuditEvent, Claim, ClaimHold, Document, InboundEvent, Job
from tests.factories import claim_payload, seed_creditors
from tests.peppol.fixtures_discovery import test_pki, untrusted_pki  # noqa: F401 - fixtures
from tests.peppol.peppol_world import API_KEY, SECRET, World, buyer_responses, create, dispatches, make_due, peppol_by_recipient, settle

# Valid Belgian enterprise numbers whose last digit picks the sandbox outcome.
BY_DIGIT = {
    "0": "0410000390", "1": "0410000291", "2": "0410000192", "3": "0410000093", "4": "0410000984",
    "5": "0410000885", "6": "0410000786", "7": "0410000687", "8": "0410000588", "9": "0410000489",
}
NOT_REGISTERED = "0410001083"
SMP_FAILING = "0410001182"
PARTICIPANTS = (*(SandboxParticipant(f"0208:{number}") for number in BY_DIGIT.values()), SandboxParticipant(f"0208:{SMP_FAILING}", smp_status=500))
# The outcome table of gateway/peppol/sandbox_ap.py, as our states and buyer responses.
EXPECTED = {
    "0": ("accepted", ["AP"]), "1": ("accepted", ["AP"]), "2": ("delivered", []), "3": ("rejected", ["RE"]),
    "4": ("paid", ["AP", "PD"]), "5": ("failed_permanent", []), "6": ("failed_permanent", []), "7": ("delivered", ["UQ"]),
    "8": ("delivered", ["AB", "IP"]), "9": ("delivered", ["CA"]),
}


@pytest.fixture
def world(database, settings, standards_dir, test_pki, untrusted_pki):  # noqa: F811
    settings = settings.model_copy(update={"standards_dir": standards_dir, "max_attempts": 3})
    keys = seed_creditors(database)
    with PeppolSandbox(PARTICIPANTS, pki=test_pki, untrusted_pki=untrusted_pki) as smp:
        running = World(database, settings, keys, smp, test_pki)
        yield running
        running.stop()


def issue(world: World, number: str, enterprise_number: str) -> None:
    payload = claim_payload(number)
    payload["debtor"] = {**payload["debtor"], "external_id": f"D-{enterprise_number}", "enterprise_number": enterprise_number,
                         "vat_number": f"BE{enterprise_number}", "peppol_id": f"0208:{enterprise_number}"}
    create(world, payload)


def test_each_sandbox_outcome_ends_in_its_exact_state_over_http(database, world):
    ap = world.start_ap(callback_url=None)
    ap.callback_url = world.serve()
    for digit, number in BY_DIGIT.items():
        issue(world, f"AP-{digit}", number)
    settle(world)
    assert ap.refused == []
    peppol = peppol_by_recipient(database)
    responses = buyer_responses(database)
    outcome = {
        digit: (peppol[f"0208:{number}"].state, [code for dispatch_id, code, _ in responses if dispatch_id == str(peppol[f"0208:{number}"].id)])
        for digit, number in BY_DIGIT.items()
    }
    assert outcome == EXPECTED
    assert len(ap.documents) == 10 and ap.requests == 10
    # Not serviced and MLR RE end the Peppol dispatch with the reason and hand the document to e-mail.
    assert peppol["0208:0410000885"].last_error.startswith("EBMS:0004 PEPPOL:NOT_SERVICED")
    assert peppol["0208:0410000786"].last_error == "Rejected: the document fails validation; BV: [BR-CO-15]-Invoice total amount with VAT = Invoice total amount without VAT + Invoice total VAT amount."
    fallbacks = {d.document_id for d in dispatches(database) if d.channel == "email"}
    assert fallbacks == {peppol["0208:0410000885"].document_id, peppol["0208:0410000786"].document_id}
    # Buyer responses carry their clarification as the reason.
    [(_, _, query)] = [r for r in responses if r[1] == "UQ"]
    assert query == "REF (OPStatusReason): Which contract does this invoice belong to?; PIN (OPStatusAction)"
    with database.session_scope() as session:
        assert session.scalar(select(Job).where(Job.state == "failed")) is None
        # UQ and RE put the claim on hold for dunning (disputed); PD pauses it (on_hold, 14 days); the others stay open.
        holds = session.execute(select(Claim.number, ClaimHold.kind, ClaimHold.author).join(ClaimHold, ClaimHold.claim_id == Claim.id).order_by(Claim.number)).all()
        assert [tuple(row) for row in holds] == [("AP-3", "buyer_response_re", "peppol-ap"), ("AP-4", "manual", "peppol"), ("AP-7", "buyer_response_uq", "peppol-ap")]
        statuses = dict(session.execute(select(Claim.number, Claim.status)).all())
        assert statuses == {f"AP-{digit}": "disputed" if digit in "37" else "on_hold" if digit == "4" else "open" for digit in BY_DIGIT}


def test_repeated_and_out_of_order_callbacks_converge(database, world):
    ap = world.start_ap(callback_url=None)  # callbacks kept in ap.outbox, delivered below by the test
    issue(world, "AP-PAID", BY_DIGIT["4"])
    issue(world, "AP-QUERY", BY_DIGIT["7"])
    world.worker.drain()
    assert ap.wait_idle(60)
    assert len(ap.outbox) == 5
    with TestClient(create_app(world.settings, database=database, providers=world.providers)) as client:
        for headers, body in reversed(ap.outbox):  # PD before AP before delivered
            assert client.post("/v1/callbacks/peppol-ap", content=body, headers=headers).json() == {"stored": 1, "duplicates": 0}
        for headers, body in ap.outbox:
            assert client.post("/v1/callbacks/peppol-ap", content=body, headers=headers).json() == {"stored": 0, "duplicates": 1}
    world.worker.drain()
    peppol = peppol_by_recipient(database)
    assert (peppol[f"0208:{BY_DIGIT['4']}"].state, peppol[f"0208:{BY_DIGIT['7']}"].state) == ("paid", "delivered")
    assert sorted(code for _, code, _ in buyer_responses(database)) == ["AP", "PD", "UQ"]
    with database.session_scope() as session:
        # The query holds its claim (a UQ after AP / PD would be stale, this one is not); the PD pauses the other.
        assert sorted(hold.kind for hold in session.scalars(select(ClaimHold))) == ["buyer_response_uq", "manual"]
    with database.session_scope() as session:
        assert session.scalar(select(InboundEvent).where(InboundEvent.handled_at.is_(None))) is None
        assert len(session.scalars(select(InboundEvent)).all()) == 5


def test_forged_and_stale_callbacks_are_refused_and_nothing_is_stored(database, world):
    ap = world.start_ap(callback_url=None)
    issue(world, "AP-FORGED", BY_DIGIT["0"])
    world.worker.drain()
    assert ap.wait_idle(60)
    headers, body = ap.outbox[0]
    old = str(int(time.time()) - 301)
    with TestClient(create_app(world.settings, database=database, providers=world.providers)) as client:
        forged = client.post("/v1/callbacks/peppol-ap", content=body, headers={**headers, "X-Signature": sign(b"not-the-secret", headers["X-Timestamp"], body)})
        tampered = client.post("/v1/callbacks/peppol-ap", content=body.replace(b"delivered", b"rejected"), headers=headers)
        stale = client.post("/v1/callbacks/peppol-ap", content=body, headers={**headers, "X-Timestamp": old, "X-Signature": sign(SECRET.encode(), old, body)})
    assert [r.status_code for r in (forged, tampered, stale)] == [401, 401, 401]
    assert forged.headers["content-type"] == "application/problem+json"
    with database.session_scope() as session:
        assert session.scalars(select(InboundEvent)).all() == []
    assert peppol_by_recipient(database)[f"0208:{BY_DIGIT['0']}"].state == "sent"


def test_a_document_that_fails_validation_is_never_sent(database, world):
    ap = world.start_ap(callback_url=None)
    issue(world, "AP-INVALID", BY_DIGIT["0"])
    world.worker.run_once()  # claim.issue: a clean document and a queued dispatch
    with database.session_scope() as session:
        document = session.scalar(select(Document))
        broken = re.sub(rb"<cbc:BuyerReference>.*?</cbc:BuyerReference>\s*", b"", document.content)
        # Issued documents are immutable through the ORM; this stands for a document damaged in the store.
        session.execute(update(Document).where(Document.id == document.id).values(content=broken))
    world.worker.drain()
    peppol, email = dispatches(database)
    assert (peppol.channel, peppol.state, peppol.last_error) == (
        "peppol", "failed_permanent", "TerminalError: document not sent: fails the official rules: PEPPOL-EN16931-R003")
    assert (email.channel, email.state) == ("email", "queued")
    assert ap.requests == 0 and ap.documents == {}
    with database.session_scope() as session:
        fallback = session.scalar(select(AuditEvent).where(AuditEvent.action == "dispatch.fallback"))
        assert fallback.data["reason"].startswith("after peppol failed (TerminalError: document not sent: fails the official rules: PEPPOL-EN16931-R003)")


def test_the_sandbox_rejects_an_invalid_document_with_an_mlr_naming_the_rules(database, world):
    ap = world.start_ap(callback_url=None)
    issue(world, "AP-MLR", BY_DIGIT["0"])
    world.worker.run_once()
    with database.session_scope() as session:
        content = session.scalar(select(Document)).content
    broken = re.sub(rb"<cbc:BuyerReference>.*?</cbc:BuyerReference>\s*", b"", content)
    client = AccessPointClient(ap.base_url, API_KEY, connect_timeout_seconds=2, read_timeout_seconds=10)
    submitted = client.submit(idempotency_key="k-1", sender="0208:0207451227", receiver=f"0208:{BY_DIGIT['0']}", document_type="invoice", document=broken)
    assert ap.wait_idle(60)
    [(headers, body)] = ap.outbox
    [event] = world.providers.verifiers["peppol-ap"].verify_callback({k.lower(): v for k, v in headers.items()}, body, utc_now())
    assert (event.provider_message_id, event.state.value, event.detail["response_kind"], event.detail["response_code"]) == (submitted.document_id, "failed_permanent", "mlr", "RE")
    assert event.detail["reason"].startswith("Rejected: the document fails validation; BV: [PEPPOL-EN16931-R003]")
    assert client.status(submitted.document_id)["status"] == "rejected"


def test_a_retry_reuses_the_idempotency_key_and_the_sandbox_keeps_one_document(database, world):
    ap = world.start_ap(callback_url=None)
    ap.fail_next = [503]
    issue(world, "AP-RETRY", BY_DIGIT["2"])
    world.worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.state, dispatch.attempt_count, dispatch.last_error) == (
        "failed_temporary", 1, 'RetryableError: access point HTTP 503: {"error": "sandbox told to fail this request"}')
    make_due(database)
    world.worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.state, dispatch.attempt_count) == ("sent", 2)
    assert ap.requests == 2 and list(ap.by_key) == [dispatch.idempotency_key]
    # A third submit with the same key (a worker that died after the AP accepted) gets the same id.
    client = AccessPointClient(ap.base_url, API_KEY, connect_timeout_seconds=2, read_timeout_seconds=10)
    again = client.submit(idempotency_key=dispatch.idempotency_key, sender="0208:0207451227", receiver=dispatch.recipient, document_type="invoice", document=b"<x/>")
    assert again.document_id == dispatch.provider_message_id and len(ap.documents) == 1


def test_lookup_decides_before_anything_is_sent(database, world):
    ap = world.start_ap(callback_url=None)
    issue(world, "AP-NOT-REGISTERED", NOT_REGISTERED)
    issue(world, "AP-SMP-DOWN", SMP_FAILING)
    world.worker.drain()
    rows = {(d.recipient, d.channel): d for d in dispatches(database)}
    not_registered = rows[(f"0208:{NOT_REGISTERED}", "peppol")]
    assert (not_registered.state, not_registered.last_error) == (
        "failed_permanent", f"PeppolNotReachable: 0208:{NOT_REGISTERED}: not_registered: sml.not_registered")
    assert rows[("boekhouding@janssens.be", "email")].document_id == not_registered.document_id
    failing = rows[(f"0208:{SMP_FAILING}", "peppol")]
    assert (failing.state, failing.last_error.split(":")[0]) == ("failed_temporary", "PeppolLookupFailed")
    assert ap.requests == 0
