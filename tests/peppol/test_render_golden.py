"""Golden UBL files: every document type x VAT category x debtor identifier scheme.

Each case is built from a fixed claim, rendered, and compared byte for byte with
`tests/golden/<case>.xml`; every golden file must pass the official validation (UBL 2.1 XSD,
CEN EN16931 1.3.16 and Peppol BIS Billing 3.0.21 Schematron; the Reminder against
UBL-Reminder-2.1.xsd) with zero fatal errors and zero warnings.

Regenerate after an intended change with `GATEWAY_UPDATE_GOLDEN=1 pytest tests/peppol/test_render_golden.py`
and review the diff.
"""

from __future__ import annotations

import os
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from gateway.domain.claim import Address, Claim, ClaimLine, ClaimType, Party
from gateway.domain.document import (
    Delivery,
    IssueData,
    OverdueInvoice,
    build_credit_note,
    build_fee_invoice,
    build_invoice,
    build_reminder,
)
from gateway.peppol.ubl_render import render
from gateway.peppol.validate import validate_document

GOLDEN_DIR = Path(__file__).resolve().parents[1] / "golden"
UPDATE = os.environ.get("GATEWAY_UPDATE_GOLDEN") == "1"

CATEGORIES = ("S", "Z", "E", "AE", "K", "G", "O")
SCHEMES = ("0208", "9925")
DOCUMENTS = ("invoice", "credit_note", "reminder")

PDF = b"%PDF-1.4\n%gateway golden test\n%%EOF\n"

CREDITOR = Party(
    name="Stad Voorbeeldstad",
    enterprise_number="0207437468",
    vat_number="BE0207437468",
    address=Address(street="Grote Markt 1", postal_code="9000", city="Gent", country="BE"),
    iban="BE71096123456769",
    bic="GKCCBEBB",
)

# Belgian business debtors: one known by enterprise number (0208), one only by VAT (9925).
BELGIAN_DEBTORS = {
    "0208": Party(
        name="Bakkerij Janssens & Zonen BV",
        enterprise_number="0403019261",
        vat_number="BE0403019261",
        address=Address(street="Kerkstraat 5", postal_code="2000", city="Antwerpen", country="BE"),
    ),
    "9925": Party(
        name="Garage Peeters",
        vat_number="BE0477472701",
        address=Address(street="Stationsstraat 12", postal_code="3000", city="Leuven", country="BE"),
    ),
}
# Intra-community supply (K): a Dutch company, reachable on Peppol through its Belgian branch
# (0208) or its Belgian VAT registration (9925); the invoice states its Dutch VAT number.
DUTCH_DEBTORS = {
    "0208": Party(
        name="Bouwbedrijf De Vries BV",
        enterprise_number="0876543270",
        vat_number="NL004495445B01",
        address=Address(street="Dorpsstraat 3", postal_code="4811 AB", city="Breda", country="NL"),
    ),
    "9925": Party(
        name="Bouwbedrijf De Vries BV",
        peppol_id="9925:be0654321022",
        vat_number="NL004495445B01",
        address=Address(street="Dorpsstraat 3", postal_code="4811 AB", city="Breda", country="NL"),
    ),
}
# Export (G): a Swiss company with a Belgian branch (0208) or Belgian VAT registration (9925).
SWISS_DEBTORS = {
    "0208": Party(
        name="Uhrenfabrik Meier AG",
        enterprise_number="0876543270",
        address=Address(street="Bahnhofstrasse 7", postal_code="8001", city="Zürich", country="CH"),
    ),
    "9925": Party(
        name="Uhrenfabrik Meier AG",
        peppol_id="9925:be0654321022",
        address=Address(street="Bahnhofstrasse 7", postal_code="8001", city="Zürich", country="CH"),
    ),
}

LINES = {
    # mixed Belgian rates with rounding on every line: 3 x 0.333, 7 x 1.19, 1 x 99.99
    "S": (
        ClaimLine("Zaalhuur per uur", Decimal("3"), Decimal("0.333"), "S", Decimal("21"), unit_code="HUR"),
        ClaimLine("Drukwerk brochures", Decimal("7"), Decimal("1.19"), "S", Decimal("6")),
        ClaimLine("Catering receptie", Decimal("1"), Decimal("99.99"), "S", Decimal("12")),
    ),
    "Z": (ClaimLine("Dagblad abonnement", Decimal("12"), Decimal("2.35"), "Z", Decimal("0")),),
    "E": (
        ClaimLine(
            "Verpleegkundige zorg",
            Decimal("2"),
            Decimal("41.50"),
            "E",
            Decimal("0"),
            exemption_reason_code="VATEX-EU-132-1B",
            exemption_reason="Vrijgesteld, art. 44 §2 1° WBTW",
        ),
    ),
    "AE": (ClaimLine("Herstelling dakgoten", Decimal("1.5"), Decimal("640.00"), "AE", Decimal("0"), unit_code="HUR"),),
    "K": (ClaimLine("Betonblokken", Decimal("250"), Decimal("3.175"), "K", Decimal("0")),),
    "G": (ClaimLine("Uurwerkonderdelen", Decimal("40"), Decimal("12.05"), "G", Decimal("0")),),
    "O": (ClaimLine("Retributie containerpark", Decimal("1"), Decimal("45.00"), "O", Decimal("0")),),
}


def debtor_for(category: str, scheme: str) -> Party:
    table = {"K": DUTCH_DEBTORS, "G": SWISS_DEBTORS}.get(category, BELGIAN_DEBTORS)
    return table[scheme]


def claim_for(category: str, scheme: str) -> Claim:
    return Claim(
        number=f"F2026-{CATEGORIES.index(category) + 1:02d}{SCHEMES.index(scheme) + 1}",
        claim_type=ClaimType.RETRIBUTION if category == "O" else ClaimType.INVOICE,
        fiscal=False,
        creditor=CREDITOR,
        debtor=debtor_for(category, scheme),
        issue_date=date(2026, 11, 2),
        due_date=date(2026, 12, 2),
        currency="EUR",
        structured_communication="010806817183",
        lines=LINES[category],
        buyer_reference="PO-2026-117" if scheme == "0208" else None,
        order_reference=None if scheme == "0208" else "BON-884",
    )


def invoice_for(category: str, scheme: str, *, pdf: bytes | None = None):
    claim = claim_for(category, scheme)
    delivery = Delivery(date(2026, 10, 28), "NL") if category == "K" else None
    return build_invoice(claim, IssueData(claim.number, claim.issue_date, pdf=pdf, delivery=delivery))


def build_case(document: str, category: str, scheme: str):
    invoice = invoice_for(category, scheme)
    if document == "invoice":
        return invoice
    if document == "credit_note":
        return build_credit_note(invoice, IssueData(f"C{invoice.number[1:]}", date(2026, 11, 9)))
    if document == "reminder":
        return build_reminder(
            [OverdueInvoice(invoice, invoice.totals.payable_amount)],
            IssueData(f"R{invoice.number[1:]}", date(2026, 12, 16)),
            today=date(2026, 12, 16),
            new_due_date=date(2026, 12, 30),
            sequence=2,
            fee=Decimal("15.00"),
            interest_rate=Decimal("10.5"),
        )
    raise AssertionError(document)


def fee_case(scheme: str):
    invoice = invoice_for("S", scheme)
    fee_invoice = build_fee_invoice(
        invoice,
        IssueData(f"FEE{invoice.number[1:]}", date(2026, 12, 16), structured_communication="000000012385"),
        fee=Decimal("40"),
        description="Forfaitaire schadevergoeding (wet van 2 augustus 2002)",
        due_date=date(2026, 12, 30),
    )
    reminder = build_reminder(
        [OverdueInvoice(invoice, invoice.totals.payable_amount)],
        IssueData(f"R{invoice.number[1:]}-2", date(2026, 12, 16)),
        today=date(2026, 12, 16),
        new_due_date=date(2026, 12, 30),
        sequence=2,
        fee=Decimal("40"),
        fee_description="Forfaitaire schadevergoeding",
        fee_invoice=fee_invoice,
        interest_rate=Decimal("10.5"),
    )
    return fee_invoice, reminder


def all_cases():
    cases = {}
    for document in DOCUMENTS:
        for category in CATEGORIES:
            for scheme in SCHEMES:
                cases[f"{document}_{category}_{scheme}"] = lambda d=document, c=category, s=scheme: build_case(d, c, s)
    for scheme in SCHEMES:
        cases[f"fee_invoice_{scheme}"] = lambda s=scheme: fee_case(s)[0]
        cases[f"reminder_with_fee_invoice_{scheme}"] = lambda s=scheme: fee_case(s)[1]
    cases["invoice_S_0208_pdf"] = lambda: invoice_for("S", "0208", pdf=PDF)
    return cases


CASES = all_cases()


# --- validation -------------------------------------------------------------------------------

# `standards_dir` is the session fixture of tests/peppol/conftest.py: the official artefacts
# installed from ../shared/standards with every checksum verified.


def validate(xml: bytes, standards_dir: Path):
    """(errors, warnings) as lists of (rule, message), from `gateway.peppol.validate`."""
    report = validate_document(xml, standards_dir=standards_dir)
    return (
        [(issue.rule, issue.message) for issue in report.errors],
        [(issue.rule, issue.message) for issue in report.warnings],
    )


# --- tests --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(CASES))
def test_render_matches_golden(name):
    xml = render(CASES[name]())
    golden = GOLDEN_DIR / f"{name}.xml"
    if UPDATE:
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        golden.write_bytes(xml)
    assert golden.exists(), f"missing golden file {golden}; run with GATEWAY_UPDATE_GOLDEN=1"
    assert xml == golden.read_bytes()


@pytest.mark.parametrize("name", sorted(CASES))
def test_golden_passes_official_validation(name, standards_dir):
    xml = (GOLDEN_DIR / f"{name}.xml").read_bytes()
    errors, warnings = validate(xml, standards_dir)
    assert errors == []
    assert warnings == []


def test_every_golden_file_belongs_to_a_case():
    assert sorted(path.stem for path in GOLDEN_DIR.glob("*.xml")) == sorted(CASES)


def test_rendering_is_deterministic():
    document = build_case("invoice", "S", "0208")
    assert render(document) == render(build_case("invoice", "S", "0208"))


@pytest.mark.parametrize(
    ("mutate", "rule"),
    [
        # a standard-rated invoice without the seller's VAT number
        (lambda xml: xml.replace(b"<cbc:CompanyID>BE0207437468</cbc:CompanyID>", b""), "BR-S-02"),
        # neither buyer reference nor order reference
        (lambda xml: xml.replace(b"<cbc:BuyerReference>PO-2026-117</cbc:BuyerReference>", b""), "PEPPOL-EN16931-R003"),
        # a total that does not add up
        (lambda xml: xml.replace(b'<cbc:PayableAmount currencyID="EUR">', b'<cbc:PayableAmount currencyID="EUR">1'), "BR-CO-16"),
        # a broken enterprise number under scheme 0208
        (lambda xml: xml.replace(b'schemeID="0208">0403019261<', b'schemeID="0208">0403019262<'), "PEPPOL-COMMON-R043"),
    ],
    ids=["seller-vat-removed", "no-buyer-reference", "payable-amount", "enterprise-number"],
)
def test_invalid_variant_fails_on_expected_rule(mutate, rule, standards_dir):
    golden = (GOLDEN_DIR / "invoice_S_0208.xml").read_bytes()
    broken = mutate(golden)
    assert broken != golden
    errors, _ = validate(broken, standards_dir)
    assert rule in {error_rule for error_rule, _ in errors}


def test_category_o_invoice_carries_no_vat_identifiers():
    # BR-O-02: neither the seller's nor the buyer's VAT identifier on an O document
    xml = (GOLDEN_DIR / "invoice_O_0208.xml").read_bytes()
    assert b"PartyTaxScheme" not in xml
    assert b"<cbc:Percent>" not in xml  # BR-O-05
    assert b"<cbc:TaxExemptionReasonCode>VATEX-EU-O</cbc:TaxExemptionReasonCode>" in xml


def test_retribution_to_debtor_known_by_vat_keeps_9925_endpoint():
    xml = (GOLDEN_DIR / "invoice_O_9925.xml").read_bytes()
    assert b'<cbc:EndpointID schemeID="9925">BE0477472701</cbc:EndpointID>' in xml
    assert b"PartyTaxScheme" not in xml
