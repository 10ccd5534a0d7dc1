"""The pure engine: each shipped ladder walked from due date to escalation with exact dates,
delivery-aware clocks, holds, weekly booking, payment plans and dedup keys."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from gateway.domain.claim import Channel, ClaimType, DebtorKind
from gateway.dunning.calendar import BE_CALENDAR
from gateway.dunning.payment_plan import PlanState
from gateway.dunning.policy import ChannelRequirement, EscalationKind, TermBasis, shipped_policies
from gateway.dunning.rules import (
    Action,
    ClaimFacts,
    DeliveryStatus,
    Hold,
    HoldKind,
    HistoryRefused,
    Payment,
    PolicyMismatch,
    RepeatRequest,
    StepRecord,
    WaitReason,
    decide,
    due_date_for,
    next_booking_day,
    term_end_for,
)

POLICIES = shipped_policies()
D = date


def at(day: date, hour: int = 9) -> datetime:
    """A send or delivery instant (UTC; 09:00 UTC is the same calendar day in Brussels and Amsterdam)."""
    return datetime(day.year, day.month, day.day, hour, tzinfo=timezone.utc)


def facts(claim_id="C1", principal="120.00", due=D(2025, 3, 3), claim_type=ClaimType.INVOICE, fiscal=False, kind=DebtorKind.CONSUMER, **extra):
    return ClaimFacts(claim_id, Decimal(principal), due, claim_type, fiscal, kind, **extra)


def sent(step, day, channel=Channel.EMAIL, **extra):
    return StepRecord(step=step, sent_at=at(day), channel=channel, **extra)


def assert_wait(decision, reason, until=None):
    assert (decision.action, decision.reason) == (Action.WAIT, reason), decision.detail
    if until is not None:
        assert decision.wait_until == until


def assert_send(decision, step, key_date, fee, new_due_date=None):
    assert decision.action is Action.SEND_STEP, f"{decision.reason}: {decision.detail}"
    assert decision.step == step
    assert decision.dedup_key == f"dunning/{decision.claim_id}/step/{step}/{key_date.isoformat()}"
    assert decision.fee == Decimal(fee)
    if new_due_date is not None:
        assert decision.new_due_date == new_due_date


# --- OCMW non-fiscal: 30 days, free reminder +30 after sending, registered €15 +20, dwangbevel (vast bureau)


def test_ocmw_ladder_end_to_end():
    policy, claim = POLICIES["ocmw-non-fiscal"], facts(due=D(2025, 3, 3), kind=DebtorKind.BUSINESS)  # Monday
    assert_wait(decide(claim, policy, today=D(2025, 3, 3)), WaitReason.NOT_YET_DUE, D(2025, 3, 4))
    # receipts are booked weekly (Monday): no reminder before the booking after the due date
    assert_wait(decide(claim, policy, today=D(2025, 3, 4)), WaitReason.WAITING_FOR_WEEKLY_BOOKING, D(2025, 3, 10))
    first = decide(claim, policy, today=D(2025, 3, 10))
    assert_send(first, 1, D(2025, 3, 10), "0.00", new_due_date=D(2025, 4, 9))
    assert first.channel_requirement is ChannelRequirement.ANY

    history = [sent(1, D(2025, 3, 10))]
    assert_wait(decide(claim, policy, today=D(2025, 4, 9), history=history), WaitReason.NOT_YET_DUE, D(2025, 4, 10))
    assert_wait(decide(claim, policy, today=D(2025, 4, 10), history=history), WaitReason.WAITING_FOR_WEEKLY_BOOKING, D(2025, 4, 14))
    second = decide(claim, policy, today=D(2025, 4, 14), history=history)
    assert_send(second, 2, D(2025, 4, 14), "15.00", new_due_date=D(2025, 5, 4))
    assert second.channel_requirement is ChannelRequirement.REGISTERED
    # a household pays the Book XIX fee of the same step (7.50 + no declared registered postage)
    household = decide(facts(due=D(2025, 3, 3)), policy, today=D(2025, 4, 14), history=history)
    assert (household.step, household.fee, household.channel_requirement) == (2, Decimal("7.50"), ChannelRequirement.REGISTERED)

    history.append(sent(2, D(2025, 4, 14), Channel.REGISTERED_PAPER, proof_reference="RR 1234 5678 BE"))
    assert_wait(decide(claim, policy, today=D(2025, 5, 4), history=history), WaitReason.NOT_YET_DUE, D(2025, 5, 5))
    escalation = decide(claim, policy, today=D(2025, 5, 5), history=history)
    assert escalation.action is Action.ESCALATE
    assert (escalation.escalation, escalation.approving_body, escalation.escalation_list) == (
        EscalationKind.DWANGBEVEL, "vast_bureau", "dwangbevel/vast_bureau"
    )
    assert escalation.dedup_key == "dunning/C1/escalate/dwangbevel/2025-05-05"
    # the same pending action a week later keeps the same key
    assert decide(claim, policy, today=D(2025, 5, 12), history=history).dedup_key == escalation.dedup_key


def test_dwangbevel_needs_registered_reminder_with_proof():
    policy, claim = POLICIES["ocmw-non-fiscal"], facts(due=D(2025, 3, 3))
    base = [sent(1, D(2025, 3, 10))]
    no_proof = base + [sent(2, D(2025, 4, 14), Channel.REGISTERED_PAPER)]
    assert_wait(decide(claim, policy, today=D(2025, 5, 5), history=no_proof), WaitReason.WAITING_FOR_DELIVERY)
    not_registered = base + [sent(2, D(2025, 4, 14), Channel.EMAIL, proof_reference="msg-1")]
    assert_wait(decide(claim, policy, today=D(2025, 5, 5), history=not_registered), WaitReason.WAITING_FOR_DELIVERY)
    e_registered = base + [sent(2, D(2025, 4, 14), Channel.EBOX, registered=True, proof_reference="ebox-42")]
    assert decide(claim, policy, today=D(2025, 5, 5), history=e_registered).action is Action.ESCALATE


# --- Municipality non-fiscal: booking day on Easter Monday moves to Tuesday


def test_municipality_non_fiscal_ladder_with_easter_booking():
    policy = POLICIES["municipality-non-fiscal"]
    claim = facts(due=D(2025, 4, 18), claim_type=ClaimType.RETRIBUTION)  # Good Friday
    # Monday 21 April 2025 is Easter Monday: the weekly booking happens on Tuesday 22 April
    assert next_booking_day(D(2025, 4, 18), 0, BE_CALENDAR) == D(2025, 4, 22)
    assert_wait(decide(claim, policy, today=D(2025, 4, 19)), WaitReason.WAITING_FOR_WEEKLY_BOOKING, D(2025, 4, 22))
    assert_send(decide(claim, policy, today=D(2025, 4, 22)), 1, D(2025, 4, 22), "0.00", new_due_date=D(2025, 5, 22))
    history = [sent(1, D(2025, 4, 22), Channel.PAPER)]
    assert_wait(decide(claim, policy, today=D(2025, 5, 23), history=history), WaitReason.WAITING_FOR_WEEKLY_BOOKING, D(2025, 5, 26))
    # a consumer's retribution: the Book XIX fee of the registered step
    assert_send(decide(claim, policy, today=D(2025, 5, 26), history=history), 2, D(2025, 5, 26), "7.50", new_due_date=D(2025, 6, 15))
    history.append(sent(2, D(2025, 5, 26), Channel.REGISTERED_PAPER, proof_reference="RR-2"))
    assert_wait(decide(claim, policy, today=D(2025, 6, 15), history=history), WaitReason.NOT_YET_DUE, D(2025, 6, 16))
    escalation = decide(claim, policy, today=D(2025, 6, 16), history=history)
    assert (escalation.action, escalation.escalation_list) == (Action.ESCALATE, "dwangbevel/college_van_burgemeester_en_schepenen")
    assert escalation.dedup_key == "dunning/C1/escalate/dwangbevel/2025-06-16"


# --- AGB non-fiscal


def test_agb_ladder_end_to_end():
    policy, claim = POLICIES["agb-non-fiscal"], facts(due=D(2025, 9, 30), claim_type=ClaimType.RENT, kind=DebtorKind.BUSINESS)
    assert_wait(decide(claim, policy, today=D(2025, 10, 1)), WaitReason.WAITING_FOR_WEEKLY_BOOKING, D(2025, 10, 6))
    assert_send(decide(claim, policy, today=D(2025, 10, 6)), 1, D(2025, 10, 6), "0.00")
    history = [sent(1, D(2025, 10, 6), Channel.PEPPOL)]
    assert_wait(decide(claim, policy, today=D(2025, 11, 6), history=history), WaitReason.WAITING_FOR_WEEKLY_BOOKING, D(2025, 11, 10))
    assert_send(decide(claim, policy, today=D(2025, 11, 10), history=history), 2, D(2025, 11, 10), "15.00", new_due_date=D(2025, 11, 30))
    history.append(sent(2, D(2025, 11, 10), Channel.REGISTERED_PAPER, proof_reference="RR-3"))
    escalation = decide(claim, policy, today=D(2025, 12, 1), history=history)
    assert (escalation.action, escalation.escalation_list, escalation.handed_to) == (Action.ESCALATE, "dwangbevel/directiecomite", "bailiff")


# --- Municipality fiscal: 2 months, dwangschrift by the financial director without visum


def test_municipality_fiscal_ladder_end_to_end():
    policy = POLICIES["municipality-fiscal"]
    due = due_date_for(policy, issue_date=D(2025, 1, 14), sent_on=D(2025, 1, 15))
    assert due == D(2025, 3, 15)
    claim = facts(due=due, claim_type=ClaimType.TAX_ASSESSMENT, fiscal=True, principal="250.00")
    assert_wait(decide(claim, policy, today=D(2025, 3, 15)), WaitReason.NOT_YET_DUE, D(2025, 3, 16))
    assert_send(decide(claim, policy, today=D(2025, 3, 17)), 1, D(2025, 3, 16), "0.00", new_due_date=D(2025, 4, 16))  # no weekly booking
    history = [sent(1, D(2025, 3, 17), Channel.PAPER)]
    assert_wait(decide(claim, policy, today=D(2025, 4, 16), history=history), WaitReason.NOT_YET_DUE, D(2025, 4, 17))
    assert_send(decide(claim, policy, today=D(2025, 4, 17), history=history), 2, D(2025, 4, 17), "15.00", new_due_date=D(2025, 5, 7))
    history.append(sent(2, D(2025, 4, 17), Channel.REGISTERED_PAPER, proof_reference="RR-4"))
    assert_wait(decide(claim, policy, today=D(2025, 5, 7), history=history), WaitReason.NOT_YET_DUE, D(2025, 5, 8))
    escalation = decide(claim, policy, today=D(2025, 5, 8), history=history)
    assert escalation.action is Action.ESCALATE
    assert (escalation.escalation, escalation.approving_body, escalation.issued_by) == (EscalationKind.DWANGSCHRIFT, None, "financial_director")
    assert escalation.dedup_key == "dunning/C1/escalate/dwangschrift/2025-05-08"


# --- Hospital (Book XIX): 30 days after sending, free reminder 14 days, €9 on paper, bailiff


def test_hospital_ladder_end_to_end_with_book_xix_amounts():
    policy = POLICIES["hospital-consumer"]
    due = due_date_for(policy, issue_date=D(2025, 1, 8), sent_on=D(2025, 1, 10))
    assert due == D(2025, 2, 9)
    claim = facts(claim_id="H263", principal="263.00", due=due)
    assert_wait(decide(claim, policy, today=D(2025, 2, 9)), WaitReason.NOT_YET_DUE, D(2025, 2, 10))
    first = decide(claim, policy, today=D(2025, 2, 10))
    # "any" channel: the letter states the paper presumption (Mon 10 Feb -> Thu 13 Feb) + 14 days
    assert_send(first, 1, D(2025, 2, 10), "0.00", new_due_date=D(2025, 2, 27))
    # art. XIX.2: the first reminder announces the damages; 263 -> 41.30 (not the hospital's 41.50)
    assert first.announced_damages.amount == Decimal("41.30")
    assert (first.new_term_days, first.new_term_counts_from) == (14, TermBasis.DELIVERY)

    # e-mailed on 10 Feb: the term starts the next day (11 Feb), 14 days -> last day 25 Feb
    history = [sent(1, D(2025, 2, 10), Channel.EMAIL)]
    assert term_end_for(policy, history[0]) == D(2025, 2, 25)
    assert_wait(decide(claim, policy, today=D(2025, 2, 25), history=history), WaitReason.NOT_YET_DUE, D(2025, 2, 26))
    second = decide(claim, policy, today=D(2025, 2, 26), history=history)
    # Wed 26 Feb on paper: Thu 27 (1), Fri 28 (2), Mon 3 Mar (3) + 14 = 17 Mar
    assert_send(second, 2, D(2025, 2, 26), "9.00", new_due_date=D(2025, 3, 17))
    assert second.channel_requirement is ChannelRequirement.PAPER

    history.append(sent(2, D(2025, 2, 26), Channel.PAPER))
    assert_wait(decide(claim, policy, today=D(2025, 3, 17), history=history), WaitReason.NOT_YET_DUE, D(2025, 3, 18))
    escalation = decide(claim, policy, today=D(2025, 3, 18), history=history)
    assert (escalation.action, escalation.escalation, escalation.handed_to) == (Action.ESCALATE, EscalationKind.BAILIFF, "bailiff")
    assert escalation.lump_sum.amount == Decimal("41.30")
    # interest only after the first reminder's period: 26 Feb .. 18 Mar = 21 days at 11.5 % (2025-H1)
    assert escalation.interest.segments[0].days == 21
    assert escalation.interest.amount == Decimal("1.74")  # 263 x 11.5 % x 21 / 365 = 1.7401
    assert escalation.interest.rule == "BXIX-INTEREST-CAP"
    assert escalation.rate_version == "2026-11-23.1"
    assert escalation.rule_set_version == "dunning-rules/2026.11-1"


def test_hospital_paper_reminder_sent_friday_before_easter_monday():
    policy = POLICIES["hospital-consumer"]
    claim = facts(principal="55.00", due=D(2026, 4, 2))
    history = [sent(1, D(2026, 4, 3), Channel.PAPER)]  # Friday; Monday 6 April 2026 is Easter Monday
    # term starts Thu 9 April (3rd working day), 14 days -> last day 23 April
    assert term_end_for(policy, history[0]) == D(2026, 4, 23)
    assert_wait(decide(claim, policy, today=D(2026, 4, 23), history=history), WaitReason.NOT_YET_DUE, D(2026, 4, 24))
    assert_send(decide(claim, policy, today=D(2026, 4, 24), history=history), 2, D(2026, 4, 24), "9.00")


def test_a_later_stated_due_date_binds_the_creditor():
    policy, claim = POLICIES["hospital-consumer"], facts(due=D(2025, 2, 9))
    # e-mailed 10 Feb: the law ends the term on 25 Feb, but the letter said "pay by 27 Feb"
    history = [sent(1, D(2025, 2, 10), Channel.EMAIL, stated_due_date=D(2025, 2, 27))]
    assert term_end_for(policy, history[0]) == D(2025, 2, 27)
    assert_wait(decide(claim, policy, today=D(2025, 2, 27), history=history), WaitReason.NOT_YET_DUE, D(2025, 2, 28))
    # an earlier stated date never shortens the legal term
    early = [sent(1, D(2025, 2, 10), Channel.EMAIL, stated_due_date=D(2025, 2, 20))]
    assert term_end_for(policy, early[0]) == D(2025, 2, 25)


def test_presumed_term_end_for_the_channel_routing_chose():
    from gateway.dunning.rules import presumed_term_end_if_sent

    policy = POLICIES["hospital-consumer"]
    step = policy.step(1)
    assert presumed_term_end_if_sent(policy, step, D(2025, 2, 10)) == D(2025, 2, 27)  # unknown channel: paper
    assert presumed_term_end_if_sent(policy, step, D(2025, 2, 10), channel=Channel.EMAIL) == D(2025, 2, 25)
    assert presumed_term_end_if_sent(policy, step, D(2025, 2, 10), channel=Channel.EBOX) == D(2025, 2, 25)


def test_actual_delivery_date_beats_the_presumption():
    policy = POLICIES["hospital-consumer"]
    record = sent(1, D(2026, 4, 3), Channel.PAPER, status=DeliveryStatus.DELIVERED, delivered_at=at(D(2026, 4, 14)))
    assert term_end_for(policy, record) == D(2026, 4, 28)


def test_hospital_escalation_in_2026_h2_refuses_to_invent_the_rate():
    policy = POLICIES["hospital-consumer"]
    claim = facts(principal="263.00", due=D(2026, 6, 1))
    history = [sent(1, D(2026, 6, 2), Channel.EMAIL), sent(2, D(2026, 6, 18), Channel.PAPER)]
    decision = decide(claim, policy, today=D(2026, 7, 20), history=history)
    # the interest period runs into 2026-H2, recorded as unknown: wait, never guess, name the period
    assert_wait(decision, WaitReason.RATE_UNKNOWN)
    assert (decision.missing_rate, decision.rate_version, decision.wait_until) == ("b2b_reference_rate 2026-H2", "2026-11-23.1", None)
    assert decision.dedup_key == "dunning/C1/wait/rate_unknown/2026-07-20"
    assert decision.detail.startswith("interest needs the b2b_reference_rate for 2026-H2 (2026-07-01..2026-12-31), not published in rates 2026-11-23.1; ")
    # the same claim a day before the half-year ends is decided as usual
    assert decide(claim, policy, today=D(2026, 6, 30), history=[history[0]]).action is Action.SEND_STEP


def test_a_rate_added_by_the_operator_lets_the_claim_escalate():
    from gateway.dunning.rates import default_rates, merge_rates

    policy = POLICIES["hospital-consumer"]
    claim = facts(principal="263.00", due=D(2026, 6, 1))
    history = [sent(1, D(2026, 6, 2), Channel.EMAIL), sent(2, D(2026, 6, 18), Channel.PAPER)]
    added = merge_rates(default_rates(), {"version": "ops-1", "b2b_reference_rate": [
        {"period": "2026-H2", "from": "2026-07-01", "to": "2026-12-31", "percent": "10.0", "source": "test notice, BS 2026-07-10", "confidence": "V"}]}, origin="ops.json")
    decision = decide(claim, policy, today=D(2026, 7, 20), history=history, rates=added)
    assert decision.action is Action.ESCALATE
    # first reminder e-mailed 2 June: term 3..17 June; interest 18..30 June at 10.5 % + 1..20 July at 10.0 %
    assert [(s.period, s.days, s.percent) for s in decision.interest.segments] == [("2026-H1", 13, Decimal("10.5")), ("2026-H2", 20, Decimal("10.0"))]
    assert decision.interest.amount == Decimal("2.42")  # 263 x 10.5 % x 13/365 + 263 x 10 % x 20/365 = 0.9836 + 1.4411 = 2.4247
    assert decision.rate_version == decision.interest.rate_version == "2026-11-23.1+ops-1"


# --- Water company (NL, WIK): reminder, urgent €17.50, last €22.50, visit, last chance, disconnection


def test_water_ladder_end_to_end():
    policy = POLICIES["water-company-nl"]
    claim = facts(claim_id="W80", principal="80.00", due=D(2025, 6, 2))
    first = decide(claim, policy, today=D(2025, 6, 3))
    # paper presumption: sent Tue 3 Jun, received Thu 5 Jun; 14 days from Fri 6 Jun -> last day 20 Jun
    assert_send(first, 1, D(2025, 6, 3), "0.00", new_due_date=D(2025, 6, 20))
    assert first.announced_damages.amount == Decimal("40.00")  # 17.50 + 22.50, within the WIK minimum

    history = [sent(1, D(2025, 6, 3), Channel.PAPER)]
    assert_wait(decide(claim, policy, today=D(2025, 6, 20), history=history), WaitReason.NOT_YET_DUE, D(2025, 6, 21))
    assert_send(decide(claim, policy, today=D(2025, 6, 23), history=history), 2, D(2025, 6, 21), "17.50")

    history.append(sent(2, D(2025, 6, 23), Channel.EMAIL, status=DeliveryStatus.DELIVERED, delivered_at=at(D(2025, 6, 23), 15), fee=Decimal("17.50")))
    # received 23 Jun: 14 days from 24 Jun -> last day 8 Jul
    assert_wait(decide(claim, policy, today=D(2025, 7, 8), history=history), WaitReason.NOT_YET_DUE, D(2025, 7, 9))
    assert_send(decide(claim, policy, today=D(2025, 7, 9), history=history), 3, D(2025, 7, 9), "22.50")

    history.append(sent(3, D(2025, 7, 9), Channel.PAPER, fee=Decimal("22.50")))
    # paper sent Wed 9 Jul, presumed received Fri 11 Jul; 14 days from 12 Jul -> last day 26 Jul
    visit = decide(claim, policy, today=D(2025, 7, 28), history=history)
    assert_send(visit, 4, D(2025, 7, 27), "0.00")
    assert visit.channel_requirement is ChannelRequirement.IN_PERSON

    planned = history + [StepRecord(step=4, sent_at=at(D(2025, 7, 29)), channel=None)]
    assert_wait(decide(claim, policy, today=D(2025, 8, 20), history=planned), WaitReason.WAITING_FOR_DELIVERY)
    history.append(StepRecord(step=4, sent_at=at(D(2025, 7, 29)), channel=None, status=DeliveryStatus.DELIVERED, delivered_at=at(D(2025, 7, 29), 11)))
    assert_wait(decide(claim, policy, today=D(2025, 8, 5), history=history), WaitReason.NOT_YET_DUE, D(2025, 8, 6))
    assert_send(decide(claim, policy, today=D(2025, 8, 6), history=history), 5, D(2025, 8, 6), "0.00")

    history.append(sent(5, D(2025, 8, 6), Channel.EMAIL, status=DeliveryStatus.DELIVERED, delivered_at=at(D(2025, 8, 6), 10)))
    # last chance one week before: delivered 6 Aug, 7 days -> last day 13 Aug, disconnection from 14 Aug
    assert_wait(decide(claim, policy, today=D(2025, 8, 13), history=history), WaitReason.NOT_YET_DUE, D(2025, 8, 14))
    cut = decide(claim, policy, today=D(2025, 8, 14), history=history)
    assert (cut.action, cut.escalation, cut.fee, cut.fee_vat_percent, cut.handed_to) == (
        Action.ESCALATE, EscalationKind.DISCONNECTION, Decimal("125.00"), Decimal("9"), "field_service"
    )
    assert cut.dedup_key == "dunning/W80/escalate/disconnection/2025-08-14"

    # a medical declaration suspends the disconnection, not the debt
    medical = Hold(HoldKind.MEDICAL_DECLARATION, "verklaring niet-behandelend arts", "klantenservice", D(2025, 8, 10))
    held = decide(claim, policy, today=D(2025, 8, 14), history=history, holds=[medical])
    assert_wait(held, WaitReason.ON_HOLD)
    assert held.hold == medical


def test_medical_declaration_does_not_block_payment_requests():
    policy = POLICIES["water-company-nl"]
    claim = facts(principal="80.00", due=D(2025, 6, 2))
    medical = Hold(HoldKind.MEDICAL_DECLARATION, "ernstig gezondheidsrisico", "klantenservice", D(2025, 6, 1))
    history = [sent(1, D(2025, 6, 3), Channel.PAPER)]
    assert_send(decide(claim, policy, today=D(2025, 6, 23), history=history, holds=[medical]), 2, D(2025, 6, 21), "17.50")
    # and it blocks the personal-visit step (a disconnection step)
    history += [sent(2, D(2025, 6, 23), Channel.EMAIL, fee=Decimal("17.50")), sent(3, D(2025, 7, 9), Channel.PAPER, fee=Decimal("22.50"))]
    assert_wait(decide(claim, policy, today=D(2025, 7, 28), history=history, holds=[medical]), WaitReason.ON_HOLD)


def test_water_repeat_is_capped_by_the_wik_scale():
    policy = POLICIES["water-company-nl"]
    claim = facts(claim_id="W", principal="80.00", due=D(2025, 6, 2))  # WIK scale for 80.00 = 40.00
    history = [sent(1, D(2025, 6, 3), Channel.PAPER), sent(2, D(2025, 6, 23), Channel.EMAIL, fee=Decimal("17.50"))]
    request = RepeatRequest("incasso", "no reaction")
    # e-mail sent 23 Jun: presumed received 24 Jun, 14 days from 25 Jun -> last day 9 Jul
    assert_wait(decide(claim, policy, today=D(2025, 7, 9), history=history, repeat=request), WaitReason.NOT_YET_DUE, D(2025, 7, 10))
    again = decide(claim, policy, today=D(2025, 7, 10), history=history, repeat=request)
    assert (again.action, again.step, again.repeat, again.fee) == (Action.SEND_STEP, 2, True, Decimal("17.50"))
    assert again.dedup_key == "dunning/W/step/2/repeat-1/2025-07-10"
    history.append(sent(2, D(2025, 7, 10), Channel.EMAIL, fee=Decimal("17.50")))
    last = decide(claim, policy, today=D(2025, 7, 30), history=history)
    assert (last.step, last.fee, last.fee_rule) == (3, Decimal("5.00"), "WIK-SCALE")  # 40.00 - 35.00 already charged


def test_repeat_of_a_non_repeatable_step_is_refused():
    policy = POLICIES["ocmw-non-fiscal"]
    with pytest.raises(HistoryRefused) as caught:
        decide(facts(), policy, today=D(2025, 6, 1), history=[sent(1, D(2025, 3, 10))], repeat=RepeatRequest("x", "y"))
    assert caught.value.problems[0].rule == "GEN-REPEAT-NOT-ALLOWED"


def test_water_skip_step_two():
    policy = POLICIES["water-company-nl"]
    claim = facts(principal="80.00", due=D(2025, 6, 2))
    history = [sent(1, D(2025, 6, 3), Channel.PAPER), StepRecord(2, at(D(2025, 6, 23)), None, DeliveryStatus.SKIPPED, author="incasso")]
    assert_send(decide(claim, policy, today=D(2025, 6, 23), history=history), 3, D(2025, 6, 23), "22.50")


def test_skipping_the_personal_visit_is_refused():
    policy = POLICIES["water-company-nl"]
    history = [sent(1, D(2025, 6, 3)), sent(2, D(2025, 6, 23)), sent(3, D(2025, 7, 9)), StepRecord(4, at(D(2025, 7, 28)), None, DeliveryStatus.SKIPPED)]
    with pytest.raises(HistoryRefused) as caught:
        decide(facts(due=D(2025, 6, 2)), policy, today=D(2025, 8, 1), history=history)
    assert caught.value.problems[0].rule == "GEN-SKIP-NOT-ALLOWED"


# --- undelivered reminders


def test_undelivered_reminder_never_starts_a_term_and_never_escalates():
    policy, claim = POLICIES["ocmw-non-fiscal"], facts(due=D(2025, 3, 3))
    bounced = [sent(1, D(2025, 3, 10), status=DeliveryStatus.UNDELIVERED)]
    for today in (D(2025, 4, 14), D(2025, 5, 5), D(2026, 1, 5)):
        decision = decide(claim, policy, today=today, history=bounced)
        assert_wait(decision, WaitReason.WAITING_FOR_DELIVERY)
        assert decision.detail.startswith("step 1 undelivered on email: it starts no term")
    undelivered_registered = [sent(1, D(2025, 3, 10)), sent(2, D(2025, 4, 14), Channel.REGISTERED_PAPER, status=DeliveryStatus.UNDELIVERED, proof_reference="RR")]
    decision = decide(claim, policy, today=D(2025, 9, 1), history=undelivered_registered)
    assert_wait(decision, WaitReason.WAITING_FOR_DELIVERY)
    assert decision.action is not Action.ESCALATE


def test_resend_after_bounce_counts_from_the_resend():
    policy, claim = POLICIES["hospital-consumer"], facts(due=D(2025, 2, 9))
    history = [
        sent(1, D(2025, 2, 10), Channel.EMAIL, status=DeliveryStatus.UNDELIVERED),
        sent(1, D(2025, 2, 12), Channel.PAPER),  # Wed -> 3rd working day Mon 17 Feb, + 14 = 3 Mar
    ]
    assert_wait(decide(claim, policy, today=D(2025, 3, 3), history=history), WaitReason.NOT_YET_DUE, D(2025, 3, 4))
    assert_send(decide(claim, policy, today=D(2025, 3, 4), history=history), 2, D(2025, 3, 4), "9.00")


# --- holds, payments, plans


def test_active_dispute_holds_everything():
    policy, claim = POLICIES["ocmw-non-fiscal"], facts(due=D(2025, 3, 3))
    dispute = Hold(HoldKind.DISPUTE, "contests the invoice", "jan.peeters", D(2025, 3, 5), D(2025, 3, 20))
    decision = decide(claim, policy, today=D(2025, 3, 10), holds=[dispute])
    assert_wait(decision, WaitReason.ON_HOLD, D(2025, 3, 21))
    assert decision.detail == "dispute by jan.peeters: contests the invoice"


def test_buyer_response_uq_pauses_dunning_until_lifted():
    policy, claim = POLICIES["agb-non-fiscal"], facts(due=D(2025, 9, 30), kind=DebtorKind.BUSINESS)
    uq = Hold(HoldKind.BUYER_RESPONSE_UQ, "Peppol invoice response UQ", "peppol", D(2025, 10, 2))
    assert_wait(decide(claim, policy, today=D(2025, 12, 1), holds=[uq]), WaitReason.ON_HOLD, None)


def test_ended_hold_stops_the_clock_and_moves_the_booking():
    policy, claim = POLICIES["ocmw-non-fiscal"], facts(due=D(2025, 3, 3))
    history = [sent(1, D(2025, 3, 10))]  # term ends 9 April
    manual = Hold(HoldKind.MANUAL, "debtor in hospital", "finance", D(2025, 3, 20), D(2025, 3, 24))  # 5 days
    # term now ends 14 April; next booking after it is Monday 21 April 2025 = Easter Monday -> Tuesday 22
    assert_wait(decide(claim, policy, today=D(2025, 4, 14), history=history, holds=[manual]), WaitReason.NOT_YET_DUE, D(2025, 4, 15))
    assert_wait(decide(claim, policy, today=D(2025, 4, 15), history=history, holds=[manual]), WaitReason.WAITING_FOR_WEEKLY_BOOKING, D(2025, 4, 22))
    assert_send(decide(claim, policy, today=D(2025, 4, 22), history=history, holds=[manual]), 2, D(2025, 4, 22), "7.50")  # consumer fee


def test_overlapping_holds_count_each_day_once_and_planned_holds_count_nothing_yet():
    policy, claim = POLICIES["municipality-fiscal"], facts(due=D(2025, 3, 15), claim_type=ClaimType.TAX_ASSESSMENT, fiscal=True)
    history = [sent(1, D(2025, 3, 17), Channel.PAPER)]  # term ends 16 Apr, step 2 from 17 Apr
    dispute = Hold(HoldKind.DISPUTE, "bezwaar", "fin", D(2025, 3, 20), D(2025, 3, 25))  # 6 days
    manual = Hold(HoldKind.MANUAL, "check", "fin", D(2025, 3, 24), D(2025, 3, 27))  # 2 more days (26, 27)
    assert_wait(decide(claim, policy, today=D(2025, 4, 20), history=history, holds=[dispute, manual]), WaitReason.NOT_YET_DUE, D(2025, 4, 25))
    planned = Hold(HoldKind.MANUAL, "planned", "fin", D(2025, 4, 30))
    assert_send(decide(claim, policy, today=D(2025, 4, 17), history=history, holds=[planned]), 2, D(2025, 4, 17), "15.00")


def test_paid_and_partially_paid():
    policy, claim = POLICIES["hospital-consumer"], facts(principal="263.00", due=D(2025, 2, 9))
    full = [Payment(D(2025, 2, 5), Decimal("263.00"))]
    assert_wait(decide(claim, policy, today=D(2025, 2, 10), payments=full), WaitReason.PAID)
    partial = [Payment(D(2025, 2, 5), Decimal("113.00"))]
    first = decide(claim, policy, today=D(2025, 2, 10), payments=partial)
    assert first.amount_open == Decimal("150.00")
    assert first.announced_damages.amount == Decimal("20.00")  # lump sum on the open 150.00
    future = [Payment(D(2025, 2, 11), Decimal("263.00"))]  # not yet paid on 10 Feb
    assert decide(claim, policy, today=D(2025, 2, 10), payments=future).action is Action.SEND_STEP


def test_payment_plan_running_waits_and_defaulted_plan_resumes():
    policy, claim = POLICIES["ocmw-non-fiscal"], facts(due=D(2025, 3, 3))
    history = [sent(1, D(2025, 3, 10))]
    assert_wait(decide(claim, policy, today=D(2025, 6, 2), history=history, plan_state=PlanState.RUNNING), WaitReason.PAYMENT_PLAN_RUNNING)
    resumed = decide(claim, policy, today=D(2025, 6, 2), history=history, plan_state=PlanState.DEFAULTED)
    assert_send(resumed, 2, D(2025, 4, 14), "7.50")  # consumer fee


def test_already_escalated_claim_waits():
    policy = POLICIES["ocmw-non-fiscal"]
    claim = facts(due=D(2025, 3, 3), escalated_on=D(2025, 5, 5))
    assert_wait(decide(claim, policy, today=D(2025, 6, 1)), WaitReason.ALREADY_ESCALATED)


def test_policy_must_cover_the_claim():
    with pytest.raises(PolicyMismatch):
        decide(facts(claim_type=ClaimType.TAX_ASSESSMENT, fiscal=True), POLICIES["ocmw-non-fiscal"], today=D(2025, 4, 1))
    with pytest.raises(PolicyMismatch):
        decide(facts(kind=DebtorKind.BUSINESS), POLICIES["hospital-consumer"], today=D(2025, 4, 1))


def test_naive_datetimes_are_refused():
    policy = POLICIES["ocmw-non-fiscal"]
    naive = StepRecord(1, datetime(2025, 3, 10, 9), Channel.EMAIL)
    with pytest.raises(HistoryRefused):
        decide(facts(), policy, today=D(2025, 4, 1), history=[naive])


def test_wait_keys_are_built_from_ids_and_iso_dates():
    decision = decide(facts(claim_id="abc-1"), POLICIES["ocmw-non-fiscal"], today=D(2025, 3, 3))
    assert decision.dedup_key == "dunning/abc-1/wait/not_yet_due/2025-03-03"
    assert decision.policy == "ocmw-non-fiscal@2026.2"


# --- regime variants that no shipped ladder uses


def _variant(name: str, **changes):
    import copy
    import json
    from pathlib import Path

    from gateway.dunning.policy import parse_policy

    path = Path(__file__).resolve().parents[2] / "gateway" / "dunning" / "policies" / f"{name}.json"
    document = copy.deepcopy(json.loads(path.read_text(encoding="utf-8")))
    for key, value in changes.items():
        document[key] = value
    if "consumer" not in document["debtor_kinds"]:  # a business-only variant: no consumer fees (GEN-REGIME-KINDS)
        for step in document["steps"]:
            step.pop("fees_by_debtor_kind", None)
    return parse_policy(document)


def test_b2b_interest_from_the_day_after_due_date_plus_flat_40():
    policy = _variant(
        "ocmw-non-fiscal",
        id="ocmw-b2b",
        legal_regime="be_b2b_late_payment",
        debtor_kinds=["business"],
        escalation={
            "kind": "dwangbevel", "approving_body": "vast_bureau", "issued_by": "financial_director",
            "legal_basis": "art. 177 DLB", "requires_registered_step": True, "handed_to": "bailiff",
            "delay": {"days": 1, "counts_from": "previous_term_end"},
            "damages": {"lump_sum": "b2b_flat_40", "interest": "b2b_reference_rate"},
        },
    )
    claim = facts(due=D(2025, 3, 3), kind=DebtorKind.BUSINESS)
    history = [sent(1, D(2025, 3, 10), Channel.PEPPOL), sent(2, D(2025, 4, 14), Channel.REGISTERED_PAPER, proof_reference="RR")]
    decision = decide(claim, policy, today=D(2025, 5, 5), history=history)
    assert decision.lump_sum.amount == Decimal("40.00")
    # 4 Mar .. 5 May = 63 days at 11.5 %: 120 x 0.115 x 63 / 365 = 2.3819
    assert (decision.interest.amount, decision.interest.rule, decision.interest.segments[0].days) == (Decimal("2.38"), "B2B-INTEREST", 63)


def test_book_xix_recurring_supply_three_free_reminders_a_year():
    policy = _variant("hospital-consumer", recurring_supply=True)
    claim = facts(due=D(2025, 2, 9))
    history = [sent(1, D(2025, 2, 10), Channel.EMAIL)]
    free = decide(claim, policy, today=D(2025, 2, 26), history=history, reminders_this_year=2)
    assert (free.fee, free.fee_rule) == (Decimal("0.00"), "BXIX-RECURRING-FREE")
    assert decide(claim, policy, today=D(2025, 2, 26), history=history).fee == Decimal("0.00")  # unknown count: free
    assert decide(claim, policy, today=D(2025, 2, 26), history=history, reminders_this_year=3).fee == Decimal("9.00")


def test_wik_letter_announces_fixed_costs_for_a_large_principal():
    first = decide(facts(principal="3000.00", due=D(2025, 6, 2)), POLICIES["water-company-nl"], today=D(2025, 6, 3))
    assert first.announced_damages.amount == Decimal("40.00")  # fixed 17.50 + 22.50, scale would allow 425.00


# --- interest on the reminders themselves (step N: channel requirement, fee, interest, new due date)


def _b2b_ladder():
    """The OCMW ladder declared under the B2B late-payment law (no shipped ladder is B2B)."""
    return _variant("ocmw-non-fiscal", id="ocmw-b2b", legal_regime="be_b2b_late_payment", debtor_kinds=["business"])


def test_b2b_reminders_state_the_interest_run_since_the_day_after_the_due_date():
    policy = _b2b_ladder()
    assert policy.reminder_interest_kind() == "b2b_reference_rate"  # art. 5 Law 2 Aug 2002: without notice, by default
    claim = facts(principal="1000.00", due=D(2025, 3, 3), kind=DebtorKind.BUSINESS)
    first = decide(claim, policy, today=D(2025, 3, 10))
    assert_send(first, 1, D(2025, 3, 10), "0.00")
    # 4 .. 10 March = 7 days at 11.5 % (2025-H1): 1000 x 0.115 x 7 / 365 = 2.2055
    assert (first.interest.amount, first.interest.rule, first.interest.segments[0].first_day, first.interest.segments[-1].last_day) == (
        Decimal("2.21"), "B2B-INTEREST", D(2025, 3, 4), D(2025, 3, 10))
    assert (first.rate_version, first.interest.rate_version, first.interest.rule_set_version) == ("2026-11-23.1", "2026-11-23.1", "dunning-rules/2026.11-1")
    assert [(a.rule, a.amount) for a in first.amounts] == [("B2B-INTEREST", Decimal("2.21"))]

    history = [sent(1, D(2025, 3, 10), Channel.PEPPOL)]
    second = decide(claim, policy, today=D(2025, 4, 14), history=history)
    assert_send(second, 2, D(2025, 4, 14), "15.00")
    # 4 March .. 14 April = 42 days: 1000 x 0.115 x 42 / 365 = 13.2329; the fee and the new due date as before
    assert (second.interest.amount, second.new_due_date, second.channel_requirement) == (Decimal("13.23"), D(2025, 5, 4), ChannelRequirement.REGISTERED)
    # a partial payment lowers the basis: 400 paid on 1 April -> 600 open
    paid = decide(claim, policy, today=D(2025, 4, 14), history=history, payments=[Payment(D(2025, 4, 1), Decimal("400.00"))])
    assert (paid.amount_open, paid.interest.basis, paid.interest.amount) == (Decimal("600.00"), Decimal("600.00"), Decimal("7.94"))  # 600 x 0.115 x 42 / 365 = 7.9397


def test_a_b2b_policy_may_waive_interest_on_its_reminders():
    policy = _variant("ocmw-non-fiscal", id="ocmw-b2b", legal_regime="be_b2b_late_payment", debtor_kinds=["business"], reminder_interest="none")
    decision = decide(facts(principal="1000.00", due=D(2025, 3, 3), kind=DebtorKind.BUSINESS), policy, today=D(2025, 3, 10))
    assert (decision.action, decision.interest, decision.rate_version, decision.amounts) == (Action.SEND_STEP, None, None, ())


def test_book_xix_reminder_interest_only_when_agreed_and_after_the_first_term():
    agreed = _variant("hospital-consumer", reminder_interest="b2b_reference_rate")
    claim = facts(principal="263.00", due=D(2025, 2, 9))
    first = decide(claim, agreed, today=D(2025, 2, 10))
    assert (first.step, first.interest) == (1, None)  # art. XIX.2 CEL: nothing before the first reminder's term has run
    history = [sent(1, D(2025, 2, 10), Channel.EMAIL)]  # term 11 .. 25 February
    second = decide(claim, agreed, today=D(2025, 3, 7), history=history)
    assert_send(second, 2, D(2025, 2, 26), "9.00")
    # 26 February .. 7 March = 10 days at 11.5 %, capped at the reference rate: 263 x 0.115 x 10 / 365 = 0.8286
    assert (second.interest.amount, second.interest.rule, second.interest.segments[0].first_day) == (Decimal("0.83"), "BXIX-INTEREST-CAP", D(2025, 2, 26))
    assert [(a.rule, a.amount) for a in second.amounts] == [("BXIX-INTEREST-CAP", Decimal("0.83"))]
    # the shipped hospital ladder only agrees interest at the bailiff stage: its reminders carry none
    shipped_second = decide(claim, POLICIES["hospital-consumer"], today=D(2025, 3, 7), history=history)
    assert (shipped_second.step, shipped_second.fee, shipped_second.interest) == (2, Decimal("9.00"), None)


def test_other_regimes_charge_reminder_interest_only_as_the_policy_provides():
    assert POLICIES["ocmw-non-fiscal"].reminder_interest_kind() == "none"
    assert POLICIES["water-company-nl"].reminder_interest_kind() == "none"  # WIK: the Belgian rate never applies (GEN-INTEREST-JURISDICTION)
    policy = _variant("ocmw-non-fiscal", reminder_interest="b2b_reference_rate")
    second = decide(facts(principal="120.00", due=D(2025, 3, 3), kind=DebtorKind.BUSINESS), policy, today=D(2025, 4, 14), history=[sent(1, D(2025, 3, 10))])
    # 4 March .. 14 April = 42 days: 120 x 0.115 x 42 / 365 = 1.5879
    assert (second.step, second.interest.amount, second.interest.rule) == (2, Decimal("1.59"), "POLICY-INTEREST")


def test_reminder_interest_over_an_unpublished_rate_waits():
    policy = _b2b_ladder()
    claim = facts(principal="1000.00", due=D(2026, 6, 29), kind=DebtorKind.BUSINESS)
    decision = decide(claim, policy, today=D(2026, 7, 6))
    assert_wait(decision, WaitReason.RATE_UNKNOWN)
    assert decision.missing_rate == "b2b_reference_rate 2026-H2"
