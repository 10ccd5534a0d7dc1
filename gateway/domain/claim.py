"""Claims, parties and lines as frozen value objects.

These are what the API payload becomes after validation and what the store hands back; the
UBL renderer, the dunning rules and the channel router take them as input. No I/O here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

from gateway.domain.money import Totals, compute_totals


class ClaimType(StrEnum):
    INVOICE = "invoice"
    RENT = "rent"
    LEASE = "lease"
    RETRIBUTION = "retribution"
    TAX_ASSESSMENT = "tax_assessment"


class DebtorKind(StrEnum):
    BUSINESS = "business"
    CONSUMER = "consumer"


class ContactKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"


class ContactValidity(StrEnum):
    UNVERIFIED = "unverified"
    VALID = "valid"
    BOUNCED = "bounced"  # hard bounce / UNDELIV: do not use until repaired
    UNREACHABLE = "unreachable"  # marked by an admin
    REPLACED = "replaced"  # the debtor confirmed another address or number on the personal page


class Channel(StrEnum):
    PEPPOL = "peppol"
    EMAIL = "email"
    SMS = "sms"
    EBOX = "ebox"
    PAPER = "paper"
    REGISTERED_PAPER = "registered_paper"


class VatCategory(StrEnum):
    """UNCL5305 subset used by Peppol BIS Billing 3.0."""

    STANDARD = "S"
    ZERO = "Z"
    EXEMPT = "E"
    REVERSE_CHARGE = "AE"
    INTRA_COMMUNITY = "K"
    EXPORT = "G"
    OUTSIDE_SCOPE = "O"
    CANARY = "L"
    CEUTA_MELILLA = "M"


LANGUAGES = ("nl", "fr", "de", "en")


@dataclass(frozen=True)
class Address:
    street: str | None = None
    postal_code: str | None = None
    city: str | None = None
    country: str = "BE"
    additional: str | None = None


@dataclass(frozen=True)
class Consent:
    given: bool
    date: datetime | None = None
    source: str | None = None


@dataclass(frozen=True)
class Contact:
    kind: ContactKind
    value: str
    validity: ContactValidity = ContactValidity.UNVERIFIED
    consent: Consent | None = None


@dataclass(frozen=True)
class Party:
    """A creditor or a debtor as it appears on a document (snapshot, not a live row)."""

    name: str
    kind: DebtorKind = DebtorKind.BUSINESS
    enterprise_number: str | None = None
    vat_number: str | None = None
    peppol_id: str | None = None
    national_register_number: str | None = None
    address: Address = field(default_factory=Address)
    language: str = "nl"
    email: str | None = None
    iban: str | None = None
    bic: str | None = None


@dataclass(frozen=True)
class ClaimLine:
    description: str
    quantity: Decimal
    unit_price: Decimal
    vat_category: str = VatCategory.OUTSIDE_SCOPE.value
    vat_rate: Decimal = Decimal("0")
    unit_code: str = "C62"  # UN/ECE rec 20 "one"
    exemption_reason_code: str | None = None
    exemption_reason: str | None = None


@dataclass(frozen=True)
class Claim:
    """A claim as posted by accounting software and stored by the gateway."""

    number: str  # the client's claim / invoice number
    claim_type: ClaimType
    fiscal: bool
    creditor: Party
    debtor: Party
    issue_date: date
    due_date: date
    currency: str
    structured_communication: str  # 12 digits
    lines: tuple[ClaimLine, ...]
    buyer_reference: str | None = None
    order_reference: str | None = None
    note: str | None = None

    @property
    def totals(self) -> Totals:
        return compute_totals(self.lines)
