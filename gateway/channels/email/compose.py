"""Consumer e-mail composition: computed values in, an RFC 5322 message out. Pure, no SMTP.

Structure (RFC 2046 section 5.1, RFC 2387 for multipart/related):

    multipart/mixed
      multipart/alternative          text first, HTML last (RFC 2046 section 5.1.4: last = preferred)
        text/plain; charset=utf-8
        multipart/related            only when an inline logo or QR image is given
          text/html; charset=utf-8
          image/png (Content-ID)     logo, Bancontact QR, EPC QR
      application/pdf                the document
      application/xml                its UBL

Headers: From (the creditor's display name and sender address), To, Reply-To (optional),
Subject (from the template), Date (from `now`), Message-ID `<dispatch id@message domain>`,
Content-Language (RFC 3282), Auto-Submitted: auto-generated (RFC 3834 section 5: responders
should not answer it, which keeps out-of-office replies down) and X-Auto-Response-Suppress
(Exchange's equivalent, OOF and AutoReply only: we still want its NDRs).

The VERP return path (`bounces+<token>@<bounce domain>`, see verp.py) is returned as
`ComposedMail.envelope_sender` for the SMTP client to use as MAIL FROM. It is *not* written
as a Return-Path header: RFC 5321 section 4.4 says the final delivery server adds Return-Path
from MAIL FROM, and "a message-originating SMTP system SHOULD NOT send a message that already
contains a Return-path header field".

Determinism: the same input and `now` give the same bytes (MIME boundaries derive from the
dispatch id), so the content hash recorded as proof of sending is reproducible, and a retried
dispatch carries the same Message-ID.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime
from enum import StrEnum
from functools import lru_cache

import jinja2
from stdnum import iban as std_iban

from gateway.channels.email.verp import return_path
from gateway.domain.claim import LANGUAGES
from gateway.domain.identifiers import URL_TAIL, IdentifierError, format_ogm, normalize_iban, normalize_ogm
from gateway.errors import InvalidInput

_COLOUR_RE = re.compile(r"#[0-9a-fA-F]{6}")
# A URL goes into an href/src attribute and a text part; https only, no quotes, spaces or
# angle brackets (autoescape covers HTML, not the URL scheme).
# Plain http only for loopback (the local demo's personal page); never for a public host.
_URL_RE = re.compile(r"(?:https://|http://(?:127\.0\.0\.1|localhost)(?::\d{1,5})?/)" + URL_TAIL)
_MIME_TYPE_RE = re.compile(r"[a-z0-9][a-z0-9!#$&^_.+-]{0,63}/[a-z0-9][a-z0-9!#$&^_.+-]{0,63}")
CENT = Decimal("0.01")
MAX_SUBJECT = 200  # characters; RFC 5322 section 2.1.1 folds longer lines, mail clients cut near here


class MailKind(StrEnum):
    INVOICE = "invoice"
    REMINDER = "reminder"
    NOTICE = "notice"  # a service message (contact repair): `notice_text` is the whole content


@dataclass(frozen=True)
class Branding:
    """A creditor entity as it signs its mail (municipality, OCMW, each school...)."""

    name: str
    colour: str = "#1f4e79"  # #rrggbb, header bar and button
    logo_url: str | None = None  # https URL; many clients block remote images
    logo_png: bytes | None = None  # inline logo (preferred over logo_url when both are given)


@dataclass(frozen=True)
class Attachment:
    filename: str
    content: bytes
    mime_type: str  # "application/pdf", "application/xml"


@dataclass(frozen=True)
class MailInput:
    """Everything the message says, already computed (amounts, dates, fees, notices)."""

    kind: MailKind
    language: str  # nl, fr, de, en
    dispatch_id: str
    sender_address: str  # the creditor's sending address, e.g. facturen@gemeente.example.org
    recipient_address: str
    creditor: Branding
    document_number: str
    amount: Decimal
    due_date: date
    ogm: str  # 12 digits or +++ddd/dddd/ddddd+++
    recipient_name: str | None = None
    creditor_iban: str | None = None
    payment_url: str | None = None
    reply_to: str | None = None
    reminder_fee: Decimal | None = None  # a consumer reminder's fee and interest, paid apart ...
    fee_ogm: str | None = None  # ... under their own structured communication
    legal_notice: str | None = None  # e.g. the Book XIX announcement of the fees that follow (provider.legal_notice)
    epc_qr_png: bytes | None = None  # from gateway.channels.payment.epc_qr.render_png
    bancontact_url: str | None = None  # the document's stable pay link (gateway.kit.pay_link)
    bancontact_qr_png: bytes | None = None  # the Bancontact invoice link as a QR the app scans
    notice_text: str | None = None  # MailKind.NOTICE: the stored text of the service message
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True)
class ComposedMail:
    message: EmailMessage
    envelope_sender: str  # VERP address: MAIL FROM (RFC 5321 section 4.1.1.2)
    message_id: str

    def as_bytes(self) -> bytes:
        """CRLF line endings and 78-character folding (RFC 5322 section 2.1.1)."""
        return self.message.as_bytes(policy=SMTP)


# --- presentation of values --------------------------------------------------------------

_MONTHS = {
    "nl": ("januari", "februari", "maart", "april", "mei", "juni", "juli", "augustus", "september", "oktober", "november", "december"),
    "fr": ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août", "septembre", "octobre", "novembre", "décembre"),
    "de": ("Januar", "Februar", "März", "April", "Mai", "Juni", "Juli", "August", "September", "Oktober", "November", "Dezember"),
    "en": ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"),
}
NBSP = "\u00a0"


def format_amount(amount: Decimal, language: str) -> str:
    """EUR in the reader's convention: nl `€ 1.234,56`, fr `1 234,56 €`, de `1.234,56 €`, en `€1,234.56`."""
    whole, _, cents = f"{amount:,.2f}".partition(".")
    if language == "en":
        return f"€{whole}.{cents}"
    if language == "fr":
        return f"{whole.replace(',', NBSP)},{cents}{NBSP}€"
    grouped = f"{whole.replace(',', '.')},{cents}"
    return f"€{NBSP}{grouped}" if language == "nl" else f"{grouped}{NBSP}€"


def format_date(value: date, language: str) -> str:
    month = _MONTHS[language][value.month - 1]
    return f"{value.day}. {month} {value.year}" if language == "de" else f"{value.day} {month} {value.year}"


# --- templates -----------------------------------------------------------------------------


@lru_cache(maxsize=1)
def _environments() -> tuple[jinja2.Environment, jinja2.Environment]:
    """(HTML with autoescape, text without); loaded once (style rule 1)."""
    loader = jinja2.PackageLoader("gateway.channels.email", "templates")
    common = dict(loader=loader, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True, keep_trailing_newline=True)
    return jinja2.Environment(autoescape=True, **common), jinja2.Environment(autoescape=False, **common)


def _invalid(field: str, rule: str, message: str) -> InvalidInput:
    return InvalidInput.single(field, f"email.{rule}", message)


def _address(field: str, addr_spec: str, display_name: str | None = None) -> Address:
    try:
        address = Address(display_name=display_name or "", addr_spec=addr_spec.strip())
    except (ValueError, IndexError, TypeError) as exc:  # the header parser raises these on bad input
        raise _invalid(field, f"{field}.syntax", f"{field} is not a valid address: {exc}") from exc
    if not address.username or "." not in address.domain:
        raise _invalid(field, f"{field}.syntax", f"{field} is local@domain.tld")
    return address


def _check_no_line_breaks(field: str, value: str | None) -> None:
    if value and ("\r" in value or "\n" in value):  # header injection
        raise _invalid(field, f"{field}.line_break", f"{field} must not contain line breaks")


def _validate(mail: MailInput) -> str:
    if mail.language not in LANGUAGES:
        raise _invalid("language", "language.unsupported", f"language is one of {', '.join(LANGUAGES)}")
    if not _COLOUR_RE.fullmatch(mail.creditor.colour):  # it lands in a style attribute
        raise _invalid("creditor.colour", "colour.format", "colour is #rrggbb")
    for field, url in (("payment_url", mail.payment_url), ("creditor.logo_url", mail.creditor.logo_url), ("bancontact_url", mail.bancontact_url)):
        if url is not None and not _URL_RE.fullmatch(url):
            raise _invalid(field, "url.format", f"{field} is an https (or loopback http) URL without spaces or quotes")
    for field, amount in (("amount", mail.amount), ("reminder_fee", mail.reminder_fee)):
        if amount is None and field == "reminder_fee":
            continue
        if not isinstance(amount, Decimal) or not amount.is_finite() or amount != amount.quantize(CENT):
            raise _invalid(field, "amount.format", f"{field} is a Decimal with at most 2 decimals")
    for field, value in (("document_number", mail.document_number), ("recipient_name", mail.recipient_name), ("creditor.name", mail.creditor.name)):
        _check_no_line_breaks(field, value)
    for attachment in mail.attachments:
        if not _MIME_TYPE_RE.fullmatch(attachment.mime_type):
            raise _invalid("attachments", "attachment.mime_type", f"not a MIME type: {attachment.mime_type!r}")
        _check_no_line_breaks("attachments", attachment.filename)
    if mail.fee_ogm is not None:
        try:
            normalize_ogm(mail.fee_ogm)
        except IdentifierError as exc:
            raise _invalid("fee_ogm", exc.rule, exc.message) from exc
    try:
        return format_ogm(normalize_ogm(mail.ogm))
    except IdentifierError as exc:
        raise _invalid("ogm", exc.rule, exc.message) from exc


def _view(mail: MailInput, ogm: str, logo_src: str | None, qr_src: str | None, bancontact_qr_src: str | None = None) -> dict:
    language = mail.language
    iban = None
    if mail.creditor_iban:
        try:
            iban = std_iban.format(normalize_iban(mail.creditor_iban))
        except IdentifierError as exc:
            raise _invalid("creditor_iban", exc.rule, exc.message) from exc
    return {
        "language": language,
        "creditor_name": mail.creditor.name,
        "colour": mail.creditor.colour,
        "logo_src": logo_src,
        "qr_src": qr_src,
        "debtor_name": mail.recipient_name or "",
        "document_number": mail.document_number,
        "amount": format_amount(mail.amount, language),
        "reminder_fee": format_amount(mail.reminder_fee, language) if mail.reminder_fee else "",
        "fee_ogm": format_ogm(normalize_ogm(mail.fee_ogm)) if mail.fee_ogm else "",
        "due_date": format_date(mail.due_date, language),
        "ogm": ogm,
        "creditor_iban": iban or "",
        "payment_url": mail.payment_url or "",
        "bancontact_url": mail.bancontact_url or "",
        "bancontact_qr_src": bancontact_qr_src,
        "legal_notice": mail.legal_notice or "",
        "notice_text": mail.notice_text or "",
    }


def _set_boundaries(message: EmailMessage, dispatch_id: str) -> None:
    """Deterministic boundaries. `=_` cannot occur in base64 or quoted-printable bodies
    (RFC 2045 section 6.7 encodes `=` as `=3D`), so the boundary never collides (RFC 2046
    section 5.1.1)."""
    for index, part in enumerate(p for p in message.walk() if p.is_multipart()):
        part.set_boundary(f"=_{dispatch_id}_{index}")


def compose(
    mail: MailInput,
    *,
    now: datetime,
    message_domain: str,
    verp_domain: str,
    verp_secret: bytes,
) -> ComposedMail:
    """Build the message for one dispatch; raises `InvalidInput` naming the field at fault."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware (kit.utc_now)")
    ogm = _validate(mail)
    envelope_sender = return_path(mail.dispatch_id, verp_secret, verp_domain)
    message_id = f"<{mail.dispatch_id}@{message_domain}>"  # RFC 5322 section 3.6.4 msg-id

    logo_cid = f"logo.{mail.dispatch_id}@{message_domain}" if mail.creditor.logo_png else None
    qr_cid = f"epc-qr.{mail.dispatch_id}@{message_domain}" if mail.epc_qr_png else None
    bancontact_cid = f"bancontact-qr.{mail.dispatch_id}@{message_domain}" if mail.bancontact_qr_png else None
    logo_src = f"cid:{logo_cid}" if logo_cid else mail.creditor.logo_url  # RFC 2392 cid: URL
    view = _view(mail, ogm, logo_src, f"cid:{qr_cid}" if qr_cid else None, f"cid:{bancontact_cid}" if bancontact_cid else None)

    html_env, text_env = _environments()
    name = f"{mail.kind.value}.{mail.language}"
    subject = text_env.get_template(f"{name}.subject.j2").render(view).strip()
    if "\n" in subject or len(subject) > MAX_SUBJECT:
        raise _invalid("subject", "subject.format", f"the subject is one line of at most {MAX_SUBJECT} characters")
    view["subject"] = subject
    text = text_env.get_template(f"{name}.txt.j2").render(view)
    html = html_env.get_template(f"{name}.html.j2").render(view)

    message = EmailMessage(policy=SMTP)
    message["From"] = _address("sender_address", mail.sender_address, mail.creditor.name)
    message["To"] = _address("recipient_address", mail.recipient_address, mail.recipient_name)
    if mail.reply_to:
        message["Reply-To"] = _address("reply_to", mail.reply_to)
    message["Subject"] = subject
    message["Date"] = format_datetime(now)
    message["Message-ID"] = message_id
    message["Auto-Submitted"] = "auto-generated"
    message["X-Auto-Response-Suppress"] = "OOF, AutoReply"

    message.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    message.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    html_part = message.get_payload()[-1]
    inline = ((logo_cid, mail.creditor.logo_png, "logo.png"), (bancontact_cid, mail.bancontact_qr_png, "bancontact-qr.png"), (qr_cid, mail.epc_qr_png, "epc-qr.png"))
    for cid, png, filename in inline:
        if cid and png:
            html_part.add_related(png, maintype="image", subtype="png", cid=f"<{cid}>", filename=filename, disposition="inline")
    for attachment in mail.attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        message.add_attachment(attachment.content, maintype=maintype, subtype=subtype, filename=attachment.filename)
    # Last: set_content() and add_attachment() move or drop every Content-* header.
    message["Content-Language"] = mail.language
    _set_boundaries(message, mail.dispatch_id)
    return ComposedMail(message=message, envelope_sender=envelope_sender, message_id=message_id)
