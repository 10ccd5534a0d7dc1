"""Request and response models of the claims API.

The claim payload's JSON Schema is published as `schemas/claim.schema.json` (generated from
`ClaimIn`; a test keeps the two identical). Field checks raise `PydanticCustomError` with a
stable rule id (e.g. `ogm.checksum`), which the problem response carries next to the field path.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator, model_validator
from pydantic_core import PydanticCustomError

from gateway.domain import identifiers
from gateway.domain.claim import (
    Address,
    Claim,
    ClaimLine,
    ClaimType,
    DebtorKind,
    Party,
    VatCategory,
)
from gateway.domain.document import DEFAULT_EXEMPTION_CODES
from gateway.domain.money import decimal_places

Language = Literal["nl", "fr", "de", "en"]
_ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_day(value: Any) -> Any:
    """Pydantic's lax mode reads a number ("0", 86400) as Unix time; our dates are ISO 8601 only."""
    if isinstance(value, (int, float)) or (isinstance(value, str) and not _ISO_DAY.fullmatch(value)):
        raise PydanticCustomError("date.iso_8601", "a date is written YYYY-MM-DD (ISO 8601)")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_day)]
Day = IsoDate  # ConsentIn has a field named `date`, which would shadow the type there

# EN 16931 VAT categories and what they demand (BR-S-05, BR-Z-05, BR-E-05, BR-AE-05, BR-IC-05,
# BR-G-05, BR-O-05: only S carries a rate above zero; BR-E-10, BR-AE-10, BR-IC-10, BR-G-10,
# BR-O-10: the non-taxed categories carry an exemption reason code or text).
_ZERO_RATE_CATEGORIES = {"Z", "E", "AE", "K", "G", "O"}
_REASON_REQUIRED = {"E", "AE", "K", "G", "O"}


def _rule(rule: str, message: str) -> PydanticCustomError:
    return PydanticCustomError(rule, message)


def _identifier(normalize, value: str | None) -> str | None:
    if value is None:
        return None
    try:
        return normalize(value)
    except identifiers.IdentifierError as exc:
        raise _rule(exc.rule, exc.message) from exc


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AddressIn(Strict):
    street: Annotated[str, Field(min_length=1, max_length=200)]
    postal_code: Annotated[str, Field(min_length=1, max_length=16)]
    city: Annotated[str, Field(min_length=1, max_length=100)]
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")] = "BE"
    additional: Annotated[str | None, Field(max_length=200)] = None


class ContactIn(Strict):
    kind: Literal["email", "phone"]
    value: Annotated[str, Field(min_length=3, max_length=254)]

    @model_validator(mode="after")
    def _check_value(self) -> "ContactIn":
        if self.kind == "email":
            _identifier(identifiers.check_email_syntax, self.value)
        elif not self.value.lstrip("+").replace(" ", "").isdigit():
            raise _rule("phone.format", "a phone number is digits in international form, e.g. +32470123456")
        return self


class ConsentIn(Strict):
    channel: Literal["email", "sms", "ebox", "paper", "peppol"]
    given: bool
    date: Day | None = Field(default=None, description="when the debtor gave or withdrew consent")
    source: Annotated[str | None, Field(max_length=200, description="where, e.g. 'counter form 2026-03', 'portal'")] = None


class DebtorIn(Strict):
    external_id: Annotated[str | None, Field(max_length=64, description="the accounting software's debtor reference")] = None
    kind: Literal["business", "consumer"]
    name: Annotated[str, Field(min_length=1, max_length=200)]
    enterprise_number: str | None = Field(default=None, description="KBO/BCE number, 10 digits")
    vat_number: str | None = Field(default=None, description="EU VAT number, e.g. BE0403019261")
    peppol_id: str | None = Field(default=None, description="scheme:id, e.g. 0208:0403019261")
    national_register_number: str | None = Field(default=None, description="INSZ/NISS (national register or BIS number)")
    address: AddressIn
    language: Language = "nl"
    contacts: Annotated[list[ContactIn], Field(max_length=10)] = []
    consents: Annotated[list[ConsentIn], Field(max_length=10)] = []

    _enterprise = field_validator("enterprise_number")(lambda v: _identifier(identifiers.normalize_enterprise_number, v))
    _vat = field_validator("vat_number")(lambda v: _identifier(identifiers.normalize_vat_number, v))
    _peppol = field_validator("peppol_id")(lambda v: _identifier(identifiers.normalize_peppol_id, v))
    _national = field_validator("national_register_number")(lambda v: _identifier(identifiers.normalize_national_number, v))

    @model_validator(mode="after")
    def _check_kind(self) -> "DebtorIn":
        if self.kind == "business" and not (self.enterprise_number or self.vat_number or self.peppol_id):
            raise _rule("debtor.business_identifier", "a business debtor needs an enterprise number, a VAT number or a Peppol id")
        channels = [consent.channel for consent in self.consents]
        if len(channels) != len(set(channels)):
            raise _rule("consent.duplicate_channel", "give at most one consent per channel")
        return self


class LineIn(Strict):
    description: Annotated[str, Field(min_length=1, max_length=500)]
    quantity: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=4)] = Decimal("1")
    unit_code: Annotated[str, Field(pattern=r"^[A-Z0-9]{2,3}$", description="UN/ECE rec 20, e.g. C62, HUR, MTQ")] = "C62"
    unit_price: Annotated[Decimal, Field(ge=0, max_digits=18, decimal_places=6)]
    vat_category: Literal["S", "Z", "E", "AE", "K", "G", "O", "L", "M"] = "O"
    vat_rate: Annotated[Decimal, Field(ge=0, le=100, decimal_places=2)] = Decimal("0")
    exemption_reason_code: Annotated[str | None, Field(max_length=32)] = None
    exemption_reason: Annotated[str | None, Field(max_length=300)] = None

    @model_validator(mode="after")
    def _check_vat(self) -> "LineIn":
        if self.vat_category == "S" and self.vat_rate <= 0:
            raise _rule("vat.standard_rate", "category S needs a VAT rate above zero (BR-S-05)")
        if self.vat_category in _ZERO_RATE_CATEGORIES and self.vat_rate != 0:
            raise _rule("vat.zero_rate", f"category {self.vat_category} has a VAT rate of 0 (BR-{self.vat_category}-05)")
        if self.vat_category == "E" and not (self.exemption_reason_code or self.exemption_reason):
            raise _rule("vat.exemption_reason", "category E needs an exemption reason code or text (BR-E-10)")
        return self


class ClaimIn(Strict):
    """One claim with its debtor and lines, as posted by accounting software."""

    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [
                {
                    "number": "RET-2026-00042",
                    "type": "retribution",
                    "fiscal": False,
                    "currency": "EUR",
                    "issue_date": "2026-11-02",
                    "due_date": "2026-12-02",
                    "buyer_reference": "container park 2026",
                    "debtor": {
                        "external_id": "D-1001",
                        "kind": "consumer",
                        "name": "An Peeters",
                        "address": {"street": "Kerkstraat 1", "postal_code": "9000", "city": "Gent", "country": "BE"},
                        "language": "nl",
                        "contacts": [{"kind": "email", "value": "an.peeters@telenet.be"}],
                        "consents": [{"channel": "email", "given": True, "date": "2026-01-15", "source": "portal"}],
                    },
                    "lines": [{"description": "Retributie containerpark", "quantity": "1", "unit_price": "45.00", "vat_category": "O"}],
                }
            ]
        },
    )

    number: Annotated[str, Field(min_length=1, max_length=64, description="the claim or invoice number in the accounting software")]
    creditor: Annotated[str | None, Field(max_length=64, description="creditor entity code; defaults to the API key's entity")] = None
    type: ClaimType
    fiscal: bool = False
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")] = "EUR"
    issue_date: IsoDate
    due_date: IsoDate
    structured_communication: str | None = Field(default=None, description="OGM/VCS +++ddd/dddd/ddddd+++; assigned when absent")
    buyer_reference: Annotated[str | None, Field(max_length=200)] = None
    order_reference: Annotated[str | None, Field(max_length=200)] = None
    note: Annotated[str | None, Field(max_length=2000)] = None
    debtor: DebtorIn
    lines: Annotated[list[LineIn], Field(min_length=1, max_length=500)]

    _ogm = field_validator("structured_communication")(lambda v: _identifier(identifiers.normalize_ogm, v))

    @model_validator(mode="after")
    def _check_dates(self) -> "ClaimIn":
        if self.due_date < self.issue_date:
            raise _rule("claim.due_before_issue", "due_date must not be before issue_date")
        return self

    def to_domain(self, creditor: Party, structured_communication: str) -> Claim:
        debtor = self.debtor
        return Claim(
            number=self.number,
            claim_type=ClaimType(self.type),
            fiscal=self.fiscal,
            creditor=creditor,
            debtor=Party(
                name=debtor.name,
                kind=DebtorKind(debtor.kind),
                enterprise_number=debtor.enterprise_number,
                vat_number=debtor.vat_number,
                peppol_id=debtor.peppol_id,
                national_register_number=debtor.national_register_number,
                address=Address(**debtor.address.model_dump()),
                language=debtor.language,
                email=next((c.value for c in debtor.contacts if c.kind == "email"), None),
            ),
            issue_date=self.issue_date,
            due_date=self.due_date,
            currency=self.currency,
            structured_communication=structured_communication,
            lines=tuple(line_to_domain(line) for line in self.lines),
            buyer_reference=self.buyer_reference,
            order_reference=self.order_reference,
            note=self.note,
        )


def line_to_domain(line: LineIn) -> ClaimLine:
    code = line.exemption_reason_code
    if code is None and line.exemption_reason is None:
        code = DEFAULT_EXEMPTION_CODES.get(line.vat_category)
    return ClaimLine(
        description=line.description,
        quantity=line.quantity,
        unit_price=line.unit_price,
        vat_category=VatCategory(line.vat_category).value,
        vat_rate=line.vat_rate,
        unit_code=line.unit_code,
        exemption_reason_code=code,
        exemption_reason=line.exemption_reason,
    )


class BatchIn(Strict):
    claims: Annotated[list[dict[str, Any]], Field(min_length=1, description="each item is a claim payload")]


class PaymentIn(Strict):
    amount: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]
    paid_on: IsoDate
    source: Literal["api", "bank_statement", "bancontact", "cash"] = "api"
    external_id: Annotated[str | None, Field(max_length=100, description="unique per source; a repeat is ignored")] = None
    reference: Annotated[str | None, Field(max_length=140)] = None


class CancelIn(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500)]


class CreditNoteIn(Strict):
    reason: Annotated[str, Field(min_length=1, max_length=500, description="why the invoice is corrected; printed as the note")]
    lines: Annotated[list[LineIn] | None, Field(min_length=1, max_length=500, description="the lines to credit; omit to credit the whole invoice")] = None


class DebtorPatch(Strict):
    name: Annotated[str | None, Field(min_length=1, max_length=200)] = None
    language: Language | None = None
    address: AddressIn | None = None
    contacts: Annotated[list[ContactIn] | None, Field(max_length=10, description="replaces the contact list")] = None
    consents: Annotated[list[ConsentIn] | None, Field(max_length=10, description="upserts consent per channel")] = None


class ProblemWarning(BaseModel):
    field: str
    rule: str
    message: str
    suggestion: str | None = None


def money_places_ok(value: Decimal) -> bool:
    return decimal_places(value) <= 2


class ClaimRef(BaseModel):
    id: uuid.UUID
    number: str
    status: str
    structured_communication: str
    total_amount: Decimal
    created_at: datetime
