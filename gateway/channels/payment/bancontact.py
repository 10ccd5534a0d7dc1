"""Bancontact (Payconiq) payment requests: the outbox, the callback verifier, and booking.

**Creating a request** (`request_payment`). `POST /v3/payments` has no idempotency key
(channels-and-law.md 1.3), so the `payment_request` row is our outbox:

1. under the claim's lock, reuse the live request when it is pending, unexpired and for the
   open amount; otherwise insert a row in state `creating` (`active_claim_id` is unique: one
   live request per claim) and commit;
2. call Bancontact outside any transaction (amount in cents, currency, reference = the OGM's 12
   digits, description, callbackUrl);
3. record `pending` with the payment id, deeplink and QR URL.

A row left `creating` (a crash, or a timeout whose answer was lost) is reconciled before any
new creation: `POST /v3/payments/search` by reference finds the payment Bancontact did create,
so a retry never becomes a second payment request for the same claim.

**Callbacks** (`BancontactVerifier`, source "bancontact", channels-and-law.md 1.6). The
`Signature` header is a compact JWS with detached content: the signing input is
`b64url(protected header) + "." + b64url(raw body)`. Refused (401, nothing stored) unless:
`alg` ES256; a `kid` found in the JWKS (cached <= 12 h, fetched again once on an unknown kid);
`crit` names only the five Payconiq header parameters and at least iat, jti, path and iss (the
OpenAPI disagrees on whether `sub` is listed: either is accepted, but all five must be present);
`sub` = our payment profile id, `iss` = "Payconiq", `path` = our callback URL (or its path);
`iat` within `CALLBACK_WINDOW_SECONDS` of now; the signature verifies (raw r||s or DER); and the
`jti` was not seen before with a different body (Bancontact repeats a callback byte for byte, so
the same jti with the same body is a retry: accepted, and the inbox stores it once).

**Booking** (`apply_callback`): each callback is stored in the inbox first (unique on
`{paymentId}:{status}`), then applied: only `SUCCEEDED` books a payment on the claim through
`claims.record_payment` (source "bancontact", external id = paymentId, idempotent), which moves
the claim to paid or partially_paid. Other final statuses close the request; nothing else moves.
A SUCCEEDED payment whose paymentId we did not create (the long-lived invoice link printed on
letters and in mails) is booked by its `reference`, our OGM (`services.payments.book_by_reference`);
an unknown reference is kept in the inbox with the reason and booked on nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from urllib.parse import urlsplit

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.api.payloads import PaymentIn
from gateway.channels.base import CallbackEvent, CallbackRejected
from gateway.channels.payment.bancontact_client import BancontactClient, RemotePayment
from gateway.domain.transmission import DeliveryState
from gateway.errors import Conflict, GatewayError, NotFound, RetryableError, TerminalError
from gateway.kit.time import brussels_today, utc_now
from gateway.services.auth import Principal
from gateway.services import payments
from gateway.services.claims import record_payment
from gateway.store.models import Claim, CreditorEntity, Document, InboundEvent
from gateway.store.models.payment_request import PaymentRequest
from gateway.store.session import Database

SOURCE = "bancontact"
ISSUER = "Payconiq"
CLAIM_SUB = "https://payconiq.com/sub"
CLAIM_ISS = "https://payconiq.com/iss"
CLAIM_IAT = "https://payconiq.com/iat"
CLAIM_JTI = "https://payconiq.com/jti"
CLAIM_PATH = "https://payconiq.com/path"
KNOWN_CRIT = frozenset({CLAIM_SUB, CLAIM_ISS, CLAIM_IAT, CLAIM_JTI, CLAIM_PATH})
REQUIRED_CRIT = frozenset({CLAIM_ISS, CLAIM_IAT, CLAIM_JTI, CLAIM_PATH})  # `sub` may or may not be listed (1.6)

CALLBACK_WINDOW_SECONDS = 300  # iat further than 5 minutes from now (either side) is refused
JWKS_MAX_AGE_SECONDS = 12 * 3600  # "cache the JWKS at most 12 h" (1.6)
JWKS_MIN_REFETCH_SECONDS = 30  # an unknown kid triggers at most one fetch per 30 s (no fetch storm from forged kids)
CREATING_STALE_SECONDS = 60  # a `creating` row older than this (no answer recorded) is reconciled
MAX_CALLBACK_BYTES = 64 * 1024
MAX_DESCRIPTION_CHARS = 140  # Payment API v3 `description` limit
LIVE = ("creating", "pending")
FINAL_STATUSES = frozenset({"SUCCEEDED", "AUTHORIZATION_FAILED", "FAILED", "CANCELLED", "EXPIRED", "VOIDED"})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# -- keys ---------------------------------------------------------------------------------------


def jwk_public_key(jwk: dict) -> ec.EllipticCurvePublicKey | None:
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        return None
    x, y = (int.from_bytes(b64url_decode(jwk[name]), "big") for name in ("x", "y"))
    return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()


class JwksCache:
    """Keys by kid from a JWKS URL; refreshed after `max_age_seconds`, and on an unknown kid."""

    def __init__(self, fetch: Callable[[], dict], *, max_age_seconds: float = JWKS_MAX_AGE_SECONDS,
                 min_refetch_seconds: float = JWKS_MIN_REFETCH_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.fetch, self.max_age_seconds, self.min_refetch_seconds, self.clock = fetch, max_age_seconds, min_refetch_seconds, clock
        self.keys: dict[str, ec.EllipticCurvePublicKey] = {}
        self.fetched_at: float | None = None
        self.fetches = 0
        self.lock = threading.Lock()

    def _refresh(self) -> None:
        try:
            document = self.fetch()
        except (RetryableError, TerminalError, ValueError) as exc:
            raise CallbackRejected(f"the JWKS could not be fetched: {exc}") from exc
        keys = {}
        for jwk in document.get("keys", []):
            try:
                key = jwk_public_key(jwk)
            except (KeyError, ValueError):
                continue
            if key is not None and jwk.get("kid"):
                keys[jwk["kid"]] = key
        self.keys, self.fetched_at = keys, self.clock()
        self.fetches += 1

    def key(self, kid: str) -> ec.EllipticCurvePublicKey | None:
        with self.lock:
            now = self.clock()
            if self.fetched_at is None or now - self.fetched_at > self.max_age_seconds:
                self._refresh()
            elif kid not in self.keys and now - self.fetched_at >= self.min_refetch_seconds:
                self._refresh()
            return self.keys.get(kid)


# -- callbacks ----------------------------------------------------------------------------------


def event_state(status: str) -> DeliveryState:
    """Only used if a dispatch carried this payment id; booking reads the status itself."""
    return DeliveryState.PAID if status == "SUCCEEDED" else DeliveryState.SENT


class BancontactVerifier:
    source = SOURCE

    def __init__(self, *, payment_profile_id: str, callback_url: str, jwks: JwksCache, client: BancontactClient | None = None) -> None:
        self.client = client  # for `request_payment` by whoever holds the registry
        self.payment_profile_id = payment_profile_id
        self.callback_url = callback_url
        self.jwks = jwks
        self.seen_jti: dict[str, tuple[str, datetime]] = {}  # jti -> (body sha256, iat)
        self.lock = threading.Lock()

    def apply_stored(self, session: Session, stored: InboundEvent, *, now: datetime) -> str:
        """A payment callback is no dispatch report: the inbox worker hands it here to book it."""
        return apply_callback(session, self, stored, now=now)

    def verify_callback(self, headers: dict[str, str], body: bytes, now: datetime) -> list[CallbackEvent]:
        if not self.payment_profile_id:
            raise CallbackRejected("Bancontact callbacks are disabled (no payment profile id configured)")
        if len(body) > MAX_CALLBACK_BYTES:
            raise CallbackRejected("callback body too large")
        header_b64, header = self._header(headers.get("signature", ""))
        iat = self._check_claims(header, now)
        key = self.jwks.key(str(header["kid"]))
        if key is None:
            raise CallbackRejected(f"unknown key id {header['kid']!r}")
        signature = b64url_decode(headers["signature"].split(".")[2])
        if len(signature) == 64:  # raw r||s (JWS); some senders use DER (1.6 gotcha): accept both
            signature = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
        try:
            key.verify(signature, f"{header_b64}.{b64url(body)}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError) as exc:
            raise CallbackRejected("the signature does not verify over the raw body") from exc
        self._check_replay(str(header[CLAIM_JTI]), hashlib.sha256(body).hexdigest(), iat, now)
        try:
            return self.parse_callback(headers, body)
        except (ValueError, KeyError, TypeError) as exc:
            raise CallbackRejected(f"unreadable callback body: {exc}") from exc

    @staticmethod
    def _header(value: str) -> tuple[str, dict]:
        parts = value.split(".")
        if len(parts) != 3 or parts[1] != "" or not parts[0] or not parts[2]:
            raise CallbackRejected("Signature is not a compact JWS with detached content")
        try:
            header = json.loads(b64url_decode(parts[0]))
        except ValueError as exc:
            raise CallbackRejected("the JWS header is not base64url JSON") from exc
        if not isinstance(header, dict):
            raise CallbackRejected("the JWS header is not a JSON object")
        return parts[0], header

    def _check_claims(self, header: dict, now: datetime) -> datetime:
        if header.get("alg") != "ES256":
            raise CallbackRejected("alg must be ES256")
        if not header.get("kid"):
            raise CallbackRejected("kid is missing")
        crit = header.get("crit")
        if not isinstance(crit, list) or not all(isinstance(name, str) for name in crit):
            raise CallbackRejected("crit is missing")
        if unknown := sorted(set(crit) - KNOWN_CRIT):
            raise CallbackRejected(f"crit names parameters we do not understand: {unknown}")  # RFC 7515 section 4.1.11
        if missing := sorted(REQUIRED_CRIT - set(crit)):
            raise CallbackRejected(f"crit does not list {missing}")
        if absent := sorted(name for name in KNOWN_CRIT if not header.get(name)):
            raise CallbackRejected(f"header parameters missing: {absent}")
        if header[CLAIM_SUB] != self.payment_profile_id:
            raise CallbackRejected("sub is not our payment profile")
        if header[CLAIM_ISS] != ISSUER:
            raise CallbackRejected("iss is not Payconiq")
        if header[CLAIM_PATH] not in (self.callback_url, urlsplit(self.callback_url).path):
            raise CallbackRejected("path is not our callback URL")
        try:
            iat = datetime.fromisoformat(str(header[CLAIM_IAT]).replace("Z", "+00:00"))
        except ValueError as exc:
            raise CallbackRejected("iat is not an ISO-8601 timestamp") from exc
        if iat.tzinfo is None:
            raise CallbackRejected("iat has no time zone")
        if abs((now - iat).total_seconds()) > CALLBACK_WINDOW_SECONDS:
            raise CallbackRejected("iat outside the 5-minute window")
        return iat

    def _check_replay(self, jti: str, digest: str, iat: datetime, now: datetime) -> None:
        with self.lock:
            horizon = now - timedelta(seconds=2 * CALLBACK_WINDOW_SECONDS)
            for old in [j for j, (_, seen_iat) in self.seen_jti.items() if seen_iat < horizon]:
                del self.seen_jti[old]  # older than the window: refused on iat anyway
            seen = self.seen_jti.get(jti)
            if seen is not None and seen[0] != digest:
                raise CallbackRejected("jti already used for another body (replay)")
            self.seen_jti[jti] = (digest, iat)

    def parse_callback(self, headers: dict[str, str], body: bytes) -> list[CallbackEvent]:
        data = json.loads(body)
        payment_id, status = str(data["paymentId"]), str(data["status"])
        detail = {"status": status, "amount": int(data["amount"]), "currency": str(data.get("currency", "EUR")), "reference": str(data.get("reference") or "")}
        if data.get("succeededAt"):
            detail["succeeded_at"] = str(data["succeededAt"])
        return [CallbackEvent(external_id=f"{payment_id}:{status}", provider_message_id=payment_id, state=event_state(status), detail=detail)]


# -- the outbox ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PaymentLink:
    request_id: uuid.UUID
    payment_id: str
    amount: Decimal
    reference: str
    deeplink: str | None
    qrcode_url: str | None
    expires_at: datetime | None


def _link(row: PaymentRequest) -> PaymentLink:
    return PaymentLink(row.id, row.payment_id, row.amount, row.reference, row.deeplink, row.qrcode_url, row.expires_at)


def cents(amount: Decimal) -> int:
    return int((amount * 100).to_integral_exact())


class PaymentBeingCreated(Conflict):
    """Another worker or request is creating this claim's payment request right now: try again shortly."""


def request_payment(
    database: Database, client: BancontactClient, claim_id: uuid.UUID, *, callback_url: str, now: datetime | None = None,
    document_id: uuid.UUID | None = None,
) -> PaymentLink:
    """A live Bancontact payment for the claim's open amount: the existing one, or a new one (once).

    With `document_id` (an invoice or reminder, issue 5: one payment request per claim or
    reminder) the request is that document's: described by its number, and a live request made
    for another document is superseded. Without it (the personal page's "pay now", the stable
    pay link) any live request for the open amount will do."""
    now = now or utc_now()
    reconcile = False
    with database.session_scope() as session:
        query = select(Claim).where(Claim.id == claim_id)
        if session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        claim = session.scalar(query)
        if claim is None:
            raise NotFound(f"no claim {claim_id}")
        if claim.status not in ("open", "partially_paid"):
            raise Conflict(f"claim {claim.number} is {claim.status}: nothing to pay")
        row = session.scalar(select(PaymentRequest).where(PaymentRequest.active_claim_id == claim.id))
        if row is not None and row.state == "pending":
            same_document = document_id is None or row.document_id == document_id
            if same_document and row.amount == claim.amount_open and row.expires_at is not None and row.expires_at > now:
                return _link(row)
            # expired, the open amount changed, or a new reminder asks for its own request
            row.state, row.active_claim_id, row.updated_at = "superseded", None, now
            session.flush()
            row = None
        if row is not None:  # creating
            if row.last_error is None and row.updated_at > now - timedelta(seconds=CREATING_STALE_SECONDS):
                raise PaymentBeingCreated(f"a payment request for claim {claim.number} is being created")
            reconcile, row.updated_at = True, now
        else:
            creditor = session.get(CreditorEntity, claim.creditor_id)
            document = session.get(Document, document_id) if document_id is not None else None
            row = PaymentRequest(
                claim_id=claim.id, creditor_id=claim.creditor_id, document_id=document.id if document else None, active_claim_id=claim.id,
                provider=SOURCE, state="creating", amount=claim.amount_open, currency=claim.currency, reference=claim.structured_communication,
                description=f"{creditor.name} {document.number if document else claim.number}"[:MAX_DESCRIPTION_CHARS], updated_at=now, created_at=now,
            )
            session.add(row)
            try:
                session.flush()
            except IntegrityError as exc:  # a concurrent request inserted the live row first
                raise PaymentBeingCreated(f"a payment request for claim {claim.number} is being created") from exc
        request_id, amount, currency, reference, description = row.id, row.amount, row.currency, row.reference, row.description
    try:
        remote = _reconciled(client, reference, amount) if reconcile else None
        if remote is None:
            remote = client.create_payment(amount_cents=cents(amount), currency=currency, reference=reference, description=description, callback_url=callback_url)
    except RetryableError as error:
        _record_error(database, request_id, error, final=False)
        raise
    except TerminalError as error:
        _record_error(database, request_id, error, final=True)
        raise
    with database.session_scope() as session:
        row = session.get(PaymentRequest, request_id)
        row.state, row.payment_id, row.provider_status = "pending", remote.payment_id, remote.status
        row.deeplink, row.qrcode_url, row.expires_at, row.last_error, row.updated_at = remote.deeplink, remote.qrcode_url, remote.expires_at, None, utc_now()
        return _link(row)


def _reconciled(client: BancontactClient, reference: str, amount: Decimal) -> RemotePayment | None:
    """The payment an unanswered creation did make, found by reference (1.4 search)."""
    found = client.search(reference=reference, statuses=["PENDING", "IDENTIFIED", "AUTHORIZED", "SUCCEEDED"])
    return next((payment for payment in found if payment.amount_cents == cents(amount)), None)


def _record_error(database: Database, request_id: uuid.UUID, error: Exception, *, final: bool) -> None:
    with database.session_scope() as session:
        row = session.get(PaymentRequest, request_id)
        row.last_error, row.updated_at = f"{type(error).__name__}: {error}"[:2000], utc_now()
        if final:
            row.state, row.active_claim_id = "failed", None


# -- applying stored callbacks ------------------------------------------------------------------


def _principal(claim: Claim) -> Principal:
    return Principal(key_id=uuid.UUID(int=0), creditor_id=claim.creditor_id, visible_creditor_ids=frozenset({claim.creditor_id}), actor=SOURCE)


def apply_callback(session: Session, verifier: BancontactVerifier, stored: InboundEvent, *, now: datetime) -> str:
    """Apply one stored (verified) callback; returns what happened. Sets `handled_at` once."""
    stored.handled_at, stored.error = now, None
    events = [event for event in verifier.parse_callback(stored.headers, stored.body) if event.external_id == stored.external_id]
    if not events:
        stored.error = "event not found in the stored body"
        return "unreadable"
    event = events[0]
    status = event.detail["status"]
    row = session.scalar(select(PaymentRequest).where(PaymentRequest.payment_id == event.provider_message_id))
    if row is None:
        # Not one of our requests: a payment through the long-lived invoice link on a letter or in a
        # mail (bancontact_link.py, channels-and-law.md 1.7), which carries our OGM as its reference.
        return _book_by_reference(session, stored, event, now=now)
    if row.provider_status not in FINAL_STATUSES:  # callbacks come out of order: a final status sticks
        row.provider_status, row.updated_at = status, now
    if status != "SUCCEEDED":
        if status in FINAL_STATUSES and row.state in LIVE:
            row.state, row.active_claim_id, row.updated_at = status.lower(), None, now
        return "status"
    claim = session.get(Claim, row.claim_id)
    row.state, row.active_claim_id, row.updated_at = "succeeded", None, now
    paid_on = _paid_on(event, now)
    amount = (Decimal(event.detail["amount"]) / 100).quantize(Decimal("0.01"))
    payment = PaymentIn(amount=amount, paid_on=paid_on, source=SOURCE, external_id=event.provider_message_id, reference=row.reference)
    try:
        with session.begin_nested():
            _, _, created = record_payment(session, _principal(claim), claim.id, payment, now=now)
    except GatewayError as error:  # e.g. more than the open amount: paid twice, needs a refund by hand
        stored.error = row.last_error = f"payment not booked: {error.message}"
        return "refused"
    return "booked" if created else "already_booked"


def _paid_on(event: CallbackEvent, now: datetime):
    succeeded = event.detail.get("succeeded_at")
    return brussels_today(datetime.fromisoformat(succeeded.replace("Z", "+00:00"))) if succeeded else brussels_today(now)


def _book_by_reference(session: Session, stored: InboundEvent, event: CallbackEvent, *, now: datetime) -> str:
    """A SUCCEEDED payment we did not create, booked on the claim whose OGM is its reference
    (`payments.book_by_reference`); any other status of such a payment changes nothing. An unknown
    reference is kept in the inbox with the reason (`error`), booked on nothing."""
    if event.detail["status"] != "SUCCEEDED":
        stored.error = f"unknown payment id {event.provider_message_id} ({event.detail['status']}): nothing to do"
        return "unknown_payment"
    amount = (Decimal(event.detail["amount"]) / 100).quantize(Decimal("0.01"))
    outcome = payments.book_by_reference(
        session, reference=event.detail.get("reference") or "", amount=amount, paid_on=_paid_on(event, now), source=SOURCE,
        external_id=event.provider_message_id, actor=SOURCE, now=now,
    )
    if outcome.status not in ("booked", "already_booked"):
        stored.error = f"payment {event.provider_message_id} not booked: {outcome.reason}"
    return outcome.status if outcome.status == "unknown_reference" else f"{outcome.status}_by_reference"


def apply_pending(session: Session, verifier: BancontactVerifier, *, now: datetime) -> list[str]:
    """Apply the stored Bancontact callbacks not applied yet, oldest first.

    The inbox worker applies each event as it arrives (`BancontactVerifier.apply_stored`); this
    catches up on events stored but not applied, e.g. after a restore, and on events an older
    worker marked "no dispatch with provider message id ..." (a payment is not a dispatch).
    """
    pending = session.scalars(
        select(InboundEvent)
        .where(InboundEvent.source == SOURCE, or_(InboundEvent.handled_at.is_(None), InboundEvent.error.like("no dispatch with provider message id%")))
        .order_by(InboundEvent.received_at, InboundEvent.created_at)
    ).all()
    return [apply_callback(session, verifier, stored, now=now) for stored in pending]
