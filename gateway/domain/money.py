"""Money arithmetic with EN 16931 rounding.

Every amount is a `Decimal`. Line net amounts and totals carry two decimals; unit prices may
carry more. The document totals follow the EN 16931 calculation rules exactly, so the UBL we
render passes BR-CO-10 .. BR-CO-17 by construction:

- BT-131 line net = quantity x unit price, rounded to 2 decimals (BR-DEC-23)
- BT-106 sum of line nets = sum of BT-131 (BR-CO-10)
- BT-116 taxable amount per VAT category and rate = sum of its line nets (BR-S-08 and siblings)
- BT-117 tax amount per category = BT-116 x rate / 100, rounded to 2 decimals (BR-CO-17)
- BT-110 total VAT = sum of BT-117 (BR-CO-14)
- BT-109 tax exclusive = BT-106 (no document-level charges/allowances yet) (BR-CO-13)
- BT-112 tax inclusive = BT-109 + BT-110 (BR-CO-15)
- BT-115 payable = BT-112 - BT-113 prepaid (BR-CO-16)
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

CENT = Decimal("0.01")
ZERO = Decimal("0.00")


def round_money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def decimal_places(value: Decimal) -> int:
    exponent = value.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


@dataclass(frozen=True)
class VatSubtotal:
    category: str
    rate: Decimal
    taxable_amount: Decimal
    tax_amount: Decimal
    exemption_reason_code: str | None = None
    exemption_reason: str | None = None


@dataclass(frozen=True)
class Totals:
    line_extension_amount: Decimal  # BT-106
    tax_exclusive_amount: Decimal  # BT-109
    tax_amount: Decimal  # BT-110
    tax_inclusive_amount: Decimal  # BT-112
    prepaid_amount: Decimal  # BT-113
    payable_amount: Decimal  # BT-115
    vat_subtotals: tuple[VatSubtotal, ...]


def line_net_amount(quantity: Decimal, unit_price: Decimal) -> Decimal:
    return round_money(quantity * unit_price)


def compute_totals(lines, prepaid: Decimal = ZERO) -> Totals:
    """`lines` are objects with quantity, unit_price, vat_category, vat_rate and exemption fields."""
    groups: dict[tuple[str, Decimal], list] = {}
    line_total = ZERO
    for line in lines:
        net = line_net_amount(line.quantity, line.unit_price)
        line_total += net
        key = (line.vat_category, line.vat_rate)
        groups.setdefault(key, []).append((line, net))
    subtotals = []
    for (category, rate), members in sorted(groups.items(), key=lambda item: (item[0][0], item[0][1])):
        taxable = sum((net for _, net in members), ZERO)
        first = members[0][0]
        subtotals.append(
            VatSubtotal(
                category=category,
                rate=rate,
                taxable_amount=taxable,
                tax_amount=round_money(taxable * rate / Decimal(100)),
                exemption_reason_code=first.exemption_reason_code,
                exemption_reason=first.exemption_reason,
            )
        )
    tax_total = sum((s.tax_amount for s in subtotals), ZERO)
    inclusive = line_total + tax_total
    return Totals(
        line_extension_amount=line_total,
        tax_exclusive_amount=line_total,
        tax_amount=tax_total,
        tax_inclusive_amount=inclusive,
        prepaid_amount=prepaid,
        payable_amount=inclusive - prepaid,
        vat_subtotals=tuple(subtotals),
    )


HUNDRED = Decimal(100)


def payable_amount(lines, prepaid: Decimal = ZERO) -> Decimal:
    """BT-115 alone: `compute_totals(lines, prepaid).payable_amount` by the same rules (rounded line
    nets, tax rounded per category and rate), without building the breakdown. For `dunning plan`,
    which needs the payable amount of a million claims and nothing else; tests/domain compares both."""
    line_total = ZERO
    taxable: dict[tuple[str, Decimal], Decimal] = {}
    for line in lines:
        net = round_money(line.quantity * line.unit_price)  # BT-131
        line_total += net
        key = (line.vat_category, line.vat_rate)
        taxable[key] = taxable.get(key, ZERO) + net  # BT-116
    tax_total = sum((round_money(amount * rate / HUNDRED) for (_, rate), amount in taxable.items()), ZERO)  # BT-117, BT-110
    return line_total + tax_total - prepaid
