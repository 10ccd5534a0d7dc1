"""The Peppol channel through an access-point provider (contract: README.md beside this file).

`PeppolProvider.send` (dispatch `in_flight` on entry, see `gateway.channels.base`):

1. participant lookup (SML + SMP, `gateway.peppol.discovery`): not registered or document type
   not supported is final (`TerminalError`, the router tries the next channel); a failed lookup
   is temporary (`RetryableError`);
2. the official validation (UBL XSD + CEN + Peppol rules): a document that fails it is never
   sent (`TerminalError` naming the rules);
3. `POST {base}/documents` with the dispatch's idempotency key (client.py); 202 -> `sent`.

Callbacks (`source` "peppol-ap") are verified on the raw body (HMAC-SHA256 over
`timestamp + "." + body`, 5-minute window, an empty secret refuses everything), and their MLR /
Invoice Response is parsed and checked with the official T71 / T111 rules before anything is
stored. `REPORTED_STATE` is the one table from what the AP reports to our delivery state.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from gateway.channels.base import CallbackEvent, CallbackRejected, SendRequest, SendResult
from gateway.channels.peppol.client import AccessPointClient
from gateway.domain.transmission import DeliveryState as D
from gateway.errors import RetryableError, TerminalError
from gateway.kit.time import utc_now
from gateway.peppol import xmlsafe
from gateway.peppol.discovery import ParticipantDiscovery
from gateway.peppol.responses import PeppolResponse, ResponseKind, ResponseRefused, check_response, parse_response
from gateway.peppol.smp import DOCUMENT_TYPES, DocumentType
from gateway.peppol.standards import StandardsMissing
from gateway.peppol.validate import NS_CAC, NS_CBC, validate_document

CHANNEL = "peppol"
SOURCE = "peppol-ap"
# Replays: a callback whose X-Timestamp is further than this from our clock is refused.
CALLBACK_WINDOW_SECONDS = 300
# How many failed rule ids a "not sent" error names (the full report is on the document).
RULES_IN_ERROR = 10

# (AP status, ResponseCode of the MLR / Invoice Response it carries) -> our delivery state.
# A pair that is not here is refused at the callback route: nothing unknown is stored.
REPORTED_STATE: dict[tuple[str, str | None], D] = {
    ("received", None): D.SENT,  # the AP holds the document; AS4 not done yet
    ("delivered", None): D.DELIVERED,  # AS4 receipt from the receiver's access point (C3)
    ("delivered", "AB"): D.DELIVERED,  # + MLR AB: acknowledged, no validation reported
    ("delivered", "AP"): D.DELIVERED,  # + MLR AP: accepted after validation
    # Not delivered at all: failed_permanent (not "rejected", which says the buyer had it), so
    # the router hands the document to the next channel and no legal term starts.
    ("rejected", None): D.FAILED_PERMANENT,  # refused by the AP's own validation
    ("rejected", "RE"): D.FAILED_PERMANENT,  # MLR RE: refused by the receiving side, reasons in the MLR lines
    ("not_serviced", None): D.FAILED_PERMANENT,  # AS4 EBMS:0004 PEPPOL:NOT_SERVICED
    ("failed", None): D.FAILED_PERMANENT,  # AS4 transport failed after the AP's own retries
    # Buyer responses (Invoice Response, T111), each also recorded as its own event.
    ("buyer_response", "AB"): D.DELIVERED,  # acknowledged, submitted for processing
    ("buyer_response", "IP"): D.DELIVERED,  # in process
    ("buyer_response", "UQ"): D.DELIVERED,  # under query: dunning waits
    ("buyer_response", "CA"): D.DELIVERED,  # conditionally accepted
    ("buyer_response", "RE"): D.REJECTED,  # rejected by the buyer (final)
    ("buyer_response", "AP"): D.ACCEPTED,  # accepted (final); next step payment
    ("buyer_response", "PD"): D.PAID,  # the buyer reports payment initiated
}
# Which response document a status may carry.
RESPONSE_KIND_OF_STATUS = {"delivered": ResponseKind.MLR, "rejected": ResponseKind.MLR, "buyer_response": ResponseKind.INVOICE_RESPONSE}

_ROOT_DOCUMENT_TYPES = {
    "{urn:oasis:names:specification:ubl:schema:xsd:Invoice-2}Invoice": "invoice",
    "{urn:oasis:names:specification:ubl:schema:xsd:CreditNote-2}CreditNote": "credit-note",
    "{urn:oasis:names:specification:ubl:schema:xsd:Reminder-2}Reminder": "reminder",
}


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """X-Signature: hex HMAC-SHA256(secret, timestamp + "." + raw body)."""
    return hmac.new(secret, timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def document_facts(document: bytes) -> tuple[DocumentType, str | None]:
    """The Peppol document type of a UBL document and its seller's EndpointID (`scheme:value`)."""
    root = xmlsafe.parse(document).getroot()
    key = _ROOT_DOCUMENT_TYPES.get(root.tag)
    if key is None:
        raise TerminalError(f"not a UBL document Peppol carries: {root.tag}")
    supplier = "AccountingSupplierParty"
    endpoint = root.find(f"{{{NS_CAC}}}{supplier}/{{{NS_CAC}}}Party/{{{NS_CBC}}}EndpointID")
    sender = f"{endpoint.get('schemeID')}:{endpoint.text.strip()}" if endpoint is not None and endpoint.text and endpoint.get("schemeID") else None
    return DOCUMENT_TYPES[key], sender


class PeppolProvider:
    name = SOURCE
    channel = CHANNEL
    source = SOURCE

    def __init__(
        self, client: AccessPointClient, discovery: ParticipantDiscovery, *, callback_secret: str, standards_dir: Path,
        default_sender_id: str = "", clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.client = client
        self.discovery = discovery
        self.secret = callback_secret.encode()
        self.standards_dir = standards_dir
        self.default_sender_id = default_sender_id
        self.clock = clock

    # --- sending -------------------------------------------------------------------------------

    def send(self, request: SendRequest) -> SendResult:
        try:
            document_type, seller = document_facts(request.document)
        except xmlsafe.XmlRejected as exc:
            raise TerminalError(f"document not sent: {exc.message}") from exc
        self.discovery.lookup(request.recipient, document_type, now=self.clock()).raise_for_outcome()
        self._check(request)
        sender = seller or self.default_sender_id
        if not sender:
            raise TerminalError("document not sent: no seller EndpointID and no GATEWAY_PEPPOL_SENDER_ID")
        submission = self.client.submit(
            idempotency_key=request.idempotency_key, sender=sender, receiver=request.recipient,
            document_type=document_type.identifier, document=request.document,
        )
        return SendResult(D.SENT, provider_message_id=submission.document_id, status_code=submission.status_code, response_excerpt=submission.excerpt)

    def _check(self, request: SendRequest) -> None:
        try:
            report = validate_document(request.document, standards_dir=self.standards_dir)
        except StandardsMissing as exc:
            raise RetryableError(f"document not sent: the official rules are not installed ({exc})") from exc
        if not report.valid:
            rules = sorted({issue.rule for issue in report.errors})
            named = ", ".join(rules[:RULES_IN_ERROR]) + (f" and {len(rules) - RULES_IN_ERROR} more" if len(rules) > RULES_IN_ERROR else "")
            raise TerminalError(f"document not sent: fails the official rules: {named}")

    # --- callbacks -----------------------------------------------------------------------------

    def verify_callback(self, headers: dict[str, str], body: bytes, now: datetime) -> list[CallbackEvent]:
        if not self.secret:
            raise CallbackRejected("no callback secret configured: the endpoint is disabled")
        timestamp = headers.get("x-timestamp", "")
        if not hmac.compare_digest(headers.get("x-signature", ""), sign(self.secret, timestamp, body)):
            raise CallbackRejected("bad signature")
        if not timestamp.isdigit() or abs(now.timestamp() - int(timestamp)) > CALLBACK_WINDOW_SECONDS:
            raise CallbackRejected("timestamp outside the 5-minute window")
        return self._events(body, check=True)

    def parse_callback(self, headers: dict[str, str], body: bytes) -> list[CallbackEvent]:
        return self._events(body, check=False)

    def _events(self, body: bytes, *, check: bool) -> list[CallbackEvent]:
        try:
            data = json.loads(body)
        except ValueError as exc:
            raise CallbackRejected(f"body is not JSON: {exc}") from exc
        return [self.report_of(data, check=check)]

    def report_of(self, data: object, *, check: bool) -> CallbackEvent:
        """One AP event (a callback body, or one entry of a status answer) as our report.

        `check` runs the official T71 / T111 rules on its MLR / Invoice Response (on intake; the
        worker re-parses what was already checked). Raises `CallbackRejected` for anything unknown."""
        if not isinstance(data, dict) or not all(isinstance(data.get(key), str) and data[key] for key in ("event_id", "document_id", "status")):
            raise CallbackRejected("event_id, document_id and status are required strings")
        status = data["status"]
        response = self._response(data, check=check)
        if response is not None and RESPONSE_KIND_OF_STATUS.get(status) is not response.kind:
            raise CallbackRejected(f"status {status!r} cannot carry an {response.kind}")
        code = response.response_code if response is not None else None
        state = REPORTED_STATE.get((status, code))
        if state is None:
            raise CallbackRejected(f"unknown report: status {status!r} with response code {code!r}")
        detail = {"status": status}
        if response is not None:
            detail.update(response_kind=response.kind.value, response_code=code, response_id=response.id, response_date=response.issue_date.isoformat())
        reason = data.get("reason") if isinstance(data.get("reason"), str) and data.get("reason") else None
        reason = reason or (response.reason if response is not None else None)
        if reason and (state is D.FAILED_PERMANENT or status == "buyer_response"):
            detail["reason"] = reason
        return CallbackEvent(external_id=data["event_id"], provider_message_id=data["document_id"], state=state, detail=detail)

    def _response(self, data: dict, *, check: bool) -> PeppolResponse | None:
        present = [key for key in ("mlr", "invoice_response") if data.get(key)]
        if not present:
            return None
        if len(present) > 1:
            raise CallbackRejected("a callback carries one response document, not both an MLR and an Invoice Response")
        try:
            xml = base64.b64decode(data[present[0]], validate=True)
            response = check_response(xml, standards_dir=self.standards_dir) if check else parse_response(xml)
        except (binascii.Error, ResponseRefused, StandardsMissing) as exc:
            raise CallbackRejected(f"{present[0]}: {exc}") from exc
        expected = ResponseKind.MLR if present[0] == "mlr" else ResponseKind.INVOICE_RESPONSE
        if response.kind is not expected:
            raise CallbackRejected(f"{present[0]} holds an {response.kind}")
        return response
