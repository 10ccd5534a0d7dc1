"""gateway.peppol.validate against the official artefacts and the official example files.

The reference is the official compiled XSLT run directly (Saxon, SVRL serialised and read with
lxml): our validator must report exactly the same rule ids on every official example and on the
broken variants below.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lxml import etree

from gateway.peppol import validate
from gateway.peppol.validate import Issue, StandardsMissing, validate_document, validate_many
from gateway.peppol.xmlsafe import UnsafeXml

BILLING = ("peppol-bis-billing-3/CEN-EN16931-UBL.xslt", "peppol-bis-billing-3/PEPPOL-EN16931-UBL.xslt")
T111 = ("peppol-invoice-response/PEPPOLBIS-T111.xslt",)
T71 = ("peppol-mlr/PEPPOLBIS-T71.xslt",)
SVRL = "{http://purl.oclc.org/dsdl/svrl}"

PEPPOL_EXAMPLES = [
    *(f"peppol-bis-billing-3/examples/{name}" for name in (
        "Allowance-example.xml", "Vat-category-S.xml", "base-creditnote-correction.xml", "base-example.xml",
        "base-example_profile02.xml", "base-negative-inv-correction.xml", "sales-order-example.xml",
        "vat-category-E.xml", "vat-category-O.xml", "vat-category-Z.xml",
    )),
    "peppol-invoice-response/examples/InvoiceResponse_Example.xml",
    *(f"peppol-invoice-response/examples/use-cases/T111-{name}.xml" for name in (
        "uc001-Invoice in process", "uc002a-Additional reference data", "uc002b-In process but postponed",
        "uc003-Invoice is accepted", "uc004a-Invoice is rejected", "uc004b-Rejected requesting reissue",
        "uc004c-Rejected requesting replacement", "uc005-Invoice is conditionally accepted",
        "uc006a-Under query missing information", "uc006b-Missing PO", "uc006c-Wrong detail partial credit",
        "uc007-Payment has been initiated", "uc008-Invoice is accepted by third party",
    )),
    "peppol-mlr/examples/MessageLevelResponse_Example.xml",
    *(f"peppol-mlr/examples/snippets/snippet-{n}.xml" for n in (1, 2, 3)),
]
OASIS_EXAMPLES = [
    "ubl-2.1/xml/UBL-Invoice-2.1-Example.xml",
    "ubl-2.1/xml/UBL-Invoice-2.1-Example-Trivial.xml",
    "ubl-2.1/xml/UBL-CreditNote-2.1-Example.xml",
]
REMINDER_EXAMPLE = "ubl-2.1/xml/UBL-Reminder-2.1-Example.xml"
BASE = "peppol-bis-billing-3/examples/base-example.xml"
INVOICE_RESPONSE = "peppol-invoice-response/examples/InvoiceResponse_Example.xml"
MLR = "peppol-mlr/examples/MessageLevelResponse_Example.xml"


def _official_stylesheets(relative: str) -> tuple[str, ...]:
    if relative.startswith("peppol-invoice-response/"):
        return T111
    if relative.startswith("peppol-mlr/"):
        return T71
    if relative == REMINDER_EXAMPLE:
        return ()
    return BILLING


def _expected_document_type(relative: str) -> str:
    if relative.startswith(("peppol-invoice-response/", "peppol-mlr/")):
        return "ApplicationResponse"
    if relative == REMINDER_EXAMPLE:
        return "Reminder"
    return "CreditNote" if "creditnote" in relative.lower() else "Invoice"


_compiled: dict[Path, object] = {}


def official_rule_ids(xml: bytes, stylesheets: tuple[str, ...], standards_dir: Path) -> list[str]:
    """Run the official XSLTs directly, serialise the SVRL, and collect every failed rule id."""

    def run() -> list[str]:
        processor = validate.saxon_processor()
        document = processor.parse_xml(xml_text=xml.decode("utf-8"))
        ids: list[str] = []
        for relative in stylesheets:
            path = standards_dir / relative
            if path not in _compiled:
                _compiled[path] = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path))
            svrl = etree.fromstring(_compiled[path].transform_to_string(xdm_node=document).encode("utf-8"))
            ids.extend(e.get("id") for e in svrl.iter(f"{SVRL}failed-assert", f"{SVRL}successful-report"))
        return sorted(ids)

    return validate.call_in_saxon_thread(run)


def _read(shared_standards: Path, relative: str) -> bytes:
    return (shared_standards / relative).read_bytes()


# -- the official examples ----------------------------------------------------------------------


@pytest.mark.parametrize("relative", [*PEPPOL_EXAMPLES, REMINDER_EXAMPLE])
def test_official_example_is_valid_without_warnings(relative, shared_standards, standards_dir):
    report = validate_document(_read(shared_standards, relative), file=relative, standards_dir=standards_dir)
    assert (report.valid, report.errors, report.warnings) == (True, (), ())
    assert report.file == relative
    assert report.document_type == _expected_document_type(relative)


@pytest.mark.parametrize("relative", [*PEPPOL_EXAMPLES, *OASIS_EXAMPLES, REMINDER_EXAMPLE])
def test_same_rule_ids_as_the_official_xslt(relative, shared_standards, standards_dir):
    xml = _read(shared_standards, relative)
    report = validate_document(xml, standards_dir=standards_dir)
    assert report.rule_ids == official_rule_ids(xml, _official_stylesheets(relative), standards_dir)


def test_oasis_examples_are_not_peppol_invoices(shared_standards, standards_dir):
    """The OASIS samples are schema-valid UBL but break EN16931 rules, e.g. BR-01 (no CustomizationID)."""
    for relative in OASIS_EXAMPLES:
        report = validate_document(_read(shared_standards, relative), standards_dir=standards_dir)
        assert report.valid is False
        assert "XSD" not in report.rule_ids
        assert "BR-01" in [issue.rule for issue in report.errors]


def test_document_types(shared_standards, standards_dir):
    kinds = {
        relative: validate_document(_read(shared_standards, relative), standards_dir=standards_dir).document_type
        for relative in (BASE, "peppol-bis-billing-3/examples/base-creditnote-correction.xml", MLR, REMINDER_EXAMPLE)
    }
    assert list(kinds.values()) == ["Invoice", "CreditNote", "ApplicationResponse", "Reminder"]


# -- broken variants ----------------------------------------------------------------------------

VARIANTS = {
    # BR-CO-15: TaxInclusiveAmount = TaxExclusiveAmount + TaxAmount (PayableAmount moved along).
    "BR-CO-15": (BASE, [
        (b'<cbc:TaxInclusiveAmount currencyID="EUR">1656.25', b'<cbc:TaxInclusiveAmount currencyID="EUR">1656.26'),
        (b'<cbc:PayableAmount currencyID="EUR">1656.25', b'<cbc:PayableAmount currencyID="EUR">1656.26'),
    ], ["BR-CO-15"]),
    # Changing only TaxInclusiveAmount also breaks BR-CO-16 (payable = inclusive - prepaid).
    "BR-CO-15+16": (BASE, [
        (b'<cbc:TaxInclusiveAmount currencyID="EUR">1656.25', b'<cbc:TaxInclusiveAmount currencyID="EUR">1656.26'),
    ], ["BR-CO-15", "BR-CO-16"]),
    # PEPPOL-EN16931-R003: a buyer reference or purchase order reference MUST be provided.
    "R003": (BASE, [(b"<cbc:BuyerReference>0150abc</cbc:BuyerReference>", b"")], ["PEPPOL-EN16931-R003"]),
    "T111-B03001": (INVOICE_RESPONSE, [
        (b"<cbc:ResponseCode>RE</cbc:ResponseCode>", b"<cbc:ResponseCode>XX</cbc:ResponseCode>"),
    ], ["PEPPOL-T111-B03001"]),
    "T71-B01501": (MLR, [
        (b"<cbc:ResponseCode>RE</cbc:ResponseCode>", b"<cbc:ResponseCode>XX</cbc:ResponseCode>"),
    ], ["PEPPOL-T71-B01501"]),
}


def _variant(shared_standards: Path, relative: str, replacements: list[tuple[bytes, bytes]]) -> bytes:
    xml = _read(shared_standards, relative)
    for old, new in replacements:
        assert old in xml, old
        xml = xml.replace(old, new, 1)
    return xml


@pytest.mark.parametrize("case", VARIANTS)
def test_broken_variant_fails_on_the_expected_rule(case, shared_standards, standards_dir):
    relative, replacements, expected = VARIANTS[case]
    xml = _variant(shared_standards, relative, replacements)
    report = validate_document(xml, standards_dir=standards_dir)
    assert report.valid is False
    assert [issue.rule for issue in report.errors] == expected
    assert all(issue.flag == "fatal" for issue in report.errors)
    assert report.warnings == ()
    assert report.rule_ids == official_rule_ids(xml, _official_stylesheets(relative), standards_dir)


def test_issue_carries_official_text_and_field(shared_standards, standards_dir):
    xml = _variant(shared_standards, BASE, VARIANTS["BR-CO-15+16"][1])
    report = validate_document(xml, standards_dir=standards_dir)
    assert report.errors == (
        Issue(
            rule="BR-CO-15",
            flag="fatal",
            location="/Invoice[1]",
            message="[BR-CO-15]-Invoice total amount with VAT (BT-112) = Invoice total amount without VAT (BT-109) "
            "+ Invoice total VAT amount (BT-110). (at /Invoice[1])",
        ),
        Issue(
            rule="BR-CO-16",
            flag="fatal",
            location="/Invoice[1]/cac:LegalMonetaryTotal[1]",
            message="[BR-CO-16]-Amount due for payment (BT-115) = Invoice total amount with VAT (BT-112) "
            "-Paid amount (BT-113) +Rounding amount (BT-114). (at /Invoice[1]/cac:LegalMonetaryTotal[1])",
        ),
    )
    assert report.to_dict()["errors"][0] == {
        "rule": "BR-CO-15", "flag": "fatal", "location": "/Invoice[1]", "message": report.errors[0].message,
    }


BROKEN_XSD = [(b"<cbc:BuyerReference>0150abc</cbc:BuyerReference>", b"<cbc:BuyerRef>0150abc</cbc:BuyerRef>")]


def test_xsd_failure_stops_before_the_schematron(shared_standards, standards_dir):
    report = validate_document(_variant(shared_standards, BASE, BROKEN_XSD), standards_dir=standards_dir)
    assert report.valid is False
    assert len(report.errors) == 1
    issue = report.errors[0]
    assert (issue.rule, issue.flag, issue.location) == ("XSD", "fatal", "line 13: /*/cbc:BuyerRef")
    assert issue.message.startswith("Element 'cbc:BuyerRef': This element is not expected.")


def test_continue_after_xsd_runs_the_rules_too(shared_standards, standards_dir):
    xml = _variant(shared_standards, BASE, BROKEN_XSD)
    report = validate_document(xml, continue_after_xsd=True, standards_dir=standards_dir)
    assert [issue.rule for issue in report.errors] == ["XSD", "PEPPOL-EN16931-R003"]


def test_warning_only_document_is_valid_but_not_clean(shared_standards, standards_dir):
    # UBL-CR-003 (CEN, flag warning): a UBL invoice should not include the ProfileExecutionID.
    xml = _variant(shared_standards, BASE, [(
        b"<cbc:ID>Snippet1</cbc:ID>", b"<cbc:ProfileExecutionID>1</cbc:ProfileExecutionID><cbc:ID>Snippet1</cbc:ID>",
    )])
    report = validate_document(xml, standards_dir=standards_dir)
    assert (report.valid, report.clean, report.errors) == (True, False, ())
    assert [(issue.rule, issue.flag) for issue in report.warnings] == [("UBL-CR-003", "warning")]


# -- rule set choice ----------------------------------------------------------------------------


def test_application_response_with_unknown_customization_is_not_valid(shared_standards, standards_dir):
    xml = _variant(shared_standards, MLR, [(b"urn:fdc:peppol.eu:poacc:trns:mlr:3", b"urn:example:other")])
    report = validate_document(xml, standards_dir=standards_dir)
    assert report.valid is False
    assert [issue.rule for issue in report.errors] == ["RULE-SET"]
    assert "'urn:example:other'" in report.errors[0].message


def test_forced_rule_set(shared_standards, standards_dir):
    response = _read(shared_standards, INVOICE_RESPONSE)
    forced = validate_document(response, rules="t71", standards_dir=standards_dir)
    assert forced.valid is False
    assert "PEPPOL-T71-R001" in forced.rule_ids
    assert forced.rule_ids == official_rule_ids(response, T71, standards_dir)

    reminder = _read(shared_standards, REMINDER_EXAMPLE)
    as_billing = validate_document(reminder, rules="billing", standards_dir=standards_dir)
    assert as_billing.rule_ids == official_rule_ids(reminder, BILLING, standards_dir)
    assert as_billing.valid is False


def test_unknown_rules_value_is_refused(standards_dir):
    with pytest.raises(ValueError):
        validate_document(b"<a/>", rules="xrechnung", standards_dir=standards_dir)


def test_unsupported_root_element(standards_dir):
    report = validate_document(
        b'<Order xmlns="urn:oasis:names:specification:ubl:schema:xsd:Order-2"/>', standards_dir=standards_dir
    )
    assert (report.valid, report.document_type) == (False, "Order")
    assert [issue.rule for issue in report.errors] == ["XSD"]
    assert "not a supported UBL 2.1 document" in report.errors[0].message


@pytest.mark.parametrize("encoding", ["ISO-8859-1", "UTF-16", "UTF-8-BOM"])
def test_declared_encodings_reach_the_rules_intact(encoding, shared_standards, standards_dir):
    text = _read(shared_standards, BASE).decode("utf-8").replace("0150abc", "Café-0150")
    if encoding == "UTF-8-BOM":
        xml = b"\xef\xbb\xbf" + text.encode("utf-8")
    else:
        xml = text.replace('encoding="UTF-8"', f'encoding="{encoding}"').encode(encoding)
    report = validate_document(xml, standards_dir=standards_dir)
    assert (report.valid, report.errors, report.warnings) == (True, (), ())


# -- refusals -----------------------------------------------------------------------------------


def test_xxe_is_refused_before_saxon_sees_it(standards_dir, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("urn:fdc:peppol.eu:poacc:trns:mlr:3")
    xml = (
        f'<!DOCTYPE ApplicationResponse [<!ENTITY c SYSTEM "file://{secret}">]>'
        '<ApplicationResponse xmlns="urn:oasis:names:specification:ubl:schema:xsd:ApplicationResponse-2" '
        'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        "<cbc:CustomizationID>&c;</cbc:CustomizationID></ApplicationResponse>"
    ).encode()
    with pytest.raises(UnsafeXml):
        validate_document(xml, standards_dir=standards_dir)


def test_missing_artefacts_raise_and_never_say_valid(shared_standards, standards_dir, tmp_path):
    xml = _read(shared_standards, BASE)
    with pytest.raises(StandardsMissing):
        validate_document(xml, standards_dir=tmp_path / "empty")
    partial = tmp_path / "partial"
    shutil.copytree(standards_dir, partial)
    (partial / "peppol-bis-billing-3/PEPPOL-EN16931-UBL.xslt").unlink()
    with pytest.raises(StandardsMissing) as caught:
        validate_document(xml, standards_dir=partial)
    assert caught.value.problems == ["peppol-bis-billing-3/PEPPOL-EN16931-UBL.xslt is missing"]
    with pytest.raises(StandardsMissing):
        validate_many([xml, xml], workers=2, standards_dir=partial)


# -- batches ------------------------------------------------------------------------------------


def test_validate_many_matches_one_by_one_in_order(shared_standards, standards_dir):
    items: list[Path | bytes] = [shared_standards / relative for relative in PEPPOL_EXAMPLES[:10]]
    items.insert(3, _variant(shared_standards, BASE, VARIANTS["R003"][1]))
    items.append(b"<!DOCTYPE a [<!ENTITY x 'y'>]><a>&x;</a>")
    items.append(shared_standards / MLR)
    batch = validate_many(items, workers=2, standards_dir=standards_dir)
    assert [report.file for report in batch] == [
        None if isinstance(item, bytes) else str(item) for item in items
    ]
    assert [report.valid for report in batch] == [True] * 3 + [False] + [True] * 7 + [False, True]
    assert batch[3].rule_ids == ["PEPPOL-EN16931-R003"]
    assert [(issue.rule, issue.flag) for issue in batch[11].errors] == [("XML", "fatal")]
    for item, report in zip(items[:11], batch[:11]):
        xml = item if isinstance(item, bytes) else item.read_bytes()
        alone = validate_document(xml, standards_dir=standards_dir, file=report.file)
        assert alone == report


def test_short_location():
    location = (
        "/*:Invoice[namespace-uri()='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'][1]"
        "/*:AccountingSupplierParty[namespace-uri()='urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2'][1]"
        "/*:EndpointID[namespace-uri()='urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2'][1]"
        "/*:Foo[namespace-uri()='urn:example'][2]"
    )
    assert validate.short_location(location) == (
        "/Invoice[1]/cac:AccountingSupplierParty[1]/cbc:EndpointID[1]/Q{urn:example}Foo[2]"
    )


# -- the wrapper that stops the skeleton's output-free walk ---------------------------------------

STYLESHEETS = (*BILLING, *T111, *T71)


def test_every_installed_stylesheet_meets_the_wrapper_precondition(standards_dir):
    assert [validate.unnamed_mode_is_output_free(standards_dir / relative) for relative in STYLESHEETS] == [True] * 4


@pytest.mark.parametrize(
    "template",
    [
        '<xsl:template match="*"><x/></xsl:template>',
        '<xsl:template match="cbc:ID" mode="#all"><x/></xsl:template>',
        '<xsl:template match="text()"><xsl:value-of select="."/></xsl:template>',
    ],
)
def test_wrapper_precondition_fails_when_the_unnamed_mode_can_output(template, tmp_path):
    path = tmp_path / "rules.xslt"
    path.write_text(
        '<xsl:stylesheet version="2.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" '
        'xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">'
        f'<xsl:template match="/"><out/></xsl:template>{template}</xsl:stylesheet>'
    )
    assert validate.unnamed_mode_is_output_free(path) is False


def test_wrapped_stylesheets_give_byte_identical_svrl(shared_standards, standards_dir):
    documents = [_read(shared_standards, relative) for relative in (*PEPPOL_EXAMPLES, *OASIS_EXAMPLES)]
    documents += [_variant(shared_standards, relative, changes) for relative, changes, _ in VARIANTS.values()]
    names = {"peppol-bis-billing-3/CEN-EN16931-UBL.xslt": "cen-en16931-ubl",
             "peppol-bis-billing-3/PEPPOL-EN16931-UBL.xslt": "peppol-en16931-ubl",
             "peppol-invoice-response/PEPPOLBIS-T111.xslt": "peppol-t111",
             "peppol-mlr/PEPPOLBIS-T71.xslt": "peppol-t71"}

    def compare() -> int:
        processor = validate.saxon_processor()
        artefacts = validate._artefacts(standards_dir)
        compared = 0
        for xml in documents:
            node = processor.parse_xml(xml_text=xml.decode("utf-8"))
            for relative, name in names.items():
                path = standards_dir / relative
                if path not in _compiled:
                    _compiled[path] = processor.new_xslt30_processor().compile_stylesheet(stylesheet_file=str(path))
                official = _compiled[path].transform_to_string(xdm_node=node)
                assert artefacts.stylesheet(name).transform_to_string(xdm_node=node) == official
                compared += 1
        return compared

    assert validate.call_in_saxon_thread(compare) == (len(PEPPOL_EXAMPLES) + len(OASIS_EXAMPLES) + len(VARIANTS)) * 4
