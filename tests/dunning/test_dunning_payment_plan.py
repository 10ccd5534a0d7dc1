"""Payment plans: the 10 % / €15 / 12-month rules, director exceptions, exact schedules, two missed."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from gateway.dunning.payment_plan import (
    DirectorException,
    PlanRefused,
    PlanState,
    add_months,
    plan_status,
    propose_plan,
)

D = date


def test_plan_granted_with_exact_cents_and_last_instalment_absorbing_rounding():
    plan = propose_plan("C1", Decimal("1000.00"), 7, D(2025, 1, 31))
    amounts = [i.amount for i in plan.instalments]
    assert amounts == [Decimal("142.85")] * 6 + [Decimal("142.90")]
    assert sum(amounts) == Decimal("1000.00")
    assert [i.due_date for i in plan.instalments][:3] == [D(2025, 1, 31), D(2025, 2, 28), D(2025, 3, 31)]
    assert plan.waived_rules == ()


def test_boundaries_that_pass():
    assert propose_plan("C", Decimal("150.00"), 10, D(2025, 1, 1)).instalments[0].amount == Decimal("15.00")  # exactly 15 and 10 %
    assert propose_plan("C", Decimal("1200.00"), 10, D(2025, 1, 1)).months == 10  # 120 = 10 %
    plan = propose_plan("C", Decimal("1000.01"), 10, D(2025, 1, 1))  # 100.00 x 9 + 100.01: 10 % in whole cents
    assert [i.amount for i in plan.instalments][-2:] == [Decimal("100.00"), Decimal("100.01")]


@pytest.mark.parametrize(
    ("total", "months", "rules"),
    [
        ("1000.00", 11, ["PLAN-MIN-10-PERCENT"]),  # 90.90 < 100
        ("149.99", 10, ["PLAN-MIN-15-EUR"]),  # 14.99 < 15
        ("100.00", 12, ["PLAN-MIN-10-PERCENT", "PLAN-MIN-15-EUR"]),  # 8.33
        ("6000.00", 13, ["PLAN-MAX-12-MONTHS", "PLAN-MIN-10-PERCENT"]),
    ],
)
def test_refused_naming_each_rule(total, months, rules):
    with pytest.raises(PlanRefused) as caught:
        propose_plan("C", Decimal(total), months, D(2025, 1, 1))
    assert sorted(caught.value.rules) == sorted(rules)


def test_financial_director_exception_grants_and_records_the_waived_rules():
    exception = DirectorException("financieel directeur", "social situation, OCMW advice", D(2025, 1, 2))
    plan = propose_plan("C", Decimal("100.00"), 12, D(2025, 2, 1), exception=exception)
    assert plan.exception == exception
    assert plan.waived_rules == ("PLAN-MIN-10-PERCENT", "PLAN-MIN-15-EUR")
    assert [i.amount for i in plan.instalments] == [Decimal("8.33")] * 11 + [Decimal("8.37")]


def test_add_months_clamps_to_month_end():
    assert add_months(D(2025, 1, 31), 1) == D(2025, 2, 28)
    assert add_months(D(2024, 1, 31), 1) == D(2024, 2, 29)
    assert add_months(D(2025, 11, 15), 3) == D(2026, 2, 15)


def test_two_missed_instalments_put_the_claim_back_into_dunning():
    plan = propose_plan("C", Decimal("300.00"), 3, D(2025, 1, 10))  # 100 on 10 Jan, 10 Feb, 10 Mar
    on_time = [(D(2025, 1, 10), Decimal("100.00"))]
    assert plan_status(plan, on_time, D(2025, 2, 10)).state is PlanState.RUNNING  # 10 Feb still payable today
    one_missed = plan_status(plan, on_time, D(2025, 2, 11))
    assert (one_missed.state, one_missed.missed) == (PlanState.RUNNING, (2,))
    two_missed = plan_status(plan, on_time, D(2025, 3, 11))
    assert (two_missed.state, two_missed.missed, two_missed.remaining) == (PlanState.DEFAULTED, (2, 3), Decimal("200.00"))
    assert two_missed.rules == ("PLAN-TWO-MISSED",)


def test_late_catch_up_still_counts_as_missed_but_completion_wins():
    plan = propose_plan("C", Decimal("300.00"), 3, D(2025, 1, 10))
    payments = [(D(2025, 1, 10), Decimal("100.00")), (D(2025, 2, 12), Decimal("100.00"))]  # second two days late
    status = plan_status(plan, payments, D(2025, 3, 5))
    assert (status.state, status.missed) == (PlanState.RUNNING, (2,))
    done = payments + [(D(2025, 3, 20), Decimal("100.00"))]
    assert plan_status(plan, done, D(2025, 3, 21)).state is PlanState.COMPLETED


def test_an_unconfirmed_plan_lapses_the_day_after_its_confirmation_deadline():
    from dataclasses import replace

    plan = replace(propose_plan("C", Decimal("300.00"), 3, D(2025, 2, 1)), confirm_by=D(2025, 1, 15))
    assert plan_status(plan, [], D(2025, 1, 15)).state is PlanState.RUNNING  # the last day to confirm
    lapsed = plan_status(plan, [(D(2025, 1, 10), Decimal("100.00"))], D(2025, 1, 16))  # a payment is not a confirmation
    assert (lapsed.state, lapsed.rules, lapsed.remaining, lapsed.detail) == (
        PlanState.LAPSED, ("PLAN-NOT-CONFIRMED",), Decimal("200.00"), "not confirmed by the debtor by 2025-01-15: back into dunning")
    confirmed = replace(plan, confirmed_on=D(2025, 1, 14))
    assert plan_status(confirmed, [], D(2025, 1, 16)).state is PlanState.RUNNING
    # paid in full before anyone noticed: completed, not lapsed
    assert plan_status(plan, [(D(2025, 1, 10), Decimal("300.00"))], D(2025, 1, 16)).state is PlanState.COMPLETED
    assert plan_status(replace(plan, confirm_by=None), [], D(2026, 1, 1)).state is PlanState.DEFAULTED  # no deadline: only missed instalments end it
