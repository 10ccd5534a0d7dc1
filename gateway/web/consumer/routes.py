"""The consumer's personal page under /my/{token} (issue 7): server-rendered HTML, no cookies.

The token in the URL is the only credential. Every refusal of it (malformed, altered, signed
with another secret, expired, naming nobody, or the page switched off by an empty secret)
answers the same 404 body, so the page tells an outsider nothing. Every POST carries a form
token bound to the personal token. Work that calls out (Bancontact, SMTP, the SMS gateway)
runs after the database scope that read what it needs has ended; only a short scope after it
records the outcome. Limits: `CLIENT_LIMIT` requests per client address per minute on every
/my request, and `CONFIRM_LIMIT` confirmation attempts (codes, links) and `SEND_LIMIT`
messages sent per debtor per 15 minutes; over a limit the answer is 429 with Retry-After.
"""

from __future__ import annotations

import base64
import io
import threading
import uuid
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from pathlib import Path
from urllib.parse import urlencode

import segno
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError

from gateway.api.payloads import ContactIn
from gateway.channels.email.client import SmtpRelay, send_message
from gateway.channels.email.compose import format_amount, format_date
from gateway.channels.payment import epc_qr
from gateway.channels.payment.bancontact import request_payment
from gateway.domain.identifiers import format_ogm
from gateway.errors import GatewayError, RetryableError, TerminalError
from gateway.kit import personal_link
from gateway.kit.ratelimit import RateLimiter, Verdict
from gateway.kit.time import BRUSSELS, brussels_today, utc_now
from gateway.services import consumer_page
from gateway.web.consumer import i18n

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"
CLIENT_LIMIT = (60, 60.0)  # requests per client address per minute: a person reads, a script guessing tokens is cut off
CONFIRM_LIMIT = (5, 15 * 60.0)  # code or link attempts per debtor per 15 minutes: 6 digits cannot be walked
SEND_LIMIT = (5, 15 * 60.0)  # confirmation e-mails and SMS per debtor per 15 minutes: the page is no spam cannon
NOTICES = frozenset({"email_sent", "sms_sent", "email_confirmed", "phone_confirmed", "saved"})
ERRORS = frozenset({"pay_unavailable", "no_email_relay", "no_sms", "send_failed", "email_invalid", "phone_invalid", "code_wrong", "link_invalid", "form"})
# The token is in the URL: it must not leak to other sites through Referer, nor be kept by caches or indexed.
SECURITY_HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "no-referrer",
    "X-Robots-Tag": "noindex, nofollow",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data: https:; base-uri 'none'; frame-ancestors 'none'",
}
NOT_FOUND_HTML = (HERE / "templates" / "not_found.html").read_text(encoding="utf-8")

router = APIRouter(prefix="/my", include_in_schema=False)
templates = Jinja2Templates(directory=str(HERE / "templates"))
templates.env.filters["ogm"] = format_ogm


@dataclass
class _Limits:
    client: RateLimiter
    confirm: RateLimiter
    send: RateLimiter


_limits_lock = threading.Lock()


def _limits(request: Request) -> _Limits:
    """One set of limiters per application (tests build many apps in one process)."""
    state = request.app.state
    with _limits_lock:
        if not hasattr(state, "consumer_limits"):
            state.consumer_limits = _Limits(RateLimiter(*CLIENT_LIMIT), RateLimiter(*CONFIRM_LIMIT), RateLimiter(*SEND_LIMIT))
        return state.consumer_limits


def _secured(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def _not_found() -> Response:
    return _secured(HTMLResponse(NOT_FOUND_HTML, status_code=404))


def _too_many(verdict: Verdict) -> Response:
    body = " ".join(i18n.translate(language, "too_many.text") for language in i18n.LANGUAGES)
    return _secured(HTMLResponse(f"<!doctype html><meta charset=utf-8><title>429</title><p role=alert>{body}</p>", status_code=429, headers={"Retry-After": str(verdict.retry_after_seconds)}))


def _client_refusal(request: Request) -> Response | None:
    verdict = _limits(request).client.hit(request.client.host if request.client else "unknown")
    return None if verdict.allowed else _too_many(verdict)


def _secret(request: Request) -> bytes:
    return request.app.state.settings.personal_link_secret.encode()


def _subject(request: Request, token: str) -> personal_link.LinkSubject | None:
    secret = _secret(request)
    if not secret:
        return None  # the page is off: the same answer as for a bad token
    # Links signed before a rotation still open until they expire; a secret that is empty is no secret.
    previous = [old.encode() for old in request.app.state.settings.personal_link_previous_secrets if old]
    try:
        return personal_link.verify(secret, token, now=utc_now(), previous_secrets=previous)
    except (personal_link.InvalidLink, ValueError):
        return None


def _home(token: str, language: str, **query: str) -> RedirectResponse:
    return _secured(RedirectResponse(f"/my/{token}?{urlencode({'lang': language, **query})}", status_code=303))


async def _checked_post(request: Request, token: str):
    """(subject, form, language, None) of a POST to a valid link with its form token, or (None, None, None, refusal)."""
    if (refusal := _client_refusal(request)) is not None:
        return None, None, None, refusal
    subject = _subject(request, token)
    if subject is None:
        return None, None, None, _not_found()
    form = await request.form()
    language = i18n.pick(form.get("lang"), None)
    if not consumer_page.form_token_matches(_secret(request), token, form.get("form_token")):
        return None, None, None, _home(token, language, error="form")
    return subject, form, language, None


async def _post(request: Request, token: str, action, *arguments) -> Response:
    """Check the POST in the event loop, then run the action in the thread pool: it calls out
    (Bancontact, SMTP, the SMS gateway) and opens database sessions, which block."""
    subject, form, language, refusal = await _checked_post(request, token)
    if refusal is not None:
        return refusal
    return await run_in_threadpool(action, request, token, subject, form, language, *arguments)


def _epc_svg(creditor, claim) -> str | None:
    """The transfer's EPC QR for what is open, as inline SVG; None when the creditor has no usable IBAN."""
    if not creditor.iban or claim.currency != "EUR":
        return None
    try:
        payment = epc_qr.EpcPayment(name=creditor.name[: epc_qr.MAX_NAME], iban=creditor.iban, bic=creditor.bic, amount=claim.amount_open, ogm=claim.structured_communication)
        return epc_qr.render_svg(epc_qr.build_payload(payment), scale=3).decode("utf-8")
    except GatewayError:
        return None


def _logo_src(creditor) -> str | None:
    if creditor.logo and creditor.logo_media_type in ("image/svg+xml", "image/png"):
        # An SVG shown through <img> runs no script; a data: URI keeps the page free of a second request.
        return f"data:{creditor.logo_media_type};base64,{base64.b64encode(creditor.logo).decode('ascii')}"
    if creditor.logo_url and creditor.logo_url.startswith("https://"):
        return creditor.logo_url
    return None


def _bancontact(request: Request):
    verifier = request.app.state.providers.verifiers.get("bancontact")
    return verifier if verifier is not None and getattr(verifier, "client", None) is not None else None


def _render(request: Request, template: str, language: str, *, status_code: int = 200, **context) -> Response:
    context = {
        "lang": language, "languages": i18n.LANGUAGES, "t": lambda key, **values: i18n.translate(language, key, **values),
        "money": lambda amount: format_amount(amount, language), "day": lambda value: format_date(value, language), **context,
    }
    return _secured(templates.TemplateResponse(request, template, context, status_code=status_code))


@router.get("/static/consumer.css")
def stylesheet(request: Request) -> Response:
    if (refusal := _client_refusal(request)) is not None:
        return refusal
    return FileResponse(STATIC_DIR / "consumer.css", media_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


@router.post("/sms-reports", status_code=204)
def sms_reports(request: Request) -> Response:
    """Delivery reports of confirmation codes are taken and dropped: they belong to no dispatch (the
    SMS callback route would keep retrying them as early reports), and a code that did not arrive
    is simply asked for again. Nothing is read or stored, so nothing needs verifying."""
    if (refusal := _client_refusal(request)) is not None:
        return refusal
    return Response(status_code=204)


@router.get("/confirm/{confirmation}", response_class=HTMLResponse)
def confirm_email(request: Request, confirmation: str, lang: str | None = None) -> Response:
    """Opening the link sent to the new address is the confirmation: it proves that mailbox got it.

    The link carries no personal token (see `gateway.services.consumer_page`), and the page it
    opens shows the confirmed address only. Opening it again (a mail scanner, then the person)
    finds the address already valid and records nothing more."""
    if (refusal := _client_refusal(request)) is not None:
        return refusal
    language = i18n.pick(lang, None)
    secret, now = _secret(request), utc_now()
    try:
        if not secret:
            raise consumer_page.InvalidConfirmation("the page is off")
        debtor_id, kind, value = consumer_page.verify_confirmation(secret, confirmation, now=now)
        if kind != "email":
            raise consumer_page.InvalidConfirmation("not an e-mail confirmation")
    except consumer_page.InvalidConfirmation:
        return _render(request, "confirmed.html", language, confirmed=None, status_code=404)
    verdict = _limits(request).confirm.hit(str(debtor_id))
    if not verdict.allowed:
        return _too_many(verdict)
    try:
        with request.app.state.database.session_scope() as session:
            known = consumer_page.confirm_contact(session, debtor_id, "email", value, now=now) is not None
    except IntegrityError:  # opened twice at the same moment (a mail scanner and the person): the other request recorded it
        known = True
    return _render(request, "confirmed.html", language, confirmed=value if known else None, status_code=200 if known else 404)


@router.get("/{token}", response_class=HTMLResponse)
def page(request: Request, token: str, lang: str | None = None, notice: str | None = None, error: str | None = None, value: str | None = None, phone: str | None = None) -> Response:
    if (refusal := _client_refusal(request)) is not None:
        return refusal
    subject = _subject(request, token)
    if subject is None:
        return _not_found()
    with request.app.state.database.session_scope() as session:
        view = consumer_page.load_page(session, subject.debtor_id, subject.creditor_id)
        if view is None:
            return _not_found()
        language = i18n.pick(lang, view.debtor.language)
        return _render(
            request, "page.html", language, view=view, token=token, form_token=consumer_page.form_token(_secret(request), token),
            logo=_logo_src(view.creditor), brand=view.creditor.primary_colour if _is_colour(view.creditor.primary_colour) else None,
            epc={claim.id: _epc_svg(view.creditor, claim) for claim in view.open_claims if claim.payable},
            bancontact=_bancontact(request) is not None, notice=notice if notice in NOTICES else None, error=error if error in ERRORS else None,
            value=value, phone=phone, email_relay=_email_relay(request) is not None, sms=_sms_provider(request) is not None,
            consent_channels=consumer_page.CONSENT_CHANNELS, link_expires=subject.expires_at.astimezone(BRUSSELS).date(),
        )


def _is_colour(value: str | None) -> bool:
    return bool(value) and len(value) == 7 and value[0] == "#" and all(ch in "0123456789abcdefABCDEF" for ch in value[1:])


@router.get("/{token}/documents/{document_id}")
def document(request: Request, token: str, document_id: str) -> Response:
    if (refusal := _client_refusal(request)) is not None:
        return refusal
    subject = _subject(request, token)
    try:
        wanted = uuid.UUID(document_id)
    except ValueError:
        return _not_found()
    if subject is None:
        return _not_found()
    with request.app.state.database.session_scope() as session:
        found = consumer_page.document_for(session, subject.debtor_id, subject.creditor_id, wanted)
        if found is None:
            return _not_found()
        extension = {"application/pdf": "pdf", "application/xml": "xml"}.get(found.media_type.split(";")[0], "bin")
        response = Response(found.content, media_type=found.media_type, headers={"Content-Disposition": f'attachment; filename="{found.number}.{extension}"'})
    return _secured(response)


@router.post("/{token}/pay/{claim_id}")
async def pay(request: Request, token: str, claim_id: str) -> Response:
    return await _post(request, token, _pay, claim_id)


def _pay(request: Request, token: str, subject: personal_link.LinkSubject, form, language: str, claim_id: str) -> Response:
    try:
        wanted = uuid.UUID(claim_id)
    except ValueError:
        return _not_found()
    database = request.app.state.database
    with database.session_scope() as session:
        claim = consumer_page.owned_claim(session, subject.debtor_id, subject.creditor_id, wanted)
        if claim is None:
            return _not_found()
        if not consumer_page.is_payable(claim):
            return _home(token, language)  # paid in the meantime (a second click, the back button): the page shows it
        number, amount = claim.number, claim.amount_open
        creditor = consumer_page.ConsumerPageRepository(session).creditor(subject.creditor_id)
        branding = {"creditor_name": creditor.name, "logo": _logo_src(creditor), "brand": creditor.primary_colour if _is_colour(creditor.primary_colour) else None}
    verifier = _bancontact(request)
    if verifier is None:
        return _home(token, language, error="pay_unavailable")
    try:  # outside any transaction: request_payment commits its outbox row before it calls Bancontact
        link = request_payment(database, verifier.client, wanted, callback_url=verifier.callback_url)
    except (GatewayError, RetryableError, TerminalError):
        return _render(request, "pay.html", language, token=token, number=number, amount=amount, link=None, qr=None, status_code=503, **branding)
    if form.get("mode") != "qr" and link.deeplink:
        return _secured(RedirectResponse(link.deeplink, status_code=303))
    qr = _deeplink_svg(link.deeplink) if link.deeplink else None
    expires = link.expires_at.astimezone(BRUSSELS).strftime("%H:%M") if link.expires_at else None
    return _render(request, "pay.html", language, token=token, number=number, amount=amount, link=link, qr=qr, expires=expires, **branding)


def _deeplink_svg(deeplink: str) -> str:
    """The Bancontact QR drawn here from the deeplink, so the page loads no image from another site."""
    buffer = io.BytesIO()
    segno.make_qr(deeplink, error="m").save(buffer, kind="svg", scale=4, border=4, xmldecl=False)
    return buffer.getvalue().decode("utf-8")


# -- contact changes -------------------------------------------------------------------------------


def _email_relay(request: Request) -> SmtpRelay | None:
    """The relay the e-mail channel uses, else the one the settings name; None when neither exists."""
    provider = request.app.state.providers.for_channel("email")
    if provider is not None and getattr(provider, "config", None) is not None:
        return provider.config.relay
    settings = request.app.state.settings
    if not settings.smtp_host:
        return None
    return SmtpRelay(
        host=settings.smtp_host, port=settings.smtp_port, tls=settings.smtp_tls, username=settings.smtp_username,
        password=settings.smtp_password, timeout_seconds=settings.smtp_timeout_seconds,
    )


def _sms_provider(request: Request):
    provider = request.app.state.providers.for_channel("sms")
    return provider if provider is not None and getattr(provider, "client", None) is not None else None


def _confirmation_email(*, sender: str, recipient: str, language: str, creditor: str, link: str, domain: str) -> bytes:
    """The mail goes to an address nobody has confirmed yet: it names the creditor, never the debtor or a claim."""
    message = EmailMessage()
    message["From"] = f"{creditor} <{sender}>"
    message["To"] = recipient
    message["Subject"] = i18n.translate(language, "mail.subject", creditor=creditor)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain=domain)
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(i18n.translate(language, "mail.body", creditor=creditor, link=link))
    return message.as_bytes()


@router.post("/{token}/email")
async def change_email(request: Request, token: str) -> Response:
    return await _post(request, token, _change_email)


def _change_email(request: Request, token: str, subject: personal_link.LinkSubject, form, language: str) -> Response:
    try:
        value = ContactIn(kind="email", value=str(form.get("email") or "").strip()).value
    except ValidationError:
        return _home(token, language, error="email_invalid")
    relay = _email_relay(request)
    if relay is None:
        return _home(token, language, error="no_email_relay")
    verdict = _limits(request).send.hit(str(subject.debtor_id))
    if not verdict.allowed:
        return _too_many(verdict)
    settings, database, now = request.app.state.settings, request.app.state.database, utc_now()
    with database.session_scope() as session:
        view = consumer_page.load_page(session, subject.debtor_id, subject.creditor_id)
        if view is None:
            return _not_found()
        creditor, sender = view.creditor.name, view.creditor.sender_email or settings.email_default_sender
    confirmation = consumer_page.confirmation_token(_secret(request), subject.debtor_id, "email", value, now=now)
    link = f"{settings.public_base_url.rstrip('/')}/my/confirm/{confirmation}?{urlencode({'lang': language})}"
    message = _confirmation_email(sender=sender, recipient=value, language=language, creditor=creditor, link=link, domain=settings.email_message_domain)
    try:
        send_message(relay, envelope_sender=sender, recipient=value, message=message)
    except (RetryableError, TerminalError):
        return _home(token, language, error="send_failed", value=value)
    with database.session_scope() as session:
        debtor = consumer_page.ConsumerPageRepository(session).debtor(subject.debtor_id, subject.creditor_id)
        consumer_page.record_contact_requested(session, debtor, "email", value, now=now)
    return _home(token, language, notice="email_sent", value=value)


@router.post("/{token}/phone")
async def change_phone(request: Request, token: str) -> Response:
    return await _post(request, token, _change_phone)


def _change_phone(request: Request, token: str, subject: personal_link.LinkSubject, form, language: str) -> Response:
    try:
        value = ContactIn(kind="phone", value=str(form.get("phone") or "").replace(" ", "").strip()).value
    except ValidationError:
        return _home(token, language, error="phone_invalid")
    if not value.startswith("+"):
        return _home(token, language, error="phone_invalid")
    provider = _sms_provider(request)
    if provider is None:
        return _home(token, language, error="no_sms")
    verdict = _limits(request).send.hit(str(subject.debtor_id))
    if not verdict.allowed:
        return _too_many(verdict)
    database, now = request.app.state.database, utc_now()
    with database.session_scope() as session:
        view = consumer_page.load_page(session, subject.debtor_id, subject.creditor_id)
        if view is None:
            return _not_found()
        creditor = view.creditor.name
    code = consumer_page.phone_code(_secret(request), subject.debtor_id, value, now=now)
    try:
        provider.client.send(
            to=value, text=i18n.translate(language, "sms.code", creditor=creditor, code=code),
            client_reference=consumer_page.phone_client_reference(subject.debtor_id, value, now),
            callback_url=f"{request.app.state.settings.public_base_url.rstrip('/')}/my/sms-reports",
        )
    except (RetryableError, TerminalError):
        return _home(token, language, error="send_failed", value=value)
    with database.session_scope() as session:
        debtor = consumer_page.ConsumerPageRepository(session).debtor(subject.debtor_id, subject.creditor_id)
        consumer_page.record_contact_requested(session, debtor, "phone", value, now=now)
    return _home(token, language, notice="sms_sent", value=value, phone=value)


@router.post("/{token}/phone/confirm")
async def confirm_phone(request: Request, token: str) -> Response:
    return await _post(request, token, _confirm_phone)


def _confirm_phone(request: Request, token: str, subject: personal_link.LinkSubject, form, language: str) -> Response:
    phone = str(form.get("phone") or "")
    verdict = _limits(request).confirm.hit(str(subject.debtor_id))
    if not verdict.allowed:
        return _too_many(verdict)
    now = utc_now()
    if not phone or not consumer_page.phone_code_matches(_secret(request), subject.debtor_id, phone, str(form.get("code") or ""), now=now):
        return _home(token, language, error="code_wrong", phone=phone)
    try:
        with request.app.state.database.session_scope() as session:
            consumer_page.confirm_contact(session, subject.debtor_id, "phone", phone, now=now)
    except IntegrityError:  # the same code sent twice at once: the other request recorded the number
        pass
    return _home(token, language, notice="phone_confirmed", value=phone)


@router.post("/{token}/preferences")
async def preferences(request: Request, token: str) -> Response:
    return await _post(request, token, _preferences)


def _preferences(request: Request, token: str, subject: personal_link.LinkSubject, form, language: str) -> Response:
    chosen = form.get("language")
    now = utc_now()
    consents = {channel: form.get(f"consent_{channel}") == "yes" for channel in consumer_page.CONSENT_CHANNELS}
    with request.app.state.database.session_scope() as session:
        consumer_page.record_preferences(
            session, subject.debtor_id, subject.creditor_id, language=chosen if chosen in i18n.LANGUAGES else None, consents=consents,
            today=brussels_today(now), now=now,
        )
    return _home(token, chosen if chosen in i18n.LANGUAGES else language, notice="saved")
