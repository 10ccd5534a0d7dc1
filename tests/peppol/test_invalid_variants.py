"""An invalid variant of every golden file and every official example fails on the expected rule.

One mutation per document kind, applied to each file:
- Invoice / CreditNote: the tax-inclusive total is raised by 1.00, which breaks BR-CO-15
  (BT-112 = BT-109 + BT-110);
- Reminder and ApplicationResponse (MLR, Invoice Response): the mandatory cbc:IssueDate is
  removed, which the UBL 2.1 schema refuses (rule `XSD`).
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from lxml import etree

from gateway.peppol.validate import validate_document

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
CAC = "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"
GOLDEN = sorted((Path(__file__).parents[1] / "golden").glob("*.xml"))
# The official examples with a single document of their own (the Peppol BIS 3 examples, the
# MLR / Invoice Response examples and the UBL Reminder example), as listed in ../shared/standards.
OFFICIAL_DIRS = ["peppol-bis-billing-3", "peppol-mlr", "peppol-invoice-response"]


def official_examples(root: Path) -> list[Path]:
    found = [path for folder in OFFICIAL_DIRS for path in sorted((root / folder).rglob("*.xml")) if "example" in str(path).lower()]
    return found + [root / "ubl-2.1/xml/UBL-Reminder-2.1-Example.xml"]


def break_document(xml: bytes) -> tuple[bytes, str]:
    tree = etree.fromstring(xml)
    kind = etree.QName(tree).localname
    if kind in ("Invoice", "CreditNote"):
        total = tree.find(f"cac:LegalMonetaryTotal/cbc:TaxInclusiveAmount", {"cac": CAC, "cbc": CBC})
        total.text = str(Decimal(total.text) + Decimal("1.00"))
        return etree.tostring(tree, xml_declaration=True, encoding="UTF-8"), "BR-CO-15"
    issue_date = tree.find(f"{{{CBC}}}IssueDate")
    tree.remove(issue_date)
    return etree.tostring(tree, xml_declaration=True, encoding="UTF-8"), "XSD"


@pytest.mark.parametrize("path", GOLDEN, ids=[path.name for path in GOLDEN])
def test_each_golden_file_has_an_invalid_variant_failing_on_the_expected_rule(path, standards_dir):
    broken, rule = break_document(path.read_bytes())
    report = validate_document(broken, standards_dir=standards_dir)
    assert not report.valid
    assert rule in [issue.rule for issue in report.errors]


def test_each_official_example_has_an_invalid_variant_failing_on_the_expected_rule(shared_standards, standards_dir):
    examples = official_examples(shared_standards)
    assert len(examples) >= 20  # the folder holds the Peppol, MLR and Invoice Response examples
    outcomes = {}
    for path in examples:
        xml = path.read_bytes()
        if etree.QName(etree.fromstring(xml)).localname not in ("Invoice", "CreditNote", "Reminder", "ApplicationResponse"):
            continue
        assert validate_document(xml, standards_dir=standards_dir).valid, path.name
        broken, rule = break_document(xml)
        report = validate_document(broken, standards_dir=standards_dir)
        outcomes[path.name] = (report.valid, rule in [issue.rule for issue in report.errors])
    assert outcomes and all(outcome == (False, True) for outcome in outcomes.values()), {k: v for k, v in outcomes.items() if v != (False, True)}
