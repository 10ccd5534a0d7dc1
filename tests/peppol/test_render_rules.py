"""Document building rules: exact totals, refused documents with their rule id, and `gateway render`."""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner
from lxml import etree

from gateway.cli import main as gateway_cli
from gateway.domain.claim import Address, Claim, ClaimLine, ClaimType, Party
from gateway.domain.document import (
    Delivery,
    DocumentRuleError,
    IssueData,
    OverdueInvoice,
    build_credit_note,
    build_fee_invoice,
    build_invoice,
    build_reminder,
    late_interest,
)
from gateway.peppol.ubl_render import format_amount, format_decimal, render

D = Decimal
NS = {
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
}

CREDITOR = Party(
    name="OCMW Voorbeeldstad",
    enterprise_number="0207437468",
    vat_number="BE0207437468",
    address=Address(street="Grote Markt 1", postal_code="9000", city="Gent"),
    iban="BE71096123456769",
)
DEBTOR = Party(
    name="Bakkerij Janssens BV",
    enterprise_number="0403019261",
    vat_number="BE0403019261",
    address=Address(street="Kerkstraat 5", postal_code="2000", city="Antwerpen"),
)


def make_claim(*lines: ClaimLine, **changes) -> Claim:
    values = dict(
        number="F2026-0001",
        claim_type=ClaimType.INVOICE,
        fiscal=False,
        creditor=CREDITOR,
        debtor=DEBTOR,
        issue_date=date(2026, 11, 1),
        due_date=date(2026, 12, 1),
        currency="EUR",
        structured_communication="010806817183",
        lines=lines,
        buyer_reference="PO-1",
    )
    values.update(changes)
    return Claim(**values)


def line(quantity: str, price: str, category: str = "S", rate: str = "21", **extra) -> ClaimLine:
    return ClaimLine("Item", D(quantity), D(price), category, D(rate), **extra)


def issue(number: str = "F2026-0001", day: date = date(2026, 11, 1), **extra) -> IssueData:
    return IssueData(number, day, **extra)


def totals_of(document) -> tuple[Decimal, ...]:
    t = document.totals
    return (t.line_extension_amount, t.tax_exclusive_amount, t.tax_amount, t.tax_inclusive_amount, t.payable_amount)


# --- exact totals -------------------------------------------------------------------------------


def test_three_times_a_third_rounds_the_line_not_the_unit_price():
    document = build_invoice(make_claim(line("3", "0.333")), issue())
    assert document.lines[0].net_amount == D("1.00")  # 0.999 -> 1.00 (BR-DEC-23)
    assert totals_of(document) == (D("1.00"), D("1.00"), D("0.21"), D("1.21"), D("1.21"))


def test_mixed_belgian_rates_round_per_rate_breakdown():
    document = build_invoice(
        make_claim(line("3", "0.333", rate="21"), line("7", "1.19", rate="6"), line("1", "99.99", rate="12")),
        issue(),
    )
    breakdown = [(b.tax_category.percent, b.taxable_amount, b.tax_amount) for b in document.vat_breakdown]
    # 8.33 x 6 % = 0.4998 -> 0.50; 99.99 x 12 % = 11.9988 -> 12.00; 1.00 x 21 % = 0.21
    assert breakdown == [(D("6"), D("8.33"), D("0.50")), (D("12"), D("99.99"), D("12.00")), (D("21"), D("1.00"), D("0.21"))]
    assert totals_of(document) == (D("109.32"), D("109.32"), D("12.71"), D("122.03"), D("122.03"))


def test_vat_is_rounded_on_the_breakdown_not_per_line():
    # BR-CO-17: 3 x 0.07 = 0.21 taxable, 21 % = 0.0441 -> 0.04 (per line it would be 3 x 0.01)
    document = build_invoice(make_claim(line("1", "0.07"), line("1", "0.07"), line("1", "0.07")), issue())
    assert document.totals.tax_amount == D("0.04")
    assert document.totals.payable_amount == D("0.25")


def test_half_cent_rounds_half_up():
    document = build_invoice(make_claim(line("1", "0.50")), issue())
    assert document.totals.tax_amount == D("0.11")  # 0.105


def test_amounts_are_rendered_with_two_decimals_and_rates_plainly():
    assert format_amount(D("1")) == "1.00"
    assert format_amount(D("1234.5")) == "1234.50"
    assert format_decimal(D("21.00")) == "21"
    assert format_decimal(D("0.3330")) == "0.333"
    assert format_decimal(D("1E+2")) == "100"


def test_rendered_invoice_carries_belgian_payment_data():
    xml = render(build_invoice(make_claim(line("2", "12.50")), issue()))
    root = etree.fromstring(xml)
    assert root.findtext("cac:PaymentMeans/cbc:PaymentMeansCode", namespaces=NS) == "58"
    assert root.findtext("cac:PaymentMeans/cbc:PaymentID", namespaces=NS) == "010806817183"
    assert root.findtext("cac:PaymentMeans/cac:PayeeFinancialAccount/cbc:ID", namespaces=NS) == "BE71096123456769"
    endpoints = [(e.get("schemeID"), e.text) for e in root.iterfind(".//cbc:EndpointID", NS)]
    assert endpoints == [("0208", "0207437468"), ("0208", "0403019261")]
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) == "30.25"


def test_text_is_escaped():
    claim = make_claim(line("1", "1.00"), buyer_reference='A&B <"x">')
    xml = render(build_invoice(claim, issue()))
    assert b"<cbc:BuyerReference>A&amp;B &lt;&#34;x&#34;&gt;</cbc:BuyerReference>" in xml
    assert etree.fromstring(xml).findtext("cbc:BuyerReference", namespaces=NS) == 'A&B <"x">'


# --- credit notes -------------------------------------------------------------------------------


def test_full_credit_note_references_the_invoice():
    invoice = build_invoice(make_claim(line("2", "12.50")), issue())
    credit = build_credit_note(invoice, issue("C2026-0001", date(2026, 11, 5)))
    assert credit.invoice_reference.number == "F2026-0001"
    assert credit.invoice_reference.issue_date == date(2026, 11, 1)
    assert credit.totals.payable_amount == D("30.25")
    assert credit.payment is None


def test_credit_note_cannot_credit_more_than_the_invoice():
    invoice = build_invoice(make_claim(line("2", "12.50")), issue())
    with pytest.raises(DocumentRuleError) as caught:
        build_credit_note(invoice, issue("C2026-0001"), lines=[line("3", "12.50")])
    assert caught.value.rule == "credit_note.exceeds_invoice"
    assert caught.value.problems[0].rule == "credit_note.exceeds_invoice"
    assert "45.38" in caught.value.message and "30.25" in caught.value.message


def test_second_credit_note_is_limited_to_what_is_left():
    invoice = build_invoice(make_claim(line("2", "12.50")), issue())
    first = build_credit_note(invoice, issue("C1"), lines=[line("1", "12.50")])
    assert first.totals.payable_amount == D("15.13")  # 12.50 + 2.625 -> 2.63
    # the same half again would credit 30.26 in all, one cent more than the invoice's 30.25
    with pytest.raises(DocumentRuleError) as caught:
        build_credit_note(invoice, issue("C2"), lines=[line("1", "12.50")], already_credited=D("15.13"))
    assert caught.value.rule == "credit_note.exceeds_invoice"
    rest = build_credit_note(invoice, issue("C2"), lines=[line("1", "12.49")], already_credited=D("15.13"))
    assert rest.totals.payable_amount == D("15.11")  # within the 15.12 left


# --- refused documents --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("claim", "issue_data", "rule"),
    [
        (make_claim(line("1", "10"), buyer_reference=None), issue(), "PEPPOL-EN16931-R003"),
        (make_claim(line("1", "10", "O", "0"), line("1", "10")), issue(), "BR-O-11"),
        (make_claim(line("1", "10", "E", "0")), issue(), "BR-E-10"),
        (make_claim(line("1", "10", "S", "0")), issue(), "BR-S-05"),
        (make_claim(line("1", "10", "Z", "6")), issue(), "BR-Z-05"),
        (make_claim(line("1", "10", "Z", "0", exemption_reason="why")), issue(), "BR-Z-10"),
        (make_claim(line("1", "10", "K", "0")), issue(), "BR-IC-11"),
        (make_claim(line("1", "10", "L", "0")), issue(), "vat_category.unsupported"),
        (make_claim(line("1", "10", "AE", "0"), debtor=Party(name="X", peppol_id="9999:abc", address=Address())), issue(), "BR-AE-02"),
        (make_claim(line("1", "10"), creditor=Party(name="C", enterprise_number="0207437468", vat_number="BE0207437468")), issue(), "BR-61"),
        (make_claim(line("1", "10"), creditor=Party(name="C", enterprise_number="0207437468", iban="BE71096123456769")), issue(), "BR-S-02"),
        (make_claim(line("1", "10"), debtor=Party(name="An Peeters", address=Address())), issue(), "PEPPOL-EN16931-R010"),
    ],
    ids=["no-reference", "o-mixed", "e-no-reason", "s-zero-rate", "z-rate", "z-reason", "k-no-delivery",
         "canary-islands", "ae-no-buyer-id", "no-iban", "s-no-seller-vat", "consumer-no-endpoint"],
)
def test_document_is_refused_with_the_rule(claim, issue_data, rule):
    with pytest.raises(DocumentRuleError) as caught:
        build_invoice(claim, issue_data)
    assert caught.value.rule == rule
    assert caught.value.message.startswith(f"[{rule}] ")


def test_intra_community_supply_needs_the_buyers_vat_number():
    buyer = Party(name="De Vries BV", enterprise_number="0876543270", address=Address(country="NL"))
    claim = make_claim(line("1", "10", "K", "0"), debtor=buyer)
    with pytest.raises(DocumentRuleError) as caught:
        build_invoice(claim, issue(delivery=Delivery(date(2026, 10, 1), "NL")))
    assert caught.value.rule == "BR-IC-02"


def test_outside_scope_drops_vat_numbers_and_defaults_the_reason():
    document = build_invoice(make_claim(line("1", "45", "O", "0"), claim_type=ClaimType.RETRIBUTION), issue())
    assert document.seller.tax_company_id is None and document.buyer.tax_company_id is None  # BR-O-02
    assert document.seller.vat_registration == "BE0207437468"
    assert document.vat_breakdown[0].tax_category.percent is None  # BR-O-05
    assert document.vat_breakdown[0].tax_category.exemption_reason_code == "VATEX-EU-O"  # BR-O-10


# --- reminders and fee invoices -----------------------------------------------------------------


def test_late_interest_is_simple_daily_interest():
    assert late_interest(D("1000.00"), D("10.5"), date(2026, 12, 1), date(2026, 12, 31)) == D("8.63")
    assert late_interest(D("1000.00"), D("10.5"), date(2026, 12, 1), date(2026, 12, 1)) == D("0.00")


def test_reminder_lines_fee_interest_and_new_due_date():
    invoice = build_invoice(make_claim(line("1", "1000")), issue())  # 1210.00 payable
    reminder = build_reminder(
        [OverdueInvoice(invoice, D("1210.00"))],
        issue("R1", date(2026, 12, 31)),
        today=date(2026, 12, 31),
        new_due_date=date(2027, 1, 14),
        sequence=2,
        fee=D("15"),
        interest_rate=D("10.5"),
    )
    assert [(l.id, l.amount) for l in reminder.lines] == [("1", D("1210.00")), ("2", D("10.44")), ("3", D("15.00"))]
    assert reminder.total == D("1235.44")
    assert reminder.payment.due_date == date(2027, 1, 14)
    assert reminder.payment.payment_id == "010806817183"
    assert reminder.lines[0].billing_reference.number == "F2026-0001"
    xml = render(reminder)
    root = etree.fromstring(xml)
    assert root.findtext("cbc:ReminderSequenceNumeric", namespaces=NS) == "2"
    assert root.findtext("cac:PaymentMeans/cbc:PaymentDueDate", namespaces=NS) == "2027-01-14"
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) == "1235.44"


def test_reminder_refuses_an_invoice_that_is_not_overdue():
    invoice = build_invoice(make_claim(line("1", "10")), issue())
    with pytest.raises(DocumentRuleError) as caught:
        build_reminder([OverdueInvoice(invoice, D("12.10"))], issue("R1", date(2026, 12, 1)), today=date(2026, 12, 1), new_due_date=date(2026, 12, 15))
    assert caught.value.rule == "reminder.not_overdue"


def test_fee_invoice_references_the_original_and_has_its_own_ogm():
    invoice = build_invoice(make_claim(line("1", "10")), issue())
    fee = build_fee_invoice(
        invoice,
        issue("F2026-0100", date(2026, 12, 10), structured_communication="000000012385"),
        fee=D("40"),
        description="Forfaitaire schadevergoeding",
        due_date=date(2026, 12, 24),
    )
    assert fee.preceding_invoice.number == "F2026-0001"
    assert fee.payment.payment_id == "000000012385"
    assert fee.totals.payable_amount == D("40.00")
    assert fee.seller.tax_company_id is None  # category O by default: BR-O-02
    assert fee.buyer_reference == "PO-1"  # PEPPOL-EN16931-R003 carried over
    root = etree.fromstring(render(fee))
    assert root.findtext("cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID", namespaces=NS) == "F2026-0001"


# --- gateway render -----------------------------------------------------------------------------

CLAIM_JSON = {
    "number": "F2026-0001",
    "type": "invoice",
    "fiscal": False,
    "currency": "EUR",
    "issue_date": "2026-11-01",
    "due_date": "2026-12-01",
    "structured_communication": "+++010/8068/17183+++",
    "buyer_reference": "PO-77",
    "debtor": {
        "kind": "business",
        "name": "Bakkerij Janssens BV",
        "enterprise_number": "0403019261",
        "vat_number": "BE0403019261",
        "peppol_id": "0208:0403019261",
        "language": "nl",
        "address": {"street": "Kerkstraat 5", "postal_code": "2000", "city": "Antwerpen", "country": "BE"},
        "contacts": [{"kind": "email", "value": "boekhouding@janssens.be"}],
    },
    "lines": [{"description": "Zaalhuur", "quantity": "2", "unit_price": "12.50", "vat_category": "S", "vat_rate": "21"}],
}
CREDITOR_JSON = {
    "name": "OCMW Voorbeeldstad",
    "enterprise_number": "0207.437.468",
    "vat_number": "BE 0207 437 468",
    "iban": "BE71 0961 2345 6769",
    "address": {"street": "Grote Markt 1", "postal_code": "9000", "city": "Gent", "country": "BE"},
}


def run_render(tmp_path, *args, claim=None, creditor_inline=True):
    data = dict(claim or CLAIM_JSON)
    if creditor_inline:
        data["creditor"] = CREDITOR_JSON
    path = tmp_path / "claim.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return CliRunner().invoke(gateway_cli, ["render", str(path), *args])


def test_cli_renders_the_invoice_of_the_api_payload(tmp_path):
    out = tmp_path / "out.xml"
    result = run_render(tmp_path, "-o", str(out))
    assert result.exit_code == 0, result.output
    root = etree.fromstring(out.read_bytes())
    assert root.findtext("cbc:ID", namespaces=NS) == "F2026-0001"
    assert root.findtext("cac:PaymentMeans/cbc:PaymentID", namespaces=NS) == "010806817183"
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) == "30.25"
    assert root.findtext("cac:AccountingSupplierParty/cac:Party/cbc:EndpointID", namespaces=NS) == "0207437468"
    assert root.findtext(".//cac:AccountingCustomerParty/cac:Party/cac:Contact/cbc:ElectronicMail", namespaces=NS) == "boekhouding@janssens.be"


def test_cli_credit_note_and_reminder(tmp_path):
    credit = run_render(tmp_path, "--document", "credit-note", "--as-of", "2026-11-05")
    assert credit.exit_code == 0, credit.output
    root = etree.fromstring(credit.stdout_bytes)
    assert root.findtext("cbc:ID", namespaces=NS) == "F2026-0001-CN1"
    assert root.findtext("cbc:IssueDate", namespaces=NS) == "2026-11-05"
    reminder = run_render(tmp_path, "--document", "reminder", "--as-of", "2026-12-31", "--fee", "15", "--interest-rate", "10.5")
    assert reminder.exit_code == 0, reminder.output
    root = etree.fromstring(reminder.stdout_bytes)
    assert root.findtext("cac:PaymentMeans/cbc:PaymentDueDate", namespaces=NS) == "2027-01-14"
    # 30.25 open + 30 days at 10.5 % (0.26) + fee 15.00
    assert root.findtext("cac:LegalMonetaryTotal/cbc:PayableAmount", namespaces=NS) == "45.51"


def test_cli_reads_the_creditor_from_a_separate_file(tmp_path):
    creditor = tmp_path / "creditor.json"
    creditor.write_text(json.dumps(CREDITOR_JSON), encoding="utf-8")
    result = run_render(tmp_path, "--creditor", str(creditor), creditor_inline=False)
    assert result.exit_code == 0, result.output


def test_cli_reports_the_broken_rule(tmp_path):
    result = run_render(tmp_path, "--document", "reminder", "--as-of", "2026-11-20")
    assert result.exit_code == 1
    assert "[reminder.not_overdue]" in result.output
    missing = run_render(tmp_path, creditor_inline=False)
    assert missing.exit_code == 1
    assert "creditor is missing" in missing.output
    bad = dict(CLAIM_JSON, structured_communication="+++010/8068/17184+++")
    invalid = run_render(tmp_path, claim=bad)
    assert invalid.exit_code == 1
    assert "ogm.checksum" in invalid.output


def test_cli_intra_community_supply_needs_the_delivery_date(tmp_path):
    debtor = dict(CLAIM_JSON["debtor"], vat_number="NL004495445B01", address=dict(CLAIM_JSON["debtor"]["address"], country="NL"))
    claim = dict(CLAIM_JSON, debtor=debtor, lines=[{"description": "Betonblokken", "quantity": "250", "unit_price": "3.175", "vat_category": "K"}])
    refused = run_render(tmp_path, claim=claim)
    assert refused.exit_code == 1
    assert "[BR-IC-11]" in refused.output
    pdf = tmp_path / "invoice.pdf"
    pdf.write_bytes(b"%PDF-1.4\n%%EOF\n")
    result = run_render(tmp_path, "--delivery-date", "2026-10-28", "--pdf", str(pdf), claim=claim)
    assert result.exit_code == 0, result.output
    root = etree.fromstring(result.stdout_bytes)
    assert root.findtext("cac:Delivery/cbc:ActualDeliveryDate", namespaces=NS) == "2026-10-28"
    assert root.findtext("cac:Delivery/cac:DeliveryLocation/cac:Address/cac:Country/cbc:IdentificationCode", namespaces=NS) == "NL"
    assert root.findtext("cac:TaxTotal/cac:TaxSubtotal/cac:TaxCategory/cbc:TaxExemptionReasonCode", namespaces=NS) == "VATEX-EU-IC"
    attachment = root.find("cac:AdditionalDocumentReference/cac:Attachment/cbc:EmbeddedDocumentBinaryObject", NS)
    assert (attachment.get("mimeCode"), attachment.get("filename"), attachment.text) == ("application/pdf", "F2026-0001.pdf", "JVBERi0xLjQKJSVFT0YK")
