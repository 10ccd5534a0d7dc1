import pytest

from gateway.domain.claim_status import CLAIM_TRANSITIONS, TERMINAL, ClaimStatus, transition
from gateway.errors import IllegalTransition

ALL = list(ClaimStatus)


@pytest.mark.parametrize("current", ALL)
@pytest.mark.parametrize("target", ALL)
def test_every_pair_follows_the_table(current, target):
    if target in CLAIM_TRANSITIONS[current]:
        assert transition(current, target) is target
    else:
        with pytest.raises(IllegalTransition) as raised:
            transition(current, target)
        assert (raised.value.current, raised.value.target) == (current.value, target.value)


def test_terminal_states_and_key_edges():
    assert TERMINAL == {ClaimStatus.PAID, ClaimStatus.CANCELLED, ClaimStatus.WRITTEN_OFF}
    assert ClaimStatus.OPEN not in CLAIM_TRANSITIONS[ClaimStatus.ESCALATED]  # no way back from a dwangbevel but payment/write-off
    assert ClaimStatus.OPEN in CLAIM_TRANSITIONS[ClaimStatus.IN_PAYMENT_PLAN]  # two missed instalments: back into dunning
    assert set(CLAIM_TRANSITIONS) == set(ClaimStatus)
