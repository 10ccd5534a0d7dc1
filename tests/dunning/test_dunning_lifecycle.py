"""The dunning lifecycles as transition tables (style rule 2), exercised directly."""

from __future__ import annotations

import pytest

from gateway.dunning import lifecycle
from gateway.dunning.lifecycle import ESCALATION_TRANSITIONS, PLAN_TRANSITIONS, STEP_TRANSITIONS, StepStatus
from gateway.errors import IllegalTransition


@pytest.mark.parametrize(("current", "target"), [(c, t) for c, targets in STEP_TRANSITIONS.items() for t in sorted(targets)])
def test_every_step_edge_in_the_table_is_allowed(current, target):
    assert lifecycle.transition("dunning_step", current, target) == target.value


def test_step_statuses_never_move_backwards_and_an_illegal_move_changes_nothing():
    status = StepStatus.DELIVERED.value
    for target in StepStatus:
        with pytest.raises(IllegalTransition):
            status = lifecycle.transition("dunning_step", status, target)
    assert status == "delivered"
    # an undelivered reminder only moves on when a fallback dispatch goes out; never to cancelled
    assert STEP_TRANSITIONS[StepStatus.UNDELIVERED] == {StepStatus.SENT, StepStatus.DELIVERED}
    assert lifecycle.can_move("dunning_step", "sent", "decided") is False
    assert STEP_TRANSITIONS[StepStatus.LISTED] == frozenset()


def test_escalation_and_plan_tables():
    assert lifecycle.transition("escalation_entry", "pending", "approved") == "approved"
    with pytest.raises(IllegalTransition) as refused:
        lifecycle.transition("escalation_entry", "approved", "pending")
    assert (refused.value.lifecycle, refused.value.current, refused.value.target) == ("escalation_entry", "approved", "pending")
    assert {k.value: sorted(v) for k, v in PLAN_TRANSITIONS.items()} == {"running": ["completed", "defaulted", "lapsed"], "defaulted": [], "completed": [], "lapsed": []}
    assert {k.value: sorted(v) for k, v in ESCALATION_TRANSITIONS.items()} == {"pending": ["approved"], "approved": []}
