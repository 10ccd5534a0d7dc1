"""Policies as data: the shipped ladders load; each illegal variant is refused with the named rule."""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.domain.claim import ClaimType
from gateway.dunning.policy import (
    ChannelRequirement,
    EscalationKind,
    LegalRegime,
    PolicyRefused,
    parse_policy,
    policy_for,
    shipped_policies,
)

ROOT = Path(__file__).resolve().parents[2]
POLICIES = ROOT / "gateway" / "dunning" / "policies"


def shipped(name: str) -> dict:
    return copy.deepcopy(json.loads((POLICIES / f"{name}.json").read_text(encoding="utf-8")))


def refused_rules(document: dict) -> set[str]:
    with pytest.raises(PolicyRefused) as caught:
        parse_policy(document)
    return set(caught.value.rules)


def test_published_schema_is_the_packaged_one():
    published = (ROOT / "schemas" / "dunning-policy.schema.json").read_bytes()
    packaged = (ROOT / "gateway" / "dunning" / "dunning-policy.schema.json").read_bytes()
    assert published == packaged


def test_the_six_ladders_load():
    policies = shipped_policies()
    assert sorted(policies) == [
        "agb-non-fiscal", "hospital-consumer", "municipality-fiscal",
        "municipality-non-fiscal", "ocmw-non-fiscal", "water-company-nl",
    ]
    ocmw = policies["ocmw-non-fiscal"]
    assert (ocmw.escalation.kind, ocmw.escalation.approving_body) == (EscalationKind.DWANGBEVEL, "vast_bureau")
    assert [(s.fee, s.term.days, s.channel) for s in ocmw.steps] == [
        (Decimal("0.00"), 30, ChannelRequirement.ANY), (Decimal("15.00"), 20, ChannelRequirement.REGISTERED)
    ]
    assert policies["municipality-non-fiscal"].escalation.approving_body == "college_van_burgemeester_en_schepenen"
    assert policies["agb-non-fiscal"].escalation.approving_body == "directiecomite"
    fiscal = policies["municipality-fiscal"]
    assert (fiscal.escalation.kind, fiscal.escalation.approving_body, fiscal.payment_term.months) == (EscalationKind.DWANGSCHRIFT, None, 2)
    hospital = policies["hospital-consumer"]
    assert hospital.legal_regime is LegalRegime.BE_CONSUMER_BOOK_XIX
    assert [s.fee for s in hospital.steps] == [Decimal("0.00"), Decimal("9.00")]
    water = policies["water-company-nl"]
    assert [s.fee for s in water.steps] == [Decimal("0.00"), Decimal("17.50"), Decimal("22.50"), Decimal("0.00"), Decimal("0.00")]
    assert (water.escalation.kind, water.escalation.fee, water.escalation.fee_vat_percent) == (EscalationKind.DISCONNECTION, Decimal("125.00"), Decimal("9"))


def test_policy_for_picks_by_entity_type_and_fiscal():
    assert policy_for("municipality", ClaimType.RETRIBUTION, fiscal=False).id == "municipality-non-fiscal"
    assert policy_for("municipality", ClaimType.TAX_ASSESSMENT, fiscal=True).id == "municipality-fiscal"
    assert policy_for("ocmw", "rent", fiscal=False).id == "ocmw-non-fiscal"


def set_path(document: dict, path: str, value) -> dict:
    target = document
    parts = path.split(".")
    for part in parts[:-1]:
        target = target[int(part)] if part.isdigit() else target[part]
    last = parts[-1]
    if last.isdigit():
        target[int(last)] = value
    else:
        target[last] = value
    return document


ILLEGAL = [
    # (policy, path, value, rule)
    ("hospital-consumer", "steps.0.fee", "5.00", "BXIX-FIRST-FREE"),
    ("hospital-consumer", "steps.1.fee", "9.01", "BXIX-LATER-FEE-CAP"),  # 7.50 + 1.50 paper postage
    ("hospital-consumer", "steps.1.channel", "any", "BXIX-LATER-FEE-CAP"),  # e-mail has no postage: 7.50
    ("hospital-consumer", "escalation.damages.interest_margin_points", "8", "BXIX-INTEREST-CAP"),
    ("hospital-consumer", "steps.0.term", {"days": 14, "counts_from": "sending"}, "BXIX-TERM-14"),
    ("hospital-consumer", "steps.0.term", {"days": 13, "counts_from": "delivery"}, "BXIX-TERM-14"),
    ("hospital-consumer", "steps.0.announces", ["bailiff"], "BXIX-FIRST-ANNOUNCES-FEES"),
    ("hospital-consumer", "debtor_kinds", ["consumer", "business"], "BXIX-SCOPE"),
    ("hospital-consumer", "escalation.damages.lump_sum", "b2b_flat_40", "BXIX-LUMP-SUM"),
    ("ocmw-non-fiscal", "escalation.approving_body", None, "GEN-DWANGBEVEL-VISUM"),
    ("ocmw-non-fiscal", "steps.1.channel", "paper", "GEN-DWANGBEVEL-REGISTERED"),
    ("ocmw-non-fiscal", "escalation.requires_registered_step", False, "GEN-DWANGBEVEL-REGISTERED"),
    ("municipality-fiscal", "escalation.kind", "dwangbevel", "GEN-DWANGBEVEL-NON-FISCAL"),
    ("ocmw-non-fiscal", "escalation.kind", "dwangschrift", "GEN-DWANGSCHRIFT-FISCAL"),
    ("municipality-fiscal", "escalation.approving_body", "college_van_burgemeester_en_schepenen", "GEN-DWANGSCHRIFT-FISCAL"),
    ("ocmw-non-fiscal", "steps.1.delay", {"days": 10, "counts_from": "previous_sending"}, "GEN-STEP-BEFORE-TERM-END"),
    ("ocmw-non-fiscal", "steps.1.delay", {"days": 31, "counts_from": "previous_delivery"}, "GEN-STEP-BEFORE-TERM-END"),
    ("ocmw-non-fiscal", "escalation.delay", {"days": 0, "counts_from": "previous_term_end"}, "GEN-STEP-BEFORE-TERM-END"),
    ("ocmw-non-fiscal", "steps.1.number", 3, "GEN-STEP-NUMBERS"),
    ("ocmw-non-fiscal", "steps.0.delay", {"days": 0, "counts_from": "due_date"}, "GEN-FIRST-STEP-AFTER-DUE"),
    ("ocmw-non-fiscal", "steps.0.may_skip", True, "GEN-FIRST-STEP-NOT-SKIPPABLE"),
    ("ocmw-non-fiscal", "claim_types", ["invoice", "tax_assessment"], "GEN-FISCAL-CLAIM-TYPES"),
    ("municipality-fiscal", "payment_term", {"days": 30, "months": 2, "counts_from": "sending"}, "GEN-PAYMENT-TERM"),
    ("water-company-nl", "steps.0.term", {"days": 14, "counts_from": "sending"}, "WIK-14DAY-LETTER"),
    ("water-company-nl", "steps.0.fee", "5.00", "WIK-FIRST-FREE"),
    ("water-company-nl", "steps.1.fee", "20.00", "WIK-COSTS-CAP"),  # 20 + 22.50 > 40
    ("water-company-nl", "steps.0.announces", ["debt_help"], "WIK-ANNOUNCE-COSTS"),
    ("water-company-nl", "debtor_kinds", ["business"], "WIK-SCOPE"),
    ("water-company-nl", "steps.3.may_skip", True, "NL-WATER-PERSONAL-CONTACT"),
    ("water-company-nl", "steps.0.debt_help_offer", False, "NL-WATER-DEBT-HELP"),
    ("water-company-nl", "escalation.disconnection_step", False, "GEN-DISCONNECTION-MEDICAL"),
    ("water-company-nl", "reminder_interest", "b2b_reference_rate", "GEN-INTEREST-JURISDICTION"),
    ("water-company-nl", "escalation.damages.interest", "b2b_reference_rate", "GEN-INTEREST-JURISDICTION"),
    ("ocmw-non-fiscal", "reminder_interest", "wettelijke_rente", "SCHEMA"),
    ("ocmw-non-fiscal", "steps.1.fee", 15, "SCHEMA"),  # money is a decimal string, never a JSON number
    ("ocmw-non-fiscal", "legal_regime", "be_whatever", "SCHEMA"),
    ("ocmw-non-fiscal", "steps.1.fee", "15.001", "SCHEMA"),
]


@pytest.mark.parametrize(("name", "path", "value", "rule"), ILLEGAL, ids=[f"{r}:{p}" for _, p, _, r in ILLEGAL])
def test_illegal_variant_is_refused_with_the_named_rule(name, path, value, rule):
    document = set_path(shipped(name), path, value)
    assert rule in refused_rules(document)


def test_refusal_names_field_and_rule():
    document = set_path(shipped("hospital-consumer"), "steps.0.fee", "5.00")
    with pytest.raises(PolicyRefused) as caught:
        parse_policy(document, origin="hospital.json")
    assert [(p.field, p.rule) for p in caught.value.problems] == [("steps.0.fee", "BXIX-FIRST-FREE")]
    assert caught.value.message == "hospital.json: refused (BXIX-FIRST-FREE)"


def test_legal_neighbours_of_the_illegal_variants_load():
    assert parse_policy(set_path(shipped("hospital-consumer"), "steps.1.fee", "9.00"))
    # e-mail reminder: 7.50 is the cap without postage
    document = set_path(shipped("hospital-consumer"), "steps.1.channel", "any")
    assert parse_policy(set_path(document, "steps.1.fee", "7.50"))
    # a term counted from sending needs 14 + 7 days (the longest 3-working-day span)
    assert parse_policy(set_path(shipped("hospital-consumer"), "steps.0.term", {"days": 21, "counts_from": "sending"}))
    assert parse_policy(set_path(shipped("ocmw-non-fiscal"), "steps.1.delay", {"days": 31, "counts_from": "previous_sending"}))


def b2b_policy() -> dict:
    document = shipped("ocmw-non-fiscal")
    document.update(id="ocmw-b2b", legal_regime="be_b2b_late_payment", debtor_kinds=["business"])
    document["steps"][1].pop("fees_by_debtor_kind")  # no consumers
    document["escalation"]["damages"] = {"lump_sum": "b2b_flat_40", "interest": "b2b_reference_rate", "flat_compensation": "40.00"}
    return document


def test_b2b_policy_rules():
    assert parse_policy(b2b_policy()).legal_regime is LegalRegime.BE_B2B_LATE_PAYMENT
    assert "B2B-TERM-60" in refused_rules(set_path(b2b_policy(), "payment_term", {"days": 90, "counts_from": "issue_date"}))
    assert "B2B-FLAT-40" in refused_rules(set_path(b2b_policy(), "escalation.damages.flat_compensation", "50.00"))
    assert "B2B-SCOPE" in refused_rules(set_path(b2b_policy(), "debtor_kinds", ["business", "consumer"]))
    assert "B2B-INTEREST" in refused_rules(set_path(b2b_policy(), "escalation.damages.interest_margin_points", "8"))


def test_cli_check_policy(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(set_path(shipped("hospital-consumer"), "steps.0.fee", "5.00")), encoding="utf-8")
    good = POLICIES / "ocmw-non-fiscal.json"
    runner = CliRunner()
    result = runner.invoke(main, ["dunning", "check-policy", str(good)])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("OK ")
    result = runner.invoke(main, ["dunning", "check-policy", str(good), str(bad)])
    assert result.exit_code == 1
    assert "REFUSED" in result.output and "BXIX-FIRST-FREE  steps.0.fee" in result.output


def test_cli_amount_helpers():
    runner = CliRunner()
    assert runner.invoke(main, ["dunning", "lump-sum", "263"]).output.startswith("41.30 ")
    assert runner.invoke(main, ["dunning", "wik", "2500"]).output.startswith("375.00 ")
    result = runner.invoke(main, ["dunning", "interest", "1000", "2026-06-01", "2026-07-31"])
    assert result.exit_code == 1
    assert result.output.startswith("error: b2b_reference_rate: no published rate for 2026-H2 (needed for 2026-07-01; ")
    result = runner.invoke(main, ["dunning", "presumption", "2026-04-03"])
    assert "BE paper (3rd working day):      2026-04-09" in result.output


# --- a regime per debtor kind: municipal non-fiscal revenue and Book XIX (channels-and-law.md 5.1)

NON_FISCAL = ("ocmw-non-fiscal", "municipality-non-fiscal", "agb-non-fiscal")


@pytest.mark.parametrize("name", NON_FISCAL)
def test_non_fiscal_ladders_protect_consumers_by_book_xix_and_keep_a_legal_review(name):
    from gateway.domain.claim import DebtorKind

    policy = shipped_policies()[name]
    assert (policy.version, policy.regime_for(DebtorKind.CONSUMER), policy.regime_for(DebtorKind.BUSINESS)) == (
        "2026.2", LegalRegime.BE_CONSUMER_BOOK_XIX, LegalRegime.NONE)
    assert policy.legal_regime is None and policy.regime_label() == "business=none consumer=be_consumer_book_xix"
    first, second = policy.steps
    # the first reminder is free and states the fee that follows; 30 days from sending >= 14 days from the 3rd working day
    assert (first.fee_for(DebtorKind.CONSUMER), first.announces, first.term.days, first.term.counts_from.value) == (Decimal("0.00"), ("fees",), 30, "sending")
    # the regulation's 15.00 for companies; a household pays at most 7.50 + the registered postage, none declared
    assert (second.fee_for(DebtorKind.BUSINESS), second.fee_for(DebtorKind.CONSUMER), policy.postage) == (Decimal("15.00"), Decimal("7.50"), {})
    document = shipped(name)
    assert document["legal_review"].startswith("Book XIX applies to the consumer debtors of this non-fiscal revenue during the amicable phase")
    assert "no sourced bpost tariff for a national registered letter was found" in document["legal_review"]


def test_fiscal_ladder_stays_outside_book_xix():
    fiscal = shipped_policies()["municipality-fiscal"]
    assert (fiscal.legal_regime, fiscal.regime_label()) == (LegalRegime.NONE, "none")
    assert shipped("municipality-fiscal")["legal_review"].startswith("Fiscal: outside Book XIX.")
    # declaring Book XIX for the tax assessments of businesses is refused
    assert "BXIX-SCOPE" in refused_rules(set_path(shipped("municipality-fiscal"), "legal_regime", "be_consumer_book_xix"))


def test_the_regulations_15_euro_registered_fee_is_checked_against_the_registered_postage():
    document = set_path(shipped("municipality-non-fiscal"), "steps.1.fees_by_debtor_kind", {"consumer": "15.00"})
    with pytest.raises(PolicyRefused) as caught:
        parse_policy(document, origin="municipality.json")
    assert [(p.field, p.rule, p.message) for p in caught.value.problems] == [(
        "steps.1.fees_by_debtor_kind.consumer", "BXIX-LATER-FEE-CAP",
        "art. XIX.2 CEL: a later reminder costs a consumer at most 7.50 + postage = 7.50 on channel 'registered' (policy says 15.00)"
        " (no postage declared for that channel: declare it with its source)")]
    # declared registered postage (with its source) raises the cap: 7.49 is not enough for 15.00, 7.50 is
    short = set_path(copy.deepcopy(document), "postage", {"registered_paper": "7.49", "source": "bpost tariff 2026, national registered letter (test)"})
    assert refused_rules(short) == {"BXIX-LATER-FEE-CAP"}
    enough = set_path(copy.deepcopy(document), "postage", {"registered_paper": "7.50", "source": "bpost tariff 2026, national registered letter (test)"})
    from gateway.domain.claim import DebtorKind

    assert parse_policy(enough).step(2).fee_for(DebtorKind.CONSUMER) == Decimal("15.00")


REGIME_PER_KIND_ILLEGAL = [
    ("steps.0.fees_by_debtor_kind", {"consumer": "2.00"}, "BXIX-FIRST-FREE"),
    ("steps.0.announces", ["bailiff"], "BXIX-FIRST-ANNOUNCES-FEES"),
    ("steps.0.term", {"days": 20, "counts_from": "sending"}, "BXIX-TERM-14"),  # 14 + the longest 3-working-day span (7)
    ("legal_regime", {"consumer": "be_consumer_book_xix"}, "GEN-REGIME-KINDS"),  # business not named
    ("legal_regime", {"consumer": "none", "business": "be_consumer_book_xix"}, "BXIX-SCOPE"),
    ("legal_regime", {"consumer": "be_b2b_late_payment", "business": "none"}, "B2B-SCOPE"),
    ("legal_regime", {"consumer": "be_consumer_book_xix", "business": "nl_wik"}, "WIK-SCOPE"),
    ("legal_regime", {"consumer": "be_consumer_book_xix", "business": "belgian"}, "SCHEMA"),
    ("escalation.damages", {"lump_sum": "b2b_flat_40", "interest": "none"}, "BXIX-LUMP-SUM"),
]


@pytest.mark.parametrize(("path", "value", "rule"), REGIME_PER_KIND_ILLEGAL, ids=[f"{r}:{p}" for p, _, r in REGIME_PER_KIND_ILLEGAL])
def test_a_regime_per_debtor_kind_is_checked_for_the_kinds_it_covers(path, value, rule):
    assert rule in refused_rules(set_path(shipped("ocmw-non-fiscal"), path, value))


def test_a_fee_for_a_kind_the_policy_does_not_serve_is_refused():
    document = set_path(shipped("hospital-consumer"), "steps.1.fees_by_debtor_kind", {"business": "15.00"})
    with pytest.raises(PolicyRefused) as caught:
        parse_policy(document)
    assert [(p.field, p.rule) for p in caught.value.problems] == [("steps.1.fees_by_debtor_kind.business", "GEN-REGIME-KINDS")]


def test_check_policy_prints_the_regime_per_kind():
    result = CliRunner().invoke(main, ["dunning", "check-policy", str(POLICIES / "agb-non-fiscal.json")])
    assert (result.exit_code, result.output) == (
        0, f"OK      {POLICIES / 'agb-non-fiscal.json'}  agb-non-fiscal@2026.2  business=none consumer=be_consumer_book_xix  2 steps -> dwangbevel\n")
