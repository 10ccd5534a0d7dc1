"""The escalation list as a PDF for the bailiff: through the API (`format=pdf`) and the CLI
(`--format pdf`), text read back with pypdfium2; and the renderer fetches nothing but data: URIs."""

from __future__ import annotations

import base64
import uuid
from datetime import date

import pypdfium2
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from gateway.dunning import export, service
from gateway.store.models import Claim, Document, DunningStep, EscalationEntry
from tests.dunning.dunning_support import client, deliver_step, evaluate, seeded, store_claim, utc  # noqa: F401 - fixtures
from tests.factories import bearer, claim_payload

COLLEGE = "college_van_burgemeester_en_schepenen"


@pytest.fixture
def clock():
    return {"today": date(2027, 2, 8)}


def escalate(database, key: str, number: str, first_reminder: int) -> uuid.UUID:
    """Two reminders (the second registered, delivered 2027-01-13) and the dwangbevel on 2027-02-01."""
    claim_id = store_claim(database, key, claim_payload(number))
    first = evaluate(database, claim_id, date(2026, 12, 7))
    deliver_step(database, first.step_id, channel="email", state="sent", sent_at=utc(2026, 12, 7, 9), number=first_reminder)
    second = evaluate(database, claim_id, date(2027, 1, 11))
    deliver_step(database, second.step_id, channel="registered_paper", state="delivered", sent_at=utc(2027, 1, 11, 15), changed_at=utc(2027, 1, 13, 11),
                 proof="RR123456785BE", number=first_reminder + 1)
    assert evaluate(database, claim_id, date(2027, 2, 1)).decision.action.value == "escalate"
    return claim_id


def facts(database, claim_id) -> dict:
    with database.session_scope() as session:
        claim = session.get(Claim, claim_id)
        step = session.scalar(select(DunningStep).where(DunningStep.claim_id == claim_id, DunningStep.step == 2))
        entry = session.scalar(select(EscalationEntry).where(EscalationEntry.claim_id == claim_id))
        return {"ogm": service.format_ogm(claim.structured_communication), "dispatch_id": str(step.dispatch_id), "sha256": session.get(Document, step.document_id).sha256,
                "entry_id": str(entry.id), "approved_at": entry.approved_at.isoformat() if entry.approved_at else None}


def pdf_lines(content: bytes) -> list[str]:
    document = pypdfium2.PdfDocument(content)
    try:
        text = "\n".join(page.get_textpage().get_text_range() for page in document)
    finally:
        document.close()
    return [line.strip() for line in text.replace("\r\n", "\n").split("\n") if line.strip()]


def expected_claim_lines(number: str, f: dict) -> list[str]:
    return [
        f"Claim {number} · Bakkerij Janssens BV (D-1)",
        f"List dwangbevel · {COLLEGE} · {'approved' if f['approved_at'] else 'pending'} Policy municipality-non-fiscal@2026.2",
        f"Amounts (EUR) total 107.21 · paid 0.00 · open 107.21 · fee 0.00 OGM {f['ogm']}",
        "Computed amounts none Due date 2026-12-02",
        "Decided on 2027-02-01 Undisputed on 2027-02-01",
        f"Registered reminder step 2 · registered_paper · proof RR123456785BE Dispatch {f['dispatch_id']}",
        "Sent at 2027-01-11T15:00:00+00:00 Delivered at 2027-01-13T11:00:00+00:00",
        f"Document SHA-256 {f['sha256']}",
    ]


def test_api_exports_the_list_as_pdf_with_claims_amounts_approval_and_totals(client, seeded, database):
    key = seeded.municipality_key
    first, second = escalate(database, key, "F2026-0900", 1), escalate(database, key, "F2026-0901", 3)
    entry_id = facts(database, first)["entry_id"]
    assert client.post(f"/v1/escalations/{entry_id}/approve", json={"approved_by": "college 2027-02-08, besluit 14"}, headers=bearer(key)).status_code == 200
    one, two = facts(database, first), facts(database, second)

    response = client.get("/v1/escalations/export", params={"kind": "dwangbevel", "format": "pdf"}, headers=bearer(key))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert response.headers["content-disposition"] == 'attachment; filename="escalations-dwangbevel.pdf"'
    lines = pdf_lines(response.content)
    assert lines[0] == "Escalation list: dwangbevel"
    assert lines[1].startswith("Entries: 2 · approved: 1 · generated ")
    assert lines[2:] == [
        *expected_claim_lines("F2026-0900", one), f"Approved by college 2027-02-08, besluit 14 at {one['approved_at']}",
        *expected_claim_lines("F2026-0901", two), "Not approved yet",
        "Totals claims 2 total 214.42 paid 0.00 open 214.42 fees 0.00",
        "page 1 / 1",
    ]

    approved_only = pdf_lines(client.get("/v1/escalations/export", params={"kind": "dwangbevel", "format": "pdf", "status": "approved"}, headers=bearer(key)).content)
    assert approved_only[1].startswith("Entries: 1 (approved only) · approved: 1 · generated ")
    assert "Totals claims 1 total 107.21 paid 0.00 open 107.21 fees 0.00" in approved_only
    # another creditor's key gets an empty list, not this one
    other = pdf_lines(client.get("/v1/escalations/export", params={"kind": "dwangbevel", "format": "pdf"}, headers=bearer(seeded.hospital_key)).content)
    assert other[1].startswith("Entries: 0 · approved: 0") and "Totals claims 0 total 0.00 paid 0.00 open 0.00 fees 0.00" in other
    assert client.get("/v1/escalations/export", params={"kind": "dwangbevel", "format": "xlsx"}, headers=bearer(key)).status_code == 422


def test_cli_writes_the_pdf(client, seeded, database, tmp_path, cli_database):
    from gateway.dunning.cli import dunning_group

    claim_id = escalate(database, seeded.municipality_key, "F2026-0902", 1)
    output = tmp_path / "list.pdf"
    result = CliRunner().invoke(dunning_group, ["export-list", "dwangbevel", "--approving-body", COLLEGE, "--format", "pdf", "-o", str(output)])
    assert (result.exit_code, result.output) == (0, f"1 dwangbevel entries written to {output}\n")
    lines = pdf_lines(output.read_bytes())
    assert lines[0] == f"Escalation list: dwangbevel · {COLLEGE}"
    assert lines[2:] == [*expected_claim_lines("F2026-0902", facts(database, claim_id)), "Not approved yet",
                         "Totals claims 1 total 107.21 paid 0.00 open 107.21 fees 0.00", "page 1 / 1"]


def test_the_renderer_fetches_only_data_uris():
    pixel = base64.b64encode(bytes.fromhex(
        "89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
    )).decode()
    html = (
        '<html><head><link rel="stylesheet" href="http://127.0.0.1:9/evil.css"></head><body>'
        '<img src="https://example.org/track.png"><img src="file:///etc/passwd">'
        f'<img src="data:image/png;base64,{pixel}"><p>list</p></body></html>'
    )
    pdf, refused = export.html_to_pdf(html)
    assert pdf.startswith(b"%PDF-")
    assert sorted(refused) == ["file:///etc/passwd", "http://127.0.0.1:9/evil.css", "https://example.org/track.png"]


def test_the_same_list_gives_the_same_pdf_bytes():
    item = {column: "" for column in export.COLUMNS} | {"claim_number": "F1", "total_amount": "10.00", "amount_paid": "0.00", "amount_open": "10.00", "fee": "0.00"}
    at = utc(2027, 2, 8, 12)
    assert export.to_pdf([item], kind="bailiff", generated_at=at) == export.to_pdf([item], kind="bailiff", generated_at=at)
