"""The admin pages under /admin: server-rendered HTML, a session cookie, a CSRF token per form.

Routes read the form, check the session, role and CSRF token, and call the services; all
data access is limited to the signed-in user's creditor entities, and another creditor's
claim, document or dispatch answers 404 exactly as a missing one does.
"""

from __future__ import annotations

import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from pydantic import ValidationError

from gateway.api.payloads import AddressIn
from gateway.delivery.router import UNUSABLE
from gateway.domain.identifiers import format_ogm
from gateway.dunning import export as escalation_export
from gateway.dunning import service as dunning_service
from gateway.errors import GatewayError
from gateway.kit.ratelimit import RateLimiter, Verdict
from gateway.kit.time import BRUSSELS, brussels_today, utc_now
from gateway.store.repositories.claims import ClaimRepository
from gateway.services import letters
from gateway.web import account, i18n, timeline
from gateway.web.repository import BUYER_RESPONSE_HOLDS, AdminRepository
from gateway.web.resend import close_as_unreachable, fix_contact_and_resend, ways_for

SESSION_COOKIE = "gw_admin"
SIGNIN_CSRF_COOKIE = "gw_signin_csrf"
LANGUAGE_COOKIE = "gw_lang"
DASHBOARD_DAYS = 30  # the dashboard's default period: the last month
STATIC_DIR = Path(__file__).parent / "static"
# Sign-in attempts allowed per 15 minutes: per user name (a password guesser aiming at one
# account), and per client address (one machine trying many names; higher, as an office may
# share one address).
SIGNIN_WINDOW_SECONDS = 15 * 60
SIGNIN_ATTEMPTS_PER_NAME = 10
SIGNIN_ATTEMPTS_PER_ADDRESS = 30
ESCALATION_KINDS = ("dwangbevel", "dwangschrift", "bailiff", "disconnection")
EXPORT_MEDIA_TYPES = {"csv": "text/csv; charset=utf-8", "pdf": "application/pdf"}
APPROVAL_REFERENCE_LENGTH = 120  # the decision reference typed beside the approver's name; approved_by holds 200

# Colours of the chart, one per delivery state (readable for the common colour-vision deficiencies).
STATE_COLOURS = {
    "queued": "#9aa5b1", "in_flight": "#6c8ebf", "sent": "#3b73b9", "delivered": "#2e8b57", "read": "#1f6f43",
    "accepted": "#15803d", "rejected": "#b45309", "paid": "#0f766e", "failed_temporary": "#e8a33d", "failed_permanent": "#c2410c",
}

router = APIRouter(prefix="/admin", include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


def _secure_cookies(request: Request) -> bool:
    """Secure cookies whenever the gateway is served over HTTPS; plain HTTP only on localhost setups."""
    return request.app.state.settings.public_base_url.startswith("https://")


def _language(request: Request, admin: account.Admin | None = None) -> str:
    """Signed in: the language stored on the account (so it follows the user to any device); signed out: the
    cookie, then the browser's. A choice made while signed in, or on the sign-in page, is stored on the account."""
    if admin is not None and admin.language in i18n.LANGUAGES:
        return admin.language
    return i18n.pick_language(request.cookies.get(LANGUAGE_COOKIE), None, request.headers.get("accept-language"))


def local_time(moment: datetime | str | None, *, seconds: bool = True) -> str:
    """An instant (or its ISO 8601 text, as the export rows carry it) as Brussels wall-clock time with its zone (CET or CEST)."""
    if not moment:
        return "—"
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.astimezone(BRUSSELS).strftime("%Y-%m-%d %H:%M:%S %Z" if seconds else "%Y-%m-%d %H:%M %Z")


def _render(request: Request, template: str, admin: account.Admin | None, *, status_code: int = 200, **context) -> HTMLResponse:
    language = _language(request, admin)
    return templates.TemplateResponse(
        request, template,
        {
            "admin": admin, "lang": language, "t": lambda key: i18n.translate(language, key), "message": lambda key, args=None: i18n.message(language, key, args),
            "languages": i18n.LANGUAGES, "path": request.url.path, "local": local_time, **context,
        },
        status_code=status_code,
    )


def _error(request: Request, admin: account.Admin | None, status_code: int, key: str, detail: str | None = None) -> HTMLResponse:
    return _render(request, "error.html", admin, status_code=status_code, message_key=key, detail=detail)


def _admin(request: Request) -> account.Admin | None:
    with request.app.state.database.session_scope() as session:
        return account.current_admin(session, request.cookies.get(SESSION_COOKIE), now=utc_now())


def _signin_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return RedirectResponse(f"/admin/signin?next={quote(target, safe='')}", status_code=303)


def _safe_next(value: str | None) -> str:
    """Only a path inside the admin pages: never an open redirect to another site."""
    if value and value.startswith("/admin") and not value.startswith("//"):
        return value
    return "/admin/dashboard"


async def _checked_form(request: Request, admin: account.Admin | None, permission: str | None):
    """The posted form, or the response that refuses it (signed out, wrong CSRF token, role)."""
    if admin is None:
        return None, _signin_redirect(request)
    form = await request.form()
    if not account.tokens_match(admin.csrf_token, form.get("csrf_token")):
        return None, _error(request, admin, 403, "error.csrf")
    if permission is not None and not admin.may(permission):
        return None, _error(request, admin, 403, "error.forbidden")
    return form, None


@router.get("", response_class=HTMLResponse)
@router.get("/", response_class=HTMLResponse)
def home() -> RedirectResponse:
    return RedirectResponse("/admin/dashboard", status_code=303)


@router.get("/signin", response_class=HTMLResponse)
def signin_page(request: Request, next: str | None = None, failed: bool = False) -> Response:
    token = secrets.token_urlsafe(32)
    response = _render(request, "signin.html", None, csrf_token=token, next=_safe_next(next), failed=failed, status_code=401 if failed else 200)
    response.set_cookie(SIGNIN_CSRF_COOKIE, token, httponly=True, samesite="lax", secure=_secure_cookies(request), path="/admin")
    return response


@dataclass
class SigninLimits:
    by_name: RateLimiter
    by_address: RateLimiter


_limits_lock = threading.Lock()


def signin_limits(app) -> SigninLimits:
    """One pair of limiters per application (tests build many apps in one process and may set their own)."""
    with _limits_lock:
        if not hasattr(app.state, "admin_signin_limits"):
            app.state.admin_signin_limits = SigninLimits(
                by_name=RateLimiter(SIGNIN_ATTEMPTS_PER_NAME, SIGNIN_WINDOW_SECONDS),
                by_address=RateLimiter(SIGNIN_ATTEMPTS_PER_ADDRESS, SIGNIN_WINDOW_SECONDS),
            )
        return app.state.admin_signin_limits


def _too_many_attempts(request: Request, verdict: Verdict) -> HTMLResponse:
    minutes = -(-verdict.retry_after_seconds // 60)
    response = _error(request, None, 429, "error.too_many_attempts", detail=i18n.translate(_language(request), "error.retry_after").format(minutes=minutes))
    response.headers["Retry-After"] = str(verdict.retry_after_seconds)
    return response


@router.post("/signin")
async def signin(request: Request) -> Response:
    form = await request.form()
    if not account.tokens_match(request.cookies.get(SIGNIN_CSRF_COOKIE), form.get("csrf_token")):
        return _error(request, None, 403, "error.csrf")
    name = str(form.get("email", "")).strip().lower()
    limits = signin_limits(request.app)
    # Counted before the password is looked at, and a refused attempt never reaches the hash check:
    # over the limit even the right password gets a 429, so guessing gains nothing.
    verdict = limits.by_address.hit(request.client.host if request.client else "unknown")
    if verdict.allowed:
        verdict = limits.by_name.hit(name)
    if not verdict.allowed:
        return _too_many_attempts(request, verdict)
    with request.app.state.database.session_scope() as session:
        # A language picked on the sign-in page is the user's latest choice: it becomes the account's.
        chosen = request.cookies.get(LANGUAGE_COOKIE)
        token = account.sign_in(session, name, str(form.get("password", "")), now=utc_now(), language=chosen if chosen in i18n.LANGUAGES else None)
    if token is None:
        return signin_page(request, next=str(form.get("next", "")), failed=True)
    limits.by_name.reset(name)  # the owner got in: earlier typos do not count against the next sign-in
    response = RedirectResponse(_safe_next(str(form.get("next", ""))), status_code=303)
    response.set_cookie(
        SESSION_COOKIE, token, max_age=int(account.SESSION_LIFETIME.total_seconds()), httponly=True, samesite="lax",
        secure=_secure_cookies(request), path="/admin",
    )
    response.delete_cookie(SIGNIN_CSRF_COOKIE, path="/admin")
    return response


@router.post("/signout")
async def signout(request: Request) -> Response:
    admin = _admin(request)
    form, refused = await _checked_form(request, admin, None)
    if refused is not None:
        return refused
    with request.app.state.database.session_scope() as session:
        account.sign_out(session, request.cookies.get(SESSION_COOKIE), now=utc_now())
    response = RedirectResponse("/admin/signin", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/admin")
    return response


@router.get("/lang/{language}")
def switch_language(request: Request, language: str, next: str | None = None) -> Response:
    """Signed in, the choice is stored on the account (`account.set_language`); the cookie keeps it for the signed-out pages.

    A plain link, no form: changing one's own display language needs no CSRF protection (a forged
    link can do no more than switch the page language, which the user switches back)."""
    response = RedirectResponse(_safe_next(next), status_code=303)
    if language in i18n.LANGUAGES:
        with request.app.state.database.session_scope() as session:
            admin = account.current_admin(session, request.cookies.get(SESSION_COOKIE), now=utc_now())
            if admin is not None:
                account.set_language(session, admin, language)
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 24 * 3600, httponly=True, samesite="lax", secure=_secure_cookies(request), path="/admin")
    return response


def _period(start: date | None, end: date | None) -> tuple[date, date, datetime, datetime]:
    today = brussels_today()
    end = end or today
    start = start or end - timedelta(days=DASHBOARD_DAYS - 1)
    if start > end:
        start, end = end, start
    # Days are Brussels calendar days; the query runs on UTC instants, end exclusive.
    lower = datetime.combine(start, time.min, tzinfo=BRUSSELS)
    upper = datetime.combine(end + timedelta(days=1), time.min, tzinfo=BRUSSELS)
    return start, end, lower, upper


def _chart(counts: list[tuple[str, str, int]]) -> dict:
    """Horizontal stacked bars, one per channel, segments per state; sizes in SVG units."""
    channels: dict[str, list[tuple[str, int]]] = {}
    for channel, state, count in counts:
        channels.setdefault(channel, []).append((state, count))
    widest = max((sum(c for _, c in parts) for parts in channels.values()), default=0)
    bars = []
    for row, (channel, parts) in enumerate(sorted(channels.items())):
        x, segments = 0.0, []
        for state, count in parts:
            width = 460 * count / widest if widest else 0
            segments.append({"state": state, "count": count, "x": round(110 + x, 1), "width": round(width, 1), "colour": STATE_COLOURS.get(state, "#666")})
            x += width
        bars.append({"channel": channel, "y": 10 + row * 34, "segments": segments, "total": sum(c for _, c in parts), "end": round(110 + x, 1)})
    return {"bars": bars, "height": 20 + 34 * len(bars)}


@router.get("/dashboard", response_class=HTMLResponse)
def dashboard(request: Request, start: date | None = None, end: date | None = None) -> Response:
    admin = _admin(request)
    if admin is None:
        return _signin_redirect(request)
    start, end, lower, upper = _period(start, end)
    with request.app.state.database.session_scope() as session:
        repo = AdminRepository(session, admin.visible_creditor_ids)
        counts = repo.dispatch_counts(lower, upper)
        creditors = repo.creditors()
        invalid = repo.invalid_documents(lower, upper)
        refused = repo.refused_documents(lower, upper)
        undeliverable = repo.undeliverable()
        today = brussels_today()
        on_hold = repo.holds_in_effect(today)
        buyer_responses = repo.buyer_responses_waiting(today)
    order = list(STATE_COLOURS)
    states = sorted({state for _, state, _ in counts}, key=lambda state: (order.index(state) if state in order else len(order), state))
    table: dict[str, dict[str, int]] = {}
    for channel, state, count in counts:
        table.setdefault(channel, {})[state] = count
    return _render(
        request, "dashboard.html", admin, start=start, end=end, states=states, table=table, chart=_chart(counts),
        colours=STATE_COLOURS, invalid=invalid, refused=refused, undeliverable=undeliverable, on_hold=on_hold, creditors=creditors,
        buyer_responses=buyer_responses, buyer_codes=BUYER_RESPONSE_HOLDS,
    )


@router.get("/undeliverable", response_class=HTMLResponse)
def undeliverable(request: Request, resent: str | None = None) -> Response:
    admin = _admin(request)
    if admin is None:
        return _signin_redirect(request)
    return _undeliverable_page(request, admin, resent=resent)


@router.post("/undeliverable/{dispatch_id}/resend")
async def resend(request: Request, dispatch_id: uuid.UUID) -> Response:
    admin = _admin(request)
    form, refused = await _checked_form(request, admin, "contact.fix")
    if refused is not None:
        return refused
    try:
        with request.app.state.database.session_scope() as session:
            address = None
            if form.get("street"):
                address = AddressIn(street=form.get("street"), postal_code=form.get("postal_code"), city=form.get("city"), country=form.get("country") or "BE")
            new = fix_contact_and_resend(
                session, admin.principal, dispatch_id, channel=str(form.get("channel") or "") or None, value=form.get("value"), address=address, now=utc_now(),
            )
            recipient = new.recipient
    except GatewayError as error:
        if error.status_code == 404:
            return _error(request, admin, 404, "error.not_found")
        return _undeliverable_problem(request, admin, str(error), status_code=error.status_code)
    except ValidationError as error:
        return _undeliverable_problem(request, admin, "; ".join(e["msg"] for e in error.errors()), status_code=422)
    return RedirectResponse(f"/admin/undeliverable?resent={quote(recipient)}", status_code=303)


@router.post("/undeliverable/{dispatch_id}/unreachable")
async def unreachable(request: Request, dispatch_id: uuid.UUID) -> Response:
    admin = _admin(request)
    form, refused = await _checked_form(request, admin, "contact.fix")
    if refused is not None:
        return refused
    try:
        with request.app.state.database.session_scope() as session:
            close_as_unreachable(session, admin.principal, dispatch_id, now=utc_now())
    except GatewayError as error:
        if error.status_code == 404:
            return _error(request, admin, 404, "error.not_found")
        return _undeliverable_problem(request, admin, str(error), status_code=error.status_code)
    return RedirectResponse("/admin/undeliverable", status_code=303)


def _undeliverable_page(request: Request, admin: account.Admin, *, resent: str | None = None, problem: str | None = None, status_code: int = 200) -> HTMLResponse:
    with request.app.state.database.session_scope() as session:
        repo = AdminRepository(session, admin.visible_creditor_ids)
        rows = repo.undeliverable()
        router_next = repo.router_next([dispatch for dispatch, _, _ in rows])
        ways = {dispatch.id: ways_for(dispatch, debtor) for dispatch, _, debtor in rows}
        emails = {debtor.id: next((c.value for c in debtor.contacts if c.kind == "email" and c.validity not in UNUSABLE), "") for _, _, debtor in rows}
    return _render(request, "undeliverable.html", admin, rows=rows, router_next=router_next, ways=ways, emails=emails, resent=resent, problem=problem, status_code=status_code)


def _undeliverable_problem(request: Request, admin: account.Admin, problem: str, *, status_code: int) -> HTMLResponse:
    return _undeliverable_page(request, admin, problem=problem, status_code=status_code)


@router.get("/claims/{claim_id}", response_class=HTMLResponse)
def claim_page(request: Request, claim_id: uuid.UUID) -> Response:
    admin = _admin(request)
    if admin is None:
        return _signin_redirect(request)
    with request.app.state.database.session_scope() as session:
        repo = ClaimRepository(session)
        claim = repo.claim_for(claim_id, admin.visible_creditor_ids)
        if claim is None:
            return _error(request, admin, 404, "error.not_found")
        debtor = repo.debtor_for(claim.debtor_id, admin.visible_creditor_ids)
        documents = repo.documents(claim.id)
        dispatches = repo.dispatches(claim.id)
        attempts = repo.attempts([d.id for d in dispatches])
        history = repo.history([claim.id, debtor.id, *[d.id for d in dispatches]])
        payments = repo.payments(claim.id)
        creditor = repo.creditor(claim.creditor_id)
        steps = {step.dedup_key: step for step in AdminRepository(session, admin.visible_creditor_ids).dunning_steps(claim.id)}
    entries = timeline.build(
        claim, documents, dispatches, attempts, history, payments, steps=steps,
        pdf_documents=frozenset(document.id for document in documents if letters.has_pdf_rendition(document)),
    )
    return _render(request, "claim.html", admin, claim=claim, debtor=debtor, creditor=creditor, ogm=format_ogm(claim.structured_communication), timeline=entries)


@router.get("/documents/{document_id}")
def download_document(request: Request, document_id: uuid.UUID) -> Response:
    admin = _admin(request)
    if admin is None:
        return _signin_redirect(request)
    with request.app.state.database.session_scope() as session:
        document = AdminRepository(session, admin.visible_creditor_ids).document(document_id)
        if document is None:
            return _error(request, admin, 404, "error.not_found")
        extension = "xml" if "xml" in document.media_type else "pdf" if "pdf" in document.media_type else "bin"
        return _document_download(document.content, document.media_type, document.number, extension)


@router.get("/documents/{document_id}/pdf")
def download_document_pdf(request: Request, document_id: uuid.UUID) -> Response:
    """A UBL document as the letter that was printed or attached to the e-mail (`letters.pdf_rendition`, registered when it went registered)."""
    admin = _admin(request)
    if admin is None:
        return _signin_redirect(request)
    with request.app.state.database.session_scope() as session:
        repo = AdminRepository(session, admin.visible_creditor_ids)
        document = repo.document(document_id)
        if document is None or not letters.has_pdf_rendition(document):
            return _error(request, admin, 404, "error.not_found")
        pdf = letters.pdf_rendition(session, document, registered=repo.sent_registered(document.id))
        return _document_download(pdf, letters.PDF, document.number, "pdf")


def _document_download(content: bytes, media_type: str, number: str, extension: str) -> Response:
    """An attachment named after the document's number, with anything but letters, digits and -_. replaced."""
    safe_number = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in number)
    return Response(content, media_type=media_type,
                    headers={"Content-Disposition": f'attachment; filename="{safe_number}.{extension}"', "X-Content-Type-Options": "nosniff"})


@router.get("/search", response_class=HTMLResponse)
def search(request: Request, q: str = "") -> Response:
    admin = _admin(request)
    if admin is None:
        return _signin_redirect(request)
    with request.app.state.database.session_scope() as session:
        results = AdminRepository(session, admin.visible_creditor_ids).search(q[:200])
    return _render(request, "search.html", admin, q=q, results=results, searched=bool(q.strip()), format_ogm=format_ogm)


# --- escalation lists ------------------------------------------------------------------------------


def _escalation_groups(session, admin: account.Admin) -> list[dict]:
    """The lists the user's entities have, one per (kind, approving body), in list order."""
    groups: dict[tuple[str, str], dict] = {}
    for item in escalation_export.listed(session, admin.visible_creditor_ids):
        key = (item.entry.kind, item.entry.approving_body)
        group = groups.setdefault(key, {"kind": key[0], "approving_body": key[1], "items": []})
        group["items"].append(item)
    ordered = sorted(groups.values(), key=lambda g: (ESCALATION_KINDS.index(g["kind"]) if g["kind"] in ESCALATION_KINDS else len(ESCALATION_KINDS), g["approving_body"]))
    for group in ordered:
        group["totals"] = escalation_export.totals([item.row for item in group["items"]])
        group["pending"] = sum(1 for item in group["items"] if item.entry.status == "pending")
    return ordered


def _escalations_page(request: Request, admin: account.Admin, *, approved: str | None = None, problem: str | None = None, status_code: int = 200) -> HTMLResponse:
    with request.app.state.database.session_scope() as session:
        groups = _escalation_groups(session, admin)
    return _render(request, "escalations.html", admin, groups=groups, approved=approved, problem=problem, status_code=status_code,
                   reference_length=APPROVAL_REFERENCE_LENGTH)


@router.get("/escalations", response_class=HTMLResponse)
def escalations(request: Request, approved: str | None = None) -> Response:
    admin = _admin(request)
    if admin is None:
        return _signin_redirect(request)
    return _escalations_page(request, admin, approved=approved)


@router.post("/escalations/{entry_id}/approve")
async def approve_escalation(request: Request, entry_id: uuid.UUID) -> Response:
    """The financial director's visum, recorded by the same service call as `POST /v1/escalations/{id}/approve`."""
    admin = _admin(request)
    form, refused = await _checked_form(request, admin, "escalation.approve")
    if refused is not None:
        return refused
    now = utc_now()
    try:
        with request.app.state.database.session_scope() as session:
            entry = dunning_service.approve_escalation(session, admin.principal, entry_id, approved_by=_approved_by(admin, form), today=dunning_service.local_today(now), now=now)
            number = ClaimRepository(session).claim_for(entry.claim_id, admin.visible_creditor_ids).number
    except GatewayError as error:
        if error.status_code == 404:
            return _error(request, admin, 404, "error.not_found")
        detail = "; ".join(f"{p.rule}: {p.message}" for p in error.problems) or str(error)
        return _escalations_page(request, admin, problem=detail, status_code=error.status_code)
    return RedirectResponse(f"/admin/escalations?approved={quote(number)}#entry-{entry_id}", status_code=303)


@router.post("/escalations/approve-list")
async def approve_escalation_list(request: Request) -> Response:
    """The financial director's visum on a whole list (kind + approving body): the entries shown on the
    page, each through `approve_escalation` (an audit row per claim), all or none."""
    admin = _admin(request)
    form, refused = await _checked_form(request, admin, "escalation.approve")
    if refused is not None:
        return refused
    kind, body = str(form.get("kind", "")), str(form.get("approving_body", ""))
    try:
        entry_ids = [uuid.UUID(str(value)) for value in form.getlist("entry_id")]
    except ValueError:
        return _error(request, admin, 404, "error.not_found")
    now = utc_now()
    try:
        with request.app.state.database.session_scope() as session:
            entries = dunning_service.approve_escalation_list(
                session, admin.principal, entry_ids, kind=kind, approving_body=body, approved_by=_approved_by(admin, form),
                today=dunning_service.local_today(now), now=now,
            )
            claims = ClaimRepository(session)
            numbers = [claims.claim_for(entry.claim_id, admin.visible_creditor_ids).number for entry in entries]
    except GatewayError as error:
        if error.status_code == 404:
            return _error(request, admin, 404, "error.not_found")
        detail = "; ".join(f"{p.rule}: {p.message}" for p in error.problems) or str(error)
        return _escalations_page(request, admin, problem=detail, status_code=error.status_code)
    return RedirectResponse(f"/admin/escalations?approved={quote(', '.join(numbers))}#list-{quote(kind)}-{quote(body)}", status_code=303)


def _approved_by(admin: account.Admin, form) -> str:
    """Who approved: the signed-in director, with the decision reference when one is given."""
    reference = " ".join(str(form.get("reference", "")).split())[:APPROVAL_REFERENCE_LENGTH]
    return f"{admin.email} ({reference})" if reference else admin.email


@router.get("/escalations/export")
def export_escalations(request: Request, kind: str, approving_body: str | None = None, format: str = "csv") -> Response:
    admin = _admin(request)
    if admin is None:
        return _signin_redirect(request)
    if kind not in ESCALATION_KINDS or format not in EXPORT_MEDIA_TYPES:
        return _error(request, admin, 404, "error.not_found")
    with request.app.state.database.session_scope() as session:
        items = escalation_export.rows(session, admin.visible_creditor_ids, kind=kind, approving_body=approving_body or None)
    if format == "pdf":
        content = escalation_export.to_pdf(items, kind=kind, approving_body=approving_body or None, generated_at=utc_now())
    else:
        content = escalation_export.to_csv(items).encode("utf-8")
    name = "-".join(part for part in ("escalations", kind, approving_body) if part)
    safe_name = "".join(ch if ch.isalnum() or ch in "-_" else "_" for ch in name)
    return Response(content, media_type=EXPORT_MEDIA_TYPES[format],
                    headers={"Content-Disposition": f'attachment; filename="{safe_name}.{format}"', "X-Content-Type-Options": "nosniff"})
