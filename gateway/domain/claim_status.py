"""The claim lifecycle as one transition table.

`transition(current, target)` is the only way to change a claim's status; an edge missing
from `CLAIM_TRANSITIONS` raises `IllegalTransition` and nothing changes.
"""

from __future__ import annotations

from enum import StrEnum

from gateway.errors import IllegalTransition


class ClaimStatus(StrEnum):
    OPEN = "open"
    PARTIALLY_PAID = "partially_paid"
    PAID = "paid"
    DISPUTED = "disputed"
    ON_HOLD = "on_hold"
    IN_PAYMENT_PLAN = "in_payment_plan"
    ESCALATED = "escalated"
    CANCELLED = "cancelled"
    WRITTEN_OFF = "written_off"


S = ClaimStatus
_ACTIVE = {S.OPEN, S.PARTIALLY_PAID, S.DISPUTED, S.ON_HOLD, S.IN_PAYMENT_PLAN, S.ESCALATED}

CLAIM_TRANSITIONS: dict[ClaimStatus, frozenset[ClaimStatus]] = {
    # A payment can arrive in any active state; a full payment ends the claim.
    S.OPEN: frozenset({S.PARTIALLY_PAID, S.PAID, S.DISPUTED, S.ON_HOLD, S.IN_PAYMENT_PLAN, S.ESCALATED, S.CANCELLED, S.WRITTEN_OFF}),
    S.PARTIALLY_PAID: frozenset({S.PAID, S.DISPUTED, S.ON_HOLD, S.IN_PAYMENT_PLAN, S.ESCALATED, S.CANCELLED, S.WRITTEN_OFF, S.OPEN}),
    # A dispute or hold ends back in dunning (open / partially paid) or by payment or cancellation.
    S.DISPUTED: frozenset({S.OPEN, S.PARTIALLY_PAID, S.PAID, S.CANCELLED, S.WRITTEN_OFF, S.ON_HOLD}),
    S.ON_HOLD: frozenset({S.OPEN, S.PARTIALLY_PAID, S.PAID, S.DISPUTED, S.CANCELLED, S.WRITTEN_OFF}),
    # Two missed instalments put the claim back into dunning (municipal debtor regulation).
    S.IN_PAYMENT_PLAN: frozenset({S.OPEN, S.PARTIALLY_PAID, S.PAID, S.DISPUTED, S.CANCELLED, S.WRITTEN_OFF}),
    # Once escalated (dwangbevel / bailiff) the claim is only closed by payment or write-off.
    S.ESCALATED: frozenset({S.PARTIALLY_PAID, S.PAID, S.WRITTEN_OFF, S.CANCELLED}),
    S.PAID: frozenset(),
    S.CANCELLED: frozenset(),
    S.WRITTEN_OFF: frozenset(),
}

TERMINAL = frozenset(status for status, targets in CLAIM_TRANSITIONS.items() if not targets)


def transition(current: ClaimStatus | str, target: ClaimStatus | str) -> ClaimStatus:
    current, target = ClaimStatus(current), ClaimStatus(target)
    if target not in CLAIM_TRANSITIONS[current]:
        raise IllegalTransition("claim", current.value, target.value)
    return target


def is_active(status: ClaimStatus | str) -> bool:
    return ClaimStatus(status) in _ACTIVE
