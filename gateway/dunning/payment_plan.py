"""Payment plans (afbetalingsplannen), pure.

Municipal debtor regulation (seeds/002, "AFBETALINGSPLANNEN"):
- on the debtor's request, staff may grant a plan when each monthly instalment is at least 10 % of
  the total (PLAN-MIN-10-PERCENT) and at least €15 (PLAN-MIN-15-EUR), over at most one year
  (PLAN-MAX-12-MONTHS);
- the financial director may grant an exception (recorded with author and reason);
- the debtor confirms the plan (`PaymentPlan.confirmed_on`); the regulation gives no deadline, so
  the gateway sets one (`confirm_by`, GATEWAY_PAYMENT_PLAN_CONFIRMATION_DAYS after the grant): a plan
  not confirmed by then lapses and its claims go back into dunning (PLAN-NOT-CONFIRMED). Only a
  recorded confirmation counts (a payment is not one: record it with that source if it is meant so);
- two missed instalments put the claim back into dunning (PLAN-TWO-MISSED).

The schedule is exact to the cent: every instalment is the total divided by the number of months,
rounded *down* to the cent, and the last instalment absorbs the remainder (so it is never smaller
than the others).
"""

from __future__ import annotations

import calendar as _month_calendar
from dataclasses import dataclass, field
from datetime import date
from decimal import ROUND_DOWN, Decimal
from enum import StrEnum

from gateway.errors import FieldProblem, InvalidInput

CENT = Decimal("0.01")
MIN_INSTALMENT_SHARE = Decimal("0.10")  # each instalment at least 10 % of the total
MIN_INSTALMENT_AMOUNT = Decimal("15.00")  # and at least €15
MAX_MONTHS = 12  # "De aflossingstermijn wordt begrensd tot maximum één jaar"
MISSED_INSTALMENTS_LIMIT = 2  # "Van zodra er 2 keer een afbetaling wordt gemist" -> back into dunning

RULE_MIN_10_PERCENT = "PLAN-MIN-10-PERCENT"
RULE_MIN_15_EUR = "PLAN-MIN-15-EUR"
RULE_MAX_12_MONTHS = "PLAN-MAX-12-MONTHS"
RULE_TWO_MISSED = "PLAN-TWO-MISSED"
RULE_NOT_CONFIRMED = "PLAN-NOT-CONFIRMED"


class PlanRefused(InvalidInput):
    title = "The payment plan breaks a rule of the debtor regulation"

    @property
    def rules(self) -> list[str]:
        return [problem.rule for problem in self.problems]


class PlanState(StrEnum):
    RUNNING = "running"
    DEFAULTED = "defaulted"  # two missed instalments: back into dunning
    COMPLETED = "completed"
    LAPSED = "lapsed"  # not confirmed by the debtor in time: back into dunning


@dataclass(frozen=True)
class DirectorException:
    """The financial director's exception; `waived` lists the rules it sets aside."""

    author: str
    reason: str
    decided_on: date


@dataclass(frozen=True)
class Instalment:
    number: int
    due_date: date
    amount: Decimal


@dataclass(frozen=True)
class PaymentPlan:
    claim_id: str
    total: Decimal
    instalments: tuple[Instalment, ...]
    waived_rules: tuple[str, ...] = ()
    exception: DirectorException | None = None
    confirmed_on: date | None = None
    confirm_by: date | None = None  # last day to record the debtor's confirmation (None: no deadline)

    @property
    def months(self) -> int:
        return len(self.instalments)


@dataclass(frozen=True)
class PlanStatus:
    state: PlanState
    missed: tuple[int, ...]  # instalment numbers missed (not fully covered by their due date)
    paid: Decimal
    remaining: Decimal
    next_instalment: Instalment | None = None
    detail: str = ""
    rules: tuple[str, ...] = field(default_factory=tuple)


def add_months(start: date, months: int) -> date:
    """Same day of the month, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = start.month - 1 + months
    year, month = start.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(start.day, _month_calendar.monthrange(year, month)[1]))


def schedule(total: Decimal, months: int, first_due_date: date) -> tuple[Instalment, ...]:
    """Equal monthly instalments rounded down to the cent; the last absorbs the remainder."""
    if months < 1:
        raise ValueError("months must be at least 1")
    regular = (total / months).quantize(CENT, rounding=ROUND_DOWN)
    last = total - regular * (months - 1)
    return tuple(
        Instalment(number, add_months(first_due_date, number - 1), last if number == months else regular)
        for number in range(1, months + 1)
    )


def rule_problems(total: Decimal, months: int) -> list[FieldProblem]:
    problems = []
    regular = (total / months).quantize(CENT, rounding=ROUND_DOWN)
    if months > MAX_MONTHS:
        problems.append(FieldProblem("months", RULE_MAX_12_MONTHS, f"{months} months is more than the maximum of {MAX_MONTHS}"))
    # compared in whole cents: 10 equal instalments of 1000.01 are 100.00 (+ 0.01 on the last), which is 10 %
    minimum_share = (total * MIN_INSTALMENT_SHARE).quantize(CENT, rounding=ROUND_DOWN)
    if regular < minimum_share:
        problems.append(FieldProblem("months", RULE_MIN_10_PERCENT, f"instalment {regular} is less than 10 % of {total} ({minimum_share})"))
    if regular < MIN_INSTALMENT_AMOUNT:
        problems.append(FieldProblem("months", RULE_MIN_15_EUR, f"instalment {regular} is less than 15.00"))
    return problems


def propose_plan(
    claim_id: str,
    total: Decimal,
    months: int,
    first_due_date: date,
    *,
    exception: DirectorException | None = None,
    confirmed_on: date | None = None,
) -> PaymentPlan:
    """Grant a plan of `months` monthly instalments, or raise `PlanRefused` naming each broken rule.

    With a recorded financial director exception the plan is granted and the broken rules are kept
    in `waived_rules` as evidence.
    """
    if isinstance(total, float):
        raise TypeError("total must be Decimal")
    total = Decimal(total)
    if total <= 0:
        raise PlanRefused.single("total", "PLAN-POSITIVE-TOTAL", "nothing to pay")
    if months < 1:
        raise PlanRefused.single("months", "PLAN-POSITIVE-MONTHS", "at least one instalment")
    problems = rule_problems(total, months)
    if problems and exception is None:
        raise PlanRefused(
            "refused: " + ", ".join(p.rule for p in problems) + " (a financial director exception can override)",
            problems=problems,
        )
    return PaymentPlan(
        claim_id=claim_id,
        total=total,
        instalments=schedule(total, months, first_due_date),
        waived_rules=tuple(p.rule for p in problems),
        exception=exception if problems else None,
        confirmed_on=confirmed_on,
    )


def plan_status(plan: PaymentPlan, payments: list[tuple[date, Decimal]] | tuple, today: date) -> PlanStatus:
    """Where a plan stands on `today`, given the (date, amount) payments made under it.

    An instalment is missed when, at the end of its due date, the payments made up to and
    including that day do not cover all instalments due so far. Two missed instalments
    (PLAN-TWO-MISSED) put the claim back into dunning.
    """
    paid_total = sum((amount for day, amount in payments if day <= today), Decimal(0))
    if paid_total >= plan.total:
        return PlanStatus(PlanState.COMPLETED, (), paid_total, Decimal("0.00"), detail="fully paid")
    if plan.confirmed_on is None and plan.confirm_by is not None and today > plan.confirm_by:
        return PlanStatus(
            PlanState.LAPSED, (), paid_total, plan.total - paid_total,
            detail=f"not confirmed by the debtor by {plan.confirm_by.isoformat()}: back into dunning", rules=(RULE_NOT_CONFIRMED,),
        )
    missed = []
    required = Decimal(0)
    next_instalment = None
    for instalment in plan.instalments:
        required += instalment.amount
        if instalment.due_date >= today:  # still payable today
            next_instalment = next_instalment or instalment
            continue
        paid_by_due = sum((amount for day, amount in payments if day <= instalment.due_date), Decimal(0))
        if paid_by_due < required:
            missed.append(instalment.number)
    remaining = plan.total - paid_total
    if len(missed) >= MISSED_INSTALMENTS_LIMIT:
        return PlanStatus(
            PlanState.DEFAULTED,
            tuple(missed),
            paid_total,
            remaining,
            detail=f"instalments {missed} missed: back into dunning",
            rules=(RULE_TWO_MISSED,),
        )
    return PlanStatus(PlanState.RUNNING, tuple(missed), paid_total, remaining, next_instalment=next_instalment)
