"""Legal computations for dunning, exact to the cent (Decimal, ROUND_HALF_UP on the final amount).

Every result is a `ComputedAmount` that records the rule it applied, the rule-set version and, for
interest, the version of the rate table — the reminder stores these as evidence.

Sources are in docs/channels-and-law.md §5:
- Book XIX CEL (Law of 4 May 2023, in force 1 Sept 2023), art. XIX.4: lump-sum cap table, interest
  at most the rate of art. 5 Law 2 Aug 2002; art. XIX.2: first reminder free, later reminders at most
  €7.50 + postage.
- Law of 2 August 2002 (B2B late payment), art. 5: interest at the reference rate of the half-year
  (the published rate already includes the 8 points above the ECB rate); art. 6: €40 flat
  compensation per late invoice.
- NL: art. 6:96 BW + Besluit vergoeding voor buitengerechtelijke incassokosten (Stb. 2012, 141):
  the WIK scale, minimum €40, maximum €6,775.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal

from gateway.dunning.rates import B2B_REFERENCE_RATE, RateTable, default_rates
from gateway.dunning.values import builder

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
HUNDRED = Decimal(100)
DAYS_PER_YEAR = Decimal(365)  # Belgian practice: actual days / 365, also in leap years

RULE_SET_VERSION = "dunning-rules/2026.11-1"  # bump whenever a cap, tier or rule below changes

# Book XIX (art. XIX.4 CEL) lump-sum cap, marginal tiers
BXIX_LUMP_SUM_FLAT_UP_TO_150 = Decimal("20.00")  # balance <= €150
BXIX_TIER_1_LIMIT = Decimal("150.00")
BXIX_TIER_2_BASE = Decimal("30.00")  # €150.01 – €500: €30 + 10 % of the part above €150
BXIX_TIER_2_RATE = Decimal("0.10")
BXIX_TIER_2_LIMIT = Decimal("500.00")
BXIX_TIER_3_BASE = Decimal("65.00")  # > €500: €65 + 5 % of the part above €500
BXIX_TIER_3_RATE = Decimal("0.05")
BXIX_LUMP_SUM_MAX = Decimal("2000.00")  # absolute maximum of the lump sum
# art. XIX.2 CEL: a later reminder costs at most €7.50 plus the postage applicable at sending
BXIX_LATER_REMINDER_FEE_CAP = Decimal("7.50")
BXIX_WAITING_DAYS = 14  # art. XIX.2 CEL: at least 14 calendar days after the first reminder

# Law of 2 August 2002, art. 6: flat recovery compensation per late invoice (Directive 2011/7/EU art. 6)
B2B_FLAT_COMPENSATION = Decimal("40.00")
B2B_MAX_PAYMENT_TERM_DAYS = 60  # Law of 14 Aug 2021 (in force 1 Feb 2022): contractual terms capped at 60 days

# WIK scale (Besluit vergoeding buitengerechtelijke incassokosten, art. 2), marginal tiers
WIK_TIERS: tuple[tuple[Decimal | None, Decimal], ...] = (
    (Decimal("2500"), Decimal("0.15")),  # 15 % of the first €2,500
    (Decimal("2500"), Decimal("0.10")),  # 10 % of the next €2,500
    (Decimal("5000"), Decimal("0.05")),  # 5 % of the next €5,000
    (Decimal("190000"), Decimal("0.01")),  # 1 % of the next €190,000
    (None, Decimal("0.005")),  # 0.5 % of the rest
)
WIK_MINIMUM = Decimal("40.00")
WIK_MAXIMUM = Decimal("6775.00")
WIK_TERM_DAYS = 14  # art. 6:96 lid 6 BW: 14 days from the day after receipt

RULE_BXIX_LUMP_SUM = "BXIX-LUMP-SUM"
RULE_BXIX_INTEREST = "BXIX-INTEREST-CAP"
RULE_B2B_INTEREST = "B2B-INTEREST"
RULE_POLICY_INTEREST = "POLICY-INTEREST"  # the reference rate where only the policy (no law) provides for interest
RULE_B2B_COMPENSATION = "B2B-FLAT-40"
RULE_WIK_SCALE = "WIK-SCALE"


def round_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def _as_amount(value: Decimal | str | int) -> Decimal:
    if isinstance(value, float):  # money is never float
        raise TypeError("amounts must be Decimal, str or int, not float")
    return Decimal(value)


@dataclass(frozen=True)
class InterestSegment:
    first_day: date
    last_day: date  # inclusive
    days: int
    percent: Decimal
    period: str
    unrounded: Decimal


@dataclass(frozen=True)
class ComputedAmount:
    """An amount plus the evidence of how it was computed."""

    amount: Decimal
    rule: str
    basis: Decimal
    rule_set_version: str = RULE_SET_VERSION
    rate_version: str | None = None
    explanation: str = ""
    segments: tuple[InterestSegment, ...] = field(default_factory=tuple)


# The same frozen values as the constructors give, built faster (gateway/dunning/values.py).
build_amount = builder(ComputedAmount)
_segment = builder(InterestSegment)


def book_xix_lump_sum(balance: Decimal | str | int) -> ComputedAmount:
    """Maximum lump-sum damages for a consumer debt (art. XIX.4 CEL).

    €20 up to €150; €30 + 10 % of the part above €150 up to €500; €65 + 5 % of the part above
    €500; never more than €2,000. Computed from the law, never from a creditor's example table
    (the hospital's table says €41.50 for €263; the law gives €41.30).
    """
    balance = _as_amount(balance)
    if balance <= 0:
        amount, why = ZERO, "nothing outstanding"
    elif balance <= BXIX_TIER_1_LIMIT:
        amount, why = BXIX_LUMP_SUM_FLAT_UP_TO_150, "balance <= 150: 20"
    elif balance <= BXIX_TIER_2_LIMIT:
        amount = BXIX_TIER_2_BASE + BXIX_TIER_2_RATE * (balance - BXIX_TIER_1_LIMIT)
        why = f"30 + 10% x ({balance} - 150)"
    else:
        amount = min(BXIX_TIER_3_BASE + BXIX_TIER_3_RATE * (balance - BXIX_TIER_2_LIMIT), BXIX_LUMP_SUM_MAX)
        why = f"min(65 + 5% x ({balance} - 500), 2000)"
    return build_amount(amount=round_cents(amount), rule=RULE_BXIX_LUMP_SUM, basis=balance, explanation=why)


def wik_collection_costs(principal: Decimal | str | int) -> ComputedAmount:
    """Maximum extrajudicial collection costs under the WIK scale (Stb. 2012, 141, art. 2)."""
    principal = _as_amount(principal)
    if principal <= 0:
        return build_amount(amount=ZERO, rule=RULE_WIK_SCALE, basis=principal, explanation="nothing outstanding")
    remaining, total = principal, Decimal(0)
    for width, rate in WIK_TIERS:
        part = remaining if width is None else min(remaining, width)
        total += part * rate
        remaining -= part
        if remaining <= 0:
            break
    amount = min(max(round_cents(total), WIK_MINIMUM), WIK_MAXIMUM)
    return build_amount(
        amount=amount, rule=RULE_WIK_SCALE, basis=principal, explanation=f"scale {round_cents(total)}, min 40, max 6775"
    )


def b2b_flat_compensation() -> ComputedAmount:
    """€40 per late invoice between undertakings (Law 2 Aug 2002, art. 6)."""
    return build_amount(amount=B2B_FLAT_COMPENSATION, rule=RULE_B2B_COMPENSATION, basis=B2B_FLAT_COMPENSATION)


def reference_rate_interest(
    principal: Decimal | str | int,
    first_day: date,
    last_day: date,
    *,
    rule: str = RULE_B2B_INTEREST,
    rates: RateTable | None = None,
) -> ComputedAmount:
    """Simple interest at the half-yearly reference rate of art. 5 Law 2 Aug 2002, days/365.

    `first_day` and `last_day` are both included. Each half-year uses its own rate; the total is
    rounded once. A half-year whose rate is not published raises `RateUnknown`.
    For Book XIX pass `rule=RULE_BXIX_INTEREST`: art. XIX.4 caps consumer interest at this rate.
    """
    principal = _as_amount(principal)
    rates = rates or default_rates()
    if last_day < first_day or principal <= 0:
        return build_amount(amount=ZERO, rule=rule, basis=principal, rate_version=rates.version, explanation="no interest period")
    segments: list[InterestSegment] = []
    day = first_day
    while day <= last_day:
        period = rates.period_for(B2B_REFERENCE_RATE, day)
        end = min(period.valid_to, last_day)
        days = (end - day).days + 1
        percent = period.percent  # not None: period_for raises on unknown rates
        assert percent is not None
        unrounded = principal * percent / HUNDRED * Decimal(days) / DAYS_PER_YEAR
        segments.append(_segment(first_day=day, last_day=end, days=days, percent=percent, period=period.period, unrounded=unrounded))
        day = end + timedelta(days=1)
    total = round_cents(sum((s.unrounded for s in segments), Decimal(0)))
    explanation = " + ".join(f"{principal} x {s.percent}% x {s.days}/365 ({s.period})" for s in segments)
    return build_amount(
        amount=total, rule=rule, basis=principal, rate_version=rates.version, explanation=explanation, segments=tuple(segments)
    )
