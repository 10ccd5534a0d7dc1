"""The dispatch lifecycle (DESIGN.md section 3) as one transition table.

`queued -> in_flight -> sent -> delivered -> (read | accepted | rejected | paid)`, with
`failed_temporary` (will retry) apart from `failed_permanent` (will not).

Two ways to move a dispatch:

- `transition(current, target)` for our own steps (claim, send, retry, give up): an edge that
  is not in the table raises `IllegalTransition`.
- `apply_report(current, reported)` for what providers tell us. Callbacks arrive repeated and
  out of order, so a report that is not ahead of the current state is ignored rather than
  refused: a late "sent" never undoes "delivered", a repeated "delivered" changes nothing.
"""

from __future__ import annotations

from enum import StrEnum

from gateway.errors import IllegalTransition


class DeliveryState(StrEnum):
    QUEUED = "queued"
    IN_FLIGHT = "in_flight"
    SENT = "sent"
    DELIVERED = "delivered"
    READ = "read"
    ACCEPTED = "accepted"  # a business acceptance (Peppol Invoice Response AP), not "accepted by the SMSC"
    REJECTED = "rejected"
    PAID = "paid"
    FAILED_TEMPORARY = "failed_temporary"
    FAILED_PERMANENT = "failed_permanent"


D = DeliveryState

DELIVERY_TRANSITIONS: dict[DeliveryState, frozenset[DeliveryState]] = {
    D.QUEUED: frozenset({D.IN_FLIGHT, D.FAILED_PERMANENT}),
    # A synchronous channel (paper print run, some APIs) may report delivery at once; a worker
    # that died mid-call is put back to queued by the sweeper and retried with the same key.
    D.IN_FLIGHT: frozenset({D.SENT, D.DELIVERED, D.FAILED_TEMPORARY, D.FAILED_PERMANENT, D.QUEUED}),
    D.FAILED_TEMPORARY: frozenset({D.IN_FLIGHT, D.FAILED_PERMANENT}),
    # After "sent" a soft bounce retries, a hard bounce / not-serviced / UNDELIV ends it.
    D.SENT: frozenset({D.DELIVERED, D.READ, D.ACCEPTED, D.REJECTED, D.PAID, D.FAILED_TEMPORARY, D.FAILED_PERMANENT}),
    D.DELIVERED: frozenset({D.READ, D.ACCEPTED, D.REJECTED, D.PAID}),
    D.READ: frozenset({D.ACCEPTED, D.REJECTED, D.PAID}),
    D.ACCEPTED: frozenset({D.PAID}),
    D.REJECTED: frozenset(),
    D.PAID: frozenset(),
    D.FAILED_PERMANENT: frozenset(),
}

# How far along a state is; a provider report at or behind the current rank is stale.
RANK: dict[DeliveryState, int] = {
    D.QUEUED: 0, D.IN_FLIGHT: 1, D.FAILED_TEMPORARY: 1, D.SENT: 2, D.DELIVERED: 3, D.READ: 4,
    D.ACCEPTED: 5, D.REJECTED: 5, D.PAID: 6, D.FAILED_PERMANENT: 7,
}

TERMINAL = frozenset(state for state, targets in DELIVERY_TRANSITIONS.items() if not targets)
# States in which the message is known to have reached the debtor: a legal term may start.
REACHED = frozenset({D.DELIVERED, D.READ, D.ACCEPTED, D.REJECTED, D.PAID})


def transition(current: DeliveryState | str, target: DeliveryState | str) -> DeliveryState:
    current, target = DeliveryState(current), DeliveryState(target)
    if target not in DELIVERY_TRANSITIONS[current]:
        raise IllegalTransition("dispatch", current.value, target.value)
    return target


def apply_report(current: DeliveryState | str, reported: DeliveryState | str) -> tuple[DeliveryState, bool]:
    """The state after a provider report, and whether the report changed anything."""
    current, reported = DeliveryState(current), DeliveryState(reported)
    if reported in DELIVERY_TRANSITIONS[current]:
        return reported, True
    return current, False
