import pytest

from gateway.domain.transmission import DELIVERY_TRANSITIONS, REACHED, TERMINAL, DeliveryState as D, apply_report, transition
from gateway.errors import IllegalTransition


@pytest.mark.parametrize("current", list(D))
@pytest.mark.parametrize("target", list(D))
def test_transition_follows_the_table_exactly(current, target):
    if target in DELIVERY_TRANSITIONS[current]:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition):
            transition(current, target)


def test_reports_never_move_a_dispatch_backwards():
    assert apply_report(D.DELIVERED, D.SENT) == (D.DELIVERED, False)  # late "sent"
    assert apply_report(D.DELIVERED, D.DELIVERED) == (D.DELIVERED, False)  # repeated
    assert apply_report(D.PAID, D.DELIVERED) == (D.PAID, False)
    assert apply_report(D.FAILED_PERMANENT, D.DELIVERED) == (D.FAILED_PERMANENT, False)
    assert apply_report(D.SENT, D.DELIVERED) == (D.DELIVERED, True)
    assert apply_report(D.SENT, D.FAILED_PERMANENT) == (D.FAILED_PERMANENT, True)  # hard bounce after sending
    assert apply_report(D.DELIVERED, D.FAILED_PERMANENT) == (D.DELIVERED, False)  # a bounce cannot undo a proven delivery


def test_any_order_of_reports_converges():
    import itertools

    reports = [D.SENT, D.DELIVERED, D.READ, D.PAID]
    finals = set()
    for order in itertools.permutations(reports):
        state = D.IN_FLIGHT
        for report in order:
            state, _ = apply_report(state, report)
        finals.add(state)
    # Some orders stop early (e.g. "paid" cannot follow in_flight directly): never a state behind.
    assert finals <= {D.PAID, D.READ, D.DELIVERED, D.SENT} and D.PAID in finals


def test_terminal_and_reached_sets():
    assert TERMINAL == {D.REJECTED, D.PAID, D.FAILED_PERMANENT}
    assert REACHED == {D.DELIVERED, D.READ, D.ACCEPTED, D.REJECTED, D.PAID}
