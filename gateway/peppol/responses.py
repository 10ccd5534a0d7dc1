"""Peppol responses to a sent invoice: Message Level Response (T71) and Invoice Response (T111).

Both are UBL 2.1 `ApplicationResponse` documents, told apart by `cbc:CustomizationID`
(channels-and-law.md 6.1 / 6.2):

| kind | CustomizationID | who sends it | ResponseCode |
|---|---|---|---|
| MLR 3.0 (T71) | `urn:fdc:peppol.eu:poacc:trns:mlr:3` | the receiving side, about the message | AB ack, AP accepted, RE rejected (final; line reasons SV/BV/BW) |
| Invoice Response 3 (T111) | `urn:fdc:peppol.eu:poacc:trns:invoice_response:3` | the buyer, about the invoice | AB, IP, UQ, CA, RE, AP, PD |

Sans-IO (style rule 1): bytes in, a `PeppolResponse` out. Bytes go through `xmlsafe` (no DTD,
no entities, size cap). `check_response` additionally runs the official rules through
`validate_document` (which loads the installed artefacts once per process): a response that
fails T71 / T111 is refused, because a status we cannot trust must not move a dispatch.

`build_mlr` / `build_invoice_response` make conforming documents with lxml; the sandbox access
point uses them, and tests check every build against the official rules.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path

from lxml import etree

from gateway.peppol import xmlsafe
from gateway.peppol.validate import NS_APPLICATION_RESPONSE, NS_CAC, NS_CBC, ValidationReport, validate_document

MLR_CUSTOMIZATION = "urn:fdc:peppol.eu:poacc:trns:mlr:3"
MLR_PROFILE = "urn:fdc:peppol.eu:poacc:bis:mlr:3"
INVOICE_RESPONSE_CUSTOMIZATION = "urn:fdc:peppol.eu:poacc:trns:invoice_response:3"
INVOICE_RESPONSE_PROFILE = "urn:fdc:peppol.eu:poacc:bis:invoice_response:3"

# MLR ResponseCode (T71): AB acknowledged, AP accepted, RE rejected.
MLR_CODES = frozenset({"AB", "AP", "RE"})
# Invoice Response ResponseCode (T111, UNCL4343 subset).
INVOICE_RESPONSE_CODES = frozenset({"AB", "IP", "UQ", "CA", "RE", "AP", "PD"})
# "Codes CA, UQ and RE must carry at least one clarification" (PEPPOL-T111-R001).
CODES_NEEDING_CLARIFICATION = frozenset({"CA", "UQ", "RE"})
# MLR line StatusReasonCode: SV syntax violation, BV business rule fatal, BW business rule warning.
MLR_LINE_REASONS = frozenset({"SV", "BV", "BW"})
# UNCL1001 document type code of a commercial invoice / credit note.
INVOICE_TYPE_CODE = "380"

_NSMAP = {None: NS_APPLICATION_RESPONSE, "cac": NS_CAC, "cbc": NS_CBC}


class ResponseKind(StrEnum):
    MLR = "mlr"
    INVOICE_RESPONSE = "invoice_response"


CUSTOMIZATIONS = {MLR_CUSTOMIZATION: ResponseKind.MLR, INVOICE_RESPONSE_CUSTOMIZATION: ResponseKind.INVOICE_RESPONSE}


class ResponseRefused(ValueError):
    """Bytes that are not a usable MLR / Invoice Response (unsafe, wrong type, unknown code, fails the rules)."""


@dataclass(frozen=True)
class Clarification:
    """One `Status/StatusReasonCode` (listID OPStatusReason / OPStatusAction) or an MLR line reason."""

    code: str
    list_id: str | None = None
    text: str | None = None
    location: str | None = None  # MLR LineID: the XPath of the issue, or NA


@dataclass(frozen=True)
class PeppolResponse:
    kind: ResponseKind
    id: str
    issue_date: date
    response_code: str
    referenced_id: str  # the invoice number (T111) or the envelope / document id (T71)
    sender_id: str  # EndpointID as `scheme:value`
    receiver_id: str
    description: str | None = None
    clarifications: tuple[Clarification, ...] = ()

    @property
    def reason(self) -> str:
        """One line for people and for `dispatch.last_error`: the description, then each clarification."""
        parts = [self.description] if self.description else []
        for item in self.clarifications:
            label = f"{item.code}" + (f" ({item.list_id})" if item.list_id else "")
            parts.append(f"{label}: {item.text}" if item.text else label)
        return "; ".join(parts)


def _text(element: etree._Element | None, path: str) -> str | None:
    if element is None:
        return None
    value = element.findtext(path)
    return " ".join(value.split()) if value is not None and value.strip() else None


def _endpoint(root: etree._Element, party: str) -> str:
    endpoint = root.find(f"{{{NS_CAC}}}{party}/{{{NS_CBC}}}EndpointID")
    if endpoint is None or not (endpoint.text or "").strip():
        raise ResponseRefused(f"{party} has no EndpointID")
    return f"{endpoint.get('schemeID', '')}:{endpoint.text.strip()}".lower()


def parse_response(xml: bytes) -> PeppolResponse:
    """Read an MLR or Invoice Response without checking the official rules (see `check_response`)."""
    try:
        root = xmlsafe.parse(xml).getroot()
    except xmlsafe.XmlRejected as exc:
        raise ResponseRefused(exc.message) from exc
    if root.tag != f"{{{NS_APPLICATION_RESPONSE}}}ApplicationResponse":
        raise ResponseRefused(f"not an ApplicationResponse: {root.tag}")
    customization = _text(root, f"{{{NS_CBC}}}CustomizationID") or ""
    kind = CUSTOMIZATIONS.get(customization)
    if kind is None:
        raise ResponseRefused(f"not an MLR or Invoice Response: CustomizationID {customization!r}")
    document_response = root.find(f"{{{NS_CAC}}}DocumentResponse")
    response = document_response.find(f"{{{NS_CAC}}}Response") if document_response is not None else None
    code = _text(response, f"{{{NS_CBC}}}ResponseCode")
    allowed = MLR_CODES if kind is ResponseKind.MLR else INVOICE_RESPONSE_CODES
    if code not in allowed:
        raise ResponseRefused(f"{kind} ResponseCode {code!r} is not one of {', '.join(sorted(allowed))}")
    issue_date = _text(root, f"{{{NS_CBC}}}IssueDate")
    try:
        issued = date.fromisoformat(issue_date or "")
    except ValueError as exc:
        raise ResponseRefused(f"IssueDate {issue_date!r} is not YYYY-MM-DD") from exc
    clarifications: list[Clarification] = []
    if kind is ResponseKind.INVOICE_RESPONSE:
        for status in response.findall(f"{{{NS_CAC}}}Status"):
            reason = status.find(f"{{{NS_CBC}}}StatusReasonCode")
            if reason is not None and (reason.text or "").strip():
                clarifications.append(Clarification(reason.text.strip(), reason.get("listID"), _text(status, f"{{{NS_CBC}}}StatusReason")))
    else:
        for line in document_response.findall(f"{{{NS_CAC}}}LineResponse"):
            line_response = line.find(f"{{{NS_CAC}}}Response")
            clarifications.append(
                Clarification(
                    _text(line_response, f"{{{NS_CAC}}}Status/{{{NS_CBC}}}StatusReasonCode") or "",
                    None,
                    _text(line_response, f"{{{NS_CBC}}}Description"),
                    _text(line, f"{{{NS_CAC}}}LineReference/{{{NS_CBC}}}LineID"),
                )
            )
    return PeppolResponse(
        kind=kind,
        id=_text(root, f"{{{NS_CBC}}}ID") or "",
        issue_date=issued,
        response_code=code,
        referenced_id=_text(document_response, f"{{{NS_CAC}}}DocumentReference/{{{NS_CBC}}}ID") or "",
        sender_id=_endpoint(root, "SenderParty"),
        receiver_id=_endpoint(root, "ReceiverParty"),
        description=_text(response, f"{{{NS_CBC}}}Description"),
        clarifications=tuple(clarifications),
    )


def check_response(xml: bytes, *, standards_dir: Path | None = None) -> PeppolResponse:
    """Parse, then run the official rules (UBL XSD + T71 or T111); refuse on any fatal finding."""
    response = parse_response(xml)
    report: ValidationReport = validate_document(xml, standards_dir=standards_dir)
    if not report.valid:
        rules = ", ".join(sorted({issue.rule for issue in report.errors}))
        raise ResponseRefused(f"{response.kind} {response.id!r} fails the official rules: {rules}")
    return response


# --- building (the sandbox access point, tests) ---------------------------------------------------


def _sub(parent: etree._Element, tag: str, text: str | None = None, **attributes: str) -> etree._Element:
    prefix, name = tag.split(":")
    element = etree.SubElement(parent, f"{{{NS_CAC if prefix == 'cac' else NS_CBC}}}{name}", attributes)
    if text is not None:
        element.text = text
    return element


def _scheme_and_value(participant_id: str) -> tuple[str, str]:
    scheme, _, value = participant_id.partition(":")
    return scheme, value


def _header(customization: str, profile: str, response_id: str, issued_at: datetime) -> etree._Element:
    root = etree.Element(f"{{{NS_APPLICATION_RESPONSE}}}ApplicationResponse", nsmap=_NSMAP)
    _sub(root, "cbc:CustomizationID", customization)
    _sub(root, "cbc:ProfileID", profile)
    _sub(root, "cbc:ID", response_id)
    _sub(root, "cbc:IssueDate", issued_at.date().isoformat())
    _sub(root, "cbc:IssueTime", issued_at.strftime("%H:%M:%S"))
    return root


def _party(root: etree._Element, tag: str, participant_id: str, name: str | None) -> None:
    party = _sub(root, tag)
    scheme, value = _scheme_and_value(participant_id)
    _sub(party, "cbc:EndpointID", value, schemeID=scheme)
    if name is not None:  # T111 requires PartyLegalEntity; T71 has no place for it
        _sub(_sub(party, "cac:PartyLegalEntity"), "cbc:RegistrationName", name)


def _serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def build_mlr(
    *, response_id: str, issued_at: datetime, sender_id: str, receiver_id: str, referenced_id: str, code: str,
    description: str | None = None, lines: tuple[Clarification, ...] = (),
) -> bytes:
    """An MLR (T71). `lines` become LineResponse elements (code SV / BV / BW, text, location XPath or NA)."""
    if code not in MLR_CODES:
        raise ValueError(f"MLR code must be one of {sorted(MLR_CODES)}")
    root = _header(MLR_CUSTOMIZATION, MLR_PROFILE, response_id, issued_at)
    _party(root, "cac:SenderParty", sender_id, None)
    _party(root, "cac:ReceiverParty", receiver_id, None)
    document_response = _sub(root, "cac:DocumentResponse")
    response = _sub(document_response, "cac:Response")
    _sub(response, "cbc:ResponseCode", code)
    if description:
        _sub(response, "cbc:Description", description)
    _sub(_sub(document_response, "cac:DocumentReference"), "cbc:ID", referenced_id)
    for line in lines:
        if line.code not in MLR_LINE_REASONS:
            raise ValueError(f"MLR line reason must be one of {sorted(MLR_LINE_REASONS)}")
        line_response = _sub(document_response, "cac:LineResponse")
        _sub(_sub(line_response, "cac:LineReference"), "cbc:LineID", line.location or "NA")
        line_status = _sub(line_response, "cac:Response")
        _sub(line_status, "cbc:ResponseCode", "RE" if line.code != "BW" else "AB")
        if line.text:
            _sub(line_status, "cbc:Description", line.text)
        _sub(_sub(line_status, "cac:Status"), "cbc:StatusReasonCode", line.code)
    return _serialize(root)


def build_invoice_response(
    *, response_id: str, issued_at: datetime, buyer_id: str, buyer_name: str, seller_id: str, seller_name: str,
    invoice_number: str, invoice_issue_date: date | None, code: str, clarifications: tuple[Clarification, ...] = (),
) -> bytes:
    """An Invoice Response (T111) from the buyer (sender) to the seller (receiver)."""
    if code not in INVOICE_RESPONSE_CODES:
        raise ValueError(f"Invoice Response code must be one of {sorted(INVOICE_RESPONSE_CODES)}")
    if code in CODES_NEEDING_CLARIFICATION and not clarifications:
        raise ValueError(f"code {code} needs at least one clarification (PEPPOL-T111-R001)")
    root = _header(INVOICE_RESPONSE_CUSTOMIZATION, INVOICE_RESPONSE_PROFILE, response_id, issued_at)
    _party(root, "cac:SenderParty", buyer_id, buyer_name)
    _party(root, "cac:ReceiverParty", seller_id, seller_name)
    document_response = _sub(root, "cac:DocumentResponse")
    response = _sub(document_response, "cac:Response")
    _sub(response, "cbc:ResponseCode", code)
    for item in clarifications:
        status = _sub(response, "cac:Status")
        _sub(status, "cbc:StatusReasonCode", item.code, listID=item.list_id or "OPStatusReason")
        if item.text:
            _sub(status, "cbc:StatusReason", item.text)
    reference = _sub(document_response, "cac:DocumentReference")
    _sub(reference, "cbc:ID", invoice_number)
    if invoice_issue_date is not None:
        _sub(reference, "cbc:IssueDate", invoice_issue_date.isoformat())
    _sub(reference, "cbc:DocumentTypeCode", INVOICE_TYPE_CODE)
    return _serialize(root)
