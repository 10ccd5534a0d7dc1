"""Every official MLR (T71) and Invoice Response (T111) example applied to a stored dispatch, on SQLite
and PostgreSQL: a Peppol dispatch in `sent` (sent for real through the sandbox AP), a signed callback
carrying the example POSTed over HTTP to /v1/callbacks/peppol-ap, the worker applies it. Asserted:
the dispatch's exact state and last_error, the buyer-response record (dispatch.reported and its
event), the UQ / RE hold, the PD report, and an MLR RE's reasons and fallback to e-mail."""

from __future__ import annotations

import base64
import json
import time
from datetime import timedelta

import pytest
import requests
from sqlalchemy import select

from gateway.channels.peppol.provider import sign
from gateway.kit.time import brussels_today
from gateway.peppol.sandbox_smp import PeppolSandbox, SandboxParticipant
from gateway.store.models import AuditEvent, Claim, ClaimHold, Dispatch, Event
from tests.factories import claim_payload, seed_creditors
from tests.peppol.fixtures_discovery import test_pki, untrusted_pki  # noqa: F401 - fixtures
from tests.peppol.peppol_world import SECRET, World, create, dispatches

RECEIVER = "0208:0403019261"
MLR_RE_EXAMPLE = "Rejected due to validation errore; BV: Validation gives error [CL-T77-R002]- Tax categories MUST be coded using UN/ECE 5305 code list"
MLR_RE_SNIPPET = (
    "The document was rejected because it failed validation; "
    "BV: Invoice tax exclusive amount MUST equal the sum of lines plus allowances and charges on header level; "
    "BV: Document level amounts cannot have more than 2 decimals"
)
# path -> (callback status, kind, code, response id, response date, reason the response gives, final dispatch state)
EXAMPLES = {
    "peppol-mlr/examples/MessageLevelResponse_Example.xml": ("rejected", "mlr", "RE", "MLR-ID123", "2016-08-15", MLR_RE_EXAMPLE, "failed_permanent"),
    "peppol-mlr/examples/snippets/snippet-1.xml": ("delivered", "mlr", "AB", "TheMLR-ID123", "2016-08-15", None, "delivered"),
    "peppol-mlr/examples/snippets/snippet-2.xml": ("delivered", "mlr", "AP", "TheMLR-ID123", "2016-08-15", None, "delivered"),
    "peppol-mlr/examples/snippets/snippet-3.xml": ("rejected", "mlr", "RE", "TheMLR-ID123", "2016-08-15", MLR_RE_SNIPPET, "failed_permanent"),
    "peppol-invoice-response/examples/InvoiceResponse_Example.xml": (
        "buyer_response", "invoice_response", "RE", "imrid001", "2017-12-01", "NOA (OPStatusAction): VAT Reference not found", "rejected"),
    "peppol-invoice-response/examples/use-cases/T111-uc001-Invoice in process.xml": (
        "buyer_response", "invoice_response", "IP", "imrid001", "2017-12-01", None, "delivered"),
    "peppol-invoice-response/examples/use-cases/T111-uc002a-Additional reference data.xml": (
        "buyer_response", "invoice_response", "IP", "imrid001", "2017-12-02", "NOA (OPStatusAction)", "delivered"),
    "peppol-invoice-response/examples/use-cases/T111-uc002b-In process but postponed.xml": (
        "buyer_response", "invoice_response", "IP", "imrid001", "2017-12-02", None, "delivered"),
    "peppol-invoice-response/examples/use-cases/T111-uc003-Invoice is accepted.xml": (
        "buyer_response", "invoice_response", "AP", "imrid001", "2017-12-01", None, "accepted"),
    "peppol-invoice-response/examples/use-cases/T111-uc004a-Invoice is rejected.xml": (
        "buyer_response", "invoice_response", "RE", "imrid001", "2017-12-01",
        "REF (OPStatusReason): A textual explanation for why the invoice is being rejected. E.g. PO reference is missing.", "rejected"),
    "peppol-invoice-response/examples/use-cases/T111-uc004b-Rejected requesting reissue.xml": (
        "buyer_response", "invoice_response", "RE", "imrid001", "2017-12-01", "REF (OPStatusReason); NIN (OPStatusAction)", "rejected"),
    "peppol-invoice-response/examples/use-cases/T111-uc004c-Rejected requesting replacement.xml": (
        "buyer_response", "invoice_response", "RE", "imrid001", "2017-12-01", "REF (OPStatusReason); CNF (OPStatusAction); NIN (OPStatusAction)", "rejected"),
    "peppol-invoice-response/examples/use-cases/T111-uc005-Invoice is conditionally accepted.xml": (
        "buyer_response", "invoice_response", "CA", "imrid001", "2017-12-01", "PAY (OPStatusReason)", "delivered"),
    "peppol-invoice-response/examples/use-cases/T111-uc006a-Under query missing information.xml": (
        "buyer_response", "invoice_response", "UQ", "imrid001", "2017-12-01", "REF (OPStatusReason); PIN (OPStatusAction)", "delivered"),
    "peppol-invoice-response/examples/use-cases/T111-uc006b-Missing PO.xml": (
        "buyer_response", "invoice_response", "UQ", "imrid001", "2017-12-01", "REF (OPStatusReason); PIN (OPStatusAction)", "delivered"),
    "peppol-invoice-response/examples/use-cases/T111-uc006c-Wrong detail partial credit.xml": (
        "buyer_response", "invoice_response", "UQ", "imrid001", "2017-12-01",
        "DEL (OPStatusReason): Delivered quantity for line number 1 was 2 units but invoiced quantity is 5 units. Send credit note for 3 unit.; CNP (OPStatusAction)",
        "delivered"),
    "peppol-invoice-response/examples/use-cases/T111-uc007-Payment has been initiated.xml": (
        "buyer_response", "invoice_response", "PD", "imrid001", "2017-12-31", None, "paid"),
    "peppol-invoice-response/examples/use-cases/T111-uc008-Invoice is accepted by third party.xml": (
        "buyer_response", "invoice_response", "AP", "imrid001", "2017-12-01", None, "accepted"),
}


@pytest.fixture
def world(database, settings, standards_dir, test_pki, untrusted_pki):  # noqa: F811
    settings = settings.model_copy(update={"standards_dir": standards_dir, "max_attempts": 3})
    keys = seed_creditors(database)
    with PeppolSandbox((SandboxParticipant(RECEIVER),), pki=test_pki, untrusted_pki=untrusted_pki) as smp:
        running = World(database, settings, keys, smp, test_pki)
        yield running
        running.stop()


def test_the_examples_table_covers_every_official_file(shared_standards):
    on_disk = {str(p.relative_to(shared_standards)) for folder in ("peppol-mlr", "peppol-invoice-response") for p in (shared_standards / folder / "examples").rglob("*.xml")}
    assert on_disk == set(EXAMPLES)


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_an_official_example_applied_to_a_sent_dispatch(path, database, world, shared_standards):
    status, kind, code, response_id, response_date, reason, final_state = EXAMPLES[path]
    world.start_ap(callback_url=None)  # the AP's own callbacks stay in its outbox: only the example is applied
    callback_url = world.serve()
    create(world, claim_payload("F-OFFICIAL"))
    world.worker.drain()
    [sent] = dispatches(database)
    assert (sent.channel, sent.recipient, sent.state) == ("peppol", RECEIVER, "sent")

    xml = (shared_standards / path).read_bytes()
    payload = {"event_id": "official-1", "document_id": sent.provider_message_id, "status": status, kind: base64.b64encode(xml).decode()}
    body = json.dumps(payload).encode()
    timestamp = str(int(time.time()))
    answer = requests.post(callback_url, data=body, headers={"Content-Type": "application/json", "X-Timestamp": timestamp, "X-Signature": sign(SECRET.encode(), timestamp, body)}, timeout=30)
    assert (answer.status_code, answer.json()) == (202, {"stored": 1, "duplicates": 0})
    world.worker.drain()

    with database.session_scope() as session:
        dispatch = session.get(Dispatch, sent.id)
        claim = session.get(Claim, dispatch.claim_id)
        [reported] = session.scalars(select(AuditEvent).where(AuditEvent.action == "dispatch.reported")).all()
        published = session.scalars(select(Event).where(Event.data["action"].as_string() == "dispatch.reported")).all()
        holds = [(h.kind, h.author, h.reason, h.starts_on, h.ends_on) for h in session.scalars(select(ClaimHold))]
        reported_paid = session.scalars(select(AuditEvent).where(AuditEvent.action == "claim.reported_paid")).all()
        fallback = session.scalars(select(Dispatch).where(Dispatch.channel == "email")).all()
        today = brussels_today(reported.at)
        # What the claim detail shows: the dispatch, its history, the reported payment.
        claim_status, dispatch_state, last_error = claim.status, dispatch.state, dispatch.last_error

    # The dispatch: its exact state; only a rejection (MLR RE: not delivered; Invoice Response RE: the
    # buyer's refusal) puts its reasons in last_error, a buyer's other clarifications are not errors.
    assert (dispatch_state, last_error) == (final_state, reason if code == "RE" else None)
    # The record of the response (for an Invoice Response: the buyer response), and its status event.
    record = {"dispatch_id": str(sent.id), "channel": "peppol", "reported": final_state, "state": final_state, "source": "peppol-ap",
              "status": status, "response_kind": kind, "response_code": code, "response_id": response_id, "response_date": response_date}
    if reason and (kind == "invoice_response" or final_state == "failed_permanent"):
        record["reason"] = reason
    assert reported.data == record
    [event] = published
    assert (event.type, event.claim_id, event.data) == ("buyer.responded" if kind == "invoice_response" else "dispatch.state_changed", claim.id, {"action": "dispatch.reported", **record})
    # Dunning: UQ and RE hold the claim (disputed); PD reports it paid and pauses dunning 14 days.
    if (kind, code) == ("invoice_response", "UQ"):
        assert (claim_status, holds) == ("disputed", [("buyer_response_uq", "peppol-ap", f"Peppol Invoice Response UQ: {reason}", today, None)])
    elif (kind, code) == ("invoice_response", "RE"):
        assert (claim_status, holds) == ("disputed", [("buyer_response_re", "peppol-ap", f"Peppol Invoice Response RE: {reason}", today, None)])
    elif (kind, code) == ("invoice_response", "PD"):
        assert (claim_status, holds) == ("on_hold", [("manual", "peppol", "buyer reported paid (PD)", today, today + timedelta(days=14))])
        [report] = reported_paid
        assert {k: v for k, v in report.data.items() if k != "hold_id"} == {
            "reported_on": today.isoformat(), "dispatch_id": str(sent.id), "response_code": "PD", "response_id": "imrid001",
            "response_date": "2017-12-31", "hold_ends_on": (today + timedelta(days=14)).isoformat(), "reason": "buyer reported paid (PD)"}
    else:
        assert (claim_status, holds) == ("open", [])
    if code != "PD":
        assert reported_paid == []
    # Not delivered over Peppol (MLR RE): the same document goes by e-mail, and the claim says why.
    if final_state == "failed_permanent":
        [email] = fallback
        assert (email.recipient, email.document_id, email.state, email.routing_reason) == (
            "boekhouding@janssens.be", sent.document_id, "queued", f"after peppol failed ({reason}): Peppol failed: e-mail with PDF and UBL")
    else:
        assert fallback == []
