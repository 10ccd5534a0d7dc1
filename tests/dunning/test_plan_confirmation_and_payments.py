"""Payment plans after the grant, over HTTP on SQLite and PostgreSQL: the debtor's confirmation is
recorded (date, source, audit), an unconfirmed plan lapses back into dunning, and incoming payments
are matched by their structured reference (claim, instalment or fee OGM) and booked there."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from gateway.domain.identifiers import format_ogm, new_random_ogm, ogm_from_base
from gateway.dunning import service
from gateway.errors import Conflict
from gateway.services.payments import match_reference
from gateway.store.models import AuditEvent, Claim, Document, IncomingPayment, Payment, PaymentPlan
from tests.factories import bearer, claim_payload
from tests.dunning.dunning_support import client, clock, count, post_claim, seeded, utc  # noqa: F401 - fixtures


def audit(database, action) -> list[AuditEvent]:
    with database.session_scope() as session:
        return list(session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)))


@pytest.fixture
def plan_claims(client, seeded):
    """Two invoices of debtor D-1, 107.21 each; the second is due a week earlier."""
    key = seeded.municipality_key
    later = post_claim(client, key, claim_payload("F2026-0400"))  # due 2026-12-02
    older = post_claim(client, key, claim_payload("F2026-0401", due_date="2026-11-25"))
    return later, older


def grant(client, key, claims, **extra) -> dict:
    later, older = claims
    body = {"claim_ids": [older["id"]], "months": 4, "first_due_date": "2026-12-15", **extra}
    response = client.post(f"/v1/claims/{later['id']}/payment-plan", json=body, headers=bearer(key))
    assert response.status_code == 201, response.text
    return response.json()


def test_the_debtors_confirmation_is_recorded_with_date_and_source(client, seeded, database, clock, plan_claims):
    key = seeded.municipality_key
    plan = grant(client, key, plan_claims)
    # 214.42 over 4 months; no confirmation yet: due within 14 days (GATEWAY_PAYMENT_PLAN_CONFIRMATION_DAYS)
    assert plan["confirmation"] == {"status": "unconfirmed", "confirmed_on": None, "confirm_by": "2026-12-15", "source": None, "recorded_by": None}
    assert [(i["number"], i["amount"], i["paid"]) for i in plan["instalments"]] == [(1, "53.60", "0.00"), (2, "53.60", "0.00"), (3, "53.60", "0.00"), (4, "53.62", "0.00")]
    url = f"/v1/payment-plans/{plan['id']}/confirmation"

    def confirm(day: str, source="signed plan returned by post, DMS-2026-1234"):
        return client.post(url, json={"confirmed_on": day, "source": source, "author": "ann.desmet"}, headers=bearer(key))

    refusals = [(confirm("2026-11-30"), 422, "PLAN-CONFIRMED-BEFORE-GRANT"), (confirm("2026-12-05"), 422, "PLAN-CONFIRMED-IN-FUTURE")]
    assert [(r.status_code, [e["rule"] for e in r.json()["errors"]]) for r, _, _ in refusals] == [(status, [rule]) for _, status, rule in refusals]
    clock["today"] = date(2026, 12, 5)
    confirmed = confirm("2026-12-04")
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json()["confirmation"] == {"status": "confirmed", "confirmed_on": "2026-12-04", "confirm_by": "2026-12-15",
                                                "source": "signed plan returned by post, DMS-2026-1234", "recorded_by": "ann.desmet"}
    twice = confirm("2026-12-05", source="phone call")
    assert (twice.status_code, [(e["rule"], e["message"]) for e in twice.json()["errors"]]) == (
        409, [("PLAN-ALREADY-CONFIRMED", "confirmed on 2026-12-04 (signed plan returned by post, DMS-2026-1234)")])
    events = audit(database, "payment_plan.confirmed")
    assert sorted((str(e.entity_id), e.data["confirmed_on"], e.data["source"], e.data["author"]) for e in events) == sorted(
        (c["id"], "2026-12-04", "signed plan returned by post, DMS-2026-1234", "ann.desmet") for c in plan_claims)
    assert client.get(f"/v1/payment-plans/{plan['id']}", headers=bearer(key)).json() == confirmed.json()
    # another creditor's key sees no such plan
    stranger = bearer(seeded.hospital_key)
    assert client.get(f"/v1/payment-plans/{plan['id']}", headers=stranger).status_code == 404
    assert client.post(url, json={"confirmed_on": "2026-12-04", "source": "x", "author": "y"}, headers=stranger).status_code == 404
    # confirmed in time: the plan keeps running after the deadline
    service.run(database, today=date(2026, 12, 16), now=utc(2026, 12, 16, 5))
    with database.session_scope() as session:
        assert session.get(PaymentPlan, uuid.UUID(plan["id"])).status == "running"


def test_a_plan_not_confirmed_in_time_lapses_back_into_dunning(client, seeded, database, clock, plan_claims):
    key = seeded.municipality_key
    plan = grant(client, key, plan_claims)
    last_day = service.run(database, today=date(2026, 12, 15), now=utc(2026, 12, 15, 5))
    assert dict(last_day.waiting) == {"payment_plan_running": 2}
    clock["today"] = date(2026, 12, 16)
    late = client.post(f"/v1/payment-plans/{plan['id']}/confirmation", json={"confirmed_on": "2026-12-16", "source": "e-mail", "author": "desk"}, headers=bearer(key))
    assert (late.status_code, [e["rule"] for e in late.json()["errors"]]) == (422, ["PLAN-CONFIRMATION-LATE"])

    report = service.run(database, today=date(2026, 12, 16), now=utc(2026, 12, 16, 5))
    # back into dunning: the first reminders (eligible since the Monday booking of 7 December) go out
    assert (dict(report.recorded), dict(report.waiting)) == ({"send_step": 2}, {})
    view = client.get(f"/v1/payment-plans/{plan['id']}", headers=bearer(key)).json()
    assert (view["status"], view["ended_on"], view["confirmation"]["status"], [c["status"] for c in view["claims"]]) == ("lapsed", "2026-12-16", "lapsed", ["open", "open"])
    events = audit(database, "payment_plan.lapsed")
    assert sorted((str(e.entity_id), tuple(e.data["rules"]), e.data["from"], e.data["to"]) for e in events) == sorted(
        (c["id"], ("PLAN-NOT-CONFIRMED",), "in_payment_plan", "open") for c in plan_claims)
    after = client.post(f"/v1/payment-plans/{plan['id']}/confirmation", json={"confirmed_on": "2026-12-10", "source": "e-mail", "author": "desk"}, headers=bearer(key))
    assert (after.status_code, [e["rule"] for e in after.json()["errors"]]) == (422, ["PLAN-NOT-RUNNING"])


def pay(client, key, reference, amount, external_id=None, paid_on="2026-12-14"):
    body = {"reference": reference, "amount": amount, "paid_on": paid_on, "source": "bank_statement"}
    if external_id:
        body["external_id"] = external_id
    return client.post("/v1/payments", json=body, headers=bearer(key))


def test_a_payment_under_an_instalments_ogm_is_booked_on_that_instalment_and_its_claims(client, seeded, database, plan_claims):
    key = seeded.municipality_key
    later, older = plan_claims
    plan = grant(client, key, plan_claims, confirmed_on="2026-12-01")
    first_ogm, second_ogm = plan["instalments"][0]["structured_communication"], plan["instalments"][1]["structured_communication"]

    one = pay(client, key, first_ogm, "53.60", "stmt-2026-12-14-001")
    assert one.status_code == 201, one.text
    body = one.json()
    assert (body["matched"], body["plan_id"], body["instalment"], body["reference"], body["fee_document"]) == ("instalment", plan["id"], 1, first_ogm, None)
    # the oldest claim of the plan first; a part payment leaves it in the plan
    assert [(b["number"], b["amount"], b["claim_status"], b["amount_open"]) for b in body["booked"]] == [("F2026-0401", "53.60", "in_payment_plan", "53.61")]
    again = pay(client, key, first_ogm, "53.60", "stmt-2026-12-14-001")
    assert (again.status_code, again.json()["booked"], again.json()["id"]) == (200, [], body["id"])
    assert count(database, Payment) == 1 and count(database, IncomingPayment) == 1

    # the debtor pays the rest in one transfer under the second instalment's OGM: split over both claims
    rest = pay(client, key, second_ogm.strip("+").replace("/", ""), "160.82", "stmt-2026-12-20-007", paid_on="2026-12-20")
    assert rest.status_code == 201, rest.text
    assert [(b["number"], b["amount"], b["claim_status"], b["amount_open"]) for b in rest.json()["booked"]] == [
        ("F2026-0401", "53.61", "paid", "0.00"), ("F2026-0400", "107.21", "paid", "0.00")]
    view = client.get(f"/v1/payment-plans/{plan['id']}", headers=bearer(key)).json()
    assert [(i["number"], i["paid"]) for i in view["instalments"]] == [(1, "53.60"), (2, "160.82"), (3, "0.00"), (4, "0.00")]
    assert (view["status"], view["ended_on"]) == ("completed", "2026-12-20")  # paid in full: the plan is done at once
    with database.session_scope() as session:
        rows = session.scalars(select(Payment).order_by(Payment.created_at, Payment.amount)).all()
        assert [(r.amount, r.reference, r.source, r.instalment_id is not None, r.incoming_payment_id is not None) for r in rows] == [
            (Decimal("53.60"), first_ogm.strip("+").replace("/", ""), "bank_statement", True, True),
            (Decimal("53.61"), second_ogm.strip("+").replace("/", ""), "bank_statement", True, True),
            (Decimal("107.21"), second_ogm.strip("+").replace("/", ""), "bank_statement", True, True),
        ]
    paid = audit(database, "payment_plan.instalment_paid")
    assert [(e.data["instalment"], e.data["amount"], [p["amount"] for p in e.data["parts"]]) for e in paid] == [(1, "53.60", ["53.60"]), (2, "160.82", ["53.61", "107.21"])]
    completed = audit(database, "payment_plan.completed")
    assert [(e.data["to"], e.actor.startswith("api_key:")) for e in completed] == [("paid", True), ("paid", True)]


def test_claim_and_fee_ogms_and_refusals(client, seeded, database):
    key = seeded.municipality_key
    claim = post_claim(client, key, claim_payload("F2026-0402"))
    claim_ogm = claim["structured_communication"]
    fee_ogm = new_random_ogm()
    with database.session_scope() as session:
        row = session.get(Claim, uuid.UUID(claim["id"]))
        # the channel work issued a fee invoice under its own OGM (gateway.services.documents.issue_reminder does this)
        content = b"<Invoice/>"
        session.add(Document(claim_id=row.id, creditor_id=row.creditor_id, kind="fee_invoice", prefix="FEE", sequence=1, number="FEE000001",
                             media_type="application/xml", content=content, sha256=hashlib.sha256(content).hexdigest(), issued_at=utc(2026, 12, 7, 7),
                             meta={"structured_communication": fee_ogm, "payable": "15.00"}, created_at=utc(2026, 12, 7, 7)))

    on_claim = pay(client, key, claim_ogm, "7.21", "stmt-1")
    assert (on_claim.status_code, on_claim.json()["matched"]) == (201, "claim")
    assert [(b["number"], b["amount"], b["claim_status"], b["amount_open"]) for b in on_claim.json()["booked"]] == [("F2026-0402", "7.21", "partially_paid", "100.00")]

    fee = pay(client, key, format_ogm(fee_ogm), "15.00", "stmt-2")
    assert fee.status_code == 201, fee.text
    assert (fee.json()["matched"], fee.json()["fee_document"]["number"], fee.json()["booked"]) == ("fee", "FEE000001", [])
    with database.session_scope() as session:
        assert session.get(Claim, uuid.UUID(claim["id"])).amount_open == Decimal("100.00")  # a fee is not part of the claim's amount
        incoming = session.scalar(select(IncomingPayment).where(IncomingPayment.external_id == "stmt-2"))
        assert (incoming.matched, incoming.reference, incoming.amount, str(incoming.claim_id)) == ("fee", fee_ogm, Decimal("15.00"), claim["id"])
    [received] = audit(database, "payment.fee_received")
    assert (str(received.entity_id), received.data["document"], received.data["amount"]) == (claim["id"], "FEE000001", "15.00")

    before = (count(database, IncomingPayment), count(database, Payment))
    unknown = pay(client, key, format_ogm(ogm_from_base(1234567890)), "10.00")
    assert (unknown.status_code, [e["rule"] for e in unknown.json()["errors"]]) == (404, ["PAYMENT-REFERENCE-UNKNOWN"])
    digits = claim_ogm.strip("+").replace("/", "")
    broken = digits[:-1] + str((int(digits[-1]) + 1) % 10)
    assert [e["rule"] for e in pay(client, key, broken, "10.00").json()["errors"]] == ["ogm.checksum"]
    too_much = pay(client, key, claim_ogm, "100.01")
    assert (too_much.status_code, [e["rule"] for e in too_much.json()["errors"]]) == (422, ["payment.exceeds_open_amount"])
    # another creditor cannot book on this claim: for its key the reference is unknown
    assert [e["rule"] for e in pay(client, seeded.hospital_key, claim_ogm, "1.00").json()["errors"]] == ["PAYMENT-REFERENCE-UNKNOWN"]
    assert (count(database, IncomingPayment), count(database, Payment)) == before  # nothing half-stored


def test_match_reference_names_each_kind_and_refuses_an_ambiguous_ogm(client, seeded, database, plan_claims):
    plan = grant(client, seeded.municipality_key, plan_claims, confirmed_on="2026-12-01")
    later, older = plan_claims
    with database.session_scope() as session:
        by_claim = match_reference(session, later["structured_communication"])
        by_instalment = match_reference(session, plan["instalments"][2]["structured_communication"])
        assert (by_claim.kind, [str(c) for c in by_claim.claim_ids]) == ("claim", [later["id"]])
        assert (by_instalment.kind, by_instalment.instalment_number, str(by_instalment.plan_id), [str(c) for c in by_instalment.claim_ids]) == (
            "instalment", 3, plan["id"], [older["id"], later["id"]])
        assert match_reference(session, format_ogm(ogm_from_base(42))) is None
        row = session.get(Claim, uuid.UUID(later["id"]))
        session.add(Document(claim_id=row.id, creditor_id=row.creditor_id, kind="reminder", prefix="REM", sequence=1, number="REM000001",
                             media_type="application/pdf", content=b"%PDF-", sha256=hashlib.sha256(b"%PDF-").hexdigest(), issued_at=utc(2026, 12, 7, 7),
                             meta={"fee_structured_communication": row.structured_communication}, created_at=utc(2026, 12, 7, 7)))
        session.flush()
        with pytest.raises(Conflict) as ambiguous:
            match_reference(session, row.structured_communication)
        assert [(p.rule, p.message) for p in ambiguous.value.problems] == [("PAYMENT-REFERENCE-AMBIGUOUS", "claim, fee")]
        # fee OGMs count as taken when a new OGM is drawn
        from gateway.store.repositories.dunning import DunningRepository

        assert DunningRepository(session).ogms_taken({row.structured_communication}) == {row.structured_communication}
        session.rollback()
