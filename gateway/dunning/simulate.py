"""Walk a ladder from the due date to escalation, assuming each step goes out the day it is due.

Pure and deterministic; used by `gateway dunning walk` and by tests to show a policy's timeline
with exact dates. Every step is sent on its first eligible day on `channel` (or the channel its
requirement forces), is presumed delivered by law, and nothing is paid.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime

from gateway.domain.claim import Channel
from gateway.dunning.calendar import calendar_for
from gateway.dunning.policy import ChannelRequirement, Policy
from gateway.dunning.rates import RateTable
from gateway.dunning.rules import (
    Action,
    ClaimFacts,
    Decision,
    DeliveryStatus,
    StepRecord,
    WaitReason,
    decide,
    presumed_term_end_if_sent,
)

MAX_ITERATIONS = 100  # a ladder has a handful of steps; anything longer is a bug in the policy or engine


@dataclass(frozen=True)
class Event:
    day: date
    decision: Decision
    channel: Channel | None


def _channel_for(requirement: ChannelRequirement | None, preferred: Channel) -> tuple[Channel | None, bool]:
    if requirement is ChannelRequirement.REGISTERED:
        return Channel.REGISTERED_PAPER, True
    if requirement is ChannelRequirement.PAPER:
        return Channel.PAPER, False
    if requirement is ChannelRequirement.IN_PERSON:
        return None, False
    if requirement is ChannelRequirement.ELECTRONIC and preferred in (Channel.PAPER, Channel.REGISTERED_PAPER):
        return Channel.EMAIL, False
    return preferred, False


def walk(facts: ClaimFacts, policy: Policy, *, channel: Channel = Channel.EMAIL, rates: RateTable | None = None) -> list[Event]:
    """The sends and the escalation, in order, each on its first possible day (a wait for any other
    reason than time, e.g. `rate_unknown`, ends the walk)."""
    calendar = calendar_for(policy.jurisdiction)
    history: list[StepRecord] = []
    events: list[Event] = []
    today = facts.due_date
    for _ in range(MAX_ITERATIONS):
        decision = decide(facts, policy, today=today, history=history, rates=rates)
        if decision.action is Action.WAIT:
            if decision.reason not in (WaitReason.NOT_YET_DUE, WaitReason.WAITING_FOR_WEEKLY_BOOKING) or decision.wait_until is None:
                events.append(Event(today, decision, None))
                return events
            today = decision.wait_until
            continue
        if decision.action is Action.ESCALATE:
            events.append(Event(today, decision, None))
            return events
        used, registered = _channel_for(decision.channel_requirement, channel)
        step = policy.step(decision.step or 0)
        stated = presumed_term_end_if_sent(policy, step, today, calendar, channel=used)
        sent_at = datetime(today.year, today.month, today.day, 12, tzinfo=calendar.zone)
        history.append(
            StepRecord(
                step=decision.step or 0,
                sent_at=sent_at,
                channel=used,
                status=DeliveryStatus.DELIVERED if used is None else DeliveryStatus.SENT,
                delivered_at=sent_at if used is None else None,
                registered=registered,
                proof_reference="simulated-proof" if registered else None,
                fee=decision.fee,
                stated_due_date=stated,
            )
        )
        events.append(Event(today, replace(decision, new_due_date=stated), used))
    raise RuntimeError(f"{policy.reference}: no escalation after {MAX_ITERATIONS} decisions")
