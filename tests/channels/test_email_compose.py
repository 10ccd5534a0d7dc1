"""Composed messages: headers, MIME structure and language per template, VERP round trip."""

from __future__ import annotations

import email
import email.policy
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest

from gateway.channels.email.bounce import parse_bounce
from gateway.channels.email.compose import (
    Attachment,
    Branding,
    MailInput,
    MailKind,
    compose,
    format_amount,
    format_date,
)
from gateway.channels.email.verp import dispatch_id_from_address
from gateway.errors import InvalidInput

SECRET = b"verp-test-secret-0123456789"
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=timezone.utc)
DISPATCH = "5b0f6c1e-2d4a-4f7b-9c3e-8a1d2e3f4a5b"
PDF = Attachment("factuur-2026-000042.pdf", b"%PDF-1.7\n%fake\n", "application/pdf")
UBL = Attachment("factuur-2026-000042.xml", b"<?xml version='1.0'?><Invoice/>", "application/xml")


def mail(**changes) -> MailInput:
    values = dict(
        kind=MailKind.INVOICE,
        language="nl",
        dispatch_id=DISPATCH,
        sender_address="facturen@gemeente.example.org",
        recipient_address="an.janssens@example.net",
        recipient_name="An Janssens",
        creditor=Branding(name="Gemeente Voorbeeld", colour="#004b87", logo_url="https://gemeente.example.org/logo.png"),
        document_number="2026-000042",
        amount=Decimal("1234.50"),
        due_date=date(2026, 12, 23),
        ogm="010806817183",
        creditor_iban="BE48320070184927",
        payment_url="https://pay.gateway.example.org/p/abc123",
        attachments=(PDF, UBL),
    )
    values.update(changes)
    return MailInput(**values)


def build(m: MailInput):
    composed = compose(m, now=NOW, message_domain="gateway.example.org", verp_domain="bounces.gateway.example.org", verp_secret=SECRET)
    parsed = email.message_from_bytes(composed.as_bytes(), policy=email.policy.default)
    return composed, parsed


def structure(part) -> list:
    if part.is_multipart():
        return [part.get_content_type(), [structure(p) for p in part.iter_parts()]]
    return part.get_content_type()


def test_headers():
    composed, parsed = build(mail())
    assert parsed["From"] == "Gemeente Voorbeeld <facturen@gemeente.example.org>"
    assert parsed["To"] == "An Janssens <an.janssens@example.net>"
    assert parsed["Subject"] == "Factuur 2026-000042 van Gemeente Voorbeeld"
    assert parsed["Date"] == "Mon, 23 Nov 2026 09:00:00 +0000"
    assert parsed["Message-ID"] == f"<{DISPATCH}@gateway.example.org>" == composed.message_id
    assert parsed["Content-Language"] == "nl"
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert parsed["Return-Path"] is None  # RFC 5321 section 4.4: added at final delivery
    assert composed.envelope_sender.startswith(f"bounces+{DISPATCH}.")
    assert composed.envelope_sender.endswith("@bounces.gateway.example.org")


def test_structure_with_attachments_and_remote_logo():
    _, parsed = build(mail())
    assert structure(parsed) == [
        "multipart/mixed",
        [["multipart/alternative", ["text/plain", "text/html"]], "application/pdf", "application/xml"],
    ]
    attachments = list(parsed.iter_attachments())
    assert [(a.get_filename(), a.get_content()) for a in attachments] == [
        ("factuur-2026-000042.pdf", PDF.content),
        ("factuur-2026-000042.xml", UBL.content),
    ]
    html = parsed.get_body(("html",)).get_content()
    assert 'src="https://gemeente.example.org/logo.png"' in html
    assert "background:#004b87" in html


def test_inline_logo_and_qr_are_related_parts_with_content_ids():
    logo = b"\x89PNG\r\n\x1a\nlogo"
    qr = b"\x89PNG\r\n\x1a\nqr"
    m = mail(creditor=Branding(name="OCMW Voorbeeld", logo_png=logo), epc_qr_png=qr, attachments=())
    _, parsed = build(m)
    assert structure(parsed) == ["multipart/alternative", ["text/plain", ["multipart/related", ["text/html", "image/png", "image/png"]]]]
    related = parsed.get_payload()[1]
    images = related.get_payload()[1:]
    assert [i["Content-ID"] for i in images] == [
        f"<logo.{DISPATCH}@gateway.example.org>",
        f"<epc-qr.{DISPATCH}@gateway.example.org>",
    ]
    assert [i.get_content() for i in images] == [logo, qr]
    html = parsed.get_body(("html",)).get_content()
    assert f'src="cid:logo.{DISPATCH}@gateway.example.org"' in html
    assert f'src="cid:epc-qr.{DISPATCH}@gateway.example.org"' in html
    assert "Scan deze code met uw bank-app om te betalen." in html


@pytest.mark.parametrize(
    ("kind", "language", "subject", "phrases"),
    [
        (MailKind.INVOICE, "nl", "Factuur 2026-000042 van Gemeente Voorbeeld",
         ["Beste An Janssens,", "Te betalen bedrag:", "€\u00a01.234,50", "23 december 2026", "Gestructureerde mededeling: +++010/8068/17183+++"]),
        (MailKind.INVOICE, "fr", "Facture 2026-000042 de Gemeente Voorbeeld",
         ["Bonjour An Janssens,", "Montant à payer:", "1\u00a0234,50\u00a0€", "23 décembre 2026", "+++010/8068/17183+++"]),
        (MailKind.INVOICE, "de", "Rechnung 2026-000042 von Gemeente Voorbeeld",
         ["Guten Tag An Janssens,", "Zu zahlender Betrag:", "1.234,50\u00a0€", "23. Dezember 2026", "Mit freundlichen Grüßen"]),
        (MailKind.INVOICE, "en", "Invoice 2026-000042 from Gemeente Voorbeeld",
         ["Dear An Janssens,", "Amount due:", "€1,234.50", "23 December 2026", "Pay online: https://pay.gateway.example.org/p/abc123"]),
        (MailKind.REMINDER, "nl", "Herinnering: factuur 2026-000042 van Gemeente Voorbeeld",
         ["nog niet (volledig) betaald", "Bijkomende kosten:          €\u00a07,50, apart te betalen met mededeling +++090/9337/55493+++", "Heeft u intussen betaald?"]),
        (MailKind.REMINDER, "fr", "Rappel : facture 2026-000042 de Gemeente Voorbeeld",
         ["n'a pas encore été (entièrement) payée", "Frais supplémentaires:    7,50\u00a0€, à payer séparément avec la communication +++090/9337/55493+++"]),
        (MailKind.REMINDER, "de", "Zahlungserinnerung: Rechnung 2026-000042 von Gemeente Voorbeeld",
         ["noch nicht (vollständig) bezahlt", "Zusätzliche Kosten:       7,50\u00a0€, separat zu zahlen mit der Mitteilung +++090/9337/55493+++"]),
        (MailKind.REMINDER, "en", "Reminder: invoice 2026-000042 from Gemeente Voorbeeld",
         ["has not yet been paid in full", "Additional costs:         €7.50, to be paid separately with reference +++090/9337/55493+++", "disregard this message"]),
    ],
)
def test_language_and_kind(kind, language, subject, phrases):
    reminder = kind is MailKind.REMINDER
    _, parsed = build(mail(kind=kind, language=language, reminder_fee=Decimal("7.50") if reminder else None, fee_ogm="090933755493" if reminder else None))
    assert parsed["Subject"] == subject
    assert parsed["Content-Language"] == language
    text = parsed.get_body(("plain",)).get_content()
    html = parsed.get_body(("html",)).get_content()
    for phrase in phrases:
        assert phrase in text, phrase
    assert f'<html lang="{language}">' in html
    assert "+++010/8068/17183+++" in html
    assert f"<title>{subject}</title>" in html


def test_invoice_has_no_fee_line():
    _, parsed = build(mail(reminder_fee=None))
    assert "Bijkomende kosten" not in parsed.get_body(("plain",)).get_content()


def test_html_escapes_values_and_text_does_not():
    _, parsed = build(mail(recipient_name="Jan <b>&</b> Co", legal_notice="Kosten: <€ 7,50> & intrest"))
    html = parsed.get_body(("html",)).get_content()
    text = parsed.get_body(("plain",)).get_content()
    assert "Beste Jan &lt;b&gt;&amp;&lt;/b&gt; Co," in html
    assert "Kosten: &lt;€ 7,50&gt; &amp; intrest" in html
    assert "Beste Jan <b>&</b> Co," in text


def test_same_input_gives_the_same_bytes():
    first, _ = build(mail())
    second, _ = build(mail())
    assert first.as_bytes() == second.as_bytes()
    assert b"\r\n" in first.as_bytes()


def test_bounce_of_the_composed_message_leads_back_to_the_dispatch():
    composed, _ = build(mail())
    dsn = (
        "Return-Path: <>\r\nFrom: MAILER-DAEMON@mx.example.net\r\n"
        f"To: {composed.envelope_sender}\r\nSubject: Undelivered Mail Returned to Sender\r\n"
        'MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status; boundary="x"\r\n\r\n'
        "--x\r\nContent-Type: text/plain\r\n\r\nfailed\r\n"
        "--x\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.net\r\n\r\n"
        "Final-Recipient: rfc822; an.janssens@example.net\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        "--x\r\nContent-Type: message/rfc822\r\n\r\n"
    ).encode() + composed.as_bytes() + b"\r\n--x--\r\n"
    report = parse_bounce(dsn)
    assert report.original_message_id == composed.message_id
    assert dispatch_id_from_address(f"bounces+{report.verp_token}@bounces.gateway.example.org", [SECRET], "bounces.gateway.example.org") == DISPATCH
    assert [(r.address, r.kind.value, r.status) for r in report.recipients] == [("an.janssens@example.net", "hard", "5.1.1")]


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        (dict(language="es"), "language"),
        (dict(ogm="010806817184"), "ogm"),
        (dict(amount=Decimal("1.005")), "amount"),
        (dict(amount=1.5), "amount"),
        (dict(reminder_fee=Decimal("NaN")), "reminder_fee"),
        (dict(reminder_fee=Decimal("7.50"), fee_ogm="090933755494"), "fee_ogm"),
        (dict(recipient_address="not an address"), "recipient_address"),
        (dict(sender_address="facturen@localhost"), "sender_address"),
        (dict(document_number="42\r\nBcc: victim@example.org"), "document_number"),
        (dict(payment_url="javascript:alert(1)"), "payment_url"),
        (dict(payment_url='https://x.example.org/" onclick="x'), "payment_url"),
        (dict(creditor=Branding(name="X", colour="red;background:url(x)")), "creditor.colour"),
        (dict(creditor_iban="BE00 0000 0000 0000"), "creditor_iban"),
        (dict(attachments=(Attachment("a.pdf", b"x", "pdf"),)), "attachments"),
    ],
)
def test_invalid_input_names_the_field(changes, field):
    with pytest.raises(InvalidInput) as info:
        build(mail(**changes))
    assert info.value.problems[0].field == field


def test_naive_now_is_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        compose(mail(), now=datetime(2026, 11, 23, 9, 0), message_domain="gateway.example.org", verp_domain="b.example.org", verp_secret=SECRET)


@pytest.mark.parametrize(
    ("amount", "language", "expected"),
    [
        (Decimal("0.50"), "nl", "€\u00a00,50"),
        (Decimal("1234567.89"), "nl", "€\u00a01.234.567,89"),
        (Decimal("1234567.89"), "fr", "1\u00a0234\u00a0567,89\u00a0€"),
        (Decimal("1234567.89"), "de", "1.234.567,89\u00a0€"),
        (Decimal("1234567.89"), "en", "€1,234,567.89"),
    ],
)
def test_format_amount(amount, language, expected):
    assert format_amount(amount, language) == expected


def test_format_date():
    assert [format_date(date(2027, 3, 1), lang) for lang in ("nl", "fr", "de", "en")] == [
        "1 maart 2027", "1 mars 2027", "1. März 2027", "1 March 2027"
    ]


def test_real_epc_qr_png_is_carried_inline():
    from gateway.channels.payment.epc_qr import EpcPayment, build_payload, render_png

    payload = build_payload(EpcPayment(name="Gemeente Voorbeeld", iban="BE48320070184927", amount=Decimal("1234.50"), ogm="010806817183"))
    png = render_png(payload)
    _, parsed = build(mail(epc_qr_png=png))
    images = [p for p in parsed.walk() if p.get_content_type() == "image/png"]
    assert [i.get_content() for i in images] == [png]
    assert images[0].get_content_disposition() == "inline"
