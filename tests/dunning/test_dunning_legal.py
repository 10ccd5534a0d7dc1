"""Exact legal amounts: Book XIX lump sum, WIK scale, reference-rate interest, rate versions."""

from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from gateway.dunning.legal import (
    RULE_SET_VERSION,
    b2b_flat_compensation,
    book_xix_lump_sum,
    reference_rate_interest,
    wik_collection_costs,
)
from gateway.dunning.rates import RateUnknown, default_rates, parse_rate_table


@pytest.mark.parametrize(
    ("balance", "expected"),
    [
        ("0", "0.00"),
        ("0.01", "20.00"),
        ("100", "20.00"),
        ("150", "20.00"),
        ("150.01", "30.00"),  # 30 + 10 % x 0.01 = 30.001
        ("263", "41.30"),  # the hospital table says 41.50; the law gives 41.30
        ("300", "45.00"),
        ("500", "65.00"),
        ("500.01", "65.00"),  # 65 + 5 % x 0.01 = 65.0005
        ("500.10", "65.01"),  # 65.005 rounds half up
        ("1000", "90.00"),
        ("5000", "290.00"),
        ("39200", "2000.00"),  # where the cap is reached
        ("39199.99", "2000.00"),  # 1999.9995 rounds to 2000.00
        ("39199.80", "1999.99"),
        ("1000000", "2000.00"),
    ],
)
def test_book_xix_lump_sum(balance, expected):
    result = book_xix_lump_sum(Decimal(balance))
    assert result.amount == Decimal(expected)
    assert result.rule == "BXIX-LUMP-SUM"
    assert result.rule_set_version == RULE_SET_VERSION


def test_hospital_example_263_is_41_30_not_41_50():
    assert book_xix_lump_sum("263.00").amount == Decimal("41.30")
    assert book_xix_lump_sum("263.00").amount != Decimal("41.50")


@pytest.mark.parametrize(
    ("invoice", "lump_sum", "why"),
    [
        ("55.00", "20.00", "balance <= 150: 20"),
        ("7.80", "20.00", "balance <= 150: 20"),  # the flat 20.00 even above the debt itself: the law's table, as the hospital's
        ("263.00", "41.30", "30 + 10% x (263.00 - 150)"),  # the hospital's table: 41.50
        ("693.00", "74.65", "min(65 + 5% x (693.00 - 500), 2000)"),  # 65 + 9.65
    ],
)
def test_the_hospitals_four_examples(invoice, lump_sum, why):
    """seeds/004 'Voorbeelden': 55.00, 263.00, 7.80 and 693.00 (its lump sums 20.00, 41.50, 20.00, 74.65)."""
    result = book_xix_lump_sum(Decimal(invoice))
    assert (result.amount, result.basis, result.explanation) == (Decimal(lump_sum), Decimal(invoice), why)


@pytest.mark.parametrize(
    ("principal", "expected"),
    [
        ("100", "40.00"),  # 15.00 -> minimum 40
        ("266.66", "40.00"),  # 39.999 -> 40.00
        ("300", "45.00"),
        ("2500", "375.00"),
        ("2500.01", "375.00"),
        ("2600", "385.00"),
        ("5000", "625.00"),
        ("10000", "875.00"),
        ("200000", "2775.00"),
        ("1000000", "6775.00"),  # 2775 + 0.5 % x 800000 = 6775: the maximum is reached
        ("999999", "6775.00"),  # 6774.995 rounds half up to the maximum
        ("999998", "6774.99"),
        ("5000000", "6775.00"),
    ],
)
def test_wik_scale(principal, expected):
    result = wik_collection_costs(Decimal(principal))
    assert result.amount == Decimal(expected)
    assert result.rule == "WIK-SCALE"


def test_b2b_flat_compensation_is_40():
    assert b2b_flat_compensation().amount == Decimal("40.00")
    assert b2b_flat_compensation().rule == "B2B-FLAT-40"


def test_interest_splits_half_years_and_records_rate_version():
    # 1000 x 11.5 % x 30/365 (2025-H1) + 1000 x 10.5 % x 31/365 (2025-H2) = 9.4520... + 8.9178... = 18.37
    result = reference_rate_interest(Decimal("1000"), date(2025, 6, 1), date(2025, 7, 31))
    assert result.amount == Decimal("18.37")
    assert [(s.period, s.days, s.percent) for s in result.segments] == [
        ("2025-H1", 30, Decimal("11.5")),
        ("2025-H2", 31, Decimal("10.5")),
    ]
    assert result.rate_version == default_rates().version == "2026-11-23.1"
    assert result.rule_set_version == RULE_SET_VERSION


def test_interest_one_full_year_2024_at_12_5():
    # 2024 is a leap year: 366 days / 365 at 12.5 % on 100 = 12.5342... -> 12.53
    assert reference_rate_interest(Decimal("100"), date(2024, 1, 1), date(2024, 12, 31)).amount == Decimal("12.53")


def test_interest_for_2026_h2_is_unknown_and_raises():
    with pytest.raises(RateUnknown) as caught:
        reference_rate_interest(Decimal("1000"), date(2026, 6, 25), date(2026, 7, 1))
    assert caught.value.rule == "RATE-UNKNOWN"
    assert caught.value.day == date(2026, 7, 1)
    last = default_rates().tables["b2b_reference_rate"][-1]
    assert (last.period, last.percent, last.confidence) == ("2026-H2", None, "U")


def test_interest_outside_table_raises():
    with pytest.raises(RateUnknown):
        reference_rate_interest(Decimal("1000"), date(2021, 12, 1), date(2022, 1, 10))


def test_money_is_never_float():
    with pytest.raises(TypeError):
        book_xix_lump_sum(263.0)  # type: ignore[arg-type]


def test_rate_table_refuses_gaps():
    document = {
        "version": "x",
        "b2b_reference_rate": [
            {"period": "a", "from": "2025-01-01", "to": "2025-06-30", "percent": "1", "confidence": "V"},
            {"period": "b", "from": "2025-07-02", "to": "2025-12-31", "percent": "1", "confidence": "V"},
        ],
        "be_legal_interest_rate": [],
    }
    with pytest.raises(ValueError, match="gap or overlap"):
        parse_rate_table(document)
