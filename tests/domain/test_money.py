from decimal import Decimal as D

from hypothesis import given, settings
from hypothesis import strategies as st

from gateway.domain.claim import ClaimLine
from gateway.domain.money import compute_totals, payable_amount


def test_en16931_rounding_per_line_then_per_category():
    lines = [
        ClaimLine("a", D("3"), D("0.333"), "S", D("21")),  # 0.999 -> 1.00
        ClaimLine("b", D("1"), D("0.125"), "S", D("21")),  # 0.125 -> 0.13 (half up)
        ClaimLine("c", D("7"), D("1.07"), "S", D("6")),  # 7.49
        ClaimLine("d", D("1"), D("45.00"), "O", D("0"), exemption_reason_code="VATEX-EU-O"),
    ]
    totals = compute_totals(lines)
    assert totals.line_extension_amount == D("53.62")
    assert [(s.category, s.rate, s.taxable_amount, s.tax_amount) for s in totals.vat_subtotals] == [
        ("O", D("0"), D("45.00"), D("0.00")),
        ("S", D("6"), D("7.49"), D("0.45")),  # 0.4494 -> 0.45
        ("S", D("21"), D("1.13"), D("0.24")),  # BR-CO-17: 1.13 x 21 % = 0.2373 -> 0.24
    ]
    assert (totals.tax_amount, totals.tax_inclusive_amount, totals.payable_amount) == (D("0.69"), D("54.31"), D("54.31"))


_LINE = st.builds(
    ClaimLine,
    description=st.just("x"),
    quantity=st.decimals(min_value="0.0001", max_value="10000", places=4),
    unit_price=st.decimals(min_value="-5000", max_value="50000", places=6),
    vat_category=st.sampled_from(["S", "Z", "E", "O", "AE"]),
    vat_rate=st.sampled_from([D("0"), D("6"), D("12"), D("21"), D("21.0"), D("5.5")]),
)


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(_LINE, min_size=1, max_size=8), prepaid=st.decimals(min_value="0", max_value="100", places=2))
def test_payable_amount_is_compute_totals_payable(lines, prepaid):
    assert payable_amount(lines, prepaid) == compute_totals(lines, prepaid).payable_amount
