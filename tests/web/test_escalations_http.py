"""Escalation lists on the admin pages over HTTP (TestClient), on SQLite and PostgreSQL.

A claim is walked by the real dunning service to the college's dwangbevel list (two reminders, the
second registered and delivered; the channel work is played as in tests/dunning). The page shows
its evidence; only the financial director may approve, through the same service call as the API,
with a CSRF token; exports are the API's CSV and the PDF for the bailiff.
"""

from __future__ import annotations

import re
import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pypdfium2
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.api.payloads import ClaimIn
from gateway.app import create_app
from gateway.dunning import service
from gateway.dunning.rules import HoldKind
from gateway.kit.time import utc_now
from gateway.services.claims import create_claim
from gateway.store.models import AuditEvent, Claim, Document, DunningStep, EscalationEntry
from gateway.web import account
from tests.dunning.dunning_support import deliver_step, evaluate
from tests.factories import claim_payload
from tests.web.seed import PASSWORD, _principal, seed_admin_world

BRUSSELS = ZoneInfo("Europe/Brussels")
COLLEGE = "college_van_burgemeester_en_schepenen"
PROOF = "RR123456785BE"


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def escalate_claim(database, number: str, creditor: str = "gent") -> uuid.UUID:
    """Walk one business claim (107.21 open) to the dwangbevel list on 2027-02-01; returns the entry id."""
    with database.session_scope() as session:
        claim_id = create_claim(session, _principal(session, creditor), ClaimIn.model_validate(claim_payload(number)), now=utc(2026, 11, 23, 10)).claim.id
        reminders = session.scalar(select(func.count()).select_from(Document).where(Document.prefix == "HER"))
    first = evaluate(database, claim_id, date(2026, 12, 7))
    deliver_step(database, first.step_id, channel="email", state="sent", sent_at=utc(2026, 12, 7, 9), number=reminders + 1)
    second = evaluate(database, claim_id, date(2027, 1, 11))
    deliver_step(database, second.step_id, channel="registered_paper", state="delivered", sent_at=utc(2027, 1, 11, 15), changed_at=utc(2027, 1, 13, 11), proof=PROOF, number=reminders + 2)
    assert evaluate(database, claim_id, date(2027, 2, 1)).decision.action.value == "escalate"
    with database.session_scope() as session:
        return session.scalar(select(EscalationEntry.id).where(EscalationEntry.claim_id == claim_id))


def evidence(database, entry_id: uuid.UUID) -> dict:
    with database.session_scope() as session:
        entry = session.get(EscalationEntry, entry_id)
        claim = session.get(Claim, entry.claim_id)
        step = session.scalar(select(DunningStep).where(DunningStep.claim_id == claim.id, DunningStep.step == 2))
        return {"claim_id": claim.id, "dispatch_id": str(step.dispatch_id), "sha256": session.get(Document, step.document_id).sha256,
                "ogm": service.format_ogm(claim.structured_communication), "status": entry.status, "approved_by": entry.approved_by,
                "approved_at": entry.approved_at}


def pdf_lines(content: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(content)
    try:
        text = "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


@pytest.fixture
def case(database, standards_dir):
    return seed_admin_world(database, standards_dir)


@pytest.fixture
def entry_id(database, case):
    return escalate_claim(database, "F2026-0900")


@pytest.fixture
def client(settings, database):
    with TestClient(create_app(settings, database=database)) as test_client:
        yield test_client


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def signed_in(client: TestClient, email: str) -> str:
    page = client.get("/admin/signin")
    response = client.post("/admin/signin", data={"email": email, "password": PASSWORD, "csrf_token": csrf_of(page.text), "next": "/admin/escalations"}, follow_redirects=False)
    assert response.status_code == 303, response.text
    client.get("/admin/lang/en")
    return csrf_of(client.get("/admin/escalations").text)


def approvals(database) -> list[tuple[str, dict]]:
    with database.session_scope() as session:
        return [(e.actor, e.data) for e in session.scalars(select(AuditEvent).where(AuditEvent.action == "escalation.approved"))]


def test_director_sees_the_evidence_and_approves_through_the_dunning_service(client, database, entry_id):
    facts = evidence(database, entry_id)
    csrf = signed_in(client, "director@gent.be")
    page = client.get("/admin/escalations")
    assert page.status_code == 200
    card = page.text.split(f'id="entry-{entry_id}"')[1].split("</article>")[0]
    assert f'id="list-dwangbevel-{COLLEGE}"' in page.text and "Dwangbevel (writ of execution) · College of mayor and aldermen" in page.text
    assert '<dd class="amounts">107.21 · paid 0.00 · open 107.21 · fee 0.00</dd>' in card
    assert f'<dd class="reminder">step 2 · registered letter · {PROOF}</dd>' in card
    assert '<dd class="delivered">2027-01-13 12:00:00 CET</dd>' in card and '<dd class="sent">2027-01-11 16:00:00 CET</dd>' in card
    assert '<dd class="undisputed">undisputed on 2027-02-01</dd>' in card
    assert facts["dispatch_id"] in card and facts["sha256"] in card and facts["ogm"] in card
    assert f'action="/admin/escalations/{entry_id}/approve"' in card

    before = utc_now()
    response = client.post(f"/admin/escalations/{entry_id}/approve", data={"csrf_token": csrf, "reference": "  college 2027-02-08,   besluit 14 "}, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/escalations?approved=F2026-0900#entry-{entry_id}"
    after = evidence(database, entry_id)
    assert (after["status"], after["approved_by"]) == ("approved", "director@gent.be (college 2027-02-08, besluit 14)")
    assert before <= after["approved_at"] <= utc_now()
    assert approvals(database) == [("admin:director@gent.be", {"entry_id": str(entry_id), "kind": "dwangbevel", "approving_body": COLLEGE,
                                                               "approved_by": "director@gent.be (college 2027-02-08, besluit 14)"})]
    page = client.get(response.headers["location"])
    assert '<p class="notice" role="status">Approved: F2026-0900</p>' in page.text
    assert f'<dd class="approval">director@gent.be (college 2027-02-08, besluit 14) · {after["approved_at"].astimezone(BRUSSELS):%Y-%m-%d %H:%M:%S %Z}</dd>' in page.text
    assert f"/admin/escalations/{entry_id}/approve" not in page.text  # nothing left to approve

    again = client.post(f"/admin/escalations/{entry_id}/approve", data={"csrf_token": csrf}, follow_redirects=False)
    assert again.status_code == 409
    assert "ESCALATION-ALREADY-APPROVED" in again.text
    assert len(approvals(database)) == 1


@pytest.mark.parametrize("email", ["clerk@gent.be", "viewer@gent.be"])
def test_clerk_and_viewer_read_the_list_but_their_approval_is_refused(client, database, entry_id, email):
    csrf = signed_in(client, email)
    page = client.get("/admin/escalations")
    assert "F2026-0900" in page.text and PROOF in page.text
    assert 'id="read-only"' in page.text and "/approve" not in page.text
    response = client.post(f"/admin/escalations/{entry_id}/approve", data={"csrf_token": csrf, "reference": "college"}, follow_redirects=False)
    assert response.status_code == 403
    assert "Your role may not do that." in response.text
    assert (evidence(database, entry_id)["status"], approvals(database)) == ("pending", [])


def test_approval_without_or_with_a_forged_csrf_token_changes_nothing(client, database, entry_id):
    signed_in(client, "director@gent.be")
    for data in ({}, {"csrf_token": "forged"}):
        assert client.post(f"/admin/escalations/{entry_id}/approve", data=data, follow_redirects=False).status_code == 403
    client.cookies.clear()
    signed_out = client.post(f"/admin/escalations/{entry_id}/approve", data={}, follow_redirects=False)
    assert signed_out.status_code == 303 and signed_out.headers["location"].startswith("/admin/signin?next=")
    assert (evidence(database, entry_id)["status"], approvals(database)) == ("pending", [])


def test_another_creditors_director_sees_no_list_and_gets_404(client, database, entry_id):
    with database.session_scope() as session:
        account.create_user(session, "director@azsintjan.be", PASSWORD, creditor_code="az-sint-jan", role="financial_director", now=utc_now())
    csrf = signed_in(client, "director@azsintjan.be")
    page = client.get("/admin/escalations")
    assert "F2026-0900" not in page.text and "<p>None.</p>" in page.text
    assert client.post(f"/admin/escalations/{entry_id}/approve", data={"csrf_token": csrf}, follow_redirects=False).status_code == 404
    assert client.get("/admin/escalations/export", params={"kind": "dwangbevel", "format": "csv"}).text.split("\r\n")[1:] == [""]
    assert (evidence(database, entry_id)["status"], approvals(database)) == ("pending", [])


def test_a_disputed_claim_is_not_approved(client, database, entry_id):
    claim_id = evidence(database, entry_id)["claim_id"]
    today = service.local_today(utc_now())
    with database.session_scope() as session:
        service.add_hold(session, _principal(session, "gent"), claim_id, kind=HoldKind.DISPUTE, reason="debtor says the hall was not used", author="clerk",
                         starts_on=today, ends_on=None, today=today, now=utc_now())
    csrf = signed_in(client, "director@gent.be")
    response = client.post(f"/admin/escalations/{entry_id}/approve", data={"csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 422
    assert f"ESCALATION-DISPUTED: the claim is disputed since {today.isoformat()}: debtor says the hall was not used" in response.text
    assert (evidence(database, entry_id)["status"], approvals(database)) == ("pending", [])


def test_exports_csv_and_the_pdf_for_the_bailiff_with_the_approval_and_totals(client, database, entry_id):
    second = escalate_claim(database, "F2026-0901")
    csrf = signed_in(client, "director@gent.be")
    assert client.post(f"/admin/escalations/{entry_id}/approve", data={"csrf_token": csrf, "reference": "college 2027-02-08, besluit 14"}, follow_redirects=False).status_code == 303
    first_facts, second_facts = evidence(database, entry_id), evidence(database, second)
    page = client.get("/admin/escalations").text
    assert '<strong class="total-open">214.42</strong>' in page

    params = {"kind": "dwangbevel", "approving_body": COLLEGE}
    csv = client.get("/admin/escalations/export", params={**params, "format": "csv"})
    assert (csv.status_code, csv.headers["content-type"]) == (200, "text/csv; charset=utf-8")
    assert csv.headers["content-disposition"] == f'attachment; filename="escalations-dwangbevel-{COLLEGE}.csv"'
    assert [line.split(",")[0] for line in csv.text.split("\r\n")] == ["claim_number", "F2026-0900", "F2026-0901", ""]

    pdf = client.get("/admin/escalations/export", params={**params, "format": "pdf"})
    assert (pdf.status_code, pdf.headers["content-type"]) == (200, "application/pdf")
    assert pdf.content.startswith(b"%PDF-")
    lines = pdf_lines(pdf.content)
    assert lines[0] == f"Escalation list: dwangbevel · {COLLEGE}"
    assert lines[1].startswith("Entries: 2 · approved: 1 · generated ")
    assert [line for line in lines if line.startswith("Claim ")] == ["Claim F2026-0900 · Bakkerij Janssens BV (D-1)", "Claim F2026-0901 · Bakkerij Janssens BV (D-1)"]
    assert lines.count(f"Amounts (EUR) total 107.21 · paid 0.00 · open 107.21 · fee 0.00 OGM {first_facts['ogm']}") == 1
    assert lines.count(f"Amounts (EUR) total 107.21 · paid 0.00 · open 107.21 · fee 0.00 OGM {second_facts['ogm']}") == 1
    assert f"Registered reminder step 2 · registered_paper · proof {PROOF} Dispatch {first_facts['dispatch_id']}" in lines
    assert "Sent at 2027-01-11T15:00:00+00:00 Delivered at 2027-01-13T11:00:00+00:00" in lines
    assert f"Document SHA-256 {first_facts['sha256']}" in lines
    assert "Decided on 2027-02-01 Undisputed on 2027-02-01" in lines
    assert f"Approved by director@gent.be (college 2027-02-08, besluit 14) at {first_facts['approved_at'].isoformat()}" in lines
    assert "Not approved yet" in lines
    assert "Totals claims 2 total 214.42 paid 0.00 open 214.42 fees 0.00" in lines
    assert client.get("/admin/escalations/export", params={**params, "format": "docx"}).status_code == 404


def test_dashboard_lists_buyer_responses_waiting_with_the_claim_link(client, database, case):
    today = service.local_today(utc_now())
    with database.session_scope() as session:
        for code, claim_id, kind in (("ocmw-gent", case.claim_id, HoldKind.BUYER_RESPONSE_UQ), ("az-sint-jan", case.hospital_claim_id, HoldKind.BUYER_RESPONSE_RE)):
            service.add_hold(session, _principal(session, code), claim_id, kind=kind, reason=f"Peppol Invoice Response {kind.value[-2:].upper()}: PO number missing",
                             author="peppol-ap", starts_on=today - timedelta(days=1), ends_on=None, today=today, now=utc_now())
    signed_in(client, "viewer@gent.be")
    section = client.get("/admin/dashboard").text.split('id="buyer-responses"')[1].split("</section>")[0]
    assert '<span class="badge">1</span>' in section
    assert (f'<li data-code="UQ"><a href="/admin/claims/{case.claim_id}">F2026-0100</a> · <strong>UQ</strong> · Bakkerij Janssens BV · Since {(today - timedelta(days=1)).isoformat()}'
            '<div class="detail">Peppol Invoice Response UQ: PO number missing</div></li>') in section
    assert section.count("<li ") == 1 and 'data-code="RE"' not in section  # the hospital's RE belongs to another creditor


def list_form(html: str, kind: str = "dwangbevel", body: str = COLLEGE) -> str:
    return html.split(f'id="list-{kind}-{body}"')[1].split('<form method="post" action="/admin/escalations/approve-list"')[1].split("</form>")[0]


def test_director_approves_the_whole_list_in_one_action_with_an_audit_row_per_claim(client, database, entry_id):
    second = escalate_claim(database, "F2026-0901")
    csrf = signed_in(client, "director@gent.be")
    form = list_form(client.get("/admin/escalations").text)
    assert re.findall(r'name="entry_id" value="([^"]+)"', form) == [str(entry_id), str(second)]
    assert '<button type="submit">Approve the whole list (2 claims)</button>' in form

    before = utc_now()
    response = client.post("/admin/escalations/approve-list", data={
        "csrf_token": csrf, "kind": "dwangbevel", "approving_body": COLLEGE, "entry_id": [str(entry_id), str(second)], "reference": "college 2027-02-08, besluit 14",
    }, follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/admin/escalations?approved=F2026-0900%2C%20F2026-0901#list-dwangbevel-{COLLEGE}"
    first_facts, second_facts = evidence(database, entry_id), evidence(database, second)
    by = "director@gent.be (college 2027-02-08, besluit 14)"
    assert (first_facts["status"], first_facts["approved_by"], second_facts["status"], second_facts["approved_by"]) == ("approved", by, "approved", by)
    assert before <= first_facts["approved_at"] == second_facts["approved_at"] <= utc_now()  # one decision, one moment
    assert approvals(database) == [
        ("admin:director@gent.be", {"entry_id": str(entry_id), "kind": "dwangbevel", "approving_body": COLLEGE, "approved_by": by}),
        ("admin:director@gent.be", {"entry_id": str(second), "kind": "dwangbevel", "approving_body": COLLEGE, "approved_by": by}),
    ]
    with database.session_scope() as session:
        audited = session.scalars(select(AuditEvent.entity_id).where(AuditEvent.action == "escalation.approved").order_by(AuditEvent.id)).all()
    assert audited == [first_facts["claim_id"], second_facts["claim_id"]]  # on each claim's own history
    page = client.get(response.headers["location"]).text
    assert '<p class="notice" role="status">Approved: F2026-0900, F2026-0901</p>' in page
    assert "/admin/escalations/approve-list" not in page  # nothing left to approve

    again = client.post("/admin/escalations/approve-list", data={"csrf_token": csrf, "kind": "dwangbevel", "approving_body": COLLEGE, "entry_id": [str(entry_id), str(second)]})
    assert again.status_code == 409
    assert "ESCALATION-ALREADY-APPROVED: claim F2026-0900: approved by" in again.text
    assert len(approvals(database)) == 2


def test_an_entry_that_joined_the_list_after_the_page_was_read_is_not_approved_unseen(client, database, entry_id):
    csrf = signed_in(client, "director@gent.be")
    shown = re.findall(r'name="entry_id" value="([^"]+)"', list_form(client.get("/admin/escalations").text))
    assert shown == [str(entry_id)]
    later = escalate_claim(database, "F2026-0901")
    response = client.post("/admin/escalations/approve-list", data={"csrf_token": csrf, "kind": "dwangbevel", "approving_body": COLLEGE, "entry_id": shown}, follow_redirects=False)
    assert response.status_code == 303 and "approved=F2026-0900#" in response.headers["location"]
    assert (evidence(database, entry_id)["status"], evidence(database, later)["status"]) == ("approved", "pending")
    assert len(approvals(database)) == 1


def test_a_disputed_claim_stops_the_whole_list_and_nothing_is_approved(client, database, entry_id):
    second = escalate_claim(database, "F2026-0901")
    today = service.local_today(utc_now())
    disputed_claim = evidence(database, second)["claim_id"]
    with database.session_scope() as session:
        service.add_hold(session, _principal(session, "gent"), disputed_claim, kind=HoldKind.DISPUTE, reason="debtor says the hall was not used",
                         author="clerk", starts_on=today, ends_on=None, today=today, now=utc_now())
    csrf = signed_in(client, "director@gent.be")
    response = client.post("/admin/escalations/approve-list", data={"csrf_token": csrf, "kind": "dwangbevel", "approving_body": COLLEGE, "entry_id": [str(entry_id), str(second)]})
    assert response.status_code == 422
    assert f'<p class="problem" role="alert">ESCALATION-DISPUTED: claim F2026-0901: the claim is disputed since {today.isoformat()}: debtor says the hall was not used</p>' in response.text
    # The first entry passed its checks, but the list is one decision: rolled back with the rest.
    assert (evidence(database, entry_id)["status"], evidence(database, second)["status"], approvals(database)) == ("pending", "pending", [])


def test_list_approval_refuses_other_roles_forged_tokens_a_wrong_list_and_another_creditors_entry(client, database, entry_id):
    for email in ("clerk@gent.be", "viewer@gent.be"):
        client.cookies.clear()
        csrf = signed_in(client, email)
        assert "/admin/escalations/approve-list" not in client.get("/admin/escalations").text
        refused = client.post("/admin/escalations/approve-list", data={"csrf_token": csrf, "kind": "dwangbevel", "approving_body": COLLEGE, "entry_id": [str(entry_id)]})
        assert refused.status_code == 403
    client.cookies.clear()
    csrf = signed_in(client, "director@gent.be")
    assert client.post("/admin/escalations/approve-list", data={"csrf_token": "forged", "kind": "dwangbevel", "approving_body": COLLEGE, "entry_id": [str(entry_id)]}).status_code == 403
    mismatch = client.post("/admin/escalations/approve-list", data={"csrf_token": csrf, "kind": "dwangbevel", "approving_body": "vast_bureau", "entry_id": [str(entry_id)]})
    assert mismatch.status_code == 422
    assert f"ESCALATION-LIST-MISMATCH: claim F2026-0900 is on the dwangbevel list of {COLLEGE}" in mismatch.text
    empty = client.post("/admin/escalations/approve-list", data={"csrf_token": csrf, "kind": "dwangbevel", "approving_body": COLLEGE})
    assert empty.status_code == 422 and "ESCALATION-LIST-EMPTY" in empty.text
    assert client.post("/admin/escalations/approve-list", data={"csrf_token": csrf, "kind": "dwangbevel", "approving_body": COLLEGE, "entry_id": ["not-an-id"]}).status_code == 404
    with database.session_scope() as session:
        account.create_user(session, "director@azsintjan.be", PASSWORD, creditor_code="az-sint-jan", role="financial_director", now=utc_now())
    client.cookies.clear()
    other = signed_in(client, "director@azsintjan.be")
    assert client.post("/admin/escalations/approve-list", data={"csrf_token": other, "kind": "dwangbevel", "approving_body": COLLEGE, "entry_id": [str(entry_id)]}).status_code == 404
    assert (evidence(database, entry_id)["status"], approvals(database)) == ("pending", [])
