"""The dunning service on the real database (SQLite and PostgreSQL): a municipality claim walked
from its due date to the dwangbevel list, undelivered reminders, holds, and same-day re-runs."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select

from dunning_support import NOW, claim_status, count, deliver_step, evaluate, principal, store_claim
from gateway.dunning import service
from gateway.dunning.rules import HoldKind
from gateway.store.models import AuditEvent, DunningStep, EscalationEntry, Job
from tests.factories import claim_payload, seed_creditors


@pytest.fixture
def seeded(database):
    return seed_creditors(database)


@pytest.fixture
def claim_id(database, seeded):
    # municipality invoice, business debtor, 107.21 due on Wednesday 2026-12-02
    return store_claim(database, seeded.municipality_key, claim_payload("F2026-0001"))


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def steps(database, claim_id) -> list[DunningStep]:
    with database.session_scope() as session:
        return list(session.scalars(select(DunningStep).where(DunningStep.claim_id == claim_id).order_by(DunningStep.created_at)))


def escalations(database) -> list[EscalationEntry]:
    with database.session_scope() as session:
        return list(session.scalars(select(EscalationEntry)))


def walk_to_second_reminder(database, claim_id) -> DunningStep:
    """Step 1 by e-mail on 2026-12-07 (sent), step 2 decided on 2027-01-11; returns step 2's row."""
    first = evaluate(database, claim_id, date(2026, 12, 7))
    deliver_step(database, first.step_id, channel="email", state="sent", sent_at=utc(2026, 12, 7, 9), number=1)
    second = evaluate(database, claim_id, date(2027, 1, 11))
    assert (second.decision.action.value, second.decision.step, second.recorded) == ("send_step", 2, True)
    return [s for s in steps(database, claim_id) if s.step == 2][0]


def test_municipality_claim_walks_from_due_date_to_the_dwangbevel_list(database, claim_id):
    not_due = evaluate(database, claim_id, date(2026, 12, 2))
    assert (not_due.decision.action.value, not_due.decision.reason.value, not_due.decision.wait_until) == ("wait", "not_yet_due", date(2026, 12, 3))
    booking = evaluate(database, claim_id, date(2026, 12, 3))
    # receipts are booked weekly on Monday: no reminder before the first booking after the due date
    assert (booking.decision.reason.value, booking.decision.wait_until) == ("waiting_for_weekly_booking", date(2026, 12, 7))
    assert steps(database, claim_id) == []

    first = evaluate(database, claim_id, date(2026, 12, 7))
    assert first.recorded is True
    assert first.decision.dedup_key == f"dunning/{claim_id}/step/1/2026-12-07"
    [row] = steps(database, claim_id)
    assert (row.step, row.step_key, row.action, row.status, row.decided_on) == (1, "first_reminder", "send_step", "decided", date(2026, 12, 7))
    assert (row.fee, row.amount_open, row.new_due_date, row.channel_requirement) == (Decimal("0.00"), Decimal("107.21"), date(2027, 1, 6), "any")
    assert (row.policy, row.rule_set_version, row.rate_version) == ("municipality-non-fiscal@2026.2", first.decision.rule_set_version, None)
    with database.session_scope() as session:
        [job] = session.scalars(select(Job).where(Job.kind == "dunning.send_step")).all()
        assert (job.payload, job.dedup_key) == ({"step_id": str(row.id)}, f"dunning.send_step:{row.id}")
        assert service.prepare_send(session, row.id, today=date(2026, 12, 7), now=utc(2026, 12, 7, 7)) == "decided"

    # the channel work issues the reminder and sends it by e-mail the same morning
    deliver_step(database, row.id, channel="email", state="sent", sent_at=utc(2026, 12, 7, 9), number=1)
    waiting = evaluate(database, claim_id, date(2027, 1, 7))
    # step 2 possible from 2027-01-07 (30 days from sending + 1), then the Monday booking after 2027-01-06
    assert (waiting.decision.reason.value, waiting.decision.wait_until) == ("waiting_for_weekly_booking", date(2027, 1, 11))
    assert steps(database, claim_id)[0].status == "sent"

    second = evaluate(database, claim_id, date(2027, 1, 11))
    assert (second.decision.step, second.decision.fee, second.decision.channel_requirement.value) == (2, Decimal("15.00"), "registered")
    assert second.decision.dedup_key == f"dunning/{claim_id}/step/2/2027-01-11"
    assert second.decision.new_due_date == date(2027, 1, 31)
    two = steps(database, claim_id)[1]
    # a registered letter, posted 2027-01-11, delivered (signed for) on 2027-01-13
    deliver_step(database, two.id, channel="registered_paper", state="delivered", sent_at=utc(2027, 1, 11, 15), changed_at=utc(2027, 1, 13, 11), proof="RR123456785BE", number=2)

    before = evaluate(database, claim_id, date(2027, 1, 31))
    assert (before.decision.reason.value, before.decision.wait_until) == ("not_yet_due", date(2027, 2, 1))
    escalated = evaluate(database, claim_id, date(2027, 2, 1))
    assert (escalated.decision.action.value, escalated.recorded) == ("escalate", True)
    assert escalated.decision.dedup_key == f"dunning/{claim_id}/escalate/dwangbevel/2027-02-01"
    assert claim_status(database, claim_id) == "escalated"
    rows = steps(database, claim_id)
    assert [(s.step, s.action, s.status) for s in rows] == [(1, "send_step", "sent"), (2, "send_step", "delivered"), (None, "escalate", "listed")]
    assert (rows[1].registered, rows[1].proof_reference, rows[1].delivered_at) == (True, "RR123456785BE", utc(2027, 1, 13, 11))
    [entry] = escalations(database)
    assert (entry.claim_id, entry.kind, entry.approving_body, entry.status, entry.amount_open) == (claim_id, "dwangbevel", "college_van_burgemeester_en_schepenen", "pending", Decimal("107.21"))
    proof = entry.evidence["registered_reminder"]
    assert (proof["step"], proof["channel"], proof["proof_reference"], proof["delivered_at"]) == (2, "registered_paper", "RR123456785BE", "2027-01-13T11:00:00+00:00")
    assert proof["document_sha256"] is not None and entry.evidence["past_disputes"] == [] and entry.evidence["undisputed_on"] == "2027-02-01"

    # the same day again, and the day after: nothing new
    again = evaluate(database, claim_id, date(2027, 2, 1))
    assert (again.decision.action.value, again.decision.reason.value, again.recorded) == ("wait", "already_escalated", False)
    assert count(database, DunningStep) == 3 and count(database, EscalationEntry) == 1
    with database.session_scope() as session:
        actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.entity_id == claim_id).order_by(AuditEvent.id))]
    assert actions == ["claim.created", "dunning.step_decided", "dunning.step_ready", "dunning.dispatch_attached", "dunning.step_decided", "dunning.dispatch_attached", "dunning.escalated"]


def test_same_day_rerun_is_a_no_op_on_the_dedup_key(database, claim_id):
    first = evaluate(database, claim_id, date(2026, 12, 7))
    second = evaluate(database, claim_id, date(2026, 12, 7))
    # not sent yet: the next day proposes the same step with the same key, still a no-op
    third = evaluate(database, claim_id, date(2026, 12, 8))
    assert (first.recorded, second.recorded, third.recorded) == (True, False, False)
    assert first.decision.dedup_key == second.decision.dedup_key == third.decision.dedup_key == f"dunning/{claim_id}/step/1/2026-12-07"
    assert second.step_id == first.step_id
    assert count(database, DunningStep) == 1
    assert count(database, Job, Job.kind == "dunning.send_step") == 1


def test_undelivered_registered_reminder_never_escalates_until_a_fallback_goes_out(database, claim_id):
    two = walk_to_second_reminder(database, claim_id)
    document_id = deliver_step(database, two.id, channel="registered_paper", state="failed_permanent", sent_at=utc(2027, 1, 11, 15), changed_at=utc(2027, 1, 14, 8), number=2)
    for day in (date(2027, 2, 1), date(2027, 3, 1), date(2027, 6, 1)):
        outcome = evaluate(database, claim_id, day)
        assert (outcome.decision.action.value, outcome.decision.reason.value) == ("wait", "waiting_for_delivery")
    assert "undelivered on registered_paper" in outcome.decision.detail
    assert steps(database, claim_id)[1].status == "undelivered"
    assert escalations(database) == [] and claim_status(database, claim_id) == "open"

    # the delivery layer re-sends the same document to a repaired address: its sending starts the term
    from dunning_support import add_dispatch
    from gateway.store.models import Document

    with database.session_scope() as session:
        add_dispatch(session, session.get(Document, document_id), channel="registered_paper", state="sent", sent_at=utc(2027, 6, 2, 10), proof="RR987654323BE", recipient="Veldstraat 2, 9000 Gent, BE")
    waiting = evaluate(database, claim_id, date(2027, 6, 3))
    # 20 days from sending on 2027-06-02 end on 2027-06-22; escalation from 2027-06-23, booked the Monday after: 2027-06-28
    assert (waiting.decision.reason.value, waiting.decision.wait_until) == ("not_yet_due", date(2027, 6, 23))
    row = steps(database, claim_id)[1]
    assert (row.status, row.proof_reference, row.sent_at) == ("sent", "RR987654323BE", utc(2027, 6, 2, 10))
    escalated = evaluate(database, claim_id, date(2027, 6, 28))
    assert (escalated.decision.action.value, escalated.decision.dedup_key) == ("escalate", f"dunning/{claim_id}/escalate/dwangbevel/2027-06-28")
    [entry] = escalations(database)
    assert entry.evidence["registered_reminder"]["proof_reference"] == "RR987654323BE"


def test_a_hold_stops_the_clock_and_its_days_are_added(database, seeded, claim_id):
    first = evaluate(database, claim_id, date(2026, 12, 7))
    deliver_step(database, first.step_id, channel="email", state="sent", sent_at=utc(2026, 12, 7, 9), number=1)
    who = principal(database, seeded.municipality_key)
    with database.session_scope() as session:
        hold = service.add_hold(session, who, claim_id, kind=HoldKind.MANUAL, reason="debtor called, checking the meter", author="ann.desmet",
                                starts_on=date(2026, 12, 20), ends_on=date(2026, 12, 29), today=date(2026, 12, 20), now=utc(2026, 12, 20, 9))
        hold_id = hold.id
    assert claim_status(database, claim_id) == "on_hold"
    held = evaluate(database, claim_id, date(2026, 12, 22))
    assert (held.decision.reason.value, held.decision.wait_until) == ("on_hold", date(2026, 12, 30))
    assert held.decision.detail == "manual by ann.desmet: debtor called, checking the meter"

    # 10 days on hold: step 2 possible from 2027-01-17 instead of 2027-01-07; booked Monday 2027-01-18
    after = evaluate(database, claim_id, date(2027, 1, 11))
    assert (after.decision.reason.value, after.decision.wait_until) == ("not_yet_due", date(2027, 1, 17))
    assert claim_status(database, claim_id) == "open"  # the hold ran out on 2026-12-29
    second = evaluate(database, claim_id, date(2027, 1, 18))
    assert (second.decision.step, second.decision.dedup_key) == (2, f"dunning/{claim_id}/step/2/2027-01-18")

    with database.session_scope() as session:
        actions = [(e.action, e.actor, e.data.get("hold_id")) for e in session.scalars(select(AuditEvent).where(AuditEvent.action.like("hold.%")).order_by(AuditEvent.id))]
    assert actions == [("hold.added", who.actor, str(hold_id)), ("hold.lapsed", "dunning.run", None)]


def test_an_open_ended_dispute_blocks_until_it_is_ended(database, seeded, claim_id):
    who = principal(database, seeded.municipality_key)
    with database.session_scope() as session:
        hold = service.add_hold(session, who, claim_id, kind=HoldKind.DISPUTE, reason="contests the hall rent", author="debtor letter 2026-12-01",
                                starts_on=date(2026, 12, 1), ends_on=None, today=date(2026, 12, 1), now=utc(2026, 12, 1, 9))
        hold_id = hold.id
    assert claim_status(database, claim_id) == "disputed"
    blocked = evaluate(database, claim_id, date(2027, 3, 1))
    assert (blocked.decision.reason.value, blocked.decision.wait_until) == ("on_hold", None)
    with database.session_scope() as session:
        service.end_hold(session, who, claim_id, hold_id, author="ann.desmet", ends_on=date(2027, 3, 1), now=utc(2027, 3, 1, 12))
    assert claim_status(database, claim_id) == "open"
    # held from the due date 2026-12-02 to 2027-03-01: 90 days added to step 1's first possible day 2026-12-03
    resumed = evaluate(database, claim_id, date(2027, 3, 2))
    assert (resumed.decision.reason.value, resumed.decision.wait_until) == ("not_yet_due", date(2027, 3, 3))
    booked = evaluate(database, claim_id, date(2027, 3, 3))
    assert (booked.decision.reason.value, booked.decision.wait_until) == ("waiting_for_weekly_booking", date(2027, 3, 8))
    first = evaluate(database, claim_id, date(2027, 3, 8))
    assert (first.decision.step, first.decision.dedup_key) == (1, f"dunning/{claim_id}/step/1/2027-03-08")
