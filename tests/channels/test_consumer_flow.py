"""Consumer documents end to end (issue 5): the PDF letter issued from a stored claim, sent by
e-mail (real SMTP with the sink), eBox (loopback sandbox), SMS (loopback sandbox with signed
delivery reports into our API served by uvicorn) and paper (the print drop folder), and the
router's fallback chain with the contact-repair message:

- e-mail hard bounce -> e-mail failed, address bounced, repair SMS with the personal link, paper letter;
- eBox NO_DIGITAL_USER -> e-mail with the same PDF, no repair message;
- SMS UNDELIV of a short reminder -> number unreachable, paper letter.
"""

from __future__ import annotations

import csv
import email
import io
import email.policy
import uuid
from datetime import date, datetime, timedelta, timezone

import pypdfium2 as pdfium
import pytest
import zxingcpp
from PIL import Image
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import select

from gateway.app import create_app
from gateway.channels.ebox.client import EboxClient
from gateway.channels.ebox.provider import EboxProvider
from gateway.channels.ebox.sandbox import EboxSandbox
from gateway.channels.email.bounce_callback import BounceVerifier
from gateway.channels.email.provider import EmailProvider
from gateway.channels.paper.drop import close_batch
from gateway.channels.paper.provider import PrintDropProvider
from gateway.channels.registry import ProviderRegistry
from gateway.channels.setup import callback_url
from gateway.channels.sms.client import SmsClient
from gateway.channels.sms.provider import SmsProvider
from gateway.channels.sms.sandbox import SmsSandbox
from gateway.dunning import service as dunning
from gateway.dunning import tasks as dunning_tasks
from gateway.kit import personal_link
from gateway.kit.time import utc_now
from gateway.store.models import AuditEvent, Claim, DebtorContact, Dispatch, Document, DunningStep, Job
from gateway.workers.registry import Task
from gateway.workers.run import Worker
from tests.channels.test_bounce_flow import dsn, post as post_bounce
from tests.channels.test_ebox_provider import CLIENT_ID, NRN, SENDER
from tests.channels.test_email_provider import MESSAGE_DOMAIN, SECRET, email_config, make_due
from tests.channels.test_sms_provider import API_KEY, SECRET as SMS_SECRET, serve
from tests.factories import consumer_claim, seed_creditors

LINK_SECRET = "personal-link-secret-for-tests-0123"
EMAIL = "an.peeters@telenet.be"
ADDRESS = "Kerkstraat 1, 9000 Gent, BE"
EBOX_SCOPE = "scope:document:management:consult:ws-eboxrestentreprise:publicationsender"


@pytest.fixture(scope="module")
def ebox_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def flow(database, settings, standards_dir, tmp_path, ebox_key):
    from gateway.channels.email.sink import SmtpSink

    sms_sandbox = SmsSandbox(api_key=API_KEY, callback_secret=SMS_SECRET)
    ebox_sandbox = EboxSandbox(client_id=CLIENT_ID, public_key=ebox_key.public_key())
    providers = ProviderRegistry()
    app = create_app(settings, database=database, providers=providers)
    with SmtpSink(mail_dir=tmp_path / "mail") as sink, serve(app) as base_url:
        settings = settings.model_copy(update={
            "public_base_url": base_url, "max_attempts": 3, "standards_dir": standards_dir, "personal_link_secret": LINK_SECRET,
            "print_drop_dir": tmp_path / "print", "bancontact_payment_profile_id": "PPIDTEST",
        })
        providers.add(EmailProvider(email_config(sink)))
        providers.add_verifier(BounceVerifier(secrets=[SECRET], message_domain=MESSAGE_DOMAIN))
        providers.add(SmsProvider(SmsClient(sms_sandbox.url, API_KEY, timeout_seconds=5), callback_secret=SMS_SECRET, callback_url=callback_url(settings, "sms"), max_segments=3))
        ebox_client = EboxClient(api_url=ebox_sandbox.api_url, token_url=ebox_sandbox.token_url, client_id=CLIENT_ID, private_key=ebox_key, scope=EBOX_SCOPE, timeout_seconds=5)
        providers.add(EboxProvider(ebox_client, sender_enterprise_number=SENDER, sender_application_id="GENT-INVOICING", message_type_id="INVOICE"))
        providers.add(PrintDropProvider(tmp_path / "print", channel="paper"))
        providers.add(PrintDropProvider(tmp_path / "print", channel="registered_paper"))
        keys = seed_creditors(database)
        worker = Worker(database, settings, name="t", providers=providers)
        yield keys, worker, sink, sms_sandbox, ebox_sandbox, base_url, settings, tmp_path / "print"
    sms_sandbox.close()
    ebox_sandbox.close()


def submit(client_base: str, key: str, payload: dict) -> uuid.UUID:
    import requests

    answer = requests.post(f"{client_base}/v1/claims", json=payload, headers={"Authorization": f"Bearer {key}"}, timeout=10)
    assert answer.status_code == 201, answer.text
    return uuid.UUID(answer.json()["id"])


def rows(database, model, *order):
    with database.session_scope() as session:
        return session.scalars(select(model).order_by(*order)).all()


def dispatches(database):
    return [(d.channel, d.recipient, d.state) for d in rows(database, Dispatch, Dispatch.created_at)]


def audit_actions(database, claim_id):
    with database.session_scope() as session:
        return [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.entity_id == claim_id).order_by(AuditEvent.id))]


def personal_token(text: str, base_url: str) -> str:
    start = text.index(f"{base_url}/my/") + len(f"{base_url}/my/")
    return text[start:].split()[0].rstrip(".")


def test_the_invoice_letter_goes_by_email_with_the_pdf_the_qr_and_the_personal_link(database, flow):
    keys, worker, sink, _, _, base_url, _, _ = flow
    claim_id = submit(base_url, keys.municipality_key, consumer_claim("C1"))
    worker.drain()
    [letter] = rows(database, Document, Document.created_at)
    with database.session_scope() as session:
        claim = session.get(Claim, claim_id)
        ogm, debtor_id, creditor_id = claim.structured_communication, claim.debtor_id, claim.creditor_id
    assert (letter.kind, letter.number, letter.media_type) == ("invoice", "INV000001", "application/pdf")
    assert letter.content.startswith(b"%PDF-")
    assert letter.meta["epc_payload"] == f"BCD\n002\n1\nSCT\n\nStad Gent\nBE48320070184927\nEUR45.00\n\n{ogm}"
    assert (letter.meta["payable"], letter.meta["due_date"], letter.meta["format"]) == ("45.00", "2026-12-02", "letter-pdf")
    page = "".join(pdfium.PdfDocument(letter.content)[0].get_textpage().get_text_range().split())  # URLs may wrap
    assert f"https://pay.bancontact.net/t/1/PPIDTEST?D=Stad%20Gent%20INV000001&A=4500&R={ogm}" in page
    assert f"{base_url}/my/v1." in page
    assert dispatches(database) == [("email", EMAIL, "sent")]
    [sent] = sink.messages
    message = email.message_from_bytes(sent.data, policy=email.policy.default)
    [attachment] = list(message.iter_attachments())
    assert (attachment.get_filename(), attachment.get_content_type(), attachment.get_content()) == ("INV000001.pdf", "application/pdf", letter.content)
    # the transfer's EPC QR inline in the HTML part: the same payload as on the letter
    [qr] = [part for part in message.walk() if part.get_content_type() == "image/png" and part.get_filename() == "epc-qr.png"]
    [decoded] = zxingcpp.read_barcodes(Image.open(io.BytesIO(qr.get_content())))
    assert decoded.text == letter.meta["epc_payload"]
    text = message.get_body(("plain",)).get_content()
    token = personal_token(text, base_url)
    subject = personal_link.verify(LINK_SECRET.encode(), token, now=utc_now())
    assert (subject.debtor_id, subject.creditor_id) == (debtor_id, creditor_id)
    assert audit_actions(database, claim_id)[:3] == ["claim.created", "claim.routed", "document.issued"]


def test_email_hard_bounce_asks_for_repair_by_sms_and_sends_the_letter_on_paper(database, flow):
    keys, worker, sink, sms_sandbox, _, base_url, _, drop = flow
    payload = consumer_claim("C2")
    payload["debtor"]["contacts"].append({"kind": "phone", "value": "+32470000001"})
    claim_id = submit(base_url, keys.municipality_key, payload)
    worker.drain()
    [sent] = sink.messages
    [email_dispatch] = rows(database, Dispatch, Dispatch.created_at)
    from fastapi.testclient import TestClient

    with TestClient(create_app(flow[6], database=database, providers=worker.providers)) as client:
        answer = post_bounce(client, dsn(to=sent.mail_from, message_id=f"<{email_dispatch.id}@{MESSAGE_DOMAIN}>"))
    assert answer.status_code == 202
    worker.drain()
    sms_sandbox.wait_for_reports()
    worker.drain()
    assert sorted(dispatches(database)) == [  # the repair SMS and the paper letter are queued in one transaction
        ("email", EMAIL, "failed_permanent"), ("paper", ADDRESS, "sent"), ("sms", "+32470000001", "delivered"),
    ]
    [letter, notice] = rows(database, Document, Document.created_at)
    assert (notice.kind, notice.number, notice.media_type) == ("contact_repair", "MSG000001", "text/plain; charset=utf-8")
    [sms] = sms_sandbox.messages.values()
    assert sms.text == notice.content.decode()
    prefix = f"Stad Gent: uw factuur INV000001 kon niet bezorgd worden op a...@telenet.be. Geef een nieuw adres op via {base_url}/my/"
    assert sms.text.startswith(prefix)
    personal_link.verify(LINK_SECRET.encode(), sms.text[len(prefix):], now=utc_now())
    with database.session_scope() as session:
        contacts = {c.kind: c.validity for c in session.scalars(select(DebtorContact))}
    assert contacts == {"email": "bounced", "phone": "unverified"}  # a delivered SMS does not verify who owns the number
    actions = audit_actions(database, claim_id)
    assert "contact_repair.requested" in actions and "dispatch.fallback" in actions
    # the paper letter is the same PDF, waiting in the drop folder until the batch closes
    summary = close_batch(drop, now=datetime(2026, 11, 24, 16, 0, tzinfo=timezone.utc))
    with open(summary.path / "manifest.csv", newline="", encoding="utf-8") as handle:
        [row] = list(csv.DictReader(handle))
    assert (row["document_number"], row["recipient_name"], row["registered"]) == ("INV000001", "An Peeters", "false")
    assert (summary.path / row["file"]).read_bytes() == letter.content


def test_ebox_without_digital_user_falls_back_to_email_without_a_repair_message(database, flow):
    keys, worker, sink, sms_sandbox, ebox_sandbox, base_url, _, _ = flow
    ebox_sandbox.without_ebox = frozenset({NRN})
    payload = consumer_claim("C3")
    payload["debtor"]["consents"].append({"channel": "ebox", "given": True, "date": "2026-02-01", "source": "myebox"})
    payload["debtor"]["contacts"].append({"kind": "phone", "value": "+32470000001"})
    submit(base_url, keys.municipality_key, payload)
    worker.drain()
    assert dispatches(database) == [("ebox", NRN, "failed_permanent"), ("email", EMAIL, "sent")]
    [letter] = rows(database, Document, Document.created_at)
    [published] = ebox_sandbox.messages.values()
    assert published.files == {"upfile1": letter.content}
    [sent] = sink.messages
    [attachment] = list(email.message_from_bytes(sent.data, policy=email.policy.default).iter_attachments())
    assert attachment.get_content() == letter.content
    assert sms_sandbox.messages == {}


def test_an_undeliverable_sms_reminder_goes_on_paper_and_its_clock_waits(database, flow):
    keys, worker, _, sms_sandbox, _, base_url, _, _ = flow
    payload = consumer_claim("C4")
    payload["debtor"]["contacts"] = [{"kind": "phone", "value": "+32470000006"}]  # the sandbox answers UNDELIV
    payload["debtor"]["consents"] = [{"channel": "sms", "given": True, "date": "2026-02-01", "source": "portal"}]
    claim_id = submit(base_url, keys.municipality_key, payload)
    worker.drain()
    assert dispatches(database) == [("paper", ADDRESS, "sent")]  # an invoice letter is never an SMS
    with database.session_scope() as session:
        evaluation = dunning.evaluate(session, claim_id, today=date(2026, 12, 7), now=datetime(2026, 12, 7, 6, tzinfo=timezone.utc))
        step_id = evaluation.step_id
    assert step_id is not None
    with database.session_scope() as session:  # the send_step job, run on its day
        dunning_tasks.send_step(Task(session, worker.settings, database), {"step_id": str(step_id)}, datetime(2026, 12, 7, 7, tzinfo=timezone.utc))
    make_due(database)
    worker.drain()
    sms_sandbox.wait_for_reports()
    worker.drain()
    documents = {d.kind: d for d in rows(database, Document, Document.created_at)}
    reminder, note = documents["reminder"], documents["contact_repair"]  # no other contact: a repair note goes with the paper letter
    with database.session_scope() as session:
        of_reminder = session.scalars(select(Dispatch).where(Dispatch.document_id == reminder.id)).all()
        assert sorted((d.channel, d.recipient, d.state) for d in of_reminder) == [("paper", ADDRESS, "sent"), ("sms", "+32470000006", "failed_permanent")]
        [fallback] = [d for d in of_reminder if d.channel == "paper"]
        assert fallback.routing_reason == "after sms failed (SMS UNDELIV (err 001)): consumer consented to SMS but the number is not usable: paper"
        assert (note.kind, note.media_type, note.meta["enclose_with"]) == ("contact_repair", "application/pdf", str(fallback.id))
    assert (reminder.kind, reminder.number, reminder.media_type) == ("reminder", "REM000001", "application/pdf")
    [sms] = sms_sandbox.messages.values()
    with database.session_scope() as session:
        claim = session.get(Claim, claim_id)
        ogm = claim.structured_communication
        step = session.get(DunningStep, step_id)
        assert (step.document_id, step.fee) == (reminder.id, 0)
        assert session.scalar(select(DebtorContact)).validity == "unreachable"
    due = step.new_due_date
    # the undelivered SMS started no clock; the paper letter that replaced it did (sent, presumed delivered later)
    with database.session_scope() as session:
        dunning.evaluate(session, claim_id, today=date(2026, 12, 8), now=datetime(2026, 12, 8, 6, tzinfo=timezone.utc))
        step = session.get(DunningStep, step_id)
        assert (step.status, step.channel, step.dispatch_id) == ("sent", "paper", fallback.id)
    # the first reminder with Book XIX's content (sms/provider.py FIRST_REMINDER), in 3 GSM-7 parts
    assert sms.text.startswith(
        f"Stad Gent (KBO 0207.451.227): eerste herinnering REM000001, factuur INV000001 (Retributie containerpark, vervallen 02/12/2026). "
        f"Open saldo EUR 45,00. Betaal kosteloos binnen {(due - date(2026, 12, 7)).days} dagen, tot {due:%d/%m/%Y}, met mededeling "
        f"+++{ogm[:3]}/{ogm[3:7]}/{ogm[7:]}+++. Daarna: herinnering 2 kost EUR 7,50. {base_url}/my/"
    )
    assert sms.segments == 3
