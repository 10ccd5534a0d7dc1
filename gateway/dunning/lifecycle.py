"""Lifecycles of the dunning tables, one transition table each (style rule 2).

`transition(table, current, target)` is the only way to change a status; an edge missing from the
table raises `IllegalTransition` and nothing changes.

dunning_step (a recorded send-step decision; escalations are `listed` from the start)
    decided      recorded; the reminder document and its dispatch are not there or not sent yet
    sent         the dispatch was handed to the channel (the legal presumption of delivery applies)
    delivered    the dispatch reached the debtor (`gateway.domain.transmission.REACHED`)
    undelivered  every dispatch so far failed for good: starts no term, never leads to escalation;
                 a fallback dispatch of the same document that goes out moves it on
    cancelled    the claim was paid, held or closed before the reminder went out
    listed       an escalation decision, put on its escalation list
escalation_entry: pending -> approved
payment_plan: running -> defaulted (two missed instalments) | completed | lapsed (not confirmed in time)
"""

from __future__ import annotations

from enum import StrEnum

from gateway.errors import IllegalTransition


class StepStatus(StrEnum):
    DECIDED = "decided"
    SENT = "sent"
    DELIVERED = "delivered"
    UNDELIVERED = "undelivered"
    CANCELLED = "cancelled"
    LISTED = "listed"


class EscalationStatus(StrEnum):
    PENDING = "pending"
    APPROVED = "approved"


class PlanStatus(StrEnum):
    RUNNING = "running"
    DEFAULTED = "defaulted"
    COMPLETED = "completed"
    LAPSED = "lapsed"


S = StepStatus
STEP_TRANSITIONS: dict[StepStatus, frozenset[StepStatus]] = {
    S.DECIDED: frozenset({S.SENT, S.DELIVERED, S.UNDELIVERED, S.CANCELLED}),
    S.SENT: frozenset({S.DELIVERED, S.UNDELIVERED}),
    # a fallback dispatch of the same reminder went out or reached the debtor
    S.UNDELIVERED: frozenset({S.SENT, S.DELIVERED}),
    S.DELIVERED: frozenset(),
    S.CANCELLED: frozenset(),
    S.LISTED: frozenset(),
}
ESCALATION_TRANSITIONS: dict[EscalationStatus, frozenset[EscalationStatus]] = {
    EscalationStatus.PENDING: frozenset({EscalationStatus.APPROVED}),
    EscalationStatus.APPROVED: frozenset(),
}
PLAN_TRANSITIONS: dict[PlanStatus, frozenset[PlanStatus]] = {
    PlanStatus.RUNNING: frozenset({PlanStatus.DEFAULTED, PlanStatus.COMPLETED, PlanStatus.LAPSED}),
    PlanStatus.DEFAULTED: frozenset(),
    PlanStatus.COMPLETED: frozenset(),
    PlanStatus.LAPSED: frozenset(),
}
_TABLES = {"dunning_step": (StepStatus, STEP_TRANSITIONS), "escalation_entry": (EscalationStatus, ESCALATION_TRANSITIONS), "payment_plan": (PlanStatus, PLAN_TRANSITIONS)}


def transition(lifecycle: str, current: str, target: str) -> str:
    kind, table = _TABLES[lifecycle]
    current_status, target_status = kind(current), kind(target)
    if target_status not in table[current_status]:
        raise IllegalTransition(lifecycle, current_status.value, target_status.value)
    return target_status.value


def can_move(lifecycle: str, current: str, target: str) -> bool:
    kind, table = _TABLES[lifecycle]
    return kind(target) in table[kind(current)]
