"""Dispatch orchestration: queue, transmit (claim the row, commit, call out), record outcomes.

One row per (document, channel, recipient) in `dispatch`, one row per try in
`dispatch_attempt`. `transmit` runs in three short transactions so that no database
transaction is ever open while a provider is being called:

1. claim: lock the dispatch, move it to `in_flight`, add the attempt row, commit;
2. call the provider outside any transaction, with the dispatch's stable idempotency key;
3. record: finish the attempt, move the dispatch by the outcome, queue what follows, commit.

A crash between 1 and 3 leaves the dispatch `in_flight`; `requeue_stale` puts it back to
`queued` and the next try reuses the same idempotency key, so the provider sees a repeat, not
a second message.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.channels.base import SendRequest, SendResult
from gateway.channels.registry import ProviderRegistry
from gateway.config import Settings
from gateway.domain.claim import Channel
from gateway.domain.transmission import DeliveryState as D
from gateway.domain.transmission import apply_report, transition
from gateway.channels.payment.bancontact_link import invoice_link
from gateway.errors import InvalidContact, RetryableError, TerminalError
from gateway.kit.backoff import backoff_delay
from gateway.kit.time import brussels_today, utc_now
from gateway.letters import render
from gateway.services import letters, payments
from gateway.services.consumer_page import personal_url_for
from gateway.store.models import Claim, ClaimLine, CreditorEntity, Debtor, Dispatch, DispatchAttempt, Document
from gateway.store.session import Database
from gateway.workers import queue

TRANSMIT = "dispatch.transmit"
FAILED = "dispatch.failed"
RESPONSE_EXCERPT_CHARS = 2000
PDF_CHANNELS = frozenset({Channel.EMAIL.value, Channel.PAPER.value, Channel.REGISTERED_PAPER.value})  # enough to diagnose a provider error, small enough to keep every attempt
SENDABLE = frozenset({D.QUEUED.value, D.FAILED_TEMPORARY.value})  # the states a transmit job may send from
REASON_IS_ERROR = frozenset({D.FAILED_TEMPORARY, D.FAILED_PERMANENT, D.REJECTED})  # reports whose reason becomes dispatch.last_error


def idempotency_key(document_id: uuid.UUID, channel: str, recipient: str) -> str:
    return hashlib.sha256(f"{document_id}|{channel}|{recipient}".encode()).hexdigest()


def queue_dispatch(session: Session, *, document_id: uuid.UUID, claim_id: uuid.UUID, channel: str, recipient: str, reason: str, now: datetime) -> Dispatch:
    dispatch = Dispatch(
        document_id=document_id, claim_id=claim_id, channel=channel, recipient=recipient,
        state=D.QUEUED.value, idempotency_key=idempotency_key(document_id, channel, recipient), routing_reason=reason,
        created_at=now, updated_at=now,
    )
    session.add(dispatch)
    session.flush()
    _enqueue_transmit(session, dispatch, now=now)
    return dispatch


def _enqueue_transmit(session: Session, dispatch: Dispatch, *, now: datetime, run_after: datetime | None = None) -> None:
    # One job per try: the dedup key carries the attempt number the job is for.
    queue.enqueue(session, TRANSMIT, {"dispatch_id": str(dispatch.id)}, now=now, run_after=run_after, dedup_key=f"{TRANSMIT}:{dispatch.id}:{dispatch.attempt_count + 1}")


def _lock(session: Session, dispatch_id: uuid.UUID) -> Dispatch | None:
    # populate_existing: a copy loaded earlier in this session (transmit's get) must be refreshed
    # from the locked row, or a second worker sees the state from before the first one's claim.
    query = select(Dispatch).where(Dispatch.id == dispatch_id).execution_options(populate_existing=True)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query)


def claim_for_send(session: Session, dispatch_id: uuid.UUID, *, provider: str, now: datetime, settings: Settings | None = None) -> SendRequest | None:
    """Step 1: move a sendable dispatch to in_flight and describe the call; None if not sendable.

    With `settings`, the message carries the debtor's personal link (fresh for this attempt) as
    its payment link: the page offers Bancontact and the EPC QR for what is open at that moment."""
    dispatch = _lock(session, dispatch_id)
    if dispatch is None or dispatch.state not in SENDABLE:
        return None
    dispatch.state = transition(dispatch.state, D.IN_FLIGHT).value
    dispatch.attempt_count += 1
    dispatch.provider = provider
    dispatch.updated_at = now
    session.add(DispatchAttempt(dispatch_id=dispatch.id, number=dispatch.attempt_count, started_at=now, provider=provider, created_at=now))
    document = session.get(Document, dispatch.document_id)
    creditor = session.get(CreditorEntity, document.creditor_id)
    claim = session.get(Claim, dispatch.claim_id)
    debtor = session.get(Debtor, claim.debtor_id)
    meta = document.meta or {}
    # A reminder asks for payment by its own new date; an invoice by the claim's due date.
    due_date = meta.get("due_date") or meta.get("new_due_date") or claim.due_date.isoformat()
    link = personal_url_for(settings, debtor.id, claim.creditor_id, now) if settings and debtor.kind == "consumer" else None
    bancontact_url = bancontact_qr_url = None
    if settings and debtor.kind == "consumer" and document.kind in ("invoice", "reminder") and claim.amount_open > 0:
        # Its payment request's stable link (leads to a live Bancontact payment whenever it is followed)
        # and the long-lived invoice link the Bancontact app scans as a QR (booked by its OGM reference).
        bancontact_url = payments.pay_url_for(settings, document.id)
        bancontact_qr_url = invoice_link(
            settings.bancontact_payment_profile_id, amount=claim.amount_open, reference=claim.structured_communication,
            description=f"{creditor.name} {document.number}",
        )
    content, media_type, pdf = document.content, document.media_type, None
    if dispatch.channel in PDF_CHANNELS and media_type != letters.PDF:
        # A UBL document on paper is printed as its letter; by e-mail the letter goes beside the UBL.
        pdf = letters.pdf_rendition(session, document, registered=dispatch.channel == Channel.REGISTERED_PAPER.value)
        if pdf is not None and dispatch.channel != Channel.EMAIL.value:
            content, media_type, pdf = pdf, letters.PDF, None
    if dispatch.channel in (Channel.PAPER.value, Channel.REGISTERED_PAPER.value) and media_type == letters.PDF:
        # a contact-repair note for a debtor with no other contact is printed after the letter, in one envelope
        content = render.with_enclosures(content, letters.enclosures_for(session, dispatch.id, claim.id))
    return SendRequest(
        dispatch_id=dispatch.id, idempotency_key=dispatch.idempotency_key, channel=dispatch.channel, recipient=dispatch.recipient,
        document_number=document.number, document_media_type=media_type, document=content,
        language=debtor.language, sender_name=creditor.name, sender_email=creditor.sender_email,
        extra={
            "attempt": dispatch.attempt_count,
            # What a message states beside the document (e-mail, SMS, eBox): strings, so any provider can log them.
            "document_kind": document.kind, "amount": str(claim.amount_open), "currency": claim.currency,
            "due_date": due_date, "ogm": claim.structured_communication, "claim_number": claim.number, "payment_url": link,
            "debtor_name": debtor.name, "creditor_iban": creditor.iban, "creditor_logo_url": creditor.logo_url,
            "creditor_colour": creditor.primary_colour, "pdf": pdf,
            # A reminder's legal content beside the letter (Book XIX first reminder: enterprise number,
            # the invoice it is about with its description and due date, the fees that will follow).
            "creditor_enterprise_number": creditor.enterprise_number, "issue_date": brussels_today(document.issued_at).isoformat(),
            "reminder_step": meta.get("step"), "fees_to_follow": meta.get("fees_to_follow") or [],
            "fee": meta.get("fee"), "interest": meta.get("interest"), "fee_ogm": meta.get("fee_structured_communication"),
            "creditor_logo": creditor.logo, "creditor_logo_media_type": creditor.logo_media_type,  # the letters' logo, inline in e-mails
            "bancontact_url": bancontact_url, "bancontact_qr_url": bancontact_qr_url,
            "invoice_number": meta.get("references"), "invoice_due_date": claim.due_date.isoformat(), "description": _description(session, claim),
        },
    )


def _description(session: Session, claim: Claim) -> str:
    """What the claim is for, in a few words: its first line (and how many more)."""
    lines = session.scalars(select(ClaimLine.description).where(ClaimLine.claim_id == claim.id).order_by(ClaimLine.position)).all()
    if not lines:
        return claim.number
    return lines[0] if len(lines) == 1 else f"{lines[0]} (+{len(lines) - 1})"


def record_success(session: Session, dispatch_id: uuid.UUID, result: SendResult, *, duration_ms: int, now: datetime) -> None:
    dispatch, attempt = _current(session, dispatch_id)
    if dispatch.state != D.IN_FLIGHT.value:
        return  # this try's lease expired: the sweeper took it back and a later try owns the dispatch (same key)
    dispatch.state = transition(dispatch.state, result.state).value
    dispatch.provider_message_id = result.provider_message_id
    dispatch.last_error = None
    dispatch.updated_at = now
    _finish(attempt, outcome=result.state.value, now=now, duration_ms=duration_ms, status_code=result.status_code, excerpt=result.response_excerpt, request_id=result.provider_message_id)


def record_failure(session: Session, dispatch_id: uuid.UUID, error: Exception, *, settings: Settings, duration_ms: int, now: datetime) -> None:
    dispatch, attempt = _current(session, dispatch_id)
    if dispatch.state != D.IN_FLIGHT.value:
        return  # this try's lease expired: the sweeper took it back and a later try owns the dispatch (same key)
    retryable = isinstance(error, RetryableError) and dispatch.attempt_count < settings.max_attempts
    target = D.FAILED_TEMPORARY if retryable else D.FAILED_PERMANENT
    dispatch.state = transition(dispatch.state, target).value
    dispatch.last_error = f"{type(error).__name__}: {error}"[:RESPONSE_EXCERPT_CHARS]
    dispatch.updated_at = now
    _finish(attempt, outcome=target.value, now=now, duration_ms=duration_ms, error_class=type(error).__name__, excerpt=str(error))
    if retryable:
        dispatch.next_attempt_at = now + backoff_delay(settings.retry_base_seconds, dispatch.attempt_count)
        _enqueue_transmit(session, dispatch, now=now, run_after=dispatch.next_attempt_at)
    else:
        _enqueue_failed(session, dispatch, contact_at_fault=isinstance(error, InvalidContact), now=now)


def _enqueue_failed(session: Session, dispatch: Dispatch, *, contact_at_fault: bool, now: datetime) -> None:
    """Hand a permanently failed dispatch to the router (`dispatch.failed`, gateway/workers/tasks.py).

    `contact_at_fault` says whether the debtor's contact itself is wrong (an `InvalidContact` on
    sending, a report with `contact_invalid`: hard bounce, SMS UNDELIV); only then is the contact
    marked invalid. A job without the key (queued before it existed) blames nobody."""
    payload = {"dispatch_id": str(dispatch.id), "contact_at_fault": contact_at_fault}
    queue.enqueue(session, FAILED, payload, now=now, dedup_key=f"{FAILED}:{dispatch.id}")


def _current(session: Session, dispatch_id: uuid.UUID) -> tuple[Dispatch, DispatchAttempt]:
    dispatch = _lock(session, dispatch_id)
    attempt = session.scalar(select(DispatchAttempt).where(DispatchAttempt.dispatch_id == dispatch_id, DispatchAttempt.number == dispatch.attempt_count))
    return dispatch, attempt


def _finish(attempt: DispatchAttempt, *, outcome: str, now: datetime, duration_ms: int, status_code: int | None = None, excerpt: str | None = None, error_class: str | None = None, request_id: str | None = None) -> None:
    attempt.finished_at, attempt.outcome, attempt.duration_ms = now, outcome, duration_ms
    attempt.status_code, attempt.error_class, attempt.request_id = status_code, error_class, request_id
    attempt.response_excerpt = excerpt[:RESPONSE_EXCERPT_CHARS] if excerpt else None


def transmit(database: Database, providers: ProviderRegistry, settings: Settings, dispatch_id: uuid.UUID) -> str:
    """Send one dispatch once; returns what happened (for logs and tests)."""
    with database.session_scope() as session:
        dispatch = session.get(Dispatch, dispatch_id)
        if dispatch is None:
            return "missing"
        if dispatch.state not in SENDABLE:
            # A retry queued before a later report ended the dispatch (a soft bounce, then the hard
            # one): nothing to do, and nothing to write over the error that ended it.
            return "not_sendable"
        provider = providers.for_channel(dispatch.channel)
        if provider is None:
            # Not an attempt: the dispatch waits, queued, until a provider is configured.
            dispatch.last_error = f"no provider configured for channel {dispatch.channel}"
            return "no_provider"
        request = claim_for_send(session, dispatch_id, provider=provider.name, now=utc_now(), settings=settings)
    if request is None:
        return "not_sendable"
    started = time.monotonic()
    try:
        result = provider.send(request)
    except (RetryableError, TerminalError) as error:
        outcome: SendResult | Exception = error
    except Exception as error:  # noqa: BLE001 - a provider bug must end this attempt, recorded, not crash the worker
        outcome = TerminalError(f"provider error {type(error).__name__}: {error}")
    else:
        outcome = result
    duration_ms = int((time.monotonic() - started) * 1000)
    with database.session_scope() as session:
        if isinstance(outcome, SendResult):
            record_success(session, dispatch_id, outcome, duration_ms=duration_ms, now=utc_now())
            return outcome.state.value
        record_failure(session, dispatch_id, outcome, settings=settings, duration_ms=duration_ms, now=utc_now())
        return "failed"


def apply_provider_report(session: Session, provider_message_id: str, reported: D, *, detail: dict, now: datetime, max_attempts: int) -> Dispatch | None:
    """Apply a callback to its dispatch; stale or repeated reports change nothing.

    A temporary failure reported after sending (a soft bounce, an expired SMS) is sent again,
    but only while the dispatch has attempts left: the same limit as for send failures.
    """
    query = select(Dispatch).where(Dispatch.provider_message_id == provider_message_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    dispatch = session.scalar(query)
    if dispatch is None:
        return None
    if reported is D.FAILED_TEMPORARY and dispatch.attempt_count >= max_attempts:
        reported = D.FAILED_PERMANENT
    new_state, changed = apply_report(dispatch.state, reported)
    if changed:
        dispatch.state = new_state.value
        dispatch.updated_at = now
        # The reason is the dispatch's error only for a failure or a rejection; a buyer's query or
        # condition on a delivered document (UQ, CA) is kept on the hold and the reported event. So
        # the error does not depend on which of several reports happened to move the state.
        if detail.get("reason") and new_state in REASON_IS_ERROR:
            dispatch.last_error = str(detail["reason"])[:RESPONSE_EXCERPT_CHARS]
        if new_state is D.FAILED_PERMANENT:
            # The report says whether the contact is to blame (a soft failure out of attempts never is).
            _enqueue_failed(session, dispatch, contact_at_fault=bool(detail.get("contact_invalid")), now=now)
        elif new_state is D.FAILED_TEMPORARY:
            _enqueue_transmit(session, dispatch, now=now, run_after=now + timedelta(seconds=60))
    return dispatch


def requeue_stale(session: Session, *, now: datetime, stale_after: timedelta) -> int:
    """Put dispatches left in flight by a dead worker back in the queue (same idempotency key)."""
    stale = session.scalars(select(Dispatch).where(Dispatch.state == D.IN_FLIGHT.value, Dispatch.updated_at < now - stale_after)).all()
    for dispatch in stale:
        dispatch.state = transition(dispatch.state, D.QUEUED).value
        dispatch.updated_at = now
        attempt = session.scalar(select(DispatchAttempt).where(DispatchAttempt.dispatch_id == dispatch.id, DispatchAttempt.number == dispatch.attempt_count))
        if attempt is not None and attempt.finished_at is None:
            attempt.finished_at, attempt.outcome = now, "abandoned"
        _enqueue_transmit(session, dispatch, now=now)
    return len(stale)
