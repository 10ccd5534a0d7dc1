"""The e-mail channel end to end: real store (SQLite and PostgreSQL), the worker, and a real
SMTP exchange with the aiosmtpd sink on 127.0.0.1."""

from __future__ import annotations

import email
import email.policy
from datetime import timedelta

import pypdfium2 as pdfium
import pytest
from sqlalchemy import select

from gateway.api.payloads import ClaimIn
from gateway.channels.email.client import SmtpRelay, send_message
from gateway.channels.email.compose import format_amount
from gateway.channels.email.provider import EmailConfig, EmailProvider, payment_url
from gateway.channels.email.sink import SmtpSink
from gateway.channels.email.verp import return_path
from gateway.channels.registry import ProviderRegistry
from gateway.channels.setup import build_providers
from gateway.domain.identifiers import format_ogm
from gateway.errors import InvalidContact, RetryableError, TerminalError
from gateway.kit.time import utc_now
from gateway.services import letters
from gateway.services.auth import authenticate
from gateway.services.claims import create_claim
from gateway.store.models import AuditEvent, Claim, DebtorContact, Dispatch, DispatchAttempt, Document, Job
from gateway.workers.run import Worker
from tests.factories import claim_payload, seed_creditors

SECRET = b"test-verp-secret-0123456789"
MESSAGE_DOMAIN = "mail.gateway.test"
BOUNCE_DOMAIN = "bounces.gateway.test"
CONTACT = "boekhouding@janssens.be"


@pytest.fixture
def sink(tmp_path):
    with SmtpSink(mail_dir=tmp_path / "mail") as running:
        yield running


def email_config(sink: SmtpSink, public_base_url: str = "https://pay.gateway.test") -> EmailConfig:
    return EmailConfig(
        relay=SmtpRelay("127.0.0.1", sink.port, tls="none", timeout_seconds=5), message_domain=MESSAGE_DOMAIN,
        bounce_domain=BOUNCE_DOMAIN, verp_secret=SECRET, default_sender="facturen@gateway.test", public_base_url=public_base_url,
    )


@pytest.fixture
def world(database, settings, standards_dir, sink):
    providers = ProviderRegistry()
    providers.add(EmailProvider(email_config(sink)))
    settings = settings.model_copy(update={"standards_dir": standards_dir, "max_attempts": 3})
    keys = seed_creditors(database)
    return keys, Worker(database, settings, name="t", providers=providers), providers, settings


def issue_without_peppol(database, key, number: str) -> None:
    payload = claim_payload(number)
    payload["debtor"] = {**payload["debtor"], "peppol_id": None}  # no Peppol: e-mail first
    with database.session_scope() as session:
        create_claim(session, authenticate(session, key), ClaimIn.model_validate(payload), now=utc_now())


def dispatches(database):
    with database.session_scope() as session:
        return session.scalars(select(Dispatch).order_by(Dispatch.created_at)).all()


def attempts(database):
    with database.session_scope() as session:
        return [(a.number, a.outcome, a.status_code, a.error_class) for a in session.scalars(select(DispatchAttempt).order_by(DispatchAttempt.created_at))]


def make_due(database):
    with database.session_scope() as session:
        for job in session.scalars(select(Job).where(Job.state == "pending")):
            job.run_after = utc_now() - timedelta(seconds=1)


def test_a_business_without_peppol_gets_the_ubl_by_email(database, world, sink):
    keys, worker, _, _ = world
    issue_without_peppol(database, keys.municipality_key, "E1")
    worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.channel, dispatch.recipient, dispatch.state, dispatch.provider, dispatch.attempt_count) == ("email", CONTACT, "sent", "smtp", 1)
    assert dispatch.provider_message_id == f"<{dispatch.id}@{MESSAGE_DOMAIN}>"
    assert attempts(database) == [(1, "sent", 250, None)]
    [sunk] = sink.messages
    assert sunk.mail_from == return_path(str(dispatch.id), SECRET, BOUNCE_DOMAIN)
    assert sunk.mail_from.startswith(f"bounces+{dispatch.id}.") and sunk.mail_from.endswith(f"@{BOUNCE_DOMAIN}")
    assert sunk.recipients == (CONTACT,)
    assert sunk.path.read_bytes() == sunk.data and sunk.path.suffix == ".eml"

    with database.session_scope() as session:
        document = session.get(Document, dispatch.document_id)
        claim = session.get(Claim, dispatch.claim_id)
        number, ubl, ogm, amount = document.number, document.content, claim.structured_communication, claim.amount_open
    message = email.message_from_bytes(sunk.data, policy=email.policy.default)
    assert message["From"] == "Stad Gent <facturen@gateway.test>"  # the creditor has no sender address of its own
    assert message["To"] == f"Bakkerij Janssens BV <{CONTACT}>"
    assert message["Subject"] == f"Factuur {number} van Stad Gent"
    assert message["Message-ID"] == dispatch.provider_message_id
    assert (message["Auto-Submitted"], message["Content-Language"], message["Return-Path"]) == ("auto-generated", "nl", None)
    pdf, xml = list(message.iter_attachments())
    assert (xml.get_filename(), xml.get_content_type(), xml.get_content()) == (f"{number}.xml", "application/xml", ubl)
    # the UBL's letter form beside it, the same bytes as a fresh rendition of the stored document
    assert (pdf.get_filename(), pdf.get_content_type()) == (f"{number}.pdf", "application/pdf")
    with database.session_scope() as session:
        assert pdf.get_content() == letters.pdf_rendition(session, session.get(Document, dispatch.document_id))
    page_text = pdfium.PdfDocument(pdf.get_content())[0].get_textpage().get_text_range()
    assert number in page_text and format_ogm(ogm) in page_text
    text = message.get_body(("plain",)).get_content()
    assert f"Gestructureerde mededeling: {format_ogm(ogm)}" in text
    assert f"Te betalen bedrag:          {format_amount(amount, 'nl')}" in text
    assert "Rekeningnummer (IBAN):      BE48 3200 7018 4927" in text
    assert "Online betalen" not in text  # a business pays by transfer; the personal page is for consumers


def test_451_is_retried_with_the_same_message_id(database, world, sink):
    keys, worker, _, _ = world
    sink.refuse_next("RCPT", "451 4.7.1 Greylisted, try again later")
    issue_without_peppol(database, keys.municipality_key, "E2")
    worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.state, dispatch.attempt_count, dispatch.last_error) == ("failed_temporary", 1, "RetryableError: SMTP 451 at RCPT TO: 4.7.1 Greylisted, try again later")
    assert sink.messages == []
    make_due(database)
    worker.drain()
    [dispatch] = dispatches(database)
    assert (dispatch.state, dispatch.attempt_count, dispatch.provider_message_id) == ("sent", 2, f"<{dispatch.id}@{MESSAGE_DOMAIN}>")
    assert attempts(database) == [(1, "failed_temporary", None, "RetryableError"), (2, "sent", 250, None)]
    assert len(sink.messages) == 1


def test_550_fails_permanently_marks_the_address_and_falls_back_to_paper(database, world, sink):
    keys, worker, _, _ = world
    sink.refuse_next("RCPT", "550 5.1.1 User unknown")
    issue_without_peppol(database, keys.municipality_key, "E3")
    worker.drain()
    email_dispatch, paper = dispatches(database)
    assert (email_dispatch.channel, email_dispatch.state, email_dispatch.last_error) == ("email", "failed_permanent", "InvalidContact: SMTP 550 at RCPT TO: 5.1.1 User unknown")
    assert (paper.channel, paper.recipient, paper.state, paper.document_id) == ("paper", "Markt 1, 9000 Gent, BE", "queued", email_dispatch.document_id)
    assert sink.messages == []
    with database.session_scope() as session:
        contact = session.scalar(select(DebtorContact))
        assert (contact.value, contact.validity) == (CONTACT, "bounced")


@pytest.mark.parametrize(("stage", "reply", "error"), [
    ("RCPT", "550 5.7.1 Relaying denied: policy", "TerminalError: SMTP 550 at RCPT TO: 5.7.1 Relaying denied: policy"),
    ("RCPT", "553 5.1.7 Sender address rejected", "TerminalError: SMTP 553 at RCPT TO: 5.1.7 Sender address rejected"),
    ("DATA", "554 5.6.0 Message refused", "TerminalError: SMTP 554 at DATA: 5.6.0 Message refused"),
])
def test_a_refusal_that_is_not_about_the_address_falls_back_and_keeps_it(database, world, sink, stage, reply, error):
    keys, worker, _, _ = world
    sink.refuse_next(stage, reply)
    issue_without_peppol(database, keys.municipality_key, "E4")
    worker.drain()
    email_dispatch, paper = dispatches(database)
    assert (email_dispatch.state, email_dispatch.last_error) == ("failed_permanent", error)
    assert (paper.channel, paper.state, paper.document_id) == ("paper", "queued", email_dispatch.document_id)
    with database.session_scope() as session:
        assert session.scalar(select(DebtorContact)).validity == "unverified"
        [fallback] = session.scalars(select(AuditEvent).where(AuditEvent.action == "dispatch.fallback")).all()
        assert (fallback.data["channel"], fallback.data["contact_invalidated"]) == ("paper", False)
        assert session.scalar(select(AuditEvent).where(AuditEvent.action == "contact.invalidated")) is None


def test_the_client_maps_smtp_outcomes(sink):
    relay = SmtpRelay("127.0.0.1", sink.port, tls="none", timeout_seconds=5)
    sink.refuse_next("MAIL", "553 5.7.1 Sender address rejected")
    with pytest.raises(RetryableError, match="^SMTP 553 at MAIL FROM"):  # our envelope, not the debtor's address
        send_message(relay, envelope_sender="bounces+x@b.test", recipient=CONTACT, message=b"Subject: x\r\n\r\nx\r\n")
    sink.refuse_next("DATA", "554 5.6.0 Message refused")
    with pytest.raises(TerminalError, match="^SMTP 554 at DATA: 5.6.0 Message refused$") as refused:
        send_message(relay, envelope_sender="bounces+x@b.test", recipient=CONTACT, message=b"Subject: x\r\n\r\nx\r\n")
    assert type(refused.value) is TerminalError  # the content, not the address: the contact is kept
    for reply in ("550 5.1.1 User unknown", "550 5.1.2 Host or domain name not found", "550 Recipient address rejected: User unknown in virtual mailbox table"):
        sink.refuse_next("RCPT", reply)
        with pytest.raises(InvalidContact, match=f"^SMTP 550 at RCPT TO: {reply[4:]}$"):  # the address itself: marked bounced
            send_message(relay, envelope_sender="bounces+x@b.test", recipient=CONTACT, message=b"Subject: x\r\n\r\nx\r\n")
    with pytest.raises(RetryableError, match="STARTTLS extension not supported"):
        send_message(SmtpRelay("127.0.0.1", sink.port, tls="starttls", timeout_seconds=5), envelope_sender="b@b.test", recipient=CONTACT, message=b"x\r\n")
    assert sink.messages == []
    stopped = SmtpSink().start()
    stopped.stop()
    with pytest.raises(RetryableError, match=f"^SMTP connection to 127.0.0.1:{stopped.port} failed: ConnectionRefusedError"):
        send_message(SmtpRelay("127.0.0.1", stopped.port, tls="none", timeout_seconds=5), envelope_sender="b@b.test", recipient=CONTACT, message=b"x\r\n")


def test_the_payment_link_is_the_personal_page_given_by_the_dispatch():
    assert payment_url({"payment_url": "https://pay.example/my/v1.a.b"}) == "https://pay.example/my/v1.a.b"
    assert payment_url({"payment_url": None}) is None
    assert payment_url({}) is None


def test_build_providers_adds_email_only_with_a_verp_secret(settings):
    assert "email" not in build_providers(settings).providers and "email/bounce" not in build_providers(settings).verifiers
    configured = build_providers(settings.model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": 2525, "smtp_tls": "none", "email_verp_secret": SECRET.decode()}))
    provider = configured.providers["email"]
    assert (provider.name, provider.config.relay.port, provider.config.relay.tls, provider.config.verp_secret) == ("smtp", 2525, "none", SECRET)
    assert configured.verifiers["email/bounce"].source == "email/bounce"


def test_a_creditor_with_its_own_sender_address_sends_from_it(database, world, sink):
    keys, worker, _, _ = world
    with database.session_scope() as session:
        from gateway.store.models import CreditorEntity

        session.scalar(select(CreditorEntity).where(CreditorEntity.code == "gent")).sender_email = "facturen@stad.gent"
    issue_without_peppol(database, keys.municipality_key, "E9")
    worker.drain()
    [sunk] = sink.messages
    message = email.message_from_bytes(sunk.data, policy=email.policy.default)
    assert message["From"] == "Stad Gent <facturen@stad.gent>"
    [dispatch] = dispatches(database)
    assert sunk.mail_from == return_path(str(dispatch.id), SECRET, BOUNCE_DOMAIN)  # bounces still come back to us, by VERP
