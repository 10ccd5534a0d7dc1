"""The escalation list of each approving body, on stored data (SQLite and PostgreSQL), walked from
the due date by the dunning service and approved and exported over the API:

- a municipality tax assessment (fiscal) -> the dwangschrift list of the financial director (no visum);
- an OCMW invoice -> the dwangbevel list of the vast bureau;
- an AGB invoice -> the dwangbevel list of the directiecomité.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

import pytest
from sqlalchemy import select

from dunning_support import deliver_step, evaluate, store_claim
from gateway.dunning import service
from gateway.kit.time import utc_now
from gateway.services import auth
from gateway.store.models import Claim, CreditorEntity, Document, DunningStep, EscalationEntry
from tests.dunning.test_export_pdf import pdf_lines
from tests.factories import bearer, claim_payload, seed_creditors
from tests.dunning.dunning_support import client, utc  # noqa: F401 - fixtures

HEADER = ("claim_number,debtor_name,debtor_external_id,kind,approving_body,status,due_date,total_amount,amount_paid,amount_open,fee,amounts,"
          "ogm,decided_on,undisputed_on,policy,reminder_step,dispatch_id,channel,proof_reference,sent_at,delivered_at,document_sha256,approved_by,approved_at")


@pytest.fixture
def seeded(database):
    keys = seed_creditors(database)
    with database.session_scope() as session:  # the municipality's autonomous company (AGB), a child entity
        gent = session.scalar(select(CreditorEntity).where(CreditorEntity.code == "gent"))
        session.add(CreditorEntity(code="agb-gent", kind="agb", name="AGB Gent", parent_id=gent.id, enterprise_number="0206653946", iban="BE48320070184927",
                                   street="Botermarkt 1", postal_code="9000", city="Gent", country="BE", created_at=utc_now()))
        session.flush()
        keys.agb_key = auth.create_key(session, "agb-gent", "erp", includes_children=False, now=utc_now())
    return keys


@pytest.fixture
def clock():
    return {"today": date(2027, 1, 25)}


def evidence(database, claim_id) -> dict:
    with database.session_scope() as session:
        claim = session.get(Claim, claim_id)
        step = session.scalar(select(DunningStep).where(DunningStep.claim_id == claim_id, DunningStep.step == 2))
        entry = session.scalar(select(EscalationEntry).where(EscalationEntry.claim_id == claim_id))
        return {"ogm": service.format_ogm(claim.structured_communication), "dispatch_id": str(step.dispatch_id), "sha256": session.get(Document, step.document_id).sha256,
                "entry_id": str(entry.id), "approved_at": entry.approved_at.isoformat() if entry.approved_at else "", "status": entry.status}


def test_a_municipal_tax_assessment_goes_to_the_financial_directors_dwangschrift_list(client, seeded, database, clock):
    key = seeded.municipality_key
    payload = claim_payload("AJ2026-0042", type="tax_assessment", fiscal=True, issue_date="2026-10-02", due_date="2026-12-02")
    claim_id = store_claim(database, key, payload)
    # fiscal ladder: no weekly booking; free reminder the day after the due date, +30 days from sending
    first = evaluate(database, claim_id, date(2026, 12, 3))
    assert (first.policy, first.decision.step, first.decision.new_due_date) == ("municipality-fiscal@2026.1", 1, date(2027, 1, 2))
    deliver_step(database, first.step_id, channel="email", state="sent", sent_at=utc(2026, 12, 3, 9), number=1)
    second = evaluate(database, claim_id, date(2027, 1, 4))
    assert (second.decision.step, second.decision.fee, second.decision.channel_requirement.value, second.decision.dedup_key) == (
        2, Decimal("15.00"), "registered", f"dunning/{claim_id}/step/2/2027-01-03")
    deliver_step(database, second.step_id, channel="registered_paper", state="delivered", sent_at=utc(2027, 1, 4, 15), changed_at=utc(2027, 1, 6, 11),
                 proof="RR555666777BE", number=2)
    assert evaluate(database, claim_id, date(2027, 1, 24)).decision.reason.value == "not_yet_due"  # 20 days from sending: last day 24 January
    listed = evaluate(database, claim_id, date(2027, 1, 25))
    assert (listed.decision.action.value, listed.decision.escalation_list, listed.decision.approving_body, listed.decision.issued_by) == (
        "escalate", "dwangschrift/financial_director", None, "financial_director")

    entries = client.get("/v1/escalations", params={"kind": "dwangschrift"}, headers=bearer(key)).json()["items"]
    assert [(e["claim_id"], e["kind"], e["approving_body"], e["status"], e["amount_open"]) for e in entries] == [
        (str(claim_id), "dwangschrift", "financial_director", "pending", "107.21")]
    assert client.get("/v1/escalations", params={"kind": "dwangbevel"}, headers=bearer(key)).json()["items"] == []
    clock["today"] = date(2027, 1, 26)
    approved = client.post(f"/v1/escalations/{entries[0]['id']}/approve", json={"approved_by": "financieel directeur K. Claes, 2027-01-26"}, headers=bearer(key))
    assert (approved.status_code, approved.json()["status"]) == (200, "approved")
    f = evidence(database, claim_id)

    csv = client.get("/v1/escalations/export", params={"kind": "dwangschrift", "format": "csv"}, headers=bearer(key)).text.split("\r\n")
    assert csv == [
        HEADER,
        f"AJ2026-0042,Bakkerij Janssens BV,D-1,dwangschrift,financial_director,approved,2026-12-02,107.21,0.00,107.21,0.00,,{f['ogm']},2027-01-25,2027-01-25,"
        f"municipality-fiscal@2026.1,2,{f['dispatch_id']},registered_paper,RR555666777BE,2027-01-04T15:00:00+00:00,2027-01-06T11:00:00+00:00,{f['sha256']},"
        f"\"financieel directeur K. Claes, 2027-01-26\",{f['approved_at']}",
        "",
    ]
    lines = pdf_lines(client.get("/v1/escalations/export", params={"kind": "dwangschrift", "format": "pdf"}, headers=bearer(key)).content)
    assert lines[0] == "Escalation list: dwangschrift"
    assert lines[1].startswith("Entries: 1 · approved: 1 · generated ")
    assert lines[2:] == [
        "Claim AJ2026-0042 · Bakkerij Janssens BV (D-1)",
        "List dwangschrift · financial_director · approved Policy municipality-fiscal@2026.1",
        f"Amounts (EUR) total 107.21 · paid 0.00 · open 107.21 · fee 0.00 OGM {f['ogm']}",
        "Computed amounts none Due date 2026-12-02",
        "Decided on 2027-01-25 Undisputed on 2027-01-25",
        f"Registered reminder step 2 · registered_paper · proof RR555666777BE Dispatch {f['dispatch_id']}",
        "Sent at 2027-01-04T15:00:00+00:00 Delivered at 2027-01-06T11:00:00+00:00",
        f"Document SHA-256 {f['sha256']}",
        f"Approved by financieel directeur K. Claes, 2027-01-26 at {f['approved_at']}",
        "Totals claims 1 total 107.21 paid 0.00 open 107.21 fees 0.00",
        "page 1 / 1",
    ]


BODIES = [
    pytest.param("ocmw_key", "ocmw-non-fiscal@2026.2", "vast_bureau", "vast bureau 2027-02-03, punt 7", id="ocmw-vast-bureau"),
    pytest.param("agb_key", "agb-non-fiscal@2026.2", "directiecomite", "directiecomité 2027-02-03, punt 2", id="agb-directiecomite"),
]


@pytest.mark.parametrize(("key_name", "policy", "body", "approval"), BODIES)
def test_ocmw_and_agb_claims_go_to_their_own_bodys_dwangbevel_list(client, seeded, database, clock, key_name, policy, body, approval):
    key = getattr(seeded, key_name)
    claim_id = store_claim(database, key, claim_payload("F2026-0777"))  # 107.21 due Wed 2 December 2026, business debtor
    first = evaluate(database, claim_id, date(2026, 12, 7))  # weekly booking on Mondays
    assert (first.policy, first.decision.step) == (policy, 1)
    deliver_step(database, first.step_id, channel="email", state="sent", sent_at=utc(2026, 12, 7, 9), number=1)
    second = evaluate(database, claim_id, date(2027, 1, 11))
    deliver_step(database, second.step_id, channel="registered_paper", state="delivered", sent_at=utc(2027, 1, 11, 15), changed_at=utc(2027, 1, 13, 11),
                 proof="RR123456785BE", number=2)
    listed = evaluate(database, claim_id, date(2027, 2, 1))
    assert (listed.decision.escalation_list, listed.decision.approving_body, listed.decision.detail) == (
        f"dwangbevel/{body}", body, "dwangbevel eligible since 2027-02-01 (art. 177 Decreet Lokaal Bestuur)")

    entries = client.get("/v1/escalations", params={"kind": "dwangbevel"}, headers=bearer(key)).json()["items"]
    assert [(e["claim_id"], e["approving_body"], e["status"]) for e in entries] == [(str(claim_id), body, "pending")]
    # the municipality's own key (no children) does not see its OCMW's or AGB's list
    assert client.get("/v1/escalations", params={"kind": "dwangbevel"}, headers=bearer(seeded.municipality_key)).json()["items"] == []
    clock["today"] = date(2027, 2, 3)
    assert client.post(f"/v1/escalations/{entries[0]['id']}/approve", json={"approved_by": approval}, headers=bearer(key)).status_code == 200
    f = evidence(database, claim_id)

    own = client.get("/v1/escalations/export", params={"kind": "dwangbevel", "approving_body": body}, headers=bearer(key)).text.split("\r\n")
    approval_cell = f'"{approval}"' if "," in approval else approval
    assert own == [
        HEADER,
        f"F2026-0777,Bakkerij Janssens BV,D-1,dwangbevel,{body},approved,2026-12-02,107.21,0.00,107.21,0.00,,{f['ogm']},2027-02-01,2027-02-01,"
        f"{policy},2,{f['dispatch_id']},registered_paper,RR123456785BE,2027-01-11T15:00:00+00:00,2027-01-13T11:00:00+00:00,{f['sha256']},{approval_cell},{f['approved_at']}",
        "",
    ]
    # the college's list of the same kind does not carry it
    college = client.get("/v1/escalations/export", params={"kind": "dwangbevel", "approving_body": "college_van_burgemeester_en_schepenen"}, headers=bearer(key))
    assert college.text.split("\r\n") == [HEADER, ""]
    lines = pdf_lines(client.get("/v1/escalations/export", params={"kind": "dwangbevel", "approving_body": body, "format": "pdf"}, headers=bearer(key)).content)
    assert (lines[0], lines[3], lines[-3], lines[-2]) == (
        f"Escalation list: dwangbevel · {body}", f"List dwangbevel · {body} · approved Policy {policy}",
        f"Approved by {approval} at {f['approved_at']}", "Totals claims 1 total 107.21 paid 0.00 open 107.21 fees 0.00")
    with database.session_scope() as session:
        entry = session.get(EscalationEntry, uuid.UUID(f["entry_id"]))
        assert (entry.approved_by, entry.evidence["registered_reminder"]["proof_reference"], entry.evidence["legal_basis"]) == (
            approval, "RR123456785BE", "dwangbevel eligible since 2027-02-01 (art. 177 Decreet Lokaal Bestuur)")
