"""Issued documents as frozen, fully computed view models.

An `InvoiceDocument`, `CreditNoteDocument` or `ReminderDocument` is what the gateway issues: a
snapshot of seller, buyer, addresses, VAT data and totals (style rule 9), computed once by the
pure `build_*` functions below from a `Claim` (or from an already issued document) plus the
issue data. The UBL templates only loop and escape; every number, code and optional element is
decided here, next to the EN 16931 / Peppol rule it satisfies.

Choices that span files (the renderer, the templates and the golden files rely on them):

- BT-83 PaymentID carries the OGM/VCS as its 12 bare digits (`010806817183`), not the printed
  `+++010/8068/17183+++` form. Neither EN 16931 nor Peppol BIS 3.0.21 constrains the value;
  the digits are what the buyer's bank puts in the SEPA structured creditor reference
  (`SCOR`, issuer `BBA`, 12 digits), they keep the mod-97 check verifiable, and they equal
  `Claim.structured_communication`. Letters and PDFs print the `+++` form (`format_ogm`).
- BT-81 PaymentMeansCode is 58 (SEPA credit transfer) when the creditor's IBAN is in a SEPA
  country, else 30 (credit transfer); either way BT-84 is the IBAN (BR-61).
- Electronic addresses (BT-34/BT-49): an explicit Peppol id wins; otherwise the enterprise
  number under scheme 0208, else the Belgian VAT number under scheme 9925.
- The Reminder is plain UBL 2.1 (`UBL-Reminder-2.1.xsd`): Peppol has no Reminder BIS, so it
  carries no CustomizationID/ProfileID that would claim a Peppol specification.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal
from typing import Iterable, Sequence

from gateway.domain.claim import Claim, ClaimLine, Party, VatCategory
from gateway.domain.money import ZERO, compute_totals, line_net_amount, round_money
from gateway.errors import FieldProblem, InvalidInput

# BT-24 / BT-23 (PEPPOL-EN16931-R004, PEPPOL-EN16931-R001/R007)
CUSTOMIZATION_ID = "urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0"
PROFILE_ID = "urn:fdc:peppol.eu:2017:poacc:billing:01:1.0"

INVOICE_TYPE_CODE = "380"  # UNCL1001 commercial invoice (PEPPOL-EN16931-P0100)
CREDIT_NOTE_TYPE_CODE = "381"  # UNCL1001 credit note (PEPPOL-EN16931-P0101)

PAYMENT_MEANS_CREDIT_TRANSFER = "30"  # UNCL4461 credit transfer, non-SEPA
PAYMENT_MEANS_SEPA_CREDIT_TRANSFER = "58"  # UNCL4461 SEPA credit transfer

SCHEME_ENTERPRISE_NUMBER = "0208"  # EAS: Belgian enterprise number (KBO/BCE)
SCHEME_BELGIAN_VAT = "9925"  # EAS: Belgian VAT number

# Countries in the SEPA scheme (EPC list): an IBAN from one of them gets code 58.
SEPA_COUNTRIES = frozenset(
    "AD AT BE BG CH CY CZ DE DK EE ES FI FR GB GI GR HR HU IE IS IT LI LT LU LV MC MT NL NO PL PT RO SE SI SK SM VA".split()
)

# Default VATEX exemption reason codes where the rules require a reason (BR-AE-10, BR-IC-10,
# BR-G-10, BR-O-10) and the claim line gives none. E has no safe default (BR-E-10): the
# exemption article differs per supply, so the claim must state it.
DEFAULT_EXEMPTION_CODES = {
    VatCategory.REVERSE_CHARGE.value: "VATEX-EU-AE",
    VatCategory.INTRA_COMMUNITY.value: "VATEX-EU-IC",
    VatCategory.EXPORT.value: "VATEX-EU-G",
    VatCategory.OUTSIDE_SCOPE.value: "VATEX-EU-O",
}

SUPPORTED_CATEGORIES = frozenset({"S", "Z", "E", "AE", "K", "G", "O"})
ZERO_RATE_CATEGORIES = frozenset({"Z", "E", "AE", "K", "G"})  # BR-Z-05, BR-E-05, BR-AE-05, BR-IC-05, BR-G-05
NO_REASON_CATEGORIES = frozenset({"S", "Z"})  # BR-S-10, BR-Z-10
# Categories whose invoices need the seller's VAT identifier (BR-S-02, BR-Z-02, BR-E-02,
# BR-AE-02, BR-IC-02, BR-G-02). O forbids it (BR-O-02).
SELLER_VAT_CATEGORIES = frozenset({"S", "Z", "E", "AE", "K", "G"})

DAYS_PER_YEAR = Decimal(365)  # late-payment interest accrues per calendar day on a 365-day year


class DocumentRuleError(InvalidInput):
    """A document cannot be issued because its data would break a named rule.

    `rule` is the EN 16931 / Peppol rule id (BR-O-11, PEPPOL-EN16931-R003, ...) or, for rules
    of our own, a stable dotted id (`credit_note.exceeds_invoice`).
    """

    def __init__(self, rule: str, message: str, *, field: str = "document") -> None:
        super().__init__(f"[{rule}] {message}", problems=[FieldProblem(field, rule, message)])
        self.rule = rule


# --- view models ------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentAddress:
    street: str | None
    additional: str | None
    city: str | None
    postal_code: str | None
    country: str  # ISO 3166-1 alpha-2 (BR-09, BR-11)


@dataclass(frozen=True)
class DocumentParty:
    """A party as printed on a document.

    `tax_company_id` is what goes into PartyTaxScheme (None when the document's VAT categories
    forbid it, BR-O-02); `vat_registration` is the party's VAT number kept for later documents
    that may need it (a fee invoice or credit note in another category).
    """

    name: str
    endpoint_scheme: str
    endpoint_id: str
    address: DocumentAddress
    legal_id: str | None
    legal_id_scheme: str | None
    vat_registration: str | None
    tax_company_id: str | None
    email: str | None = None


@dataclass(frozen=True)
class TaxCategory:
    code: str
    percent: Decimal | None  # None for O: no rate at all (BR-O-05)
    exemption_reason_code: str | None = None
    exemption_reason: str | None = None


@dataclass(frozen=True)
class DocumentLine:
    id: str
    name: str
    quantity: Decimal
    unit_code: str
    unit_price: Decimal
    net_amount: Decimal  # BT-131 = quantity x price, 2 decimals (BR-DEC-23, PEPPOL-EN16931-R120)
    tax_category: TaxCategory


@dataclass(frozen=True)
class VatBreakdown:
    taxable_amount: Decimal  # BT-116
    tax_amount: Decimal  # BT-117 (BR-CO-17)
    tax_category: TaxCategory


@dataclass(frozen=True)
class DocumentTotals:
    line_extension_amount: Decimal  # BT-106
    tax_exclusive_amount: Decimal  # BT-109
    tax_amount: Decimal  # BT-110
    tax_inclusive_amount: Decimal  # BT-112
    prepaid_amount: Decimal  # BT-113
    payable_amount: Decimal  # BT-115


@dataclass(frozen=True)
class PaymentInstructions:
    means_code: str  # BT-81
    payment_id: str  # BT-83: the OGM as 12 digits
    iban: str  # BT-84
    account_name: str | None  # BT-85
    bic: str | None  # BT-86
    due_date: date | None = None  # used on reminders (PaymentMeans/PaymentDueDate)


@dataclass(frozen=True)
class EmbeddedDocument:
    """BG-24 additional supporting document with the PDF rendition embedded (BT-125)."""

    id: str
    description: str
    filename: str
    mime_code: str
    content_base64: str


@dataclass(frozen=True)
class DocumentReference:
    number: str
    issue_date: date | None = None


@dataclass(frozen=True)
class Delivery:
    """BG-13: required for intra-community supplies (BR-IC-11, BR-IC-12)."""

    date: date
    country: str


@dataclass(frozen=True)
class IssueData:
    """What the issuer adds to a claim when it issues a document."""

    number: str
    issue_date: date
    pdf: bytes | None = None
    delivery: Delivery | None = None
    structured_communication: str | None = None  # overrides the claim's OGM (fee invoices)
    note: str | None = None


@dataclass(frozen=True, kw_only=True)
class BillingDocument:
    number: str  # BT-1
    issue_date: date  # BT-2
    currency: str  # BT-5
    seller: DocumentParty
    buyer: DocumentParty
    lines: tuple[DocumentLine, ...]
    vat_breakdown: tuple[VatBreakdown, ...]
    totals: DocumentTotals
    buyer_reference: str | None  # BT-10
    order_reference: str | None  # BT-13
    note: str | None  # BT-22 (at most one, PEPPOL-EN16931-R002)
    payment: PaymentInstructions | None
    delivery: Delivery | None
    attachments: tuple[EmbeddedDocument, ...]
    customization_id: str = CUSTOMIZATION_ID
    profile_id: str = PROFILE_ID

    @property
    def vat_categories(self) -> frozenset[str]:
        return frozenset(line.tax_category.code for line in self.lines)


@dataclass(frozen=True, kw_only=True)
class InvoiceDocument(BillingDocument):
    due_date: date | None = None  # BT-9 (BR-CO-25)
    preceding_invoice: DocumentReference | None = None  # BG-3, set on fee invoices
    type_code: str = INVOICE_TYPE_CODE


@dataclass(frozen=True, kw_only=True)
class CreditNoteDocument(BillingDocument):
    invoice_reference: DocumentReference  # BG-3: the invoice this note corrects (BR-55)
    type_code: str = CREDIT_NOTE_TYPE_CODE


@dataclass(frozen=True)
class ReminderLine:
    id: str
    note: str
    amount: Decimal  # DebitLineAmount
    billing_reference: DocumentReference | None = None
    penalty_percent: Decimal | None = None  # interest lines: annual rate
    period_start: date | None = None  # interest lines: from the due date ...
    period_end: date | None = None  # ... to `today`


@dataclass(frozen=True)
class ReminderDocument:
    number: str
    issue_date: date
    sequence: int  # ReminderSequenceNumeric: the dunning step
    currency: str
    note: str | None
    seller: DocumentParty
    buyer: DocumentParty
    payment: PaymentInstructions
    lines: tuple[ReminderLine, ...]
    total: Decimal  # LegalMonetaryTotal: sum of the reminder lines
    attachments: tuple[EmbeddedDocument, ...]


@dataclass(frozen=True)
class OverdueInvoice:
    """An issued invoice that a reminder is about, with what is still open on it."""

    invoice: InvoiceDocument
    outstanding: Decimal


# --- helpers ------------------------------------------------------------------------------


def _endpoint(party: Party, role: str) -> tuple[str, str]:
    """BT-34 / BT-49 with its scheme (PEPPOL-EN16931-R020 seller, PEPPOL-EN16931-R010 buyer)."""
    if party.peppol_id:
        scheme, _, identifier = party.peppol_id.partition(":")
        if scheme == SCHEME_BELGIAN_VAT:
            identifier = identifier.upper()  # VAT numbers are written with an upper-case prefix
        return scheme, identifier
    if party.enterprise_number:
        return SCHEME_ENTERPRISE_NUMBER, party.enterprise_number
    if party.vat_number and party.vat_number.upper().startswith("BE"):
        return SCHEME_BELGIAN_VAT, party.vat_number.upper()
    rule = "PEPPOL-EN16931-R020" if role == "seller" else "PEPPOL-EN16931-R010"
    raise DocumentRuleError(
        rule,
        f"the {role} has no electronic address: give a Peppol id, an enterprise number (0208) or a Belgian VAT number (9925)",
        field=f"{role}.peppol_id",
    )


def _document_party(party: Party, role: str) -> DocumentParty:
    scheme, identifier = _endpoint(party, role)
    address = party.address
    return DocumentParty(
        name=party.name,
        endpoint_scheme=scheme,
        endpoint_id=identifier,
        address=DocumentAddress(
            street=address.street,
            additional=address.additional,
            city=address.city,
            postal_code=address.postal_code,
            country=address.country,
        ),
        # BT-30 / BT-47: the enterprise number, checked by PEPPOL-COMMON-R043 under 0208
        legal_id=party.enterprise_number,
        legal_id_scheme=SCHEME_ENTERPRISE_NUMBER if party.enterprise_number else None,
        vat_registration=party.vat_number,
        tax_company_id=party.vat_number,
        email=party.email,
    )


def _show_vat(party: DocumentParty, categories: frozenset[str]) -> DocumentParty:
    # BR-O-02: a document with category O carries no seller or buyer VAT identifier.
    wanted = None if "O" in categories else party.vat_registration
    return party if party.tax_company_id == wanted else replace(party, tax_company_id=wanted)


def _tax_category(line: ClaimLine) -> TaxCategory:
    code = line.vat_category
    reason_code = line.exemption_reason_code
    reason = line.exemption_reason
    if code not in SUPPORTED_CATEGORIES:
        raise DocumentRuleError(
            "vat_category.unsupported",
            f"VAT category {code!r} is not used for Belgian supplies; use one of S, Z, E, AE, K, G, O",
            field="lines.vat_category",
        )
    if code == "S" and line.vat_rate <= 0:
        raise DocumentRuleError("BR-S-05", "a standard-rated (S) line needs a VAT rate above zero", field="lines.vat_rate")
    if code in ZERO_RATE_CATEGORIES and line.vat_rate != 0:
        rule = {"Z": "BR-Z-05", "E": "BR-E-05", "AE": "BR-AE-05", "K": "BR-IC-05", "G": "BR-G-05"}[code]
        raise DocumentRuleError(rule, f"a line in VAT category {code} has VAT rate 0", field="lines.vat_rate")
    if code == "O" and line.vat_rate != 0:
        raise DocumentRuleError("BR-O-05", "a line outside the scope of VAT (O) has no VAT rate", field="lines.vat_rate")
    if code in NO_REASON_CATEGORIES and (reason_code or reason):
        rule = "BR-S-10" if code == "S" else "BR-Z-10"
        raise DocumentRuleError(rule, f"VAT category {code} takes no exemption reason", field="lines.exemption_reason")
    if code == "E" and not (reason_code or reason):
        raise DocumentRuleError(
            "BR-E-10",
            "an exempt (E) line needs an exemption reason code (e.g. VATEX-EU-132-1B) or text",
            field="lines.exemption_reason_code",
        )
    if code in DEFAULT_EXEMPTION_CODES and not (reason_code or reason):
        reason_code = DEFAULT_EXEMPTION_CODES[code]  # BR-AE-10, BR-IC-10, BR-G-10, BR-O-10
    return TaxCategory(
        code=code,
        percent=None if code == "O" else line.vat_rate,  # BR-O-05
        exemption_reason_code=reason_code,
        exemption_reason=reason,
    )


def _lines_and_totals(
    lines: Sequence[ClaimLine],
) -> tuple[tuple[DocumentLine, ...], tuple[VatBreakdown, ...], DocumentTotals]:
    if not lines:
        raise DocumentRuleError("BR-16", "a document has at least one line", field="lines")
    document_lines = tuple(
        DocumentLine(
            id=str(index),
            name=line.description,
            quantity=line.quantity,
            unit_code=line.unit_code,
            unit_price=line.unit_price,
            net_amount=line_net_amount(line.quantity, line.unit_price),
            tax_category=_tax_category(line),
        )
        for index, line in enumerate(lines, start=1)
    )
    categories = {line.tax_category.code for line in document_lines}
    if "O" in categories and len(categories) > 1:
        # BR-O-11 .. BR-O-14: an invoice with O has no other VAT category
        raise DocumentRuleError(
            "BR-O-11",
            "lines outside the scope of VAT (O) cannot be mixed with other VAT categories on one document",
            field="lines.vat_category",
        )
    totals = compute_totals(lines)  # BR-CO-10 .. BR-CO-17 by construction
    breakdown = []
    for subtotal in totals.vat_subtotals:
        category = _tax_category(
            ClaimLine(
                description="",
                quantity=Decimal(1),
                unit_price=ZERO,
                vat_category=subtotal.category,
                vat_rate=subtotal.rate,
                exemption_reason_code=subtotal.exemption_reason_code,
                exemption_reason=subtotal.exemption_reason,
            )
        )
        breakdown.append(VatBreakdown(subtotal.taxable_amount, subtotal.tax_amount, category))
    document_totals = DocumentTotals(
        line_extension_amount=totals.line_extension_amount,
        tax_exclusive_amount=totals.tax_exclusive_amount,
        tax_amount=totals.tax_amount,
        tax_inclusive_amount=totals.tax_inclusive_amount,
        prepaid_amount=totals.prepaid_amount,
        payable_amount=totals.payable_amount,
    )
    return document_lines, tuple(breakdown), document_totals


def _check_vat_parties(seller: DocumentParty, buyer: DocumentParty, categories: Iterable[str], delivery: Delivery | None) -> None:
    categories = frozenset(categories)
    needs_seller_vat = sorted(categories & SELLER_VAT_CATEGORIES)
    if needs_seller_vat and not seller.vat_registration:
        code = needs_seller_vat[0]
        rule = f"BR-{'IC' if code == 'K' else code}-02"
        raise DocumentRuleError(rule, f"VAT category {code} needs the seller's VAT number", field="creditor.vat_number")
    if "AE" in categories and not (buyer.vat_registration or buyer.legal_id):
        raise DocumentRuleError(
            "BR-AE-02", "reverse charge (AE) needs the buyer's VAT number or enterprise number", field="debtor.vat_number"
        )
    if "K" in categories:
        if not buyer.vat_registration:
            raise DocumentRuleError("BR-IC-02", "an intra-community supply (K) needs the buyer's VAT number", field="debtor.vat_number")
        if delivery is None:
            raise DocumentRuleError(
                "BR-IC-11", "an intra-community supply (K) needs the actual delivery date", field="delivery.date"
            )
        if not delivery.country:
            raise DocumentRuleError("BR-IC-12", "an intra-community supply (K) needs the deliver-to country", field="delivery.country")


def _payment(seller: Party, ogm: str, *, due_date: date | None = None) -> PaymentInstructions:
    if not seller.iban:
        # BR-61: a credit transfer (30/58) states the payment account identifier
        raise DocumentRuleError("BR-61", "the creditor has no IBAN to be paid on", field="creditor.iban")
    iban = seller.iban.replace(" ", "").upper()
    sepa = iban[:2] in SEPA_COUNTRIES
    return PaymentInstructions(
        means_code=PAYMENT_MEANS_SEPA_CREDIT_TRANSFER if sepa else PAYMENT_MEANS_CREDIT_TRANSFER,
        payment_id=ogm,
        iban=iban,
        account_name=seller.name,
        bic=seller.bic,
        due_date=due_date,
    )


def _attachments(number: str, kind: str, pdf: bytes | None) -> tuple[EmbeddedDocument, ...]:
    if pdf is None:
        return ()
    return (
        EmbeddedDocument(
            id=number,
            description=f"{kind} {number}",
            filename=f"{number}.pdf",
            mime_code="application/pdf",  # PEPPOL-EN16931-CL001
            content_base64=base64.b64encode(pdf).decode("ascii"),
        ),
    )


def _require_reference(buyer_reference: str | None, order_reference: str | None) -> None:
    if not (buyer_reference or order_reference):
        # PEPPOL-EN16931-R003: a buyer reference or purchase order reference MUST be provided
        raise DocumentRuleError(
            "PEPPOL-EN16931-R003",
            "a buyer reference or an order reference must be given",
            field="buyer_reference",
        )


# --- builders -------------------------------------------------------------------------------


def build_invoice(claim: Claim, issue: IssueData) -> InvoiceDocument:
    """The BIS 3.0 invoice (380) for a claim."""
    _require_reference(claim.buyer_reference, claim.order_reference)
    lines, breakdown, totals = _lines_and_totals(claim.lines)
    categories = frozenset(line.tax_category.code for line in lines)
    seller = _show_vat(_document_party(claim.creditor, "seller"), categories)
    buyer = _show_vat(_document_party(claim.debtor, "buyer"), categories)
    _check_vat_parties(seller, buyer, categories, issue.delivery)
    ogm = issue.structured_communication or claim.structured_communication
    return InvoiceDocument(
        number=issue.number,
        issue_date=issue.issue_date,
        due_date=claim.due_date,
        currency=claim.currency,
        seller=seller,
        buyer=buyer,
        lines=lines,
        vat_breakdown=breakdown,
        totals=totals,
        buyer_reference=claim.buyer_reference,
        order_reference=claim.order_reference,
        note=issue.note or claim.note,
        payment=_payment(claim.creditor, ogm),
        delivery=issue.delivery,
        attachments=_attachments(issue.number, "Invoice", issue.pdf),
    )


def build_credit_note(
    invoice: InvoiceDocument,
    issue: IssueData,
    *,
    lines: Sequence[ClaimLine] | None = None,
    already_credited: Decimal = ZERO,
) -> CreditNoteDocument:
    """A credit note (381) correcting `invoice`, in full (`lines=None`) or for the given lines.

    `already_credited` is the payable total of earlier credit notes on the same invoice; the
    sum may not exceed the invoice (rule `credit_note.exceeds_invoice`).
    """
    if lines is None:
        lines = tuple(_claim_line(line) for line in invoice.lines)
    document_lines, breakdown, totals = _lines_and_totals(lines)
    remaining = invoice.totals.payable_amount - already_credited
    if totals.payable_amount > remaining:
        raise DocumentRuleError(
            "credit_note.exceeds_invoice",
            f"a credit note of {totals.payable_amount} {invoice.currency} exceeds what is left to credit on invoice "
            f"{invoice.number} ({remaining} of {invoice.totals.payable_amount} {invoice.currency})",
            field="lines",
        )
    categories = frozenset(line.tax_category.code for line in document_lines)
    seller = _show_vat(invoice.seller, categories)
    buyer = _show_vat(invoice.buyer, categories)
    delivery = issue.delivery or invoice.delivery
    _check_vat_parties(seller, buyer, categories, delivery)
    return CreditNoteDocument(
        number=issue.number,
        issue_date=issue.issue_date,
        currency=invoice.currency,
        seller=seller,
        buyer=buyer,
        lines=document_lines,
        vat_breakdown=breakdown,
        totals=totals,
        buyer_reference=invoice.buyer_reference,
        order_reference=invoice.order_reference,
        note=issue.note,
        payment=None,  # nothing for the buyer to pay
        delivery=delivery,
        attachments=_attachments(issue.number, "Credit note", issue.pdf),
        invoice_reference=DocumentReference(invoice.number, invoice.issue_date),  # BG-3 (BR-55)
    )


def build_fee_invoice(
    original: InvoiceDocument,
    issue: IssueData,
    *,
    fee: Decimal,
    description: str,
    due_date: date,
    vat_category: str = VatCategory.OUTSIDE_SCOPE.value,
    vat_rate: Decimal = Decimal("0"),
    exemption_reason_code: str | None = None,
    exemption_reason: str | None = None,
) -> InvoiceDocument:
    """The BIS 3.0 invoice for a reminder fee that the dunning policy charges a business.

    It references the original invoice as preceding invoice (BG-3) and is paid with its own
    structured communication (`issue.structured_communication`), so the bank statement tells
    fee payments from principal payments. Recovery costs are damages, outside the scope of
    VAT, hence category O by default.
    """
    if fee <= 0:
        raise DocumentRuleError("fee_invoice.amount", "a fee invoice is for a positive fee", field="fee")
    if not issue.structured_communication:
        raise DocumentRuleError(
            "fee_invoice.structured_communication",
            "a fee invoice needs its own structured communication",
            field="structured_communication",
        )
    line = ClaimLine(
        description=description,
        quantity=Decimal(1),
        unit_price=round_money(fee),
        vat_category=vat_category,
        vat_rate=vat_rate,
        exemption_reason_code=exemption_reason_code,
        exemption_reason=exemption_reason,
    )
    lines, breakdown, totals = _lines_and_totals([line])
    categories = frozenset(item.tax_category.code for item in lines)
    seller = _show_vat(original.seller, categories)
    buyer = _show_vat(original.buyer, categories)
    _check_vat_parties(seller, buyer, categories, issue.delivery)
    assert original.payment is not None
    return InvoiceDocument(
        number=issue.number,
        issue_date=issue.issue_date,
        due_date=due_date,
        currency=original.currency,
        seller=seller,
        buyer=buyer,
        lines=lines,
        vat_breakdown=breakdown,
        totals=totals,
        buyer_reference=original.buyer_reference,  # PEPPOL-EN16931-R003 carried over
        order_reference=original.order_reference,
        note=issue.note,
        payment=replace(original.payment, payment_id=issue.structured_communication),
        delivery=issue.delivery,
        attachments=_attachments(issue.number, "Invoice", issue.pdf),
        preceding_invoice=DocumentReference(original.number, original.issue_date),
    )


def late_interest(outstanding: Decimal, annual_rate: Decimal, due_date: date, today: date) -> Decimal:
    """Simple interest from the day after the due date up to and including `today`."""
    days = (today - due_date).days
    if days <= 0 or annual_rate <= 0 or outstanding <= 0:
        return ZERO
    return round_money(outstanding * annual_rate / Decimal(100) * Decimal(days) / DAYS_PER_YEAR)


def build_reminder(
    overdue: Sequence[OverdueInvoice],
    issue: IssueData,
    *,
    today: date,
    new_due_date: date,
    sequence: int = 1,
    fee: Decimal = ZERO,
    fee_description: str = "Reminder fee",
    fee_invoice: InvoiceDocument | None = None,
    interest_rate: Decimal | None = None,
) -> ReminderDocument:
    """A UBL 2.1 Reminder: one line per overdue invoice, then interest lines and a fee line.

    Interest accrues per invoice from its due date to `today` at `interest_rate` % a year.
    When the fee was issued as its own invoice (`build_fee_invoice`), the fee line refers to it.
    """
    if not overdue:
        raise DocumentRuleError("reminder.no_invoice", "a reminder is about at least one overdue invoice", field="invoices")
    first = overdue[0].invoice
    for item in overdue:
        if item.invoice.buyer.endpoint_id != first.buyer.endpoint_id or item.invoice.currency != first.currency:
            raise DocumentRuleError(
                "reminder.mixed_debtors", "a reminder covers invoices of one debtor in one currency", field="invoices"
            )
        if item.invoice.due_date is None or item.invoice.due_date >= today:
            raise DocumentRuleError(
                "reminder.not_overdue", f"invoice {item.invoice.number} is not overdue on {today.isoformat()}", field="invoices"
            )
        if item.outstanding <= 0:
            raise DocumentRuleError("reminder.nothing_open", f"nothing is open on invoice {item.invoice.number}", field="invoices")
    if new_due_date <= issue.issue_date:
        raise DocumentRuleError("reminder.new_due_date", "the new due date lies after the issue date", field="new_due_date")
    ogm = issue.structured_communication
    if ogm is None:
        if len(overdue) != 1 or first.payment is None:
            raise DocumentRuleError(
                "reminder.structured_communication",
                "a reminder about several invoices needs its own structured communication",
                field="structured_communication",
            )
        ogm = first.payment.payment_id
    lines: list[ReminderLine] = []
    for item in overdue:
        invoice = item.invoice
        lines.append(
            ReminderLine(
                id=str(len(lines) + 1),
                note=f"Invoice {invoice.number} of {invoice.issue_date.isoformat()}, due {invoice.due_date.isoformat()}",
                amount=round_money(item.outstanding),
                billing_reference=DocumentReference(invoice.number, invoice.issue_date),
            )
        )
    if interest_rate is not None:
        for item in overdue:
            invoice = item.invoice
            assert invoice.due_date is not None
            interest = late_interest(item.outstanding, interest_rate, invoice.due_date, today)
            if interest > 0:
                lines.append(
                    ReminderLine(
                        id=str(len(lines) + 1),
                        note=f"Late-payment interest on invoice {invoice.number}",
                        amount=interest,
                        billing_reference=DocumentReference(invoice.number, invoice.issue_date),
                        penalty_percent=interest_rate,
                        period_start=invoice.due_date,
                        period_end=today,
                    )
                )
    if fee > 0:
        fee_amount = fee_invoice.totals.payable_amount if fee_invoice else round_money(fee)
        lines.append(
            ReminderLine(
                id=str(len(lines) + 1),
                note=fee_description if fee_invoice is None else f"{fee_description}, invoice {fee_invoice.number}",
                amount=fee_amount,
                billing_reference=DocumentReference(fee_invoice.number, fee_invoice.issue_date) if fee_invoice else None,
            )
        )
    seller_party = first.seller
    assert first.payment is not None
    payment = replace(first.payment, payment_id=ogm, due_date=new_due_date)
    return ReminderDocument(
        number=issue.number,
        issue_date=issue.issue_date,
        sequence=sequence,
        currency=first.currency,
        note=issue.note,
        seller=replace(seller_party, tax_company_id=seller_party.vat_registration),
        buyer=replace(first.buyer, tax_company_id=first.buyer.vat_registration),
        payment=payment,
        lines=tuple(lines),
        total=sum((line.amount for line in lines), ZERO),
        attachments=_attachments(issue.number, "Reminder", issue.pdf),
    )


def _claim_line(line: DocumentLine) -> ClaimLine:
    category = line.tax_category
    return ClaimLine(
        description=line.name,
        quantity=line.quantity,
        unit_price=line.unit_price,
        vat_category=category.code,
        vat_rate=category.percent if category.percent is not None else Decimal("0"),
        unit_code=line.unit_code,
        exemption_reason_code=category.exemption_reason_code,
        exemption_reason=category.exemption_reason,
    )
