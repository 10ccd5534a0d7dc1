"""values.builder: the same frozen values as the dataclass constructors, built faster."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, dataclass, field
from datetime import date
from decimal import Decimal

import pytest

from gateway.dunning.legal import ComputedAmount, build_amount
from gateway.dunning.rules import Action, Decision, WaitReason, _decision
from gateway.dunning.values import builder


def test_a_built_decision_is_the_constructed_one_and_stays_frozen():
    values = dict(claim_id="C1", action=Action.WAIT, dedup_key="dunning/C1/wait/paid/2026-05-04", policy="p@1", today=date(2026, 5, 4),
                  amount_open=Decimal("0.00"), reason=WaitReason.PAID, detail="paid 10.00 of 10.00")
    built = _decision(**values)
    assert built == Decision(**values) and type(built) is Decision
    assert (built.amounts, built.fee, built.missing_rate) == ((), Decimal("0.00"), None)
    with pytest.raises(FrozenInstanceError):
        built.detail = "changed"  # type: ignore[misc]
    assert build_amount(amount=Decimal("41.30"), rule="BXIX-LUMP-SUM", basis=Decimal("263")) == ComputedAmount(
        amount=Decimal("41.30"), rule="BXIX-LUMP-SUM", basis=Decimal("263"))


def test_missing_and_unknown_fields_are_refused_like_the_constructor():
    with pytest.raises(TypeError, match="missing 5 required keyword-only arguments"):
        _decision(claim_id="C1")
    with pytest.raises(TypeError, match="unexpected keyword argument 'colour'"):
        _decision(claim_id="C1", action=Action.WAIT, dedup_key="k", policy="p", today=date(2026, 5, 4), amount_open=Decimal("1"), colour="red")


def test_default_factories_give_a_fresh_value_each_time_and_post_init_classes_are_refused():
    @dataclass(frozen=True)
    class Bag:
        name: str
        items: list = field(default_factory=list)

    make = builder(Bag)
    one, two = make(name="a"), make(name="b")
    assert one == Bag("a") and one.items is not two.items

    @dataclass(frozen=True)
    class Checked:
        value: int

        def __post_init__(self) -> None:
            assert self.value > 0

    with pytest.raises(TypeError, match="only plain dataclasses"):
        builder(Checked)
