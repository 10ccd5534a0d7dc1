"""A Reminder to a receiver whose SMP does not list the Reminder document type (SQLite and PostgreSQL,
loopback DNS + signed SMP, sandbox AP, real SMTP to a sink): the invoice goes over Peppol; the
reminder's lookup answers document_type_not_supported, nothing reaches the AP, and the same reminder
goes by e-mail with its PDF and UBL, the reason on the claim."""

from __future__ import annotations

import email
from datetime import date, datetime, timezone
from email import policy

import pytest
from sqlalchemy import select

from gateway.channels.email.client import SmtpRelay
from gateway.channels.email.provider import EmailConfig, EmailProvider
from gateway.channels.email.sink import SmtpSink
from gateway.dunning import service as dunning_service
from gateway.dunning import tasks as dunning_tasks
from gateway.peppol.sandbox_smp import PeppolSandbox, SandboxParticipant
from gateway.peppol.sml import sml_hostname
from gateway.store.models import AuditEvent, Claim, Dispatch, Document
from gateway.workers.registry import Task
from tests.factories import claim_payload, seed_creditors
from tests.peppol.fixtures_discovery import test_pki, untrusted_pki  # noqa: F401 - fixtures
from tests.peppol.peppol_world import World, create, dispatches, make_due

RECEIVER = "0208:0403019261"  # its SMP lists Invoice and CreditNote, not Reminder
CONTACT = "boekhouding@janssens.be"
STEP_DAY = date(2026, 12, 7)  # the claim is due 2026-12-02: step 1 of the municipality's policy is due then
STEP_AT = datetime(2026, 12, 7, 7, 0, tzinfo=timezone.utc)


@pytest.fixture
def world(database, settings, standards_dir, test_pki, untrusted_pki, tmp_path):  # noqa: F811
    settings = settings.model_copy(update={"standards_dir": standards_dir, "max_attempts": 3})
    keys = seed_creditors(database)
    with PeppolSandbox((SandboxParticipant(RECEIVER),), pki=test_pki, untrusted_pki=untrusted_pki) as smp, SmtpSink(mail_dir=tmp_path / "mail") as sink:
        running = World(database, settings, keys, smp, test_pki)
        running.sink = sink
        yield running
        running.stop()


def test_a_reminder_the_receiver_cannot_take_over_peppol_goes_by_email_with_pdf_and_ubl(database, world):
    ap = world.start_ap(callback_url=None)
    world.providers.add(EmailProvider(EmailConfig(
        relay=SmtpRelay("127.0.0.1", world.sink.port, tls="none", timeout_seconds=5), message_domain="mail.gateway.test",
        bounce_domain="bounces.gateway.test", verp_secret=b"test-verp-secret-0123456789", default_sender="facturen@gateway.test",
        public_base_url="https://pay.gateway.test",
    )))
    create(world, claim_payload("F-REMIND"))
    world.worker.drain()
    [invoice_dispatch] = dispatches(database)
    assert (invoice_dispatch.channel, invoice_dispatch.state) == ("peppol", "sent")

    with database.session_scope() as session:
        claim_id = session.scalar(select(Claim.id).where(Claim.number == "F-REMIND"))
        evaluation = dunning_service.evaluate(session, claim_id, today=STEP_DAY, now=STEP_AT)
    assert evaluation.decision.step == 1
    with database.session_scope() as session:
        dunning_tasks.send_step(Task(session, world.settings, database, world.providers), {"step_id": str(evaluation.step_id)}, STEP_AT)
    make_due(database)  # the step was sent "on" STEP_DAY: its transmit job is due from then
    world.worker.drain()

    with database.session_scope() as session:
        reminder = session.scalar(select(Document).where(Document.kind == "reminder"))
        rows = session.scalars(select(Dispatch).where(Dispatch.document_id == reminder.id).order_by(Dispatch.channel.desc())).all()
        fallback = session.scalar(select(AuditEvent).where(AuditEvent.action == "dispatch.fallback"))
    peppol, by_email = rows
    not_supported = f"PeppolNotReachable: {RECEIVER}: document_type_not_supported: smp.document_type_not_listed"
    assert (peppol.channel, peppol.recipient, peppol.state, peppol.last_error) == ("peppol", RECEIVER, "failed_permanent", not_supported)
    reason = f"after peppol failed ({not_supported}): Peppol failed: e-mail with PDF and UBL"
    assert (by_email.channel, by_email.recipient, by_email.state, by_email.routing_reason) == ("email", CONTACT, "sent", reason)
    assert (fallback.entity_id, fallback.data) == (claim_id, {"failed_dispatch_id": str(peppol.id), "dispatch_id": str(by_email.id), "channel": "email", "reason": reason})
    # The AP got the invoice only; the reminder was stopped by the lookup, which asked the SMP for the Reminder type.
    assert ap.requests == 1 and [d.document_type for d in ap.documents.values()] == [
        "urn:oasis:names:specification:ubl:schema:xsd:Invoice-2::Invoice##urn:cen.eu:en16931:2017#compliant#urn:fdc:peppol.eu:2017:poacc:billing:3.0::2.1"]
    assert world.smp.dns.queries == [sml_hostname(RECEIVER, world.smp.zone)] * 2  # one per document type (cached per type)
    # The e-mail carries the reminder as PDF and as the UBL document, byte for byte.
    [sent] = world.sink.messages
    message = email.message_from_bytes(sent.data, policy=policy.default)
    attachments = [(part.get_filename(), part.get_content_type(), part.get_payload(decode=True)) for part in message.iter_attachments()]
    assert [(name, kind) for name, kind, _ in attachments] == [(f"{reminder.number}.pdf", "application/pdf"), (f"{reminder.number}.xml", "application/xml")]
    assert attachments[0][2].startswith(b"%PDF-") and attachments[1][2] == reminder.content
    assert sent.recipients == (CONTACT,)
