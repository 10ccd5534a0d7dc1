"""Bounces end to end: an e-mail sent through the SMTP sink, its bounce posted to
`/v1/callbacks/email/bounce` (TestClient) or delivered over SMTP to the bounce receiver, the
worker applying it: hard -> failed_permanent, contact bounced, paper queued; soft -> retried."""

from __future__ import annotations

import smtplib

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.app import create_app
from gateway.channels.email.bounce_callback import BounceVerifier
from gateway.channels.email.bounce_receiver import BounceReceiver
from gateway.store.models import DebtorContact, InboundEvent
from tests.channels.test_email_provider import (  # noqa: F401 - fixtures
    BOUNCE_DOMAIN, CONTACT, MESSAGE_DOMAIN, SECRET, attempts, dispatches, issue_without_peppol, make_due, sink, world,
)


def dsn(*, to: str, message_id: str, status: str = "5.1.1", action: str = "failed", diagnostic: str = "550 5.1.1 Recipient address rejected: User unknown", bounce_id: str = "<bounce-1@mx.janssens.be>") -> bytes:
    """A Postfix-style RFC 3464 report about our message `message_id`, delivered to `to`."""
    return (
        "From: MAILER-DAEMON@mx.janssens.be (Mail Delivery System)\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        f"Message-ID: {bounce_id}\r\n"
        "Auto-Submitted: auto-replied\r\n"
        "MIME-Version: 1.0\r\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n'
        "\r\n--B\r\nContent-Type: text/plain\r\n\r\nI'm sorry to have to inform you that your message could not be delivered.\r\n"
        "\r\n--B\r\nContent-Type: message/delivery-status\r\n\r\n"
        "Reporting-MTA: dns; mx.janssens.be\r\n\r\n"
        f"Final-Recipient: rfc822; {CONTACT}\r\nAction: {action}\r\nStatus: {status}\r\n"
        f"Diagnostic-Code: smtp; {diagnostic}\r\n"
        f"\r\n--B\r\nContent-Type: text/rfc822-headers\r\n\r\nMessage-ID: {message_id}\r\nFrom: Stad Gent <facturen@gateway.test>\r\nTo: {CONTACT}\r\n"
        "\r\n--B--\r\n"
    ).encode()


def auto_reply(*, to: str) -> bytes:
    return (
        f"From: {CONTACT}\r\nTo: {to}\r\nSubject: Automatisch antwoord: afwezig\r\nAuto-Submitted: auto-replied\r\n"
        "Message-ID: <ooo-1@janssens.be>\r\n\r\nIk ben afwezig tot maandag.\r\n"
    ).encode()


@pytest.fixture
def flow(database, world, sink):
    keys, worker, providers, settings = world
    providers.add_verifier(BounceVerifier(secrets=[SECRET], message_domain=MESSAGE_DOMAIN))
    issue_without_peppol(database, keys.municipality_key, "B1")
    worker.drain()
    [dispatch] = dispatches(database)
    assert dispatch.state == "sent"
    with TestClient(create_app(settings, database=database, providers=providers)) as client:
        yield client, worker, providers, dispatch, sink.messages[0].mail_from


def post(client, body: bytes):
    return client.post("/v1/callbacks/email/bounce", content=body, headers={"Content-Type": "message/rfc822"})


def inbound(database):
    with database.session_scope() as session:
        return [(e.source, e.external_id, e.handled_at is not None, e.error) for e in session.scalars(select(InboundEvent))]


def assert_bounced_to_paper(database, dispatch_id):
    email_dispatch, paper = dispatches(database)
    assert (email_dispatch.id, email_dispatch.state) == (dispatch_id, "failed_permanent")
    assert email_dispatch.last_error == "bounce: 5.1.1 user_unknown 550 5.1.1 Recipient address rejected: User unknown"
    assert (paper.channel, paper.recipient, paper.state) == ("paper", "Markt 1, 9000 Gent, BE", "queued")
    with database.session_scope() as session:
        contact = session.scalar(select(DebtorContact))
        assert (contact.value, contact.validity, contact.validity_reason) == (CONTACT, "bounced", email_dispatch.last_error)


def test_a_hard_bounce_fails_the_dispatch_marks_the_contact_and_queues_paper_once(database, flow):
    client, worker, _, dispatch, verp = flow
    body = dsn(to=verp, message_id=f"<{dispatch.id}@{MESSAGE_DOMAIN}>")
    first = post(client, body)
    assert (first.status_code, first.json()) == (202, {"stored": 1, "duplicates": 0})
    assert post(client, body).json() == {"stored": 0, "duplicates": 1}  # the same bounce twice: stored once
    worker.drain()
    assert_bounced_to_paper(database, dispatch.id)
    assert inbound(database) == [("email/bounce", f"{dispatch.id}:failed_permanent:<bounce-1@mx.janssens.be>", True, None)]


def test_a_soft_bounce_is_retried(database, flow, sink):
    client, worker, _, dispatch, verp = flow
    body = dsn(to=verp, message_id=f"<{dispatch.id}@{MESSAGE_DOMAIN}>", status="4.2.2", diagnostic="452 4.2.2 Mailbox full")
    assert post(client, body).json() == {"stored": 1, "duplicates": 0}
    worker.drain()
    [again] = dispatches(database)
    assert (again.state, again.last_error) == ("failed_temporary", "bounce: 4.2.2 mailbox_full 452 4.2.2 Mailbox full")
    make_due(database)
    worker.drain()
    [again] = dispatches(database)
    assert (again.state, again.attempt_count) == ("sent", 2)
    assert attempts(database) == [(1, "sent", 250, None), (2, "sent", 250, None)]
    assert [m.recipients for m in sink.messages] == [(CONTACT,), (CONTACT,)]
    with database.session_scope() as session:
        assert session.scalar(select(DebtorContact)).validity == "unverified"  # a soft bounce keeps the address


def test_forged_or_unreadable_bounces_are_refused_and_nothing_is_stored(database, flow):
    client, worker, _, dispatch, verp = flow
    local, _, domain = verp.partition("@")
    forged = local[:-4] + ("aaaa" if not local.endswith("aaaa") else "bbbb") + "@" + domain
    other_dispatch = "bounces+" + "0" * 8 + verp[len("bounces+") + 8:]
    cases = [
        (dsn(to=forged, message_id=f"<{dispatch.id}@{MESSAGE_DOMAIN}>"), "the VERP token does not verify"),
        (dsn(to=other_dispatch, message_id=f"<{dispatch.id}@{MESSAGE_DOMAIN}>"), "the VERP token does not verify"),
        (dsn(to="postmaster@gateway.test", message_id=f"<{dispatch.id}@{MESSAGE_DOMAIN}>"), "no VERP token: the message was not sent to one of our bounce addresses"),
        (b"   ", "not a readable message (bounce.empty): message is empty"),
        # garbage bytes (a zip, a PDF, random binary) posted by a misconfigured pipe: said plainly, nothing stored
        (bytes(range(256)) * 16, "not a readable message (bounce.no_headers): not an RFC 822 message: it has no header fields"),
        (b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(range(200, 256)) * 20, "not a readable message (bounce.no_headers): not an RFC 822 message: it has no header fields"),
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog >>\nendobj\n", "not a readable message (bounce.no_headers): not an RFC 822 message: it has no header fields"),
    ]
    for body, reason in cases:
        response = post(client, body)
        assert (response.status_code, response.headers["content-type"], response.json()["detail"]) == (401, "application/problem+json", reason)
    assert inbound(database) == []
    worker.drain()
    [unchanged] = dispatches(database)
    assert unchanged.state == "sent"


def test_a_quoted_message_id_of_another_dispatch_is_refused(database, flow):
    client, _, _, dispatch, verp = flow
    response = post(client, dsn(to=verp, message_id=f"<00000000-0000-4000-8000-000000000000@{MESSAGE_DOMAIN}>"))
    assert (response.status_code, response.json()["detail"]) == (401, "the quoted Message-ID names another dispatch than the VERP token")
    assert inbound(database) == []


def test_auto_replies_and_delay_warnings_change_nothing(database, flow):
    client, worker, _, dispatch, verp = flow
    assert post(client, auto_reply(to=verp)).json() == {"stored": 0, "duplicates": 0}
    delayed = dsn(to=verp, message_id=f"<{dispatch.id}@{MESSAGE_DOMAIN}>", status="4.4.7", action="delayed", diagnostic="451 4.4.7 Greylisted")
    assert post(client, delayed).json() == {"stored": 0, "duplicates": 0}
    worker.drain()
    assert inbound(database) == []
    [unchanged] = dispatches(database)
    assert unchanged.state == "sent"


def test_a_bounce_over_smtp_to_the_receiver_has_the_same_result(database, flow):
    client, worker, providers, dispatch, verp = flow
    verifier = providers.verifiers["email/bounce"]
    body = dsn(to="undisclosed-recipients:;", message_id=f"<{dispatch.id}@{MESSAGE_DOMAIN}>")  # the token is only in the envelope
    with BounceReceiver(database, verifier, bounce_domain=BOUNCE_DOMAIN) as receiver:
        with smtplib.SMTP("127.0.0.1", receiver.port, local_hostname="localhost", timeout=5) as smtp:
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                smtp.sendmail("", [f"someone@{MESSAGE_DOMAIN}"], body)  # not the bounce domain
            smtp.rset()
            with pytest.raises(smtplib.SMTPDataError) as raised:
                smtp.sendmail("", ["bounces+" + "0" * 8 + verp[len("bounces+") + 8:]], body)
            assert (raised.value.smtp_code, raised.value.smtp_error) == (550, b"5.7.1 Bounce refused: the VERP token does not verify")
            smtp.rset()
            assert smtp.sendmail("", [verp], body) == {}
            assert smtp.sendmail("", [verp], body) == {}  # repeated by the sending MTA: stored once
    worker.drain()
    assert_bounced_to_paper(database, dispatch.id)
    [(source, external_id, handled, error)] = inbound(database)
    assert (source, external_id, handled, error) == ("email/bounce", f"{dispatch.id}:failed_permanent:<bounce-1@mx.janssens.be>", True, None)


def test_a_soft_bounce_out_of_attempts_ends_the_dispatch_but_keeps_the_address(database, flow):
    client, worker, _, dispatch, verp = flow
    with database.session_scope() as session:  # as if this were the last of max_attempts (3) tries
        session.get(type(dispatch), dispatch.id).attempt_count = 3
    body = dsn(to=verp, message_id=f"<{dispatch.id}@{MESSAGE_DOMAIN}>", status="4.2.2", diagnostic="452 4.2.2 Mailbox full")
    assert post(client, body).json() == {"stored": 1, "duplicates": 0}
    worker.drain()
    email_dispatch, paper = dispatches(database)
    assert (email_dispatch.state, email_dispatch.last_error) == ("failed_permanent", "bounce: 4.2.2 mailbox_full 452 4.2.2 Mailbox full")
    assert (paper.channel, paper.state) == ("paper", "queued")
    with database.session_scope() as session:
        assert session.scalar(select(DebtorContact)).validity == "unverified"  # a full mailbox is not a wrong address
