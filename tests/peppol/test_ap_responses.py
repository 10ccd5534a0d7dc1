"""MLR (T71) and Invoice Response (T111): the official examples, our builds, and how a signed
access-point callback carrying them becomes a CallbackEvent (no store needed)."""

from __future__ import annotations

import base64
import json
import time
from datetime import date, datetime, timezone
from pathlib import Path

import pytest

from gateway.channels.base import CallbackRejected
from gateway.channels.peppol.client import AccessPointClient
from gateway.channels.peppol.provider import REPORTED_STATE, PeppolProvider, sign
from gateway.domain.transmission import DeliveryState as D
from gateway.peppol.discovery import DiscoveryConfig, ParticipantDiscovery
from gateway.peppol.responses import (
    Clarification,
    ResponseRefused,
    build_invoice_response,
    build_mlr,
    check_response,
    parse_response,
)
from gateway.peppol.sandbox_ap import OUTCOMES
from gateway.peppol.smp import SmpClientConfig
from gateway.peppol.validate import validate_document

SECRET = "ap-callback-secret"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)

# Official examples (../shared/standards) and what each one says.
EXAMPLES = {
    "peppol-mlr/examples/MessageLevelResponse_Example.xml": ("mlr", "RE", "EnvelopeID-12456789"),
    "peppol-mlr/examples/snippets/snippet-1.xml": ("mlr", "AB", "EnvelopeID-12456789"),
    "peppol-mlr/examples/snippets/snippet-2.xml": ("mlr", "AP", "EnvelopeID-12456789"),
    "peppol-mlr/examples/snippets/snippet-3.xml": ("mlr", "RE", "EnvelopeID-12456789"),
    "peppol-invoice-response/examples/InvoiceResponse_Example.xml": ("invoice_response", "RE", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc001-Invoice in process.xml": ("invoice_response", "IP", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc002a-Additional reference data.xml": ("invoice_response", "IP", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc002b-In process but postponed.xml": ("invoice_response", "IP", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc003-Invoice is accepted.xml": ("invoice_response", "AP", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc004a-Invoice is rejected.xml": ("invoice_response", "RE", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc004b-Rejected requesting reissue.xml": ("invoice_response", "RE", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc004c-Rejected requesting replacement.xml": ("invoice_response", "RE", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc005-Invoice is conditionally accepted.xml": ("invoice_response", "CA", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc006a-Under query missing information.xml": ("invoice_response", "UQ", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc006b-Missing PO.xml": ("invoice_response", "UQ", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc006c-Wrong detail partial credit.xml": ("invoice_response", "UQ", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc007-Payment has been initiated.xml": ("invoice_response", "PD", "inv021"),
    "peppol-invoice-response/examples/use-cases/T111-uc008-Invoice is accepted by third party.xml": ("invoice_response", "AP", "inv021"),
}
# The state each official example moves a dispatch to, as a buyer response (IR) or with the MLR status.
MLR_STATUS = {"AB": "delivered", "AP": "delivered", "RE": "rejected"}
EXPECTED_STATE = {
    ("mlr", "AB"): D.DELIVERED, ("mlr", "AP"): D.DELIVERED, ("mlr", "RE"): D.FAILED_PERMANENT,
    ("invoice_response", "AB"): D.DELIVERED, ("invoice_response", "IP"): D.DELIVERED, ("invoice_response", "UQ"): D.DELIVERED,
    ("invoice_response", "CA"): D.DELIVERED, ("invoice_response", "RE"): D.REJECTED, ("invoice_response", "AP"): D.ACCEPTED,
    ("invoice_response", "PD"): D.PAID,
}


@pytest.fixture
def provider(standards_dir: Path) -> PeppolProvider:
    # Discovery and the AP are never called by these tests: a client to a closed port, an empty SMP config.
    discovery = ParticipantDiscovery(DiscoveryConfig(sml_zone="sml.invalid.test", smp=SmpClientConfig(truststore=None)))
    client = AccessPointClient("http://127.0.0.1:9", "", connect_timeout_seconds=1, read_timeout_seconds=1)
    return PeppolProvider(client, discovery, callback_secret=SECRET, standards_dir=standards_dir)


def signed(payload: dict, *, timestamp: str | None = None, secret: str = SECRET) -> tuple[dict[str, str], bytes]:
    body = json.dumps(payload).encode()
    timestamp = timestamp or str(int(time.time()))
    return {"x-timestamp": timestamp, "x-signature": sign(secret.encode(), timestamp, body)}, body


@pytest.mark.parametrize("path", sorted(EXAMPLES))
def test_every_official_example_parses_passes_its_rules_and_maps_to_one_state(path, shared_standards, standards_dir, provider):
    kind, code, referenced = EXAMPLES[path]
    xml = (shared_standards / path).read_bytes()
    response = check_response(xml, standards_dir=standards_dir)
    assert (response.kind.value, response.response_code, response.referenced_id) == (kind, code, referenced)
    status = "buyer_response" if kind == "invoice_response" else MLR_STATUS[code]
    headers, body = signed({"event_id": "e-1", "document_id": "ap-1", "status": status, kind: base64.b64encode(xml).decode()})
    [event] = provider.verify_callback(headers, body, datetime.now(timezone.utc))
    assert (event.external_id, event.provider_message_id, event.state) == ("e-1", "ap-1", EXPECTED_STATE[(kind, code)])
    assert (event.detail["response_kind"], event.detail["response_code"]) == (kind, code)


def test_clarifications_of_an_official_rejection_become_the_reason(shared_standards):
    xml = (shared_standards / "peppol-invoice-response/examples/use-cases/T111-uc004c-Rejected requesting replacement.xml").read_bytes()
    response = parse_response(xml)
    assert [(c.code, c.list_id) for c in response.clarifications] == [("REF", "OPStatusReason"), ("CNF", "OPStatusAction"), ("NIN", "OPStatusAction")]
    mlr = parse_response((shared_standards / "peppol-mlr/examples/snippets/snippet-3.xml").read_bytes())
    assert mlr.reason == (
        "The document was rejected because it failed validation; "
        "BV: Invoice tax exclusive amount MUST equal the sum of lines plus allowances and charges on header level; "
        "BV: Document level amounts cannot have more than 2 decimals"
    )


@pytest.mark.parametrize("digit", sorted(OUTCOMES))
def test_every_sandbox_response_passes_the_official_rules(digit, standards_dir):
    for number, step in enumerate(OUTCOMES[digit]):
        if step.mlr:
            xml = build_mlr(response_id=f"MLR-{number}", issued_at=NOW, sender_id="0208:0410000390", receiver_id="0208:0207451227", referenced_id="ap-1", code=step.mlr, lines=step.clarifications)
        elif step.invoice_response:
            xml = build_invoice_response(
                response_id=f"IR-{number}", issued_at=NOW, buyer_id="0208:0410000390", buyer_name="Bakkerij Janssens BV", seller_id="0208:0207451227",
                seller_name="Stad Gent", invoice_number="F-1", invoice_issue_date=date(2026, 11, 2), code=step.invoice_response, clarifications=step.clarifications,
            )
        else:
            continue
        report = validate_document(xml, standards_dir=standards_dir)
        assert (report.valid, report.rule_ids) == (True, [])


def test_a_response_that_fails_its_official_rules_is_refused(standards_dir):
    xml = build_invoice_response(
        response_id="IR-1", issued_at=NOW, buyer_id="0208:0410000390", buyer_name="B", seller_id="0208:0207451227", seller_name="S",
        invoice_number="F-1", invoice_issue_date=None, code="UQ", clarifications=(Clarification("REF", "OPStatusReason"),),
    ).replace(b"OPStatusReason", b"NotAList")
    with pytest.raises(ResponseRefused, match="fails the official rules: PEPPOL-T111-B03303"):
        check_response(xml, standards_dir=standards_dir)
    with pytest.raises(ResponseRefused, match="DOCTYPE"):
        parse_response(b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "x">]><x>&e;</x>')
    with pytest.raises(ValueError, match="PEPPOL-T111-R001"):
        build_invoice_response(response_id="IR-2", issued_at=NOW, buyer_id="0208:1", buyer_name="B", seller_id="0208:2", seller_name="S", invoice_number="F", invoice_issue_date=None, code="RE")


def test_one_table_maps_every_reported_status_and_code():
    assert REPORTED_STATE == {
        ("received", None): D.SENT,
        ("delivered", None): D.DELIVERED, ("delivered", "AB"): D.DELIVERED, ("delivered", "AP"): D.DELIVERED,
        ("rejected", None): D.FAILED_PERMANENT, ("rejected", "RE"): D.FAILED_PERMANENT,
        ("not_serviced", None): D.FAILED_PERMANENT, ("failed", None): D.FAILED_PERMANENT,
        ("buyer_response", "AB"): D.DELIVERED, ("buyer_response", "IP"): D.DELIVERED, ("buyer_response", "UQ"): D.DELIVERED,
        ("buyer_response", "CA"): D.DELIVERED, ("buyer_response", "RE"): D.REJECTED, ("buyer_response", "AP"): D.ACCEPTED,
        ("buyer_response", "PD"): D.PAID,
    }


def test_callbacks_that_do_not_verify_are_refused(provider, shared_standards):
    now = datetime.now(timezone.utc)
    good = {"event_id": "e-1", "document_id": "ap-1", "status": "delivered"}
    headers, body = signed(good, secret="someone-else")
    with pytest.raises(CallbackRejected, match="bad signature"):
        provider.verify_callback(headers, body, now)
    headers, body = signed(good, timestamp=str(int(time.time()) - 301))
    with pytest.raises(CallbackRejected, match="5-minute window"):
        provider.verify_callback(headers, body, now)
    for payload, message in [
        ({**good, "status": "lost"}, "unknown report: status 'lost'"),
        ({**good, "status": "buyer_response"}, "unknown report: status 'buyer_response' with response code None"),
        ({"document_id": "ap-1", "status": "delivered"}, "event_id, document_id and status are required"),
        ({**good, "mlr": "not base64!"}, "mlr: "),
        ({**good, "mlr": base64.b64encode((shared_standards / "peppol-invoice-response/examples/InvoiceResponse_Example.xml").read_bytes()).decode()}, "mlr holds an invoice_response"),
    ]:
        headers, body = signed(payload)
        with pytest.raises(CallbackRejected, match=message):
            provider.verify_callback(headers, body, now)
    disabled = PeppolProvider(provider.client, provider.discovery, callback_secret="", standards_dir=provider.standards_dir)
    headers, body = signed(good, secret="")
    with pytest.raises(CallbackRejected, match="endpoint is disabled"):
        disabled.verify_callback(headers, body, now)
