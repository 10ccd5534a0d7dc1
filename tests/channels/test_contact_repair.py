"""Contact repair beyond e-mail → SMS (issue 5), end to end with the consumer flow (store on SQLite
and PostgreSQL, the SMTP sink, the SMS sandbox with signed delivery reports, the print drop):

- an unreachable number → an e-mail asking for a new number, when the debtor has a usable address;
- no other contact → a note printed after the paper letter (one envelope) with the personal link;
- no personal-link secret → no repair request, `contact_repair.skipped` says why; the fallback
  still goes out.
"""

from __future__ import annotations

import csv
import email
import email.policy
from datetime import date, datetime, timezone

import pypdfium2 as pdfium
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.app import create_app
from gateway.channels.paper.drop import close_batch
from gateway.dunning import service as dunning
from gateway.dunning import tasks as dunning_tasks
from gateway.kit import personal_link
from gateway.kit.time import utc_now
from gateway.store.models import AuditEvent, DebtorContact, Dispatch, Document
from gateway.workers.registry import Task
from tests.channels.test_bounce_flow import dsn, post as post_bounce
from tests.channels.test_consumer_flow import ADDRESS, EMAIL, LINK_SECRET, dispatches, ebox_key, flow, rows, submit  # noqa: F401 - fixtures
from tests.channels.test_email_provider import MESSAGE_DOMAIN, make_due
from tests.factories import consumer_claim


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


def audit(database, action: str) -> list[dict]:
    with database.session_scope() as session:
        return [e.data for e in session.scalars(select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id))]


def bounce_the_invoice_mail(database, flow, payload) -> None:
    keys, worker, sink, sms_sandbox, _, base_url, settings, _ = flow
    submit(base_url, keys.municipality_key, payload)
    worker.drain()
    [sent] = sink.messages
    [email_dispatch] = rows(database, Dispatch, Dispatch.created_at)
    with TestClient(create_app(settings, database=database, providers=worker.providers)) as client:
        assert post_bounce(client, dsn(to=sent.mail_from, message_id=f"<{email_dispatch.id}@{MESSAGE_DOMAIN}>")).status_code == 202
    worker.drain()
    sms_sandbox.wait_for_reports()
    worker.drain()


def page_texts(pdf: bytes) -> list[str]:
    return [page.get_textpage().get_text_range() for page in pdfium.PdfDocument(pdf)]


def test_an_unreachable_number_asks_for_a_new_one_by_email(database, flow):
    keys, worker, sink, sms_sandbox, _, base_url, settings, _ = flow
    payload = consumer_claim("R1")
    payload["debtor"]["contacts"] = [{"kind": "phone", "value": "+32470000006"}, {"kind": "email", "value": EMAIL}]  # the sandbox answers UNDELIV
    payload["debtor"]["consents"] = [{"channel": "sms", "given": True, "date": "2026-02-01", "source": "portal"}]  # no e-mail consent: letters on paper
    claim_id = submit(base_url, keys.municipality_key, payload)
    worker.drain()
    with database.session_scope() as session:
        step_id = dunning.evaluate(session, claim_id, today=date(2026, 12, 7), now=utc(2026, 12, 7, 6)).step_id
    with database.session_scope() as session:
        dunning_tasks.send_step(Task(session, settings, database), {"step_id": str(step_id)}, utc(2026, 12, 7, 7))
    make_due(database)
    worker.drain()
    sms_sandbox.wait_for_reports()
    worker.drain()
    assert sorted(dispatches(database)) == [
        ("email", EMAIL, "sent"), ("paper", ADDRESS, "sent"), ("paper", ADDRESS, "sent"), ("sms", "+32470000006", "failed_permanent"),
    ]
    with database.session_scope() as session:
        assert {c.kind: c.validity for c in session.scalars(select(DebtorContact))} == {"phone": "unreachable", "email": "unverified"}
        notice = session.scalar(select(Document).where(Document.kind == "contact_repair"))
        assert (notice.number, notice.media_type) == ("MSG000001", "text/plain; charset=utf-8")
    [repair] = audit(database, "contact_repair.requested")
    assert (repair["channel"], repair["contact"]) == ("email", "+32470000006")
    [sent] = sink.messages
    message = email.message_from_bytes(sent.data, policy=email.policy.default)
    assert (message["Subject"], message["To"], sent.recipients) == ("Stad Gent: uw contactgegevens", f"An Peeters <{EMAIL}>", (EMAIL,))
    assert list(message.iter_attachments()) == []
    text = message.get_body(("plain",)).get_content()
    prefix = f"Stad Gent: uw herinnering REM000001 kon niet bezorgd worden op +3247...06. Geef een nieuw gsm-nummer op via {base_url}/my/"
    assert text.startswith(f"Beste An Peeters,\r\n\r\n{prefix}")
    token = text[len(f"Beste An Peeters,\r\n\r\n{prefix}"):].split()[0]
    personal_link.verify(LINK_SECRET.encode(), token, now=utc_now())


def test_with_no_other_contact_the_paper_letter_carries_a_repair_note(database, flow):
    _, _, _, sms_sandbox, _, base_url, _, drop = flow
    bounce_the_invoice_mail(database, flow, consumer_claim("R2"))  # an e-mail address and nothing else
    assert dispatches(database) == [("email", EMAIL, "failed_permanent"), ("paper", ADDRESS, "sent")]
    assert sms_sandbox.messages == {}
    letter, note = rows(database, Document, Document.created_at)
    paper = rows(database, Dispatch, Dispatch.created_at)[1]
    assert (note.kind, note.number, note.media_type, note.meta["enclose_with"]) == ("contact_repair", "MSG000001", "application/pdf", str(paper.id))
    prefix = f"Stad Gent: uw factuur INV000001 kon niet bezorgd worden op a...@telenet.be. Geef een nieuw adres op via {base_url}/my/"
    assert note.meta["text"].startswith(prefix)
    [repair] = audit(database, "contact_repair.requested")
    assert (repair["channel"], repair["dispatch_id"], repair["notice"]) == ("paper_note", str(paper.id), "MSG000001")
    summary = close_batch(drop, now=utc(2026, 11, 24, 16))
    with open(summary.path / "manifest.csv", newline="", encoding="utf-8") as handle:
        [row] = list(csv.DictReader(handle))
    printed = (summary.path / row["file"]).read_bytes()
    letter_pages, printed_pages = page_texts(letter.content), page_texts(printed)
    assert (row["document_number"], int(row["pages"])) == ("INV000001", len(letter_pages) + 1)
    assert printed_pages[: len(letter_pages)] == letter_pages  # the letter first: its address shows in the window
    note_text = "".join(printed_pages[-1].replace("\ufffe", "-").split())  # PDFium marks a hyphen at a line end
    assert "Uwcontactgegevens" in note_text and "".join(note.meta["text"].split()) in note_text


def test_without_a_personal_link_secret_the_repair_is_skipped_and_said_so(database, flow):
    keys, worker, sink, sms_sandbox, _, base_url, settings, _ = flow
    worker.settings = settings.model_copy(update={"personal_link_secret": ""})
    payload = consumer_claim("R3")
    payload["debtor"]["contacts"].append({"kind": "phone", "value": "+32470000001"})
    bounce_the_invoice_mail(database, flow, payload)
    assert dispatches(database) == [("email", EMAIL, "failed_permanent"), ("paper", ADDRESS, "sent")]
    assert sms_sandbox.messages == {}
    with database.session_scope() as session:
        assert session.scalar(select(Document).where(Document.kind == "contact_repair")) is None
        assert {c.kind: c.validity for c in session.scalars(select(DebtorContact))} == {"email": "bounced", "phone": "unverified"}
    [skipped] = audit(database, "contact_repair.skipped")
    assert skipped["reason"] == "the personal page is off (no personal_link_secret)"
    assert audit(database, "contact_repair.requested") == []
