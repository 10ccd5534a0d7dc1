"""Payment plans under the dunning service, the worker handlers and `gateway dunning run`
(real database, SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from dunning_support import claim_status, count, evaluate, principal, store_claim
from gateway.cli import main
from gateway.dunning import service
from gateway.dunning.payment_plan import PlanRefused
from gateway.kit.time import utc_now
from gateway.store.models import AuditEvent, Claim, DunningPolicyAssignment, DunningStep, Job, Payment, PaymentPlan
from gateway.workers.run import Worker
from tests.factories import claim_payload, consumer_claim, seed_creditors


@pytest.fixture
def seeded(database):
    return seed_creditors(database)


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def grant(database, key, claim_ids, months, first_due, **kwargs):
    with database.session_scope() as session:
        granted = service.grant_plan(session, principal(database, key), claim_ids, months=months, first_due_date=first_due,
                                     exception_by=kwargs.get("by"), exception_reason=kwargs.get("reason"), confirmed_on=kwargs.get("confirmed_on"), confirmation_days=14,
                                     today=date(2026, 12, 1), now=utc(2026, 12, 1, 9))
        return granted.plan.id, [(i.number, i.due_date, i.amount) for i in granted.instalments]


def test_two_missed_instalments_end_the_plan_and_put_the_claim_back_into_dunning(database, seeded):
    claim_id = store_claim(database, seeded.municipality_key, claim_payload("F2026-0600"))
    plan_id, instalments = grant(database, seeded.municipality_key, [claim_id], 4, date(2026, 12, 15), confirmed_on=date(2026, 12, 1))
    assert instalments == [(1, date(2026, 12, 15), Decimal("26.80")), (2, date(2027, 1, 15), Decimal("26.80")),
                           (3, date(2027, 2, 15), Decimal("26.80")), (4, date(2027, 3, 15), Decimal("26.81"))]
    assert claim_status(database, claim_id) == "in_payment_plan"
    # the first instalment is paid on time, the second and third are not
    with database.session_scope() as session:
        session.add(Payment(claim_id=claim_id, amount=Decimal("26.80"), paid_on=date(2026, 12, 14), source="api", created_at=utc(2026, 12, 14, 9)))
    running = evaluate(database, claim_id, date(2027, 2, 15))  # one missed (the second), the third still payable today
    assert (running.decision.reason.value, claim_status(database, claim_id)) == ("payment_plan_running", "in_payment_plan")
    back = evaluate(database, claim_id, date(2027, 2, 16))
    assert claim_status(database, claim_id) == "open"
    with database.session_scope() as session:
        plan = session.get(PaymentPlan, plan_id)
        assert (plan.status, plan.ended_on) == ("defaulted", date(2027, 2, 16))
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "payment_plan.defaulted")).all()
        assert (event.data["missed"], event.data["rules"], event.data["from"], event.data["to"]) == ([2, 3], ["PLAN-TWO-MISSED"], "in_payment_plan", "open")
    # back into dunning: 80.41 open (107.21 - 26.80), the first reminder goes out at once
    assert (back.decision.action.value, back.decision.step, back.decision.amount_open) == ("send_step", 1, Decimal("80.41"))


def test_refused_plan_names_the_rule_and_stores_nothing(database, seeded):
    claim_id = store_claim(database, seeded.municipality_key, claim_payload("F2026-0700"))
    with pytest.raises(PlanRefused) as refused:
        grant(database, seeded.municipality_key, [claim_id], 11, date(2026, 12, 15))
    # 107.21 / 11 = 9.74: below 10 % (10.72) and below 15.00
    assert refused.value.rules == ["PLAN-MIN-10-PERCENT", "PLAN-MIN-15-EUR"]
    assert count(database, PaymentPlan) == 0 and claim_status(database, claim_id) == "open"


def test_worker_scans_evaluates_and_prepares_the_reminder_once_a_day(database, seeded, settings):
    first = store_claim(database, seeded.municipality_key, claim_payload("F2026-0800"))
    second = store_claim(database, seeded.municipality_key, claim_payload("F2026-0801", due_date="2027-03-01"))
    with database.session_scope() as session:
        session.execute(Job.__table__.delete())  # the intake's claim.issue jobs are not under test here
        # jobs are due at the real `now`; the day they decide for is in their payload
        assert service.scan(session, today=date(2026, 12, 7), now=utc_now()) == 2
    with database.session_scope() as session:
        assert service.scan(session, today=date(2026, 12, 7), now=utc_now()) == 0
    worker = Worker(database, settings, name="test")
    assert worker.drain() == 3  # two evaluations, one send_step
    with database.session_scope() as session:
        jobs = sorted((j.kind, j.state) for j in session.scalars(select(Job)))
        assert jobs == [("dunning.evaluate", "done"), ("dunning.evaluate", "done"), ("dunning.send_step", "done")]
        [step] = session.scalars(select(DunningStep)).all()
        assert (step.claim_id, step.step, step.status, step.dedup_key) == (first, 1, "decided", f"dunning/{first}/step/1/2026-12-07")
        ready = session.scalars(select(AuditEvent).where(AuditEvent.action == "dunning.step_ready")).all()
        assert [(e.entity_id, e.data["template"]) for e in ready] == [(first, "dunning.municipality.first_reminder")]
    assert claim_status(database, second) == "open"


def test_send_step_is_cancelled_when_the_claim_was_paid_in_between(database, seeded):
    claim_id = store_claim(database, seeded.municipality_key, claim_payload("F2026-0900"))
    decided = evaluate(database, claim_id, date(2026, 12, 7))
    with database.session_scope() as session:
        session.get(Claim, claim_id).status = "paid"
    with database.session_scope() as session:
        assert service.prepare_send(session, decided.step_id, today=date(2026, 12, 7), now=utc(2026, 12, 7, 8)) == "cancelled"
    with database.session_scope() as session:
        assert session.get(DunningStep, decided.step_id).status == "cancelled"
        [event] = session.scalars(select(AuditEvent).where(AuditEvent.action == "dunning.step_cancelled")).all()
        assert event.data["reason"] == "claim is paid"


def test_cli_run_twice_the_same_day_changes_nothing_the_second_time(database, seeded, cli_database):
    store_claim(database, seeded.municipality_key, claim_payload("F2026-1000"))
    # a hospital claim: the hospital's ladder covers consumers only, so a business debtor has no policy
    store_claim(database, seeded.hospital_key, claim_payload("Z2026-0001"))
    hospital_bill = consumer_claim("Z2026-0002", due_date="2026-12-20")
    hospital_bill["type"] = "invoice"
    store_claim(database, seeded.hospital_key, hospital_bill)
    first = CliRunner().invoke(main, ["dunning", "run", "--as-of", "2026-12-07"])
    assert first.exit_code == 0, first.output
    assert first.output.splitlines() == [
        "dunning run 2026-12-07: 2 claims evaluated",
        "  recorded send_step  1",
        "  recorded escalate   0",
        "  already recorded    0",
        "  wait not_yet_due     1",
        "  refused POLICY-MATCH 1",
    ]
    # --today is the older name of --as-of
    second = CliRunner().invoke(main, ["dunning", "run", "--today", "2026-12-07"])
    assert "  recorded send_step  0" in second.output and "  already recorded    1" in second.output
    assert count(database, DunningStep) == 1
    help_text = CliRunner().invoke(main, ["dunning", "run", "--help"]).output
    assert "--as-of, --today YYYY-MM-DD" in help_text
    bad = CliRunner().invoke(main, ["dunning", "run", "--as-of", "07-12-2026"])
    assert (bad.exit_code, bad.output.splitlines()[-1]) == (2, "Error: Invalid value: not an ISO date: '07-12-2026'")


def test_cli_scan_as_of_queues_the_evaluations_for_that_day(database, seeded, cli_database):
    claim_id = store_claim(database, seeded.municipality_key, claim_payload("F2026-1001"))
    result = CliRunner().invoke(main, ["dunning", "scan", "--as-of", "2026-12-07"])
    assert (result.exit_code, result.output) == (0, "queued 1 dunning.evaluate jobs for 2026-12-07\n")
    with database.session_scope() as session:
        [job] = session.scalars(select(Job).where(Job.kind == "dunning.evaluate")).all()
        assert (job.payload, job.dedup_key) == ({"claim_id": str(claim_id), "today": "2026-12-07"}, f"dunning.evaluate:{claim_id}:2026-12-07")


def test_cli_assign_overrides_the_policy_by_kind(database, seeded, cli_database):
    result = CliRunner().invoke(main, ["dunning", "assign", "gent", "invoice", "agb-non-fiscal"])
    assert (result.exit_code, result.output) == (0, "gent invoice fiscal=False -> agb-non-fiscal\n")
    wrong = CliRunner().invoke(main, ["dunning", "assign", "gent", "invoice", "municipality-fiscal"])
    assert wrong.exit_code == 1 and "does not cover invoice/fiscal=False" in wrong.output
    claim_id = store_claim(database, seeded.municipality_key, claim_payload("F2026-1100"))
    outcome = evaluate(database, claim_id, date(2026, 12, 7))
    assert outcome.policy == "agb-non-fiscal@2026.2"
    assert count(database, DunningPolicyAssignment) == 1


def test_one_run_decides_each_claim_under_its_own_creditor_type_and_assignment(database, seeded):
    # the run looks a policy up once per (creditor, claim type, fiscal): an assignment for gent's
    # invoices must not leak to gent's rent, nor gent's ladder to the hospital's bill
    with database.session_scope() as session:
        service.assign_policy(session, "gent", "invoice", fiscal=False, policy_id="agb-non-fiscal", author="test", now=utc(2026, 11, 1, 8))
    gent_invoice = store_claim(database, seeded.municipality_key, claim_payload("F2026-1200", due_date="2026-11-02"))
    gent_rent = store_claim(database, seeded.municipality_key, claim_payload("F2026-1201", type="rent", due_date="2026-11-02"))
    gent_invoice_2 = store_claim(database, seeded.municipality_key, claim_payload("F2026-1202", due_date="2026-11-02"))
    bill = consumer_claim("Z2026-1200", due_date="2026-11-02")
    bill["type"] = "invoice"
    hospital_bill = store_claim(database, seeded.hospital_key, bill)
    report = service.run(database, today=date(2026, 12, 7), now=utc(2026, 12, 7, 5))
    assert (report.evaluated, dict(report.recorded), dict(report.refused)) == (4, {"send_step": 4}, {})
    with database.session_scope() as session:
        policies = dict(session.execute(select(DunningStep.claim_id, DunningStep.policy)).all())
    assert policies == {
        gent_invoice: "agb-non-fiscal@2026.2", gent_invoice_2: "agb-non-fiscal@2026.2",
        gent_rent: "municipality-non-fiscal@2026.2", hospital_bill: "hospital-consumer@2026.1",
    }
