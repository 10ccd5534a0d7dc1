"""The consumer's personal page (issue 7): what a debtor sees at one creditor, and what they may change.

Every secret the page uses is a stateless HMAC derived from `personal_link_secret`, each under
its own label, so a value made for one purpose never passes as another:

- the personal link itself (`gateway.kit.personal_link`): one debtor at one creditor, expiring;
- the form token: HMAC over the personal token; every POST carries it, so a form on another
  site cannot make the page act even when it guesses the URLs (defence in depth: the personal
  token is already secret, and the page sends `Referrer-Policy: no-referrer`);
- the e-mail confirmation token: `c1.<payload>.<mac>` over `debtor id|kind|value|expiry`,
  valid `EMAIL_CONFIRMATION_HOURS`, sent to the NEW address only. Its link is `/my/confirm/<token>`
  and does NOT carry the personal token: the new address is not trusted yet (a typo sends the
  mail to a stranger), so whoever opens it may confirm that address and learns nothing else;
- the phone code: 6 digits from HMAC(`debtor id|phone|window`) with 15-minute windows; the code
  of the current and of the previous window is accepted, so a code is good for 15 to 30
  minutes. Six digits are guessable only at the attempt rate the page allows (see the routes).

Nothing is stored until a contact is confirmed: an unconfirmed change leaves no row. A
confirmed contact becomes `valid`; the other contacts of the same kind become `replaced`, so
the router (which skips unusable contacts) sends to the new one. Every change is an audit event
with actor "debtor" and source "personal page".
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.config import Settings
from gateway.domain.claim import LANGUAGES
from gateway.kit import personal_link
from gateway.services import audit
from gateway.store.models import Claim, CreditorEntity, Debtor, DebtorConsent, DebtorContact, Document, Payment

ACTOR = "debtor"
SOURCE = "personal page"
CONSENT_CHANNELS = ("email", "sms", "ebox", "paper")
OPEN_STATUSES = ("open", "partially_paid", "disputed", "on_hold", "in_payment_plan", "escalated")
PAYABLE_STATUSES = ("open", "partially_paid")  # what Bancontact accepts (request_payment refuses the rest)
HIDDEN_DOCUMENT_KINDS = ("contact_repair",)  # a notice about the page itself, not a document of the claim
HISTORY_LIMIT = 10  # paid and closed claims shown under the open ones
EMAIL_CONFIRMATION_HOURS = 24
PHONE_WINDOW_SECONDS = 15 * 60
PHONE_CODE_DIGITS = 6
REPLACED = "replaced"  # validity of a contact the debtor replaced on the page
MAX_CONFIRMATION_TOKEN_CHARS = 600  # an address has at most 254 characters; longer is refused before decoding


class InvalidConfirmation(Exception):
    """A confirmation token or code that is malformed, altered, expired or for another debtor."""


# -- links and tokens (pure) -----------------------------------------------------------------------


def personal_url_for(settings: Settings, debtor_id: uuid.UUID, creditor_id: uuid.UUID, now: datetime) -> str | None:
    """The debtor's personal page at this creditor, valid `personal_link_valid_days` from `now`; None when the page is off."""
    if not settings.personal_link_secret:
        return None
    token = personal_link.issue(
        settings.personal_link_secret.encode(), debtor_id, creditor_id, now=now, valid_for=timedelta(days=settings.personal_link_valid_days),
    )
    return personal_link.url(settings.public_base_url, token)


def _key(secret: bytes, label: str) -> bytes:
    return hmac.new(secret, f"consumer-page:{label}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def form_token(secret: bytes, personal_token: str) -> str:
    return _b64(hmac.new(_key(secret, "form"), personal_token.encode("utf-8"), hashlib.sha256).digest()[:16])


def form_token_matches(secret: bytes, personal_token: str, given: str | None) -> bool:
    return bool(given) and hmac.compare_digest(form_token(secret, personal_token), given)


def confirmation_token(secret: bytes, debtor_id: uuid.UUID, kind: str, value: str, *, now: datetime) -> str:
    expires = int((now + timedelta(hours=EMAIL_CONFIRMATION_HOURS)).timestamp())
    payload = _b64(f"{debtor_id.hex}|{kind}|{value}|{expires}".encode())
    mac = _b64(hmac.new(_key(secret, "confirm"), payload.encode("ascii"), hashlib.sha256).digest()[:16])
    return f"c1.{payload}.{mac}"


def verify_confirmation(secret: bytes, token: str, *, now: datetime) -> tuple[uuid.UUID, str, str]:
    """(debtor id, kind, value) of a confirmation token that is ours and not expired."""
    if not token or len(token) > MAX_CONFIRMATION_TOKEN_CHARS or token.count(".") != 2:
        raise InvalidConfirmation("malformed")
    version, payload, mac = token.split(".")
    try:
        expected = _b64(hmac.new(_key(secret, "confirm"), payload.encode("ascii"), hashlib.sha256).digest()[:16])
        if version != "c1" or not hmac.compare_digest(expected, mac):
            raise InvalidConfirmation("signature")
        owner, kind, value, expires = _unb64(payload).decode("utf-8").split("|")
        debtor_id, expires_at = uuid.UUID(hex=owner), datetime.fromtimestamp(int(expires), timezone.utc)
    except InvalidConfirmation:
        raise
    except (ValueError, UnicodeError) as exc:
        raise InvalidConfirmation("malformed") from exc
    if expires_at <= now:
        raise InvalidConfirmation("expired")
    return debtor_id, kind, value


def _window(now: datetime) -> int:
    return int(now.timestamp()) // PHONE_WINDOW_SECONDS


def phone_code(secret: bytes, debtor_id: uuid.UUID, phone: str, *, now: datetime, windows_back: int = 0) -> str:
    message = f"{debtor_id.hex}|{phone}|{_window(now) - windows_back}".encode()
    number = int.from_bytes(hmac.new(_key(secret, "phone"), message, hashlib.sha256).digest()[:8], "big")
    return f"{number % 10**PHONE_CODE_DIGITS:0{PHONE_CODE_DIGITS}d}"


def phone_code_matches(secret: bytes, debtor_id: uuid.UUID, phone: str, given: str, *, now: datetime) -> bool:
    given = (given or "").strip()
    return any(hmac.compare_digest(phone_code(secret, debtor_id, phone, now=now, windows_back=back), given) for back in (0, 1))


def phone_client_reference(debtor_id: uuid.UUID, phone: str, now: datetime) -> str:
    """One SMS per debtor, number and window: the vendor deduplicates on it, so repeated clicks send one code."""
    return hashlib.sha256(f"phone-confirm|{debtor_id}|{phone}|{_window(now)}".encode()).hexdigest()[:40]


# -- what the page shows ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DocumentView:
    id: uuid.UUID
    kind: str
    number: str
    media_type: str
    issued_at: datetime


@dataclass(frozen=True)
class ClaimView:
    id: uuid.UUID
    number: str
    claim_type: str
    status: str
    currency: str
    total_amount: Decimal
    amount_open: Decimal
    issue_date: date
    due_date: date
    structured_communication: str
    documents: tuple[DocumentView, ...]
    payable: bool
    paid_on: date | None = None


@dataclass(frozen=True)
class PageView:
    debtor: Debtor
    creditor: CreditorEntity
    open_claims: tuple[ClaimView, ...]
    history: tuple[ClaimView, ...]
    contacts: dict[str, str | None]  # kind -> the contact in use (the first usable), None when none
    consents: dict[str, bool]


class ConsumerPageRepository:
    """Every query of the personal page; each is scoped to one debtor at one creditor."""

    def __init__(self, session: Session) -> None:
        self.session = session

    def debtor(self, debtor_id: uuid.UUID, creditor_id: uuid.UUID) -> Debtor | None:
        return self.session.scalar(select(Debtor).where(Debtor.id == debtor_id, Debtor.creditor_id == creditor_id))

    def debtor_by_id(self, debtor_id: uuid.UUID) -> Debtor | None:
        return self.session.get(Debtor, debtor_id)

    def creditor(self, creditor_id: uuid.UUID) -> CreditorEntity | None:
        return self.session.get(CreditorEntity, creditor_id)

    def claims(self, debtor_id: uuid.UUID, creditor_id: uuid.UUID) -> list[Claim]:
        query = select(Claim).where(Claim.debtor_id == debtor_id, Claim.creditor_id == creditor_id).order_by(Claim.due_date, Claim.number)
        return list(self.session.scalars(query))

    def claim(self, claim_id: uuid.UUID, debtor_id: uuid.UUID, creditor_id: uuid.UUID) -> Claim | None:
        return self.session.scalar(select(Claim).where(Claim.id == claim_id, Claim.debtor_id == debtor_id, Claim.creditor_id == creditor_id))

    def documents(self, claim_ids: list[uuid.UUID]) -> list[Document]:
        if not claim_ids:
            return []
        query = (
            select(Document).where(Document.claim_id.in_(claim_ids), Document.kind.not_in(HIDDEN_DOCUMENT_KINDS))
            .order_by(Document.issued_at, Document.number)
        )
        return list(self.session.scalars(query))

    def document(self, document_id: uuid.UUID, debtor_id: uuid.UUID, creditor_id: uuid.UUID) -> Document | None:
        query = (
            select(Document).join(Claim, Claim.id == Document.claim_id)
            .where(
                Document.id == document_id, Document.creditor_id == creditor_id, Document.kind.not_in(HIDDEN_DOCUMENT_KINDS),
                Claim.debtor_id == debtor_id, Claim.creditor_id == creditor_id,
            )
        )
        return self.session.scalar(query)

    def last_payment_days(self, claim_ids: list[uuid.UUID]) -> dict[uuid.UUID, date]:
        if not claim_ids:
            return {}
        days: dict[uuid.UUID, date] = {}
        for claim_id, paid_on in self.session.execute(select(Payment.claim_id, Payment.paid_on).where(Payment.claim_id.in_(claim_ids))):
            days[claim_id] = max(paid_on, days.get(claim_id, paid_on))
        return days


def usable_contact(debtor: Debtor, kind: str) -> str | None:
    """The contact the router would use (first by age, not bounced, unreachable or replaced)."""
    unusable = {"bounced", "unreachable", REPLACED}
    return next((c.value for c in debtor.contacts if c.kind == kind and c.validity not in unusable), None)


def load_page(session: Session, debtor_id: uuid.UUID, creditor_id: uuid.UUID) -> PageView | None:
    """The page of one debtor at one creditor, or None when the token names nobody (answered as 404)."""
    repo = ConsumerPageRepository(session)
    debtor = repo.debtor(debtor_id, creditor_id)
    creditor = repo.creditor(creditor_id) if debtor is not None else None
    if debtor is None or creditor is None:
        return None
    claims = repo.claims(debtor.id, creditor.id)
    ids = [claim.id for claim in claims]
    documents: dict[uuid.UUID, list[DocumentView]] = {}
    for document in repo.documents(ids):
        documents.setdefault(document.claim_id, []).append(DocumentView(document.id, document.kind, document.number, document.media_type, document.issued_at))
    paid_on = repo.last_payment_days(ids)
    views = [
        ClaimView(
            id=claim.id, number=claim.number, claim_type=claim.claim_type, status=claim.status, currency=claim.currency,
            total_amount=claim.total_amount, amount_open=claim.amount_open, issue_date=claim.issue_date, due_date=claim.due_date,
            structured_communication=claim.structured_communication, documents=tuple(documents.get(claim.id, ())),
            payable=is_payable(claim), paid_on=paid_on.get(claim.id),
        )
        for claim in claims
    ]
    open_claims = tuple(view for view in views if view.status in OPEN_STATUSES)
    history = tuple(sorted((view for view in views if view.status not in OPEN_STATUSES), key=lambda v: (v.paid_on or v.due_date), reverse=True)[:HISTORY_LIMIT])
    consents = {channel: False for channel in CONSENT_CHANNELS}
    consents.update({consent.channel: consent.given for consent in debtor.consents if consent.channel in consents})
    return PageView(
        debtor=debtor, creditor=creditor, open_claims=open_claims, history=history,
        contacts={"email": usable_contact(debtor, "email"), "phone": usable_contact(debtor, "phone")}, consents=consents,
    )


def document_for(session: Session, debtor_id: uuid.UUID, creditor_id: uuid.UUID, document_id: uuid.UUID) -> Document | None:
    return ConsumerPageRepository(session).document(document_id, debtor_id, creditor_id)


def owned_claim(session: Session, debtor_id: uuid.UUID, creditor_id: uuid.UUID, claim_id: uuid.UUID) -> Claim | None:
    """The claim when it is this debtor's at this creditor; None otherwise (answered as 404)."""
    return ConsumerPageRepository(session).claim(claim_id, debtor_id, creditor_id)


def is_payable(claim: Claim) -> bool:
    return claim.status in PAYABLE_STATUSES and claim.amount_open > 0


# -- what the debtor may change --------------------------------------------------------------------


def confirm_contact(session: Session, debtor_id: uuid.UUID, kind: str, value: str, *, now: datetime) -> bool | None:
    """Record a confirmed e-mail or phone as valid and the others of its kind as replaced.

    Returns True when it changed something, False when it was already the valid contact in use
    (a link opened twice changes nothing), None when the debtor no longer exists."""
    debtor = ConsumerPageRepository(session).debtor_by_id(debtor_id)
    if debtor is None:
        return None
    same = [c for c in debtor.contacts if c.kind == kind and c.value.lower() == value.lower()]
    others = [c for c in debtor.contacts if c.kind == kind and c.value.lower() != value.lower() and c.validity != REPLACED]
    if same and same[0].validity == "valid" and not others:
        return False
    if same:
        contact = same[0]
    else:
        contact = DebtorContact(kind=kind, value=value, created_at=now)
        debtor.contacts.append(contact)
    contact.validity, contact.validity_reason, contact.validity_changed_at = "valid", f"confirmed by the debtor on the {SOURCE}", now
    for old in others:
        old.validity, old.validity_reason, old.validity_changed_at = REPLACED, f"replaced by {value} on the {SOURCE}", now
    debtor.updated_at = now
    audit.record(
        session, actor=ACTOR, creditor_id=debtor.creditor_id, entity_type="debtor", entity_id=debtor.id, action="contact.confirmed",
        data={"kind": kind, "value": value, "replaced": [old.value for old in others], "source": SOURCE}, at=now,
    )
    session.flush()
    return True


def record_preferences(
    session: Session, debtor_id: uuid.UUID, creditor_id: uuid.UUID, *, language: str | None, consents: dict[str, bool], today: date, now: datetime,
) -> list[str]:
    """Store the language and the consent per channel; returns what changed (e.g. ["language", "consent.sms"]).

    A consent row is written only when it changes what is in force (no row counts as not given),
    so saving the form unchanged keeps the dates on which consent was given."""
    debtor = ConsumerPageRepository(session).debtor(debtor_id, creditor_id)
    if debtor is None:
        return []
    changed: list[str] = []
    if language in LANGUAGES and language != debtor.language:
        audit.record(
            session, actor=ACTOR, creditor_id=debtor.creditor_id, entity_type="debtor", entity_id=debtor.id, action="debtor.updated",
            data={"language": language, "previous": debtor.language, "source": SOURCE}, at=now,
        )
        debtor.language = language
        changed.append("language")
    current = {consent.channel: consent for consent in debtor.consents}
    for channel in CONSENT_CHANNELS:
        given = bool(consents.get(channel, False))
        existing = current.get(channel)
        if (existing.given if existing is not None else False) == given:
            continue
        if existing is None:
            existing = DebtorConsent(channel=channel, created_at=now)
            debtor.consents.append(existing)
        existing.given, existing.given_on, existing.source = given, today, SOURCE
        audit.record(
            session, actor=ACTOR, creditor_id=debtor.creditor_id, entity_type="debtor", entity_id=debtor.id, action="consent.recorded",
            data={"channel": channel, "given": given, "date": today.isoformat(), "source": SOURCE}, at=now,
        )
        changed.append(f"consent.{channel}")
    if changed:
        debtor.updated_at = now
        session.flush()
    return changed


def record_contact_requested(session: Session, debtor: Debtor, kind: str, value: str, *, now: datetime) -> None:
    """The audit trail of a change asked for but not yet confirmed (nothing else is stored)."""
    audit.record(
        session, actor=ACTOR, creditor_id=debtor.creditor_id, entity_type="debtor", entity_id=debtor.id, action="contact.confirmation_sent",
        data={"kind": kind, "value": value, "source": SOURCE}, at=now,
    )
