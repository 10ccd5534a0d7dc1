"""The dunning engine: claim facts + history + `today` in, one `Decision` out. Pure.

`decide()` answers one question for one claim on one day: send step N, escalate, or wait (and
why). It never performs I/O; the service layer stores the decision under its `dedup_key` (unique
constraint on `dunning_step`), renders and dispatches, and later feeds the delivery outcome back
as a `StepRecord`.

Clocks (docs/channels-and-law.md §5, DESIGN.md §5)
- A term counts from a *basis*: the send date, the delivery date, or the day after receipt.
  Delivery is the actual delivery when known, else the legal presumption:
  * Belgium (Book XIX art. XIX.2 CEL; the same third working day as art. 53bis Ger.W.): a paper
    or registered letter on the 3rd working day after sending, an electronic message on the next
    calendar day;
  * Netherlands (HR 25-11-2016, ECLI:NL:HR:2016:2704): the 2nd day after sending, not counting
    Sundays, Mondays or public holidays;
  * a personal visit only counts once it is recorded as delivered.
- The basis day is day 0: a term of N days ends (last day to pay) on basis + N. For Book XIX
  ("14 days starting on the 3rd working day") and the WIK ("14 days from the day after receipt")
  this gives the debtor the full N days after the start day — it errs by at most one day on the
  debtor's side, never on the creditor's.
- An undelivered reminder never starts a term and never leads to a next step or an escalation.
- Holds (dispute, Peppol buyer response UQ / RE, debt mediation, manual) stop the clock: days on
  hold inside a running term are added to it. A medical declaration only suspends disconnection
  steps.

Dedup keys are built from ids and ISO dates only (style rule 9):
``dunning/<claim id>/step/<n>/<eligible date>``, ``dunning/<claim id>/step/<n>/repeat-<k>/<date>``,
``dunning/<claim id>/escalate/<kind>/<eligible date>``, ``dunning/<claim id>/wait/<reason>/<today>``.
The eligible date only moves when the facts change, so re-running `decide()` on later days
yields the same key for the same pending action.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from typing import NamedTuple

from gateway.domain.claim import Channel, ClaimType, DebtorKind
from gateway.dunning.calendar import (
    LegalCalendar,
    book_xix_electronic_start,
    book_xix_paper_start,
    calendar_for,
    wik_presumed_receipt,
)
from gateway.dunning.legal import (
    RULE_BXIX_INTEREST,
    RULE_B2B_INTEREST,
    RULE_POLICY_INTEREST,
    RULE_SET_VERSION,
    ComputedAmount,
    build_amount,
    b2b_flat_compensation,
    book_xix_lump_sum,
    reference_rate_interest,
    round_cents,
    wik_collection_costs,
)
from gateway.dunning.payment_plan import PlanState, add_months
from gateway.dunning.policy import (
    ChannelRequirement,
    DelayBasis,
    EscalationKind,
    FeeKind,
    LegalRegime,
    PAPER_CHANNELS,
    Policy,
    Step,
    TermBasis,
)
from gateway.dunning.rates import RateTable, RateUnknown, default_rates
from gateway.dunning.values import builder
from gateway.errors import InvalidInput

ZERO = Decimal("0.00")
BXIX_FREE_REMINDERS_RECURRING = 3  # art. XIX.2 CEL: recurring supply, 3 free reminders per calendar year
MAX_HOLD_ITERATIONS = 50  # holds are finite; the clock extension converges well before this


class Action(StrEnum):
    SEND_STEP = "send_step"
    ESCALATE = "escalate"
    WAIT = "wait"


class WaitReason(StrEnum):
    NOT_YET_DUE = "not_yet_due"
    WAITING_FOR_DELIVERY = "waiting_for_delivery"
    ON_HOLD = "on_hold"
    WAITING_FOR_WEEKLY_BOOKING = "waiting_for_weekly_booking"
    PAYMENT_PLAN_RUNNING = "payment_plan_running"
    PAID = "paid"
    ALREADY_ESCALATED = "already_escalated"
    RATE_UNKNOWN = "rate_unknown"  # an amount needs a reference rate that is not published in the table


class DeliveryStatus(StrEnum):
    SENT = "sent"  # handed to the channel, no outcome yet: the legal presumption applies
    DELIVERED = "delivered"  # delivered_at is known (AP receipt, eBox, registered proof, visit done)
    UNDELIVERED = "undelivered"  # failed for good on that channel: starts no term
    SKIPPED = "skipped"  # an admin skipped a step the policy marks may_skip


class HoldKind(StrEnum):
    DISPUTE = "dispute"
    BUYER_RESPONSE_UQ = "buyer_response_uq"  # Peppol Invoice Response "under query"
    BUYER_RESPONSE_RE = "buyer_response_re"  # Peppol Invoice Response "rejected"
    DEBT_MEDIATION = "debt_mediation"  # Book XIX: request for collective debt settlement / mediation
    MEDICAL_DECLARATION = "medical_declaration"  # blocks disconnection steps only
    MANUAL = "manual"


class PolicyMismatch(InvalidInput):
    title = "The policy does not cover this claim"


class HistoryRefused(InvalidInput):
    title = "The dunning history breaks the policy"


@dataclass(frozen=True)
class ClaimFacts:
    claim_id: str
    principal: Decimal  # the claim amount; payments are given separately
    due_date: date
    claim_type: ClaimType
    fiscal: bool
    debtor_kind: DebtorKind
    escalated_on: date | None = None


@dataclass(frozen=True)
class StepRecord:
    """One attempt of one step, as the service stored it."""

    step: int
    sent_at: datetime  # timezone-aware
    channel: Channel | None  # None for a personal visit
    status: DeliveryStatus = DeliveryStatus.SENT
    delivered_at: datetime | None = None
    registered: bool = False  # registered letter or qualified e-registered delivery
    proof_reference: str | None = None  # proof of the registered sending / delivery
    fee: Decimal = ZERO  # fee charged with this step
    author: str | None = None  # for skips and repeats
    stated_due_date: date | None = None  # the "pay by" date printed in the reminder: binds the creditor too


@dataclass(frozen=True)
class Payment:
    paid_on: date
    amount: Decimal


@dataclass(frozen=True)
class Hold:
    kind: HoldKind
    reason: str
    author: str
    start: date
    end: date | None = None  # inclusive; None = until lifted

    def active_on(self, day: date) -> bool:
        return self.start <= day and (self.end is None or day <= self.end)


@dataclass(frozen=True)
class RepeatRequest:
    """An admin asks to repeat the last step (only where the policy marks it repeatable)."""

    author: str
    reason: str


@dataclass(frozen=True)
class Decision:
    claim_id: str
    action: Action
    dedup_key: str
    policy: str  # id@version
    today: date
    amount_open: Decimal
    reason: WaitReason | None = None
    detail: str = ""
    wait_until: date | None = None  # first day the answer can change by time alone (None: only an event)
    step: int | None = None
    step_key: str | None = None
    template: str | None = None
    repeat: bool = False
    channel_requirement: ChannelRequirement | None = None
    fee: Decimal = ZERO
    fee_vat_percent: Decimal | None = None
    fee_rule: str | None = None
    new_term_days: int | None = None
    new_term_counts_from: TermBasis | None = None
    new_due_date: date | None = None  # last day to pay if sent today (presumed delivery for the channel)
    announced_damages: ComputedAmount | None = None  # Book XIX / WIK: what the letter must announce
    escalation: EscalationKind | None = None
    approving_body: str | None = None
    issued_by: str | None = None
    handed_to: str | None = None
    escalation_list: str | None = None
    lump_sum: ComputedAmount | None = None
    interest: ComputedAmount | None = None
    hold: Hold | None = None
    rule_set_version: str = RULE_SET_VERSION
    rate_version: str | None = None
    amounts: tuple[ComputedAmount, ...] = field(default_factory=tuple)
    missing_rate: str | None = None  # RATE_UNKNOWN: "<table> <period>", e.g. "b2b_reference_rate 2026-H2"


# `Decision(**values)` without 36 `object.__setattr__` calls: the same frozen value (see values.py)
_decision = builder(Decision)


# --- clocks ----------------------------------------------------------------------------------------


def _is_electronic(channel: Channel | None) -> bool:
    return channel is not None and channel not in PAPER_CHANNELS


def delivery_date(policy: Policy, record: StepRecord, calendar: LegalCalendar) -> date | None:
    """Actual delivery, else the legal presumption; None while it cannot be known (undelivered,
    skipped, or a personal visit not yet done)."""
    if record.status in (DeliveryStatus.UNDELIVERED, DeliveryStatus.SKIPPED):
        return None
    if record.delivered_at is not None:
        return calendar.local_date(record.delivered_at)
    if record.channel is None:  # a personal visit counts only once recorded as done
        return None
    return presumed_delivery(policy.jurisdiction, record.channel, calendar.local_date(record.sent_at), calendar)


@lru_cache(maxsize=8192)  # a pure function of a few values: the same few days recur for every claim of a run
def presumed_delivery(jurisdiction: str, channel: Channel, sent_on: date, calendar: LegalCalendar) -> date:
    """The legal presumption of delivery of a message sent on `sent_on` on `channel`."""
    if jurisdiction == "NL":
        # HR 25-11-2016: receipt presumed on the 2nd day after sending (not Sun, Mon, holidays)
        return sent_on + timedelta(days=1) if _is_electronic(channel) else wik_presumed_receipt(sent_on, calendar)
    if _is_electronic(channel):
        return book_xix_electronic_start(sent_on)  # art. XIX.2 CEL: the day after electronic sending
    return book_xix_paper_start(sent_on, calendar)  # art. XIX.2 CEL: 3rd working day after paper sending


def term_start(policy: Policy, step: Step, record: StepRecord, calendar: LegalCalendar) -> date | None:
    """Day 0 of the step's term (see module docstring), or None when the term has not started."""
    if record.status in (DeliveryStatus.UNDELIVERED, DeliveryStatus.SKIPPED):
        return None  # an undelivered reminder never starts a term
    basis = step.term.counts_from
    if basis is TermBasis.SENDING:
        return calendar.local_date(record.sent_at)
    delivered = delivery_date(policy, record, calendar)
    if delivered is None:
        return None
    return delivered + timedelta(days=1) if basis is TermBasis.RECEIPT else delivered


def term_end_for(policy: Policy, record: StepRecord, calendar: LegalCalendar | None = None) -> date | None:
    """Last day to pay granted by the reminder in `record` (None if its term has not started)."""
    calendar = calendar or calendar_for(policy.jurisdiction)
    step = policy.step(record.step)
    start = term_start(policy, step, record, calendar)
    return None if start is None else _term_end(step, record, start)


def _term_end(step: Step, record: StepRecord, start: date) -> date:
    legal_end = start + timedelta(days=step.term.days)
    # a reminder that promised a later date is held to it
    return max(legal_end, record.stated_due_date) if record.stated_due_date else legal_end


def presumed_term_end_if_sent(
    policy: Policy, step: Step, sent_on: date, calendar: LegalCalendar | None = None, *, channel: Channel | None = None
) -> date:
    """The last day to pay a reminder sent on `sent_on` will state, before any delivery feedback.

    Without `channel` (the decision does not know it yet) the paper presumption is used for `any`
    (the later one), so the text never promises less time than the law gives; the service calls
    this again with the channel routing chose, prints that date and stores it as
    `StepRecord.stated_due_date`. A personal visit counts from the day itself.
    """
    calendar = calendar or calendar_for(policy.jurisdiction)
    if step.channel is ChannelRequirement.IN_PERSON:
        start = sent_on
    elif step.term.counts_from is TermBasis.SENDING:
        start = sent_on
    else:
        if channel is None:
            channel = Channel.EMAIL if step.channel is ChannelRequirement.ELECTRONIC else Channel.PAPER
        start = presumed_delivery(policy.jurisdiction, channel, sent_on, calendar)
        if step.term.counts_from is TermBasis.RECEIPT:
            start = start + timedelta(days=1)
    return start + timedelta(days=step.term.days)


def _stop_clock(anchor: date, eligible: date, holds: tuple[Hold, ...], today: date) -> date:
    """Add the days on hold between `anchor` and the (moving) eligible date: holds stop the clock.

    Only holds that have started by `today` count (a planned hold stops nothing yet); overlapping
    holds count each day once.
    """
    clock_holds = [h for h in holds if h.kind is not HoldKind.MEDICAL_DECLARATION and h.start <= today]
    if not clock_holds:
        return eligible
    base = eligible
    for _ in range(MAX_HOLD_ITERATIONS):
        held: set[date] = set()
        for hold in clock_holds:
            first = max(hold.start, anchor)
            last = min(hold.end or today, eligible)
            day = first
            while day <= last:
                held.add(day)
                day += timedelta(days=1)
        extended = base + timedelta(days=len(held))
        if extended == eligible:
            return eligible
        eligible = extended
    return eligible


@lru_cache(maxsize=4096)  # pure: the same deadlines recur for every claim of a run
def next_booking_day(deadline: date, weekday: int, calendar: LegalCalendar) -> date:
    """First weekly booking strictly after `deadline` (moved to the next working day on a holiday)."""
    day = deadline + timedelta(days=1)
    while day.weekday() != weekday:
        day += timedelta(days=1)
    return calendar.next_working_day_on_or_after(day)


# --- the engine ------------------------------------------------------------------------------------


class _Position(NamedTuple):
    """Where the claim stands in its ladder (a tuple: built once per decision, cheaply)."""

    last_step: int  # 0 = nothing sent yet
    record: StepRecord | None  # the attempt the next action counts from
    anchor: date  # first day of the running period (for the hold clock)
    not_before: date | None = None  # a skip decision date


def _validate_history(policy: Policy, history: tuple[StepRecord, ...]) -> None:
    if not history:
        return
    for record in history:
        if not 1 <= record.step <= len(policy.steps):
            raise HistoryRefused.single("history", "GEN-STEP-UNKNOWN", f"step {record.step} is not in policy {policy.reference}")
        if record.sent_at.tzinfo is None:
            raise HistoryRefused.single("history.sent_at", "GEN-AWARE-DATETIME", "sent_at must be timezone-aware")
        step = policy.step(record.step)
        if record.status is DeliveryStatus.SKIPPED and not step.may_skip:
            raise HistoryRefused.single("history", "GEN-SKIP-NOT-ALLOWED", f"step {record.step} ({step.key}) may not be skipped")
    effective: dict[int, int] = {}
    for record in history:
        if record.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED):
            effective[record.step] = effective.get(record.step, 0) + 1
    for number, count in effective.items():
        if count > 1 and not policy.step(number).repeatable:
            raise HistoryRefused.single("history", "GEN-REPEAT-NOT-ALLOWED", f"step {number} was sent {count} times but is not repeatable")


def _wait(facts: ClaimFacts, policy: Policy, today: date, open_amount: Decimal, reason: WaitReason, detail: str, **extra) -> Decision:
    return _decision(
        claim_id=facts.claim_id,
        action=Action.WAIT,
        dedup_key=f"dunning/{facts.claim_id}/wait/{reason.value}/{today.isoformat()}",
        policy=policy.reference,
        today=today,
        amount_open=open_amount,
        reason=reason,
        detail=detail,
        **extra,
    )


def decide(
    facts: ClaimFacts,
    policy: Policy,
    *,
    today: date,
    history: tuple[StepRecord, ...] | list[StepRecord] = (),
    payments: tuple[Payment, ...] | list[Payment] = (),
    holds: tuple[Hold, ...] | list[Hold] = (),
    plan_state: PlanState | None = None,
    repeat: RepeatRequest | None = None,
    reminders_this_year: int | None = None,
    calendar: LegalCalendar | None = None,
    rates: RateTable | None = None,
) -> Decision:
    """The next dunning action for one claim on `today`.

    `reminders_this_year` is only read for Book XIX policies with `recurring_supply`: the number of
    reminders already sent this calendar year under the same supply contract (unknown counts as
    "still free", the debtor-safe reading).
    """
    history, payments, holds = tuple(history), tuple(payments), tuple(holds)
    calendar = calendar or calendar_for(policy.jurisdiction)
    rates = rates or default_rates()
    if facts.claim_type not in policy.claim_types or facts.fiscal != policy.fiscal or facts.debtor_kind not in policy.debtor_kinds:
        raise PolicyMismatch.single(
            "policy", "POLICY-MATCH", f"{policy.reference} does not cover {facts.claim_type.value}/fiscal={facts.fiscal}/{facts.debtor_kind.value}"
        )
    _validate_history(policy, history)

    paid = sum((p.amount for p in payments if p.paid_on <= today), ZERO) if payments else ZERO
    open_amount = facts.principal - paid
    if open_amount <= 0:
        return _wait(facts, policy, today, open_amount, WaitReason.PAID, f"paid {paid} of {facts.principal}")
    if facts.escalated_on is not None:
        return _wait(facts, policy, today, open_amount, WaitReason.ALREADY_ESCALATED, f"escalated on {facts.escalated_on.isoformat()}")
    if plan_state is PlanState.RUNNING:
        return _wait(facts, policy, today, open_amount, WaitReason.PAYMENT_PLAN_RUNNING, "a payment plan is running")
    # PlanState.DEFAULTED: two missed instalments put the claim back into dunning -> carry on.

    active = [h for h in holds if h.active_on(today) and h.kind is not HoldKind.MEDICAL_DECLARATION] if holds else None
    if active:
        hold = active[0]
        return _wait(
            facts, policy, today, open_amount, WaitReason.ON_HOLD,
            f"{hold.kind.value} by {hold.author}: {hold.reason}",
            hold=hold, wait_until=None if hold.end is None else hold.end + timedelta(days=1),
        )

    position = _position(policy, history, facts, calendar)
    if position.record is not None and position.record.status is DeliveryStatus.UNDELIVERED:
        channel = position.record.channel.value if position.record.channel else "visit"
        return _wait(
            facts, policy, today, open_amount, WaitReason.WAITING_FOR_DELIVERY,
            f"step {position.last_step} undelivered on {channel}: it starts no term; repair the contact or resend on another channel",
        )

    # Repeat of the last step (water ladder: "stappen ... nogmaals uit te voeren").
    if repeat is not None:
        try:
            return _repeat(facts, policy, position, today, open_amount, calendar, history, repeat, reminders_this_year, rates)
        except RateUnknown as unknown:
            return _rate_unknown(facts, policy, today, open_amount, unknown, rates)

    next_number = position.last_step + 1
    is_escalation = next_number > len(policy.steps)
    delay = policy.escalation.delay if is_escalation else policy.step(next_number).delay

    # When the next action becomes eligible.
    if position.last_step == 0:
        deadline = facts.due_date
        eligible = facts.due_date + timedelta(days=delay.days)
    else:
        record = position.record
        assert record is not None
        previous = policy.step(record.step)
        start = term_start(policy, previous, record, calendar)
        if start is None:
            what = "personal visit not yet recorded" if record.channel is None else "delivery not known"
            return _wait(facts, policy, today, open_amount, WaitReason.WAITING_FOR_DELIVERY, f"step {record.step}: {what}")
        term_end = _term_end(previous, record, start)
        deadline = term_end
        basis = delay.counts_from
        if basis is DelayBasis.PREVIOUS_TERM_END:
            basis_day = term_end
        elif basis is DelayBasis.PREVIOUS_SENDING:
            basis_day = calendar.local_date(record.sent_at)
        elif basis is DelayBasis.DUE_DATE:
            basis_day = facts.due_date
        else:  # PREVIOUS_DELIVERY, PREVIOUS_RECEIPT
            basis_day = delivery_date(policy, record, calendar)
        if basis_day is None:
            return _wait(facts, policy, today, open_amount, WaitReason.WAITING_FOR_DELIVERY, f"step {record.step}: delivery not known")
        if delay.counts_from is DelayBasis.PREVIOUS_RECEIPT:
            basis_day += timedelta(days=1)
        eligible = basis_day + timedelta(days=delay.days)
        if delay.counts_from is not DelayBasis.PREVIOUS_TERM_END:
            deadline = eligible - timedelta(days=1)
    if position.not_before is not None:
        eligible = max(eligible, position.not_before)
    held = _stop_clock(position.anchor, eligible, holds, today)
    deadline += held - eligible  # days on hold extend the debtor's term as well
    eligible = held
    if today < eligible:
        return _wait(
            facts, policy, today, open_amount, WaitReason.NOT_YET_DUE,
            f"{'escalation' if is_escalation else f'step {next_number}'} possible from {eligible.isoformat()}",
            wait_until=eligible,
        )
    if policy.weekly_booking_weekday is not None:
        # Receipts are booked weekly: never remind before the first booking after the deadline.
        booking = next_booking_day(deadline, policy.weekly_booking_weekday, calendar)
        if booking > eligible:
            eligible = booking
            if today < booking:
                return _wait(
                    facts, policy, today, open_amount, WaitReason.WAITING_FOR_WEEKLY_BOOKING,
                    f"receipts are booked weekly; next booking after {deadline.isoformat()} is {booking.isoformat()}",
                    wait_until=booking,
                )

    disconnection = policy.escalation.disconnection_step if is_escalation else policy.step(next_number).disconnection_step
    if disconnection:
        medical = [h for h in holds if h.kind is HoldKind.MEDICAL_DECLARATION and h.active_on(today)]
        if medical:
            hold = medical[0]
            return _wait(
                facts, policy, today, open_amount, WaitReason.ON_HOLD,
                f"medical declaration by {hold.author} suspends disconnection steps: {hold.reason}",
                hold=hold, wait_until=None if hold.end is None else hold.end + timedelta(days=1),
            )

    try:
        if is_escalation:
            return _escalate(facts, policy, history, today, eligible, open_amount, calendar, rates)
        return _send(
            facts, policy, policy.step(next_number), today, eligible, open_amount, calendar, history,
            repeat_index=0, reminders_this_year=reminders_this_year, rates=rates,
        )
    except RateUnknown as unknown:
        return _rate_unknown(facts, policy, today, open_amount, unknown, rates)


def _rate_unknown(facts: ClaimFacts, policy: Policy, today: date, open_amount: Decimal, unknown: RateUnknown, rates: RateTable) -> Decision:
    """The amount of the next action needs a rate the table does not have: wait, never guess.

    Only an event changes this (an operator adds the published rate, GATEWAY_DUNNING_RATES_FILE),
    so there is no `wait_until`; the claim is decided again on every run.
    """
    span = ""
    if unknown.first_day and unknown.last_day:
        span = f" ({unknown.first_day.isoformat()}..{unknown.last_day.isoformat()})"
    return _wait(
        facts, policy, today, open_amount, WaitReason.RATE_UNKNOWN,
        f"interest needs the {unknown.table} for {unknown.period}{span}, not published in rates {rates.version}; "
        f"add the published rate with GATEWAY_DUNNING_RATES_FILE (gateway dunning rates check FILE)",
        missing_rate=f"{unknown.table} {unknown.period}", rate_version=rates.version,
    )


def _position(policy: Policy, history: tuple[StepRecord, ...], facts: ClaimFacts, calendar: LegalCalendar) -> _Position:
    if not history:
        return _Position(last_step=0, record=None, anchor=facts.due_date)
    last_step = max(r.step for r in history)
    attempts = sorted((r for r in history if r.step == last_step), key=lambda r: r.sent_at)
    latest = attempts[-1]
    if latest.status is DeliveryStatus.SKIPPED:
        # Count from the last step actually sent before the skipped one(s), but never before the skip.
        earlier = [r for r in history if r.step < last_step and r.status is not DeliveryStatus.SKIPPED]
        if not earlier:
            raise HistoryRefused.single("history", "GEN-FIRST-STEP-NOT-SKIPPABLE", f"step {last_step} skipped before any step was sent")
        base = max(earlier, key=lambda r: (r.step, r.sent_at))
        return _Position(
            last_step=last_step, record=base, anchor=calendar.local_date(base.sent_at), not_before=calendar.local_date(latest.sent_at)
        )
    return _Position(last_step=last_step, record=latest, anchor=calendar.local_date(latest.sent_at))


def _send(
    facts: ClaimFacts,
    policy: Policy,
    step: Step,
    today: date,
    eligible: date,
    open_amount: Decimal,
    calendar: LegalCalendar,
    history: tuple[StepRecord, ...],
    *,
    repeat_index: int,
    reminders_this_year: int | None = None,
    rates: RateTable | None = None,
) -> Decision:
    regime = policy.regime_for(facts.debtor_kind)
    fee, fee_rule = step.fee_for(facts.debtor_kind), None
    if (
        regime is LegalRegime.BE_CONSUMER_BOOK_XIX
        and policy.recurring_supply
        and fee > 0
        and (reminders_this_year is None or reminders_this_year < BXIX_FREE_REMINDERS_RECURRING)
    ):
        # art. XIX.2 CEL: for the regular supply of goods or services, reminders for three missed
        # due dates per calendar year are free.
        fee, fee_rule = ZERO, "BXIX-RECURRING-FREE"
    amounts: list[ComputedAmount] = []
    announced = None
    if regime is LegalRegime.NL_WIK and step.fee_kind is FeeKind.COLLECTION_COSTS and fee > 0:
        # Stb. 2012, 141: collection costs together never exceed the WIK scale of the principal.
        scale = wik_collection_costs(open_amount)
        charged = sum(
            (r.fee for r in history if r.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
             and policy.step(r.step).fee_kind is FeeKind.COLLECTION_COSTS),
            ZERO,
        )
        allowed = max(scale.amount - charged, ZERO)
        if fee > allowed:
            fee, fee_rule = allowed, "WIK-SCALE"
        amounts.append(scale)
    if step.number == 1 and regime is LegalRegime.BE_CONSUMER_BOOK_XIX:
        # art. XIX.2 CEL: the first reminder states the damages that will be claimed after the term.
        announced = book_xix_lump_sum(open_amount) if policy.escalation.damages.lump_sum == "book_xix_max" else None
    if step.number == 1 and regime is LegalRegime.NL_WIK:
        # art. 6:96 lid 6 BW: the 14-day letter states the exact collection costs (here: the fixed fees, within the scale).
        fixed = sum((s.fee_for(facts.debtor_kind) for s in policy.steps if s.fee_kind is FeeKind.COLLECTION_COSTS), ZERO)
        scale = wik_collection_costs(open_amount)
        announced = build_amount(amount=min(fixed, scale.amount), rule="WIK-SCALE", basis=open_amount, explanation="fixed collection costs of the ladder, within the scale")
    if announced is not None:
        amounts.append(announced)
    interest = None
    if policy.reminder_interest_kind(facts.debtor_kind) == "b2b_reference_rate":
        # the reminder states the interest run up to its own date (B2B: automatic; Book XIX: agreed,
        # and only after the first reminder's term; other regimes: as the policy provides)
        interest = _interest_up_to(facts, policy, history, today, open_amount, calendar, rates)
        if interest is not None and interest.amount > 0:
            amounts.append(interest)
        elif interest is not None:
            interest = None  # no day of interest yet: nothing to state
    suffix = f"repeat-{repeat_index}/" if repeat_index else ""
    return _decision(
        claim_id=facts.claim_id,
        action=Action.SEND_STEP,
        dedup_key=f"dunning/{facts.claim_id}/step/{step.number}/{suffix}{eligible.isoformat()}",
        policy=policy.reference,
        today=today,
        amount_open=open_amount,
        step=step.number,
        step_key=step.key,
        template=step.template,
        repeat=bool(repeat_index),
        channel_requirement=step.channel,
        fee=round_cents(fee),
        fee_vat_percent=step.fee_vat_percent,
        fee_rule=fee_rule,
        new_term_days=step.term.days,
        new_term_counts_from=step.term.counts_from,
        new_due_date=presumed_term_end_if_sent(policy, step, today, calendar),
        announced_damages=announced,
        interest=interest,
        rate_version=interest.rate_version if interest else None,
        detail=f"step {step.number} ({step.key}) eligible since {eligible.isoformat()}",
        amounts=tuple(amounts),
    )


def _repeat(
    facts: ClaimFacts,
    policy: Policy,
    position: _Position,
    today: date,
    open_amount: Decimal,
    calendar: LegalCalendar,
    history: tuple[StepRecord, ...],
    request: RepeatRequest,
    reminders_this_year: int | None,
    rates: RateTable | None = None,
) -> Decision:
    if position.record is None or position.record.step != position.last_step:
        raise HistoryRefused.single("repeat", "GEN-REPEAT-NOT-ALLOWED", "nothing to repeat")
    step = policy.step(position.last_step)
    if not step.repeatable:
        raise HistoryRefused.single("repeat", "GEN-REPEAT-NOT-ALLOWED", f"step {step.number} ({step.key}) is not repeatable")
    end = term_end_for(policy, position.record, calendar)
    if end is None:
        return _wait(facts, policy, today, open_amount, WaitReason.WAITING_FOR_DELIVERY, f"step {step.number}: delivery not known")
    eligible = end + timedelta(days=1)
    if today < eligible:
        return _wait(facts, policy, today, open_amount, WaitReason.NOT_YET_DUE, f"repeat of step {step.number} possible from {eligible.isoformat()}", wait_until=eligible)
    count = sum(1 for r in history if r.step == step.number and r.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED))
    decision = _send(
        facts, policy, step, today, eligible, open_amount, calendar, history, repeat_index=count, reminders_this_year=reminders_this_year, rates=rates
    )
    return _replace_detail(decision, f"repeat {count} of step {step.number} requested by {request.author}: {request.reason}")


def _replace_detail(decision: Decision, detail: str) -> Decision:
    return replace(decision, detail=detail)


def _registered_with_proof(policy: Policy, history: tuple[StepRecord, ...]) -> bool:
    for record in history:
        step = policy.step(record.step)
        if (
            step.channel is ChannelRequirement.REGISTERED
            and record.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
            and (record.registered or record.channel is Channel.REGISTERED_PAPER)
            and record.proof_reference
        ):
            return True
    return False


def _interest_up_to(
    facts: ClaimFacts, policy: Policy, history: tuple[StepRecord, ...], today: date, open_amount: Decimal, calendar: LegalCalendar, rates: RateTable | None,
) -> ComputedAmount | None:
    """Interest at the reference rate on the open amount up to and including `today`, from the day
    the claim's regime lets it run; None while it may not run yet.

    - Book XIX: only after the 14-day term of the first reminder has run (art. XIX.2 CEL), capped at
      the reference rate (art. XIX.4 CEL); before the first reminder was sent there is none.
    - B2B: from the day after the due date, without notice (art. 5 Law 2 Aug 2002).
    - Otherwise (the policy provides for it): from the day after the due date.
    """
    regime = policy.regime_for(facts.debtor_kind)
    if regime is LegalRegime.BE_CONSUMER_BOOK_XIX:
        first = sorted((r for r in history if r.step == 1 and r.status in (DeliveryStatus.SENT, DeliveryStatus.DELIVERED)), key=lambda r: r.sent_at)
        first_end = term_end_for(policy, first[0], calendar) if first else None
        if first_end is None or today <= first_end:
            return None
        return reference_rate_interest(open_amount, first_end + timedelta(days=1), today, rule=RULE_BXIX_INTEREST, rates=rates)
    rule = RULE_B2B_INTEREST if regime is LegalRegime.BE_B2B_LATE_PAYMENT else RULE_POLICY_INTEREST
    return reference_rate_interest(open_amount, facts.due_date + timedelta(days=1), today, rule=rule, rates=rates)


def _escalate(
    facts: ClaimFacts,
    policy: Policy,
    history: tuple[StepRecord, ...],
    today: date,
    eligible: date,
    open_amount: Decimal,
    calendar: LegalCalendar,
    rates: RateTable | None,
) -> Decision:
    esc = policy.escalation
    if esc.requires_registered_step and not _registered_with_proof(policy, history):
        # art. 177 DLB: "De schuldenaar moet bovendien vooraf aangemaand zijn met een aangetekende brief."
        return _wait(
            facts, policy, today, open_amount, WaitReason.WAITING_FOR_DELIVERY,
            f"{esc.kind.value} needs a prior registered reminder with proof of sending; none recorded",
        )
    lump_sum = interest = None
    amounts: list[ComputedAmount] = []
    damages = esc.damages
    if damages.lump_sum == "book_xix_max":
        lump_sum = book_xix_lump_sum(open_amount)
    elif damages.lump_sum == "b2b_flat_40":
        lump_sum = b2b_flat_compensation()
    elif damages.lump_sum == "wik_scale":
        lump_sum = wik_collection_costs(open_amount)
    if damages.interest == "b2b_reference_rate":
        interest = _interest_up_to(facts, policy, history, today, open_amount, calendar, rates)
    amounts.extend(a for a in (lump_sum, interest) if a is not None)
    body = esc.approving_body or esc.issued_by or "creditor"
    return _decision(
        claim_id=facts.claim_id,
        action=Action.ESCALATE,
        dedup_key=f"dunning/{facts.claim_id}/escalate/{esc.kind.value}/{eligible.isoformat()}",
        policy=policy.reference,
        today=today,
        amount_open=open_amount,
        escalation=esc.kind,
        approving_body=esc.approving_body,
        issued_by=esc.issued_by,
        handed_to=esc.handed_to,
        escalation_list=f"{esc.kind.value}/{body}",
        fee=esc.fee,
        fee_vat_percent=esc.fee_vat_percent,
        lump_sum=lump_sum,
        interest=interest,
        rate_version=interest.rate_version if interest else None,
        detail=f"{esc.kind.value} eligible since {eligible.isoformat()} ({esc.legal_basis or 'policy'})",
        amounts=tuple(amounts),
    )


def due_date_for(policy: Policy, issue_date: date, sent_on: date | None) -> date | None:
    """The due date the policy's payment term gives (None while a sending-based term has no send date)."""
    term = policy.payment_term
    base = issue_date if term.counts_from == "issue_date" else sent_on
    if base is None:
        return None
    if term.months:
        return add_months(base, term.months)
    return base + timedelta(days=term.days)
