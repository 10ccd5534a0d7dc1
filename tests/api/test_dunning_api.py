"""The dunning API end to end over HTTP (TestClient), on SQLite and PostgreSQL: holds, payment
plans, a claim's dunning view, escalation lists and their approval, and isolation between keys."""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime

from sqlalchemy import select

from gateway.dunning import service
from gateway.store.models import AuditEvent, Claim, ClaimHold, Dispatch, DispatchAttempt, Document, DunningStep, EscalationEntry, PaymentPlan, PaymentPlanInstalment
from tests.factories import bearer, claim_payload, consumer_claim
from tests.dunning.dunning_support import client, clock, count, post_claim, seeded, utc  # noqa: F401 - fixtures


def run_day(database, day: date):
    return service.run(database, today=day, now=utc(day.year, day.month, day.day, 5))


def send_reminder(database, claim_id: str, step: int, *, channel: str, state: str, sent_at: datetime, changed_at: datetime | None = None, proof: str | None = None) -> None:
    """Play the channel work: issue the recorded step's reminder document, dispatch it, attach both."""
    with database.session_scope() as session:
        row = session.scalar(select(DunningStep).where(DunningStep.claim_id == uuid.UUID(claim_id), DunningStep.step == step))
        claim = session.get(Claim, row.claim_id)
        content = row.dedup_key.encode()
        document = Document(claim_id=claim.id, creditor_id=claim.creditor_id, kind="reminder", prefix="HER", sequence=step, number=f"HER-{step}",
                            media_type="application/pdf", content=content, sha256=hashlib.sha256(content).hexdigest(), issued_at=sent_at, meta={}, created_at=sent_at)
        session.add(document)
        session.flush()
        dispatch = Dispatch(document_id=document.id, claim_id=claim.id, channel=channel, recipient="Markt 1, 9000 Gent, BE", state=state,
                            idempotency_key=hashlib.sha256(content + channel.encode()).hexdigest(), attempt_count=1, provider="fake",
                            provider_message_id=proof, created_at=sent_at, updated_at=changed_at or sent_at)
        session.add(dispatch)
        session.flush()
        session.add(DispatchAttempt(dispatch_id=dispatch.id, number=1, started_at=sent_at, finished_at=sent_at, outcome="sent", provider="fake", created_at=sent_at))
        service.attach_dispatch(session, row.id, document_id=document.id, dispatch_id=dispatch.id, now=sent_at)


def test_claim_walks_to_the_dwangbevel_list_and_the_college_approves_it(client, seeded, database, clock):
    key = seeded.municipality_key
    claim = post_claim(client, key, claim_payload("F2026-0100"))
    claim_id = claim["id"]

    view = client.get(f"/v1/claims/{claim_id}/dunning", params={"as_of": "2026-12-03"}, headers=bearer(key)).json()
    assert (view["policy"], view["steps"], view["next"]["action"], view["next"]["reason"], view["next"]["wait_until"]) == (
        "municipality-non-fiscal@2026.2", [], "wait", "waiting_for_weekly_booking", "2026-12-07")

    report = run_day(database, date(2026, 12, 7))
    assert (report.evaluated, dict(report.recorded), report.already_recorded) == (1, {"send_step": 1}, 0)
    again = run_day(database, date(2026, 12, 7))
    assert (dict(again.recorded), again.already_recorded) == ({}, 1)
    send_reminder(database, claim_id, 1, channel="email", state="sent", sent_at=utc(2026, 12, 7, 9))
    run_day(database, date(2027, 1, 11))
    send_reminder(database, claim_id, 2, channel="registered_paper", state="delivered", sent_at=utc(2027, 1, 11, 15), changed_at=utc(2027, 1, 13, 11), proof="RR123456785BE")
    final = run_day(database, date(2027, 2, 1))
    assert dict(final.recorded) == {"escalate": 1}

    view = client.get(f"/v1/claims/{claim_id}/dunning", headers=bearer(key)).json()
    assert view["claim_status"] == "escalated"
    assert [(s["step"], s["action"], s["status"], s["decided_on"], s["fee"], s["new_due_date"], s["channel"]) for s in view["steps"]] == [
        (1, "send_step", "sent", "2026-12-07", "0.00", "2027-01-06", "email"),
        (2, "send_step", "delivered", "2027-01-11", "15.00", "2027-01-31", "registered_paper"),
        (None, "escalate", "listed", "2027-02-01", "0.00", None, None),
    ]
    assert view["steps"][1]["proof_reference"] == "RR123456785BE"
    assert (view["next"]["action"], view["next"]["reason"]) == ("wait", "already_escalated")

    listed = client.get("/v1/escalations", params={"kind": "dwangbevel"}, headers=bearer(key)).json()["items"]
    assert [(e["claim_id"], e["kind"], e["approving_body"], e["status"], e["amount_open"]) for e in listed] == [
        (claim_id, "dwangbevel", "college_van_burgemeester_en_schepenen", "pending", "107.21")]
    assert listed[0]["evidence"]["registered_reminder"]["proof_reference"] == "RR123456785BE"
    assert client.get("/v1/escalations", params={"kind": "dwangschrift"}, headers=bearer(key)).json()["items"] == []

    clock["today"] = date(2027, 2, 8)
    entry_id = listed[0]["id"]
    approved = client.post(f"/v1/escalations/{entry_id}/approve", json={"approved_by": "college 2027-02-08, besluit 14"}, headers=bearer(key))
    assert approved.status_code == 200, approved.text
    assert (approved.json()["status"], approved.json()["approved_by"]) == ("approved", "college 2027-02-08, besluit 14")
    twice = client.post(f"/v1/escalations/{entry_id}/approve", json={"approved_by": "someone else"}, headers=bearer(key))
    assert twice.status_code == 409
    assert [e["rule"] for e in twice.json()["errors"]] == ["ESCALATION-ALREADY-APPROVED"]
    with database.session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.action == "escalation.approved")).all()
        assert [(e.actor.startswith("api_key:"), e.data["approved_by"]) for e in events] == [(True, "college 2027-02-08, besluit 14")]
    assert client.get("/v1/escalations", params={"status": "approved"}, headers=bearer(key)).json()["items"][0]["id"] == entry_id


def test_hold_put_and_ended_over_the_api_with_the_audit_trail(client, seeded, database, clock):
    key = seeded.municipality_key
    claim_id = post_claim(client, key, claim_payload("F2026-0200"))["id"]
    clock["today"] = date(2026, 12, 10)
    response = client.post(f"/v1/claims/{claim_id}/holds", json={"kind": "dispute", "reason": "disputes the number of hours", "author": "ann.desmet"}, headers=bearer(key))
    assert response.status_code == 201, response.text
    body = response.json()
    assert (body["claim_status"], body["hold"]["kind"], body["hold"]["starts_at"], body["hold"]["ends_at"]) == ("disputed", "dispute", "2026-12-10", None)
    view = client.get(f"/v1/claims/{claim_id}/dunning", headers=bearer(key)).json()
    assert (view["next"]["reason"], view["next"]["detail"]) == ("on_hold", "dispute by ann.desmet: disputes the number of hours")

    clock["today"] = date(2026, 12, 20)
    ended = client.post(f"/v1/claims/{claim_id}/holds/{body['hold']['id']}/end", json={"author": "jan.peeters"}, headers=bearer(key))
    assert ended.status_code == 200, ended.text
    assert (ended.json()["claim_status"], ended.json()["hold"]["ends_at"], ended.json()["hold"]["ended_by"]) == ("open", "2026-12-20", "jan.peeters")
    # the dispute came after step 1 was already due (2026-12-07, the Monday booking): on the last
    # day on hold it still waits, the day after the reminder goes out under the same key
    view = client.get(f"/v1/claims/{claim_id}/dunning", params={"as_of": "2026-12-20"}, headers=bearer(key)).json()
    assert (view["next"]["action"], view["next"]["reason"], view["next"]["wait_until"]) == ("wait", "on_hold", "2026-12-21")
    view = client.get(f"/v1/claims/{claim_id}/dunning", params={"as_of": "2026-12-21"}, headers=bearer(key)).json()
    assert (view["next"]["action"], view["next"]["dedup_key"]) == ("send_step", f"dunning/{claim_id}/step/1/2026-12-07")
    assert count(database, DunningStep) == 0  # a preview records nothing

    again = client.post(f"/v1/claims/{claim_id}/holds/{body['hold']['id']}/end", json={"author": "jan.peeters"}, headers=bearer(key))
    assert again.status_code == 409 and [e["rule"] for e in again.json()["errors"]] == ["HOLD-ALREADY-ENDED"]
    with database.session_scope() as session:
        events = [(e.action, e.data["author"]) for e in session.scalars(select(AuditEvent).where(AuditEvent.action.like("hold.%")).order_by(AuditEvent.id))]
    assert events == [("hold.added", "ann.desmet"), ("hold.ended", "jan.peeters")]


def test_hold_refusals_store_nothing(client, seeded, database):
    key = seeded.municipality_key
    claim_id = post_claim(client, key, claim_payload("F2026-0300"))["id"]
    backwards = client.post(f"/v1/claims/{claim_id}/holds", json={"kind": "manual", "reason": "x", "author": "a", "starts_at": "2026-12-10", "ends_at": "2026-12-09"}, headers=bearer(key))
    assert backwards.status_code == 422
    assert backwards.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["rule"]) for e in backwards.json()["errors"]] == [("ends_at", "HOLD-END-BEFORE-START")]
    unknown = client.post(f"/v1/claims/{claim_id}/holds", json={"kind": "holiday", "reason": "x", "author": "a"}, headers=bearer(key))
    assert unknown.status_code == 422 and [e["field"] for e in unknown.json()["errors"]] == ["kind"]
    assert count(database, ClaimHold) == 0


def test_payment_plan_granted_refused_by_rule_and_granted_by_director_exception(client, seeded, database, clock):
    key = seeded.municipality_key
    first = post_claim(client, key, claim_payload("F2026-0400"))
    second = post_claim(client, key, claim_payload("F2026-0401"))  # same debtor D-1, 107.21 each
    other = post_claim(client, key, consumer_claim("R2026-0001"))
    url = f"/v1/claims/{first['id']}/payment-plan"

    refused = client.post(url, json={"claim_ids": [second["id"]], "months": 12, "first_due_date": "2027-01-15"}, headers=bearer(key))
    assert refused.status_code == 422
    # 214.42 / 12 = 17.86 < 10 % of 214.42 (21.44)
    assert [(e["field"], e["rule"]) for e in refused.json()["errors"]] == [("months", "PLAN-MIN-10-PERCENT")]
    too_long = client.post(url, json={"claim_ids": [second["id"]], "months": 13, "first_due_date": "2027-01-15"}, headers=bearer(key))
    assert [e["rule"] for e in too_long.json()["errors"]] == ["PLAN-MAX-12-MONTHS", "PLAN-MIN-10-PERCENT"]
    mixed = client.post(url, json={"claim_ids": [other["id"]], "months": 3, "first_due_date": "2027-01-15"}, headers=bearer(key))
    assert (mixed.status_code, [e["rule"] for e in mixed.json()["errors"]]) == (422, ["PLAN-ONE-DEBTOR"])
    assert count(database, PaymentPlan) == 0 and count(database, Claim, Claim.status == "in_payment_plan") == 0

    granted = client.post(url, json={"claim_ids": [second["id"]], "months": 6, "first_due_date": "2027-01-31", "confirmed_on": "2026-12-01"}, headers=bearer(key))
    assert granted.status_code == 201, granted.text
    plan = granted.json()
    assert (plan["status"], plan["total"], plan["months"], plan["waived_rules"], plan["exception"], plan["confirmed_on"]) == ("running", "214.42", 6, [], None, "2026-12-01")
    assert [(i["number"], i["due_date"], i["amount"]) for i in plan["instalments"]] == [
        (1, "2027-01-31", "35.73"), (2, "2027-02-28", "35.73"), (3, "2027-03-31", "35.73"),
        (4, "2027-04-30", "35.73"), (5, "2027-05-31", "35.73"), (6, "2027-06-30", "35.77"),
    ]
    ogms = [i["structured_communication"] for i in plan["instalments"]]
    assert len(set(ogms)) == 6 and first["structured_communication"] not in ogms
    for ogm in ogms:
        digits = ogm.strip("+").replace("/", "")
        assert len(digits) == 12 and (int(digits[:10]) % 97 or 97) == int(digits[10:])
    assert [c["status"] for c in plan["claims"]] == ["in_payment_plan", "in_payment_plan"]
    view = client.get(f"/v1/claims/{second['id']}/dunning", params={"as_of": "2027-01-11"}, headers=bearer(key)).json()
    assert (view["next"]["reason"], view["payment_plan_id"]) == ("payment_plan_running", plan["id"])

    director = client.post(f"/v1/claims/{other['id']}/payment-plan", json={"months": 12, "first_due_date": "2027-01-15", "exception": {"by": "financieel directeur K. Claes", "reason": "leefloon"}}, headers=bearer(key))
    assert director.status_code == 201, director.text
    # 45.00 / 12 = 3.75: below 10 % (4.50) and below 15.00, granted on the director's exception
    assert (director.json()["waived_rules"], director.json()["exception"]) == (["PLAN-MIN-10-PERCENT", "PLAN-MIN-15-EUR"], {"by": "financieel directeur K. Claes", "reason": "leefloon"})
    assert count(database, PaymentPlanInstalment) == 18
    with database.session_scope() as session:
        granted_events = session.scalars(select(AuditEvent).where(AuditEvent.action == "payment_plan.granted")).all()
        assert len(granted_events) == 3 and {e.actor for e in granted_events} == {f"api_key:{key.split('_')[1]}"}


def test_another_creditors_key_gets_404_everywhere(client, seeded, database):
    claim_id = post_claim(client, seeded.municipality_key, claim_payload("F2026-0500"))["id"]
    stranger = bearer(seeded.hospital_key)
    assert client.get(f"/v1/claims/{claim_id}/dunning", headers=stranger).status_code == 404
    assert client.post(f"/v1/claims/{claim_id}/holds", json={"kind": "manual", "reason": "x", "author": "a"}, headers=stranger).status_code == 404
    assert client.post(f"/v1/claims/{claim_id}/payment-plan", json={"months": 3, "first_due_date": "2027-01-15"}, headers=stranger).status_code == 404
    # the OCMW's own key does not see its parent municipality's claims either
    assert client.get(f"/v1/claims/{claim_id}/dunning", headers=bearer(seeded.ocmw_key)).status_code == 404
    assert count(database, ClaimHold) == 0 and count(database, PaymentPlan) == 0

    run_day(database, date(2026, 12, 7))
    send_reminder(database, claim_id, 1, channel="email", state="sent", sent_at=utc(2026, 12, 7, 9))
    run_day(database, date(2027, 1, 11))
    send_reminder(database, claim_id, 2, channel="registered_paper", state="sent", sent_at=utc(2027, 1, 11, 15), proof="RR123456785BE")
    run_day(database, date(2027, 2, 1))
    [entry_id] = [e["id"] for e in client.get("/v1/escalations", headers=bearer(seeded.municipality_key)).json()["items"]]
    assert client.get("/v1/escalations", headers=stranger).json()["items"] == []
    refused = client.post(f"/v1/escalations/{entry_id}/approve", json={"approved_by": "x"}, headers=stranger)
    assert refused.status_code == 404
    assert count(database, EscalationEntry, EscalationEntry.status == "approved") == 0
    # the municipality's family key sees it
    assert len(client.get("/v1/escalations", headers=bearer(seeded.municipality_family_key)).json()["items"]) == 1


# --- escalation list export (CSV) -----------------------------------------------------------------


# business debtor: no Book XIX amounts; 107.21 open, the registered second reminder sent 2027-01-11 and delivered 2027-01-13
ROW = ("F2026-0900,Bakkerij Janssens BV,D-1,dwangbevel,college_van_burgemeester_en_schepenen,approved,2026-12-02,107.21,0.00,107.21,0.00,,"
       "{ogm},2027-02-01,2027-02-01,municipality-non-fiscal@2026.2,2,{dispatch_id},registered_paper,RR123456785BE,"
       "2027-01-11T15:00:00+00:00,2027-01-13T11:00:00+00:00,{sha256},\"college 2027-02-08, besluit 14\",{approved_at}")


def escalate_to_dwangbevel(client, database, key, number: str) -> str:
    """The walk of the first test: two reminders (the second registered, delivered) and the escalation on 2027-02-01."""
    claim_id = post_claim(client, key, claim_payload(number))["id"]
    run_day(database, date(2026, 12, 7))
    send_reminder(database, claim_id, 1, channel="email", state="sent", sent_at=utc(2026, 12, 7, 9))
    run_day(database, date(2027, 1, 11))
    send_reminder(database, claim_id, 2, channel="registered_paper", state="delivered", sent_at=utc(2027, 1, 11, 15), changed_at=utc(2027, 1, 13, 11), proof="RR123456785BE")
    assert dict(run_day(database, date(2027, 2, 1)).recorded) == {"escalate": 1}
    return claim_id


def reminder_evidence(database, claim_id: str) -> tuple[str, str, str]:
    with database.session_scope() as session:
        step = session.scalar(select(DunningStep).where(DunningStep.claim_id == uuid.UUID(claim_id), DunningStep.step == 2))
        claim = session.get(Claim, uuid.UUID(claim_id))
        return str(step.dispatch_id), hashlib.sha256(step.dedup_key.encode()).hexdigest(), service.format_ogm(claim.structured_communication)


def test_escalation_list_exported_as_csv_with_the_registered_reminder_evidence_and_approval(client, seeded, database, clock):
    key = seeded.municipality_key
    claim_id = escalate_to_dwangbevel(client, database, key, "F2026-0900")
    dispatch_id, sha256, ogm = reminder_evidence(database, claim_id)
    entry_id = client.get("/v1/escalations", params={"kind": "dwangbevel"}, headers=bearer(key)).json()["items"][0]["id"]
    clock["today"] = date(2027, 2, 8)
    assert client.post(f"/v1/escalations/{entry_id}/approve", json={"approved_by": "college 2027-02-08, besluit 14"}, headers=bearer(key)).status_code == 200
    with database.session_scope() as session:
        approved_at = session.get(EscalationEntry, uuid.UUID(entry_id)).approved_at.isoformat()

    response = client.get("/v1/escalations/export", params={"kind": "dwangbevel", "format": "csv"}, headers=bearer(key))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert response.headers["content-disposition"] == 'attachment; filename="escalations-dwangbevel.csv"'
    lines = response.text.split("\r\n")
    assert lines[0] == ("claim_number,debtor_name,debtor_external_id,kind,approving_body,status,due_date,total_amount,amount_paid,amount_open,fee,amounts,"
                        "ogm,decided_on,undisputed_on,policy,reminder_step,dispatch_id,channel,proof_reference,sent_at,delivered_at,document_sha256,approved_by,approved_at")
    assert lines[1:] == [ROW.format(ogm=ogm, dispatch_id=dispatch_id, sha256=sha256, approved_at=approved_at), ""]

    # another key sees nothing of it; a kind without entries gives the header only; only csv is offered
    assert client.get("/v1/escalations/export", params={"kind": "dwangbevel"}, headers=bearer(seeded.hospital_key)).text.split("\r\n")[1:] == [""]
    assert client.get("/v1/escalations/export", params={"kind": "dwangschrift"}, headers=bearer(key)).text.split("\r\n")[1:] == [""]
    pdf = client.get("/v1/escalations/export", params={"kind": "dwangbevel", "format": "pdf"}, headers=bearer(key))
    assert (pdf.status_code, pdf.headers["content-type"], pdf.content[:5]) == (200, "application/pdf", b"%PDF-")  # its content: tests/dunning/test_export_pdf.py
    assert client.get("/v1/escalations/export", params={"kind": "dwangbevel", "format": "xlsx"}, headers=bearer(key)).status_code == 422


def test_export_list_cli_writes_the_same_csv(client, seeded, database, clock, tmp_path, cli_database):
    from click.testing import CliRunner

    from gateway.dunning.cli import dunning_group

    key = seeded.municipality_key
    claim_id = escalate_to_dwangbevel(client, database, key, "F2026-0901")
    dispatch_id, sha256, ogm = reminder_evidence(database, claim_id)
    output = tmp_path / "list.csv"
    result = CliRunner().invoke(dunning_group, ["export-list", "dwangbevel", "--approving-body", "college_van_burgemeester_en_schepenen", "-o", str(output)])
    assert result.exit_code == 0, result.output
    assert result.output == f"1 dwangbevel entries written to {output}\n"
    other = CliRunner().invoke(dunning_group, ["export-list", "dwangbevel", "--approving-body", "vast_bureau", "-o", str(tmp_path / "empty.csv")])
    assert other.output == f"0 dwangbevel entries written to {tmp_path / 'empty.csv'}\n"
    expected = ROW.format(ogm=ogm, dispatch_id=dispatch_id, sha256=sha256, approved_at="").replace("F2026-0900", "F2026-0901")
    expected = expected.replace(",approved,", ",pending,").replace(",\"college 2027-02-08, besluit 14\",", ",,")
    assert output.read_bytes().decode().split("\r\n")[1:] == [expected, ""]
