"""Reminders issued by `dunning.send_step` (SQLite and PostgreSQL, official artefacts): a municipality
business claim walked to step 1 and step 2 with a pinned `today`, REM / FEE numbers gap-free, the
Reminder's content, validation, the dispatch attached to the step; one reminder per step; a refused
reminder spends no number; a consumer's step gets a PDF reminder letter."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import pytest
from lxml import etree
from sqlalchemy import select

from dunning_support import NOW, evaluate, store_claim
from gateway.dunning import tasks as dunning_tasks
from gateway.store.models import AuditEvent, Claim, Dispatch, DispatchAttempt, Document, DocumentSequence, DunningStep
from gateway.workers import tasks as worker_tasks
from gateway.workers.registry import Task
from tests.factories import claim_payload, consumer_claim
from tests.dunning.dunning_support import seeded, utc  # noqa: F401 - fixtures

NS = {"cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2", "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2"}


@pytest.fixture
def issuing_settings(settings, standards_dir):
    return settings.model_copy(update={"standards_dir": standards_dir})


def issue_invoice(database, settings, claim_id) -> None:
    with database.session_scope() as session:
        worker_tasks.issue_claim(Task(session, settings, database), {"claim_id": str(claim_id)}, NOW)


def send_step(database, settings, step_id, now: datetime) -> None:
    with database.session_scope() as session:
        dunning_tasks.send_step(Task(session, settings, database), {"step_id": str(step_id)}, now)


def provider_sent(database, dispatch_id, at: datetime) -> None:
    """What the Peppol provider would report: the dispatch left at `at`."""
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        dispatch.state, dispatch.attempt_count, dispatch.provider, dispatch.updated_at = "sent", 1, "fake", at
        session.add(DispatchAttempt(dispatch_id=dispatch.id, number=1, started_at=at, finished_at=at, outcome="sent", provider="fake", created_at=at))


def step_row(database, claim_id, step: int) -> DunningStep:
    with database.session_scope() as session:
        return session.scalar(select(DunningStep).where(DunningStep.claim_id == claim_id, DunningStep.step == step))


def documents(database) -> list[Document]:
    with database.session_scope() as session:
        return list(session.scalars(select(Document).order_by(Document.created_at, Document.prefix)))


def actions(database, claim_id) -> list[tuple[str, dict]]:
    with database.session_scope() as session:
        return [(e.action, e.data) for e in session.scalars(select(AuditEvent).where(AuditEvent.entity_id == claim_id).order_by(AuditEvent.id))]


def texts(xml: bytes, path: str) -> list[str]:
    return [node.text for node in etree.fromstring(xml).xpath(path, namespaces=NS)]


def test_business_claim_gets_reminder_1_then_registered_reminder_2_with_a_fee_invoice(database, seeded, issuing_settings):
    claim_id = store_claim(database, seeded.municipality_key, claim_payload("F2026-0001"))
    issue_invoice(database, issuing_settings, claim_id)
    with database.session_scope() as session:
        invoice_ogm = session.get(Claim, claim_id).structured_communication

    first = evaluate(database, claim_id, date(2026, 12, 7))
    send_step(database, issuing_settings, first.step_id, utc(2026, 12, 7, 7))
    one = step_row(database, claim_id, 1)
    [invoice, reminder] = documents(database)
    assert (invoice.number, reminder.number, reminder.kind, reminder.sequence) == ("INV000001", "REM000001", "reminder", 1)
    assert reminder.meta["validation"]["status"] == "clean"
    assert (one.status, one.document_id, one.channel) == ("decided", reminder.id, "peppol")
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, one.dispatch_id)
        assert (dispatch.document_id, dispatch.claim_id, dispatch.channel, dispatch.recipient, dispatch.state) == (reminder.id, claim_id, "peppol", "0208:0403019261", "queued")
    assert texts(reminder.content, "/*/cbc:ID") == ["REM000001"]
    assert texts(reminder.content, "/*/cbc:IssueDate") == ["2026-12-07"]
    assert texts(reminder.content, "//cac:ReminderLine/cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == ["INV000001"]
    assert texts(reminder.content, "//cac:ReminderLine/cbc:DebitLineAmount") == ["107.21"]
    assert texts(reminder.content, "//cac:PaymentMeans/cbc:PaymentID") == [invoice_ogm]
    assert texts(reminder.content, "//cac:PaymentMeans/cbc:PaymentDueDate") == ["2027-01-06"]
    assert texts(reminder.content, "//cac:LegalMonetaryTotal/cbc:PayableAmount") == ["107.21"]

    # the Peppol access point reports the reminder sent the same morning; step 2 is decided on 2027-01-11
    provider_sent(database, one.dispatch_id, utc(2026, 12, 7, 9))
    second = evaluate(database, claim_id, date(2027, 1, 11))
    assert (second.decision.step, second.decision.fee, second.decision.new_due_date) == (2, Decimal("15.00"), date(2027, 1, 31))
    assert step_row(database, claim_id, 1).status == "sent"
    send_step(database, issuing_settings, second.step_id, utc(2027, 1, 11, 7))
    two = step_row(database, claim_id, 2)
    docs = documents(database)
    assert [(d.number, d.kind) for d in docs] == [("INV000001", "invoice"), ("REM000001", "reminder"), ("FEE000001", "fee_invoice"), ("REM000002", "reminder")]
    fee, reminder2 = docs[2], docs[3]
    assert (fee.meta["validation"]["status"], reminder2.meta["validation"]["status"]) == ("clean", "clean")
    assert fee.meta["structured_communication"] not in (invoice_ogm, None)
    assert texts(fee.content, "//cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == ["INV000001"]
    assert texts(fee.content, "//cac:PaymentMeans/cbc:PaymentID") == [fee.meta["structured_communication"]]
    assert texts(fee.content, "//cac:LegalMonetaryTotal/cbc:PayableAmount") == ["15.00"]
    assert texts(fee.content, "/*/cbc:DueDate") == ["2027-01-31"]
    assert texts(reminder2.content, "/*/cbc:ReminderSequenceNumeric") == ["2"]
    assert texts(reminder2.content, "//cac:ReminderLine/cbc:DebitLineAmount") == ["107.21", "15.00"]
    assert texts(reminder2.content, "//cac:ReminderLine/cac:BillingReference/cac:InvoiceDocumentReference/cbc:ID") == ["INV000001", "FEE000001"]
    assert texts(reminder2.content, "//cac:PaymentMeans/cbc:PaymentID") == [invoice_ogm]
    assert texts(reminder2.content, "//cac:PaymentMeans/cbc:PaymentDueDate") == ["2027-01-31"]
    assert texts(reminder2.content, "//cac:LegalMonetaryTotal/cbc:PayableAmount") == ["122.21"]
    # the policy wants this step registered: a registered letter to the postal address, for both documents
    with database.session_scope() as session:
        rows = session.scalars(select(Dispatch).where(Dispatch.document_id.in_([fee.id, reminder2.id])).order_by(Dispatch.created_at)).all()
        assert sorted((d.document_id == reminder2.id, d.channel, d.recipient, d.state) for d in rows) == [
            (False, "registered_paper", "Markt 1, 9000 Gent, BE", "queued"), (True, "registered_paper", "Markt 1, 9000 Gent, BE", "queued")]
        assert session.scalar(select(Dispatch.document_id).where(Dispatch.id == two.dispatch_id)) == reminder2.id
    assert (two.status, two.document_id, two.channel) == ("decided", reminder2.id, "registered_paper")
    issued = [data for action, data in actions(database, claim_id) if action == "reminder.issued"]
    assert [(d["number"], d["step"], d["fee"], d["fee_invoice"], d["validation"]) for d in issued] == [
        ("REM000001", 1, "0.00", None, "clean"), ("REM000002", 2, "15.00", "FEE000001", "clean")]


def test_a_step_decided_twice_the_same_day_issues_one_reminder(database, seeded, issuing_settings):
    claim_id = store_claim(database, seeded.municipality_key, claim_payload("F2026-0001"))
    issue_invoice(database, issuing_settings, claim_id)
    first = evaluate(database, claim_id, date(2026, 12, 7))
    again = evaluate(database, claim_id, date(2026, 12, 7))
    assert (first.recorded, again.recorded, again.step_id) == (True, False, first.step_id)
    send_step(database, issuing_settings, first.step_id, utc(2026, 12, 7, 7))
    send_step(database, issuing_settings, again.step_id, utc(2026, 12, 7, 8))  # a repeated job
    assert [d.number for d in documents(database)] == ["INV000001", "REM000001"]
    with database.session_scope() as session:
        assert session.scalar(select(DocumentSequence.next_value).where(DocumentSequence.prefix == "REM")) == 2
        assert len(session.scalars(select(Dispatch).where(Dispatch.claim_id == claim_id)).all()) == 2  # invoice + reminder
    assert [a for a, _ in actions(database, claim_id)].count("reminder.issued") == 1


def test_a_refused_reminder_spends_no_number(database, seeded, issuing_settings):
    broken = store_claim(database, seeded.municipality_key, claim_payload("F2026-0001"))
    good = store_claim(database, seeded.municipality_key, claim_payload("F2026-0002"))
    issue_invoice(database, issuing_settings, broken)
    issue_invoice(database, issuing_settings, good)
    bad_step = evaluate(database, broken, date(2026, 12, 7)).step_id
    good_step = evaluate(database, good, date(2026, 12, 7)).step_id
    with database.session_scope() as session:
        # a decision whose new due date does not lie after the issue date cannot become a reminder
        session.get(DunningStep, bad_step).new_due_date = date(2026, 12, 7)
    send_step(database, issuing_settings, bad_step, utc(2026, 12, 7, 7))
    send_step(database, issuing_settings, good_step, utc(2026, 12, 7, 7))
    with database.session_scope() as session:
        reminders = session.scalars(select(Document).where(Document.kind == "reminder")).all()
        assert [(d.claim_id, d.number) for d in reminders] == [(good, "REM000001")]
        assert session.scalar(select(DocumentSequence.next_value).where(DocumentSequence.prefix == "REM")) == 2
        assert session.get(DunningStep, bad_step).document_id is None
        assert session.scalar(select(Dispatch.id).where(Dispatch.claim_id == broken, Dispatch.document_id != session.scalar(select(Document.id).where(Document.claim_id == broken)))) is None
    refused = [data for action, data in actions(database, broken) if action == "document.refused"]
    assert [(d["kind"], d["step"], d["rules"]) for d in refused] == [("reminder", 1, ["reminder.new_due_date"])]


def test_a_consumer_step_gets_a_pdf_reminder_letter_on_the_routed_channel(database, seeded, issuing_settings):
    claim_id = store_claim(database, seeded.municipality_key, consumer_claim("R2026-0001"))
    issue_invoice(database, issuing_settings, claim_id)  # consumers get a PDF letter, no UBL
    step_id = evaluate(database, claim_id, date(2026, 12, 7)).step_id
    assert step_id is not None
    send_step(database, issuing_settings, step_id, utc(2026, 12, 7, 7))
    invoice, reminder = documents(database)
    assert [(d.kind, d.number, d.media_type) for d in (invoice, reminder)] == [("invoice", "INV000001", "application/pdf"), ("reminder", "REM000001", "application/pdf")]
    assert reminder.content.startswith(b"%PDF-")
    assert {k: reminder.meta[k] for k in ("step", "fee", "interest", "fee_structured_communication", "payable", "registered")} == {
        "step": 1, "fee": "0.00", "interest": "0.00", "fee_structured_communication": None, "payable": "45.00", "registered": False,
    }
    with database.session_scope() as session:
        step = session.get(DunningStep, step_id)
        dispatch = session.get(Dispatch, step.dispatch_id)
        assert (step.document_id, dispatch.document_id, dispatch.channel, dispatch.recipient) == (reminder.id, reminder.id, "email", "an.peeters@telenet.be")
    [issued] = [data for action, data in actions(database, claim_id) if action == "reminder.issued"]
    assert (issued["number"], issued["format"], issued["new_due_date"]) == ("REM000001", "letter-pdf", reminder.meta["new_due_date"])


def pdf_text(pdf: bytes) -> str:
    import pypdfium2

    return " ".join(page.get_textpage().get_text_range() for page in pypdfium2.PdfDocument(pdf))


def test_a_consumer_walks_to_a_registered_second_reminder_letter_with_its_fee_under_its_own_ogm(database, seeded, issuing_settings):
    claim_id = store_claim(database, seeded.municipality_key, consumer_claim("R2026-0002"))
    issue_invoice(database, issuing_settings, claim_id)
    with database.session_scope() as session:
        ogm = session.get(Claim, claim_id).structured_communication
    first = evaluate(database, claim_id, date(2026, 12, 7))
    send_step(database, issuing_settings, first.step_id, utc(2026, 12, 7, 7))
    reminder1 = documents(database)[1]
    # the first reminder states what the registered second one will cost a consumer (Book XIX: 7.50, no registered postage declared)
    text1 = pdf_text(reminder1.content)
    assert "Herinnering – stap 1" in text1 and "Aangetekend" not in text1
    assert "Volgende herinnering (stap 2) €\xa07,50" in text1
    assert "Openstaand saldo van factuur INV000001 van 23 november 2026 €\xa045,00" in text1
    provider_sent(database, step_row(database, claim_id, 1).dispatch_id, utc(2026, 12, 7, 9))
    second = evaluate(database, claim_id, date(2027, 1, 11))
    assert (second.decision.step, second.decision.fee) == (2, Decimal("7.50"))
    send_step(database, issuing_settings, second.step_id, utc(2027, 1, 11, 7))
    docs = documents(database)
    assert [(d.number, d.kind, d.media_type) for d in docs] == [
        ("INV000001", "invoice", "application/pdf"), ("REM000001", "reminder", "application/pdf"), ("REM000002", "reminder", "application/pdf"),
    ]
    reminder2 = docs[2]
    fee_ogm = reminder2.meta["fee_structured_communication"]
    assert fee_ogm not in (None, ogm) and len(fee_ogm) == 12
    assert {k: reminder2.meta[k] for k in ("step", "fee", "registered", "payable", "new_due_date")} == {
        "step": 2, "fee": "7.50", "registered": True, "payable": "45.00", "new_due_date": "2027-01-31",
    }
    text2 = pdf_text(reminder2.content)
    assert "Herinnering – stap 2 (Aangetekend)" in text2
    assert f"Bijkomende kosten (€\xa07,50) betaalt u apart met de gestructureerde mededeling +++{fee_ogm[:3]}/{fee_ogm[3:7]}/{fee_ogm[7:]}+++." in text2.replace("\u2060", "").replace("\r\n", " ")
    assert f"+++{ogm[:3]}/{ogm[3:7]}/{ogm[7:]}+++" in text2
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, step_row(database, claim_id, 2).dispatch_id)
        assert (dispatch.document_id, dispatch.channel, dispatch.recipient) == (reminder2.id, "registered_paper", "Kerkstraat 1, 9000 Gent, BE")


def test_the_recorded_interest_is_a_reminder_line_as_decided(database, seeded, issuing_settings):
    claim_id = store_claim(database, seeded.municipality_key, claim_payload("F2026-0001"))
    issue_invoice(database, issuing_settings, claim_id)
    step_id = evaluate(database, claim_id, date(2026, 12, 7)).step_id
    with database.session_scope() as session:
        # as a B2B policy records it (the municipality policy charges no interest): amount and rate version, not recomputed
        step = session.get(DunningStep, step_id)
        step.interest, step.rate_version = Decimal("0.95"), "be-reference-rates@2026H2"
        step.amounts = [{"rule": "B2B-INTEREST", "amount": "0.95", "basis": "107.21", "rule_set_version": step.rule_set_version,
                         "rate_version": "be-reference-rates@2026H2", "explanation": "10.50 % from 2026-12-03"}]
    send_step(database, issuing_settings, step_id, utc(2026, 12, 7, 7))
    [_, reminder] = documents(database)
    assert reminder.meta["validation"]["status"] == "clean"
    assert texts(reminder.content, "//cac:ReminderLine/cbc:ID") == ["1", "2"]
    assert texts(reminder.content, "//cac:ReminderLine/cbc:DebitLineAmount") == ["107.21", "0.95"]
    assert texts(reminder.content, "//cac:ReminderLine/cbc:Note") == [
        "Invoice INV000001 of 2026-11-23, due 2026-12-02",
        "Late-payment interest on invoice INV000001 (rates be-reference-rates@2026H2): 10.50 % from 2026-12-03"]
    assert texts(reminder.content, "//cac:ReminderLine/cac:ReminderPeriod/cbc:EndDate") == ["2026-12-07"]
    assert texts(reminder.content, "//cac:LegalMonetaryTotal/cbc:PayableAmount") == ["108.16"]


@pytest.fixture
def b2b_ladder(monkeypatch):
    """The OCMW ladder declared under the B2B late-payment law, available to the service as a shipped policy
    (no shipped ladder is B2B; the service only assigns shipped policies)."""
    import json
    from pathlib import Path

    from gateway.dunning import service
    from gateway.dunning.policy import parse_policy, shipped_policies

    document = json.loads((Path(service.__file__).parent / "policies" / "ocmw-non-fiscal.json").read_text(encoding="utf-8"))
    document.update(id="ocmw-b2b", legal_regime="be_b2b_late_payment", debtor_kinds=["business"], creditor_entity="municipality", claim_types=["invoice"])
    document["steps"][1].pop("fees_by_debtor_kind")  # no consumers
    policies = {**shipped_policies(), "ocmw-b2b": parse_policy(document)}
    monkeypatch.setattr(service, "shipped_policies", lambda: policies)
    return policies["ocmw-b2b"]


def test_b2b_reminders_carry_the_interest_decided_with_its_days_and_rate_version(database, seeded, issuing_settings, b2b_ladder):
    from gateway.dunning import service

    with database.session_scope() as session:
        service.assign_policy(session, "gent", "invoice", fiscal=False, policy_id="ocmw-b2b", author="test", now=utc(2026, 4, 1, 8))
    claim_id = store_claim(database, seeded.municipality_key, claim_payload("F2026-0401", issue_date="2026-04-03", due_date="2026-05-04"))
    with database.session_scope() as session:
        worker_tasks.issue_claim(Task(session, issuing_settings, database), {"claim_id": str(claim_id)}, utc(2026, 4, 3, 8))

    first = evaluate(database, claim_id, date(2026, 5, 11))  # booked on the Monday after the due date
    one = step_row(database, claim_id, 1)
    # Law 2 Aug 2002 art. 5: 5 .. 11 May = 7 days at 10.5 % (2026-H1) on 107.21 = 0.2159
    assert (first.decision.interest.amount, one.interest, one.rate_version, one.rule_set_version) == (
        Decimal("0.22"), Decimal("0.22"), "2026-11-23.1", "dunning-rules/2026.11-1")
    assert [(a["rule"], a["amount"], a["first_day"], a["last_day"]) for a in one.amounts] == [("B2B-INTEREST", "0.22", "2026-05-05", "2026-05-11")]
    decided = [data for action, data in actions(database, claim_id) if action == "dunning.step_decided"]
    assert [(d["step"], d["interest"], d["rate_version"]) for d in decided] == [(1, "0.22", "2026-11-23.1")]
    send_step(database, issuing_settings, first.step_id, utc(2026, 5, 11, 7))
    reminder = documents(database)[1]
    assert (reminder.number, reminder.meta["validation"]["status"], reminder.meta["rate_version"]) == ("REM000001", "clean", "2026-11-23.1")
    assert texts(reminder.content, "//cac:ReminderLine/cbc:DebitLineAmount") == ["107.21", "0.22"]
    assert texts(reminder.content, "//cac:ReminderLine/cbc:Note")[1] == (
        "Late-payment interest on invoice INV000001 (rates 2026-11-23.1): 107.21 x 10.5% x 7/365 (2026-H1)")
    assert texts(reminder.content, "//cac:ReminderLine/cac:ReminderPeriod/cbc:StartDate") == ["2026-05-05"]
    assert texts(reminder.content, "//cac:ReminderLine/cac:ReminderPeriod/cbc:EndDate") == ["2026-05-11"]
    assert texts(reminder.content, "//cac:LegalMonetaryTotal/cbc:PayableAmount") == ["107.43"]

    provider_sent(database, step_row(database, claim_id, 1).dispatch_id, utc(2026, 5, 11, 9))
    second = evaluate(database, claim_id, date(2026, 6, 15))  # 30 days from sending end 10 June; booked Monday 15 June
    # 5 May .. 15 June = 42 days: 107.21 x 10.5 % x 42 / 365 = 1.2953; the registered fee 15.00; pay within 20 days of sending
    assert (second.decision.step, second.decision.fee, second.decision.interest.amount, second.decision.new_due_date) == (
        2, Decimal("15.00"), Decimal("1.30"), date(2026, 7, 5))
    send_step(database, issuing_settings, second.step_id, utc(2026, 6, 15, 7))
    docs = documents(database)
    assert [(d.number, d.kind) for d in docs] == [("INV000001", "invoice"), ("REM000001", "reminder"), ("FEE000001", "fee_invoice"), ("REM000002", "reminder")]
    reminder2 = docs[3]
    assert reminder2.meta["validation"]["status"] == "clean"
    assert texts(reminder2.content, "//cac:ReminderLine/cbc:DebitLineAmount") == ["107.21", "1.30", "15.00"]
    assert texts(reminder2.content, "//cac:ReminderLine/cac:ReminderPeriod/cbc:StartDate") == ["2026-05-05"]
    assert texts(reminder2.content, "//cac:ReminderLine/cac:ReminderPeriod/cbc:EndDate") == ["2026-06-15"]
    assert texts(reminder2.content, "//cac:LegalMonetaryTotal/cbc:PayableAmount") == ["123.51"]
