"""EPC QR code (EPC069-12 "Quick Response Code: Guidelines to Enable Data Capture for the
Initiation of a SEPA Credit Transfer") payload and rendering. Pure: values in, text/bytes out.

Payload (docs/channels-and-law.md section 4), one element per line, LF-separated, trailing
empty optional lines dropped:

    1 BCD  2 002  3 1 (UTF-8)  4 SCT  5 BIC (optional in 002)  6 name (<= 70)  7 IBAN
    8 EUR<amount>  9 purpose (4)  10 structured reference (<= 35)  11 text (<= 140)
    12 beneficiary-to-originator information (<= 70)

The QR code uses error correction level M and at most version 13, i.e. a payload of at most
331 bytes.

Where the Belgian OGM goes — line 10, as its 12 bare digits:

- The OGM/VCS *is* a structured creditor reference: in ISO 20022 pain.001 it travels as
  `RmtInf/Strd/CdtrRefInf/Ref` with issuer `BBA` (docs section 3.1). EPC069-12 line 10 is the
  structured remittance of the SCT ("ISO 11649 RF Creditor Reference *may* be used" — may, not
  must), so the bank app can carry the OGM into the same structured field that the creditor's
  bank reconciles on. Line 11 would turn it into free text (`Ustrd`), which EPC rules keep
  mutually exclusive with `Strd`.
- 12 bare digits, not `+++ddd/dddd/ddddd+++`: `Ref` in pain.001 is the 12 digits; the plus
  signs and slashes are the printed presentation only.
- Odoo's Belgian stack makes the same choice (docs section 4).
- Open point [U] in the docs: how each Belgian bank app pre-fills line 10 has not been
  tested. Mitigation: every document prints the OGM in `+++` form next to the QR code, and a
  creditor whose bank misreads line 10 can switch to `OgmPlacement.UNSTRUCTURED`, which puts
  `+++ddd/dddd/ddddd+++` in line 11 instead.
"""

from __future__ import annotations

import io
import unicodedata
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum

import segno
from stdnum import bic as std_bic
from stdnum import iso11649
from stdnum.exceptions import ValidationError

from gateway.domain.identifiers import IdentifierError, format_ogm, normalize_iban, normalize_ogm
from gateway.errors import InvalidInput

SERVICE_TAG = "BCD"
VERSION = "002"  # version 002 makes the BIC optional within the EEA
CHARSET_UTF8 = "1"
IDENTIFICATION = "SCT"
MIN_AMOUNT = Decimal("0.01")
MAX_AMOUNT = Decimal("999999999.99")
MAX_NAME = 70
MAX_IBAN = 34
MAX_REFERENCE = 35
MAX_TEXT = 140
MAX_INFORMATION = 70
MAX_PAYLOAD_BYTES = 331  # QR version 13 at level M in byte mode
MAX_QR_VERSION = 13
ERROR_LEVEL = "M"


class OgmPlacement(StrEnum):
    STRUCTURED = "structured"  # line 10, 12 digits (default; see module docstring)
    UNSTRUCTURED = "unstructured"  # line 11, +++ddd/dddd/ddddd+++


@dataclass(frozen=True)
class EpcPayment:
    """One credit transfer to pre-fill. Give at most one of `ogm`, `creditor_reference` or `text`."""

    name: str
    iban: str
    amount: Decimal | None
    bic: str | None = None
    purpose: str | None = None
    ogm: str | None = None  # Belgian structured communication, any printed form
    creditor_reference: str | None = None  # ISO 11649 RF reference
    text: str | None = None  # unstructured remittance
    information: str | None = None  # beneficiary-to-originator information
    ogm_placement: OgmPlacement = OgmPlacement.STRUCTURED


def _invalid(field: str, rule: str, message: str) -> InvalidInput:
    return InvalidInput.single(field, f"epc_qr.{rule}", message)


def _clean_text(field: str, value: str | None, maximum: int, *, required: bool = False) -> str:
    value = (value or "").strip()
    if required and not value:
        raise _invalid(field, f"{field}.required", f"{field} is required")
    # One element per line (EPC069-12 section on data elements): a line break inside a value
    # would shift every following element.
    if any(unicodedata.category(ch) == "Cc" for ch in value):
        raise _invalid(field, f"{field}.control_character", f"{field} must not contain line breaks or control characters")
    if len(value) > maximum:
        raise _invalid(field, f"{field}.length", f"{field} has at most {maximum} characters, got {len(value)}")
    return value


def _amount(amount: Decimal | None) -> str:
    if amount is None:
        return ""
    if not isinstance(amount, Decimal):  # a float would carry binary rounding into a payment
        raise _invalid("amount", "amount.type", "amount must be a Decimal")
    try:
        if not amount.is_finite():
            raise InvalidOperation
        cents = amount.quantize(Decimal("0.01"))
    except InvalidOperation:
        raise _invalid("amount", "amount.format", "amount is not a finite number") from None
    if cents != amount:
        raise _invalid("amount", "amount.decimals", f"amount has at most 2 decimals, got {amount}")
    # EPC069-12 element 8: "Amount must be 0.01 or more and 999999999.99 or less".
    if not MIN_AMOUNT <= cents <= MAX_AMOUNT:
        raise _invalid("amount", "amount.range", f"amount is {MIN_AMOUNT} .. {MAX_AMOUNT} EUR, got {amount}")
    return f"EUR{cents:.2f}"


def _iban(value: str) -> str:
    if not value or not value.strip():
        raise _invalid("iban", "iban.required", "iban is required")
    try:
        iban = normalize_iban(value)
    except IdentifierError as exc:
        raise _invalid("iban", "iban.invalid", exc.message) from exc
    if len(iban) > MAX_IBAN:  # EPC069-12 element 7
        raise _invalid("iban", "iban.length", f"iban has at most {MAX_IBAN} characters")
    return iban


def _bic(value: str | None) -> str:
    if not value:
        return ""  # EPC069-12 version 002: optional within the EEA
    try:
        return std_bic.validate(value)  # 8 or 11 characters, ISO 9362
    except ValidationError as exc:
        raise _invalid("bic", "bic.invalid", f"not a valid BIC (8 or 11 characters): {exc}") from exc


def _purpose(value: str | None) -> str:
    if not value:
        return ""
    # EPC069-12 element 9: an ISO 20022 ExternalPurpose1Code, 4 characters.
    if len(value) != 4 or not value.isalnum() or not value.isascii() or value.upper() != value:
        raise _invalid("purpose", "purpose.format", "purpose is a 4-character ISO 20022 code such as GDDS")
    return value


def _remittance(payment: EpcPayment) -> tuple[str, str]:
    given = [name for name in ("ogm", "creditor_reference", "text") if getattr(payment, name)]
    # EPC069-12 elements 10 and 11: structured XOR unstructured remittance.
    if len(given) > 1:
        raise _invalid(given[1], "remittance.exclusive", f"give only one of ogm, creditor_reference and text (got {', '.join(given)})")
    if payment.ogm:
        try:
            digits = normalize_ogm(payment.ogm)
        except IdentifierError as exc:
            raise _invalid("ogm", exc.rule, exc.message) from exc
        if payment.ogm_placement is OgmPlacement.UNSTRUCTURED:
            return "", format_ogm(digits)
        return digits, ""
    if payment.creditor_reference:
        try:
            reference = iso11649.validate(payment.creditor_reference)
        except ValidationError as exc:
            raise _invalid("creditor_reference", "creditor_reference.invalid", f"not a valid ISO 11649 RF reference: {exc}") from exc
        if len(reference) > MAX_REFERENCE:
            raise _invalid("creditor_reference", "creditor_reference.length", f"at most {MAX_REFERENCE} characters")
        return reference, ""
    return "", _clean_text("text", payment.text, MAX_TEXT)


def build_payload(payment: EpcPayment) -> str:
    """The EPC069-12 payload text; raises `InvalidInput` naming the field at fault."""
    reference, text = _remittance(payment)
    lines = [
        SERVICE_TAG,
        VERSION,
        CHARSET_UTF8,
        IDENTIFICATION,
        _bic(payment.bic),
        _clean_text("name", payment.name, MAX_NAME, required=True),
        _iban(payment.iban),
        _amount(payment.amount),
        _purpose(payment.purpose),
        reference,
        text,
        _clean_text("information", payment.information, MAX_INFORMATION),
    ]
    while lines[-1] == "":  # trailing optional elements may be omitted
        lines.pop()
    payload = "\n".join(lines)
    size = len(payload.encode("utf-8"))
    if size > MAX_PAYLOAD_BYTES:
        raise _invalid("payload", "payload.size", f"EPC QR payload is at most {MAX_PAYLOAD_BYTES} bytes, got {size}")
    return payload


def make_qr(payload: str) -> segno.QRCode:
    """The QR code for a payload: byte mode UTF-8, level M, no ECI, no error boost."""
    # boost_error=False: EPC069-12 fixes the level at M; segno would otherwise raise it.
    qr = segno.make_qr(payload.encode("utf-8"), error=ERROR_LEVEL.lower(), boost_error=False)
    if qr.version > MAX_QR_VERSION:  # cannot happen within 331 bytes; guards a future change
        raise _invalid("payload", "payload.qr_version", f"EPC QR allows QR version {MAX_QR_VERSION} at most, got {qr.version}")
    return qr


# Module size and quiet zone for print: ISO/IEC 18004 asks for a 4-module quiet zone.
DEFAULT_SCALE = 4
QUIET_ZONE = 4


def render_svg(payload: str, *, scale: int = DEFAULT_SCALE, title: str | None = None) -> bytes:
    buffer = io.BytesIO()
    make_qr(payload).save(buffer, kind="svg", scale=scale, border=QUIET_ZONE, xmldecl=False, title=title)
    return buffer.getvalue()


def render_png(payload: str, *, scale: int = DEFAULT_SCALE) -> bytes:
    buffer = io.BytesIO()
    make_qr(payload).save(buffer, kind="png", scale=scale, border=QUIET_ZONE)
    return buffer.getvalue()
