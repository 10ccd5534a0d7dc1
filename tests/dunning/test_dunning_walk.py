"""Each shipped ladder walked by the simulator, from due date to escalation, with exact dates."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest
from click.testing import CliRunner

from gateway.cli import main
from gateway.domain.claim import Channel, ClaimType, DebtorKind
from gateway.dunning.policy import shipped_policies
from gateway.dunning.rules import Action, ClaimFacts
from gateway.dunning.simulate import walk

D = date


def timeline(policy_id, due, amount="263.00", channel=Channel.PAPER, claim_type=None, kind=None):
    policy = shipped_policies()[policy_id]
    facts = ClaimFacts(
        "T", Decimal(amount), due, claim_type or sorted(policy.claim_types)[0], policy.fiscal, kind or sorted(policy.debtor_kinds)[0]
    )
    return [
        (e.day, e.decision.step if e.decision.action is Action.SEND_STEP else e.decision.escalation.value, e.decision.fee)
        for e in walk(facts, policy, channel=channel)
    ]


@pytest.mark.parametrize(
    ("policy_id", "escalation"),
    [("ocmw-non-fiscal", "dwangbevel"), ("municipality-non-fiscal", "dwangbevel"), ("agb-non-fiscal", "dwangbevel")],
)
def test_municipal_non_fiscal_ladders(policy_id, escalation):
    # due Mon 3 Mar 2025; weekly booking on Mondays
    assert timeline(policy_id, D(2025, 3, 3)) == [
        (D(2025, 3, 10), 1, Decimal("0.00")),  # first booking after the due date
        (D(2025, 4, 14), 2, Decimal("15.00")),  # term ended 9 Apr; booking Mon 14 Apr
        (D(2025, 5, 5), escalation, Decimal("0.00")),  # registered term ended Sun 4 May
    ]


def test_municipality_fiscal_ladder():
    assert timeline("municipality-fiscal", D(2025, 3, 3)) == [
        (D(2025, 3, 4), 1, Decimal("0.00")),
        (D(2025, 4, 4), 2, Decimal("15.00")),
        (D(2025, 4, 25), "dwangschrift", Decimal("0.00")),
    ]


def test_hospital_ladder_on_paper_across_easter_2026():
    # due Thu 2 Apr 2026; step 1 on Fri 3 Apr: 3rd working day is Thu 9 Apr (Easter Monday 6 Apr)
    assert timeline("hospital-consumer", D(2026, 4, 2)) == [
        (D(2026, 4, 3), 1, Decimal("0.00")),
        (D(2026, 4, 24), 2, Decimal("9.00")),  # step 1 term 9 Apr + 14 = 23 Apr
        (D(2026, 5, 14), "bailiff", Decimal("0.00")),  # Fri 24 Apr paper -> Mon 27, Tue 28, Wed 29 (3rd) + 14 = 13 May
    ]


def test_water_ladder_on_email():
    # e-mail: received the next day, 14 days from the day after receipt, i.e. receipt + 15
    assert timeline("water-company-nl", D(2025, 6, 2), amount="80.00", channel=Channel.EMAIL) == [
        (D(2025, 6, 3), 1, Decimal("0.00")),  # received 4 Jun, last day 19 Jun
        (D(2025, 6, 20), 2, Decimal("17.50")),  # received 21 Jun, last day 6 Jul
        (D(2025, 7, 7), 3, Decimal("22.50")),  # received 8 Jul, last day 23 Jul
        (D(2025, 7, 24), 4, Decimal("0.00")),  # personal visit, delivered the same day, 7 days
        (D(2025, 8, 1), 5, Decimal("0.00")),  # last chance: delivered 2 Aug, last day 9 Aug
        (D(2025, 8, 10), "disconnection", Decimal("125.00")),  # more than a week after the last chance
    ]


def test_cli_walk_prints_the_timeline():
    result = CliRunner().invoke(main, ["dunning", "walk", "hospital-consumer", "2025-03-03", "263.00", "--channel", "paper"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines() == [
        "hospital-consumer@2026.1  due 2025-03-03  amount 263.00",
        "2025-03-04  step 1 first_reminder                       paper            fee    0.00  pay by 2025-03-21",
        "2025-03-22  step 2 second_reminder                      paper            fee    9.00  pay by 2025-04-09",
        "2025-04-10  escalate bailiff/creditor  BXIX-LUMP-SUM 41.30  BXIX-INTEREST-CAP 1.66",
    ]


@pytest.mark.parametrize(
    ("invoice", "lump_sum", "interest"),
    [
        # interest 22 March .. 10 April 2025 = 20 days at 11.5 % (2025-H1), on the open invoice
        ("55.00", "20.00", "0.35"),  # 55 x 0.115 x 20 / 365 = 0.3466
        ("7.80", "20.00", "0.05"),  # 7.80 x 0.115 x 20 / 365 = 0.0492
        ("263.00", "41.30", "1.66"),  # 263 x 0.115 x 20 / 365 = 1.6573
        ("693.00", "74.65", "4.37"),  # 693 x 0.115 x 20 / 365 = 4.3668
    ],
)
def test_the_hospitals_examples_walked_to_the_bailiff(invoice, lump_sum, interest):
    """seeds/004: free first reminder, 9.00 second reminder, then the bailiff with the Book XIX lump sum and interest.

    The hospital's own table adds a flat 8 % (4.40, 21.04, 0.62, 55.44) and says 41.50 for 263; the engine computes
    interest from the day after the first reminder's term at the published reference rate (which already includes the
    8 points) and the lump sum from the law."""
    policy = shipped_policies()["hospital-consumer"]
    facts = ClaimFacts("H", Decimal(invoice), D(2025, 3, 3), ClaimType.INVOICE, False, DebtorKind.CONSUMER)
    first, second, bailiff = [e.decision for e in walk(facts, policy, channel=Channel.PAPER)]
    assert (first.today, first.step, first.fee, first.announced_damages.amount, first.new_due_date) == (D(2025, 3, 4), 1, Decimal("0.00"), Decimal(lump_sum), D(2025, 3, 21))
    assert (second.today, second.step, second.fee, second.interest) == (D(2025, 3, 22), 2, Decimal("9.00"), None)
    assert (bailiff.today, bailiff.escalation_list, bailiff.amount_open) == (D(2025, 4, 10), "bailiff/creditor", Decimal(invoice))
    assert [(a.rule, a.amount) for a in bailiff.amounts] == [("BXIX-LUMP-SUM", Decimal(lump_sum)), ("BXIX-INTEREST-CAP", Decimal(interest))]
    assert (bailiff.interest.segments[0].first_day, bailiff.interest.segments[-1].last_day, bailiff.rate_version) == (D(2025, 3, 22), D(2025, 4, 10), "2026-11-23.1")
    # what the debtor owes once it is handed over: the invoice, the 9.00 reminder fee, the lump sum and the interest
    assert Decimal(invoice) + second.fee + bailiff.lump_sum.amount + bailiff.interest.amount == {
        "55.00": Decimal("84.35"), "7.80": Decimal("36.85"), "263.00": Decimal("314.96"), "693.00": Decimal("781.02")}[invoice]
