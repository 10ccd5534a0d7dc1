"""`EmailProvider`: the e-mail channel over SMTP (channel contract in gateway/channels/base.py).

`send` turns a `SendRequest` into the composed message (compose.py: templates per language,
the creditor's branding, amount, due date, OGM, payment link) with the stored document
attached byte for byte, and hands it to the relay (client.py) with the VERP return path as
MAIL FROM. `provider_message_id` is the Message-ID `<dispatch id@message domain>`: a bounce
carries it and its VERP token, and both name the dispatch (bounce_callback.py).

Idempotency: SMTP has no idempotency key. The Message-ID is derived from the dispatch id, so
a retry after a crash carries the same Message-ID and mail clients show one message.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Callable

import segno

from gateway.channels.base import SendRequest, SendResult
from gateway.channels.email import dkim_signing
from gateway.channels.email.dkim_signing import DkimKey
from gateway.channels.payment.epc_qr import EpcPayment, build_payload, render_png
from gateway.channels.email.client import SmtpRelay, send_message
from gateway.channels.email.compose import Attachment, Branding, MailInput, MailKind, compose, format_amount, format_date
from gateway.domain.transmission import DeliveryState
from gateway.errors import InvalidInput, TerminalError
from gateway.letters.logo import LogoError, email_png
from gateway.kit.time import utc_now

# Attachment file name suffix per stored media type; anything else goes out as "<number>.bin".
SUFFIXES = {"application/xml": "xml", "text/xml": "xml", "application/pdf": "pdf"}
DEFAULT_COLOUR = "#1f4e79"


@dataclass(frozen=True)
class EmailConfig:
    relay: SmtpRelay
    message_domain: str
    bounce_domain: str
    verp_secret: bytes
    default_sender: str
    public_base_url: str
    dkim: DkimKey | None = None  # sign every message when set


def payment_url(extra: dict) -> str | None:
    """The consumer's personal page (delivery.service puts it in `extra`), where Bancontact and the
    EPC QR are offered for what is open when the debtor looks. Businesses pay by transfer: none."""
    url = extra.get("payment_url")
    return url if isinstance(url, str) and url else None


def epc_qr_png(creditor_name: str, iban: str | None, amount: Decimal, ogm: str) -> bytes | None:
    """The EPC QR of the transfer (banking apps fill in amount, account and OGM), inline in the mail.

    None when there is nothing to pay or no account: a QR that cannot be paid is worse than none."""
    if not iban or amount <= 0:
        return None
    try:
        return render_png(build_payload(EpcPayment(name=creditor_name, iban=iban, amount=amount, ogm=ogm)), scale=3)
    except InvalidInput:
        return None


# The fees-to-follow notice of a consumer reminder (Book XIX art. XIX.2: a first reminder is free
# and announces what will be charged after its term; later ones say what the next step costs).
FIRST_FREE = {
    "nl": "Dit is een eerste herinnering, zonder kosten.",
    "fr": "Ceci est un premier rappel, sans frais.",
    "de": "Dies ist eine erste Mahnung, ohne Kosten.",
    "en": "This is a first reminder, free of charge.",
}
FEES_TO_FOLLOW = {
    "nl": "Betaalt u niet uiterlijk op {due}, dan volgen deze kosten: {fees}.",
    "fr": "À défaut de paiement au plus tard le {due}, les frais suivants seront dus: {fees}.",
    "de": "Zahlen Sie nicht bis spätestens {due}, fallen folgende Kosten an: {fees}.",
    "en": "If you do not pay by {due}, the following costs will be charged: {fees}.",
}
NEXT_STEP = {"nl": "herinnering stap {step}: {fee}", "fr": "rappel étape {step}: {fee}", "de": "Mahnung Stufe {step}: {fee}", "en": "reminder step {step}: {fee}"}


def legal_notice(language: str, *, step: int | None, due_date: date, fees_to_follow: list) -> str | None:
    """The notice under a consumer reminder: free first reminder, and the fees of the later steps."""
    parts = []
    if step == 1:
        parts.append(FIRST_FREE[language])
    if fees_to_follow:
        fees = "; ".join(NEXT_STEP[language].format(step=number, fee=format_amount(Decimal(fee), language)) for number, fee in fees_to_follow)
        parts.append(FEES_TO_FOLLOW[language].format(due=format_date(due_date, language), fees=fees))
    return " ".join(parts) or None


def qr_png(text: str) -> bytes:
    """A plain QR code (the Bancontact invoice link) as PNG, drawn here: the mail loads no remote image."""
    buffer = io.BytesIO()
    segno.make_qr(text, error="m").save(buffer, kind="png", scale=3, border=4)
    return buffer.getvalue()


def inline_logo(extra: dict) -> bytes | None:
    """The entity's stored logo (the one on its letters) as the PNG the mail carries inline."""
    data, media_type = extra.get("creditor_logo"), extra.get("creditor_logo_media_type")
    if not isinstance(data, bytes) or not media_type:
        return None
    try:
        return email_png(data, media_type)
    except LogoError as exc:  # stored before the import checked it: our data, not the debtor's address
        raise InvalidInput.single("creditor.logo", exc.rule, exc.message) from exc


def mail_input(request: SendRequest, config: EmailConfig) -> MailInput:
    """The composition input for one dispatch, from the request and its `extra` values."""
    extra = request.extra
    try:
        amount = Decimal(extra["amount"])
        due_date = date.fromisoformat(extra["due_date"])
        ogm = extra["ogm"]
    except (KeyError, InvalidOperation, ValueError, TypeError) as exc:
        raise TerminalError(f"the e-mail needs amount, due_date and ogm in the request: {exc!r}") from exc
    if request.document_media_type.startswith("text/plain"):  # a service message (contact repair): the text is the mail
        return MailInput(
            kind=MailKind.NOTICE, language=request.language, dispatch_id=str(request.dispatch_id),
            sender_address=request.sender_email or config.default_sender, recipient_address=request.recipient, recipient_name=extra.get("debtor_name"),
            creditor=Branding(name=request.sender_name, colour=extra.get("creditor_colour") or DEFAULT_COLOUR, logo_png=inline_logo(extra)),
            document_number=request.document_number, amount=amount, due_date=due_date, ogm=ogm, notice_text=request.document.decode("utf-8"),
        )
    suffix = SUFFIXES.get(request.document_media_type, "bin")
    attachments = [Attachment(f"{request.document_number}.{suffix}", request.document, request.document_media_type)]
    pdf = extra.get("pdf")  # a rendered PDF beside a UBL document, when there is one
    if isinstance(pdf, bytes) and request.document_media_type != "application/pdf":
        attachments.insert(0, Attachment(f"{request.document_number}.pdf", pdf, "application/pdf"))
    kind = MailKind.REMINDER if extra.get("document_kind") == "reminder" else MailKind.INVOICE
    language = request.language if request.language in FIRST_FREE else "nl"
    reminder_fee = fee_ogm = notice = None
    if kind is MailKind.REMINDER and extra.get("fee_ogm"):  # a consumer reminder's fee and interest, paid apart
        reminder_fee = Decimal(extra.get("fee") or "0") + Decimal(extra.get("interest") or "0")
        fee_ogm = extra["fee_ogm"]
    if kind is MailKind.REMINDER and extra.get("reminder_step") is not None:
        notice = legal_notice(language, step=extra["reminder_step"], due_date=due_date, fees_to_follow=extra.get("fees_to_follow") or [])
    logo_png = inline_logo(extra)
    bancontact_qr = extra.get("bancontact_qr_url")
    return MailInput(
        bancontact_url=extra.get("bancontact_url") or None,
        bancontact_qr_png=qr_png(bancontact_qr) if bancontact_qr else None,
        epc_qr_png=epc_qr_png(request.sender_name, extra.get("creditor_iban"), amount, ogm),
        kind=kind,
        language=request.language,
        reminder_fee=reminder_fee or None,
        fee_ogm=fee_ogm,
        legal_notice=notice,
        dispatch_id=str(request.dispatch_id),
        sender_address=request.sender_email or config.default_sender,
        recipient_address=request.recipient,
        recipient_name=extra.get("debtor_name"),
        creditor=Branding(
            name=request.sender_name, colour=extra.get("creditor_colour") or DEFAULT_COLOUR, logo_png=logo_png,
            logo_url=None if logo_png else extra.get("creditor_logo_url"),  # the stored logo first: clients block remote images
        ),
        document_number=request.document_number,
        amount=amount,
        due_date=due_date,
        ogm=ogm,
        creditor_iban=extra.get("creditor_iban"),
        payment_url=payment_url(extra),
        attachments=tuple(attachments),
    )


class EmailProvider:
    """Sends one dispatch as one e-mail through an SMTP relay."""

    name = "smtp"
    channel = "email"

    def __init__(self, config: EmailConfig, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.config = config
        self.clock = clock

    def send(self, request: SendRequest) -> SendResult:
        try:
            composed = compose(
                mail_input(request, self.config), now=self.clock(), message_domain=self.config.message_domain,
                verp_domain=self.config.bounce_domain, verp_secret=self.config.verp_secret,
            )
        except InvalidInput as exc:  # our data cannot make a valid message: retrying will not help
            raise TerminalError(f"the e-mail cannot be composed: {exc}") from exc
        message = composed.as_bytes()
        if self.config.dkim is not None:
            message = dkim_signing.sign(message, self.config.dkim)
        accepted = send_message(self.config.relay, envelope_sender=composed.envelope_sender, recipient=request.recipient, message=message)
        return SendResult(DeliveryState.SENT, provider_message_id=composed.message_id, status_code=accepted.code, response_excerpt=accepted.response)
