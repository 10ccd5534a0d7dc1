"""Signed webhooks to accounting software: one delivery per (event, endpoint), one attempt row per try.

The body is the event's JSON (`event_view`, the same shape as the pull feed). Signature: hex HMAC-SHA256 with the endpoint's
secret over `timestamp + "." + body`, sent as `X-Gateway-Signature`, with the Unix timestamp in
`X-Gateway-Timestamp`; receivers should refuse timestamps far from their clock. Delivery
follows rule 5: claim the row, commit, POST outside the transaction, record the outcome.
2xx is delivered; 5xx, 429, timeouts and connection errors are retried with exponential backoff
(`retry_base_seconds` × 2^(n-1) after the n-th failed try) until `settings.max_attempts`; any other
status fails the delivery at once. A delivery whose endpoint was disabled or removed before its try
is `cancelled` without a request (endpoint management: `gateway.services.webhook_endpoints`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from gateway.config import Settings
from gateway.errors import RetryableError, TerminalError
from gateway.kit.backoff import backoff_delay
from gateway.kit.ids import new_id
from gateway.kit.time import utc_now
from gateway.store.models import Event, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from gateway.store.session import Database
from gateway.workers import queue

DELIVER = "webhook.deliver"
TIMEOUT_SECONDS = 10  # a receiver that needs longer should answer 2xx first and work afterwards
RESPONSE_EXCERPT_CHARS = 2000  # enough to diagnose a receiver error, small enough to keep every attempt


def event_view(event: Event) -> dict:
    """The JSON shape of an event, in the pull feed and in a webhook body."""
    return {
        "id": str(event.id), "type": event.type, "creditor_id": str(event.creditor_id),
        "claim_id": str(event.claim_id) if event.claim_id else None, "created_at": event.created_at.isoformat(), "data": event.data,
    }


def sign(secret: str, timestamp: str, body: bytes) -> str:
    return hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def _enqueue(session: Session, delivery_id: uuid.UUID, attempt: int, *, now: datetime, run_after: datetime | None = None) -> None:
    # One job per try: the dedup key carries the attempt number the job is for.
    queue.enqueue(session, DELIVER, {"delivery_id": str(delivery_id)}, now=now, run_after=run_after, dedup_key=f"{DELIVER}:{delivery_id}:{attempt}")


def fan_out(session: Session, *, event_id: int, creditor_id: uuid.UUID, now: datetime) -> int:
    """One delivery (and its first job) per active endpoint of the event's creditor."""
    endpoint_ids = session.scalars(select(WebhookEndpoint.id).where(WebhookEndpoint.creditor_id == creditor_id, WebhookEndpoint.active.is_(True))).all()
    rows = [{"id": new_id(), "event_id": event_id, "endpoint_id": endpoint_id, "state": "pending", "attempt_count": 0, "created_at": now, "updated_at": now} for endpoint_id in endpoint_ids]
    if rows:
        session.execute(insert(WebhookDelivery), rows)
        for row in rows:
            _enqueue(session, row["id"], 1, now=now)
    return len(rows)


@dataclass(frozen=True)
class Request:
    url: str
    body: bytes
    headers: dict[str, str]


def _lock(session: Session, delivery_id: uuid.UUID) -> WebhookDelivery | None:
    query = select(WebhookDelivery).where(WebhookDelivery.id == delivery_id)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    return session.scalar(query)


def claim(session: Session, delivery_id: uuid.UUID, *, now: datetime, stale_after: timedelta) -> Request | None:
    """Step 1: mark the delivery in flight with a new attempt row; None if there is nothing to send.

    An in-flight delivery older than `stale_after` was left by a dead worker: its attempt is
    closed as abandoned and the delivery is tried again.
    """
    delivery = _lock(session, delivery_id)
    if delivery is None:
        return None
    if delivery.state == "in_flight" and delivery.updated_at is not None and delivery.updated_at < now - stale_after:
        abandoned = _attempt(session, delivery)
        if abandoned is not None and abandoned.outcome is None:
            abandoned.outcome, abandoned.finished_at = "abandoned", now
    elif delivery.state not in ("pending", "retrying"):
        return None
    endpoint = session.get(WebhookEndpoint, delivery.endpoint_id)
    if not endpoint.active:
        # Disabled or removed since this delivery was queued: nothing more goes to it.
        reason = "endpoint removed" if endpoint.removed_at is not None else "endpoint disabled"
        delivery.state, delivery.updated_at, delivery.next_attempt_at, delivery.last_error = "cancelled", now, None, reason
        return None
    event = session.get(Event, delivery.event_id)
    delivery.state, delivery.updated_at = "in_flight", now
    delivery.attempt_count += 1
    session.add(WebhookAttempt(delivery_id=delivery.id, number=delivery.attempt_count, started_at=now, created_at=now))
    body = json.dumps(event_view(event), separators=(",", ":"), sort_keys=True).encode()
    timestamp = str(int(now.timestamp()))
    headers = {
        "Content-Type": "application/json", "User-Agent": "gateway-webhooks",
        "X-Gateway-Event": event.type, "X-Gateway-Event-Id": str(event.id), "X-Gateway-Delivery": str(delivery.id),
        "X-Gateway-Timestamp": timestamp, "X-Gateway-Signature": sign(endpoint.secret, timestamp, body),
    }
    return Request(endpoint.url, body, headers)


def _attempt(session: Session, delivery: WebhookDelivery) -> WebhookAttempt | None:
    return session.scalar(select(WebhookAttempt).where(WebhookAttempt.delivery_id == delivery.id, WebhookAttempt.number == delivery.attempt_count))


def post(request: Request) -> int:
    """The HTTP edge: returns the 2xx status, or raises RetryableError / TerminalError."""
    try:
        response = requests.post(request.url, data=request.body, headers=request.headers, timeout=TIMEOUT_SECONDS, allow_redirects=False)
    except (requests.Timeout, requests.ConnectionError) as error:
        raise RetryableError(f"{type(error).__name__}: {error}") from error
    if 200 <= response.status_code < 300:
        return response.status_code
    error_class = RetryableError if response.status_code >= 500 or response.status_code == 429 else TerminalError
    error = error_class(f"HTTP {response.status_code}: {response.text[:RESPONSE_EXCERPT_CHARS]}")
    error.status_code = response.status_code
    raise error


def record(session: Session, delivery_id: uuid.UUID, outcome: int | Exception, *, settings: Settings, duration_ms: int, now: datetime) -> str:
    """Step 3: close the attempt; retry with backoff, deliver, or fail."""
    delivery = _lock(session, delivery_id)
    attempt = _attempt(session, delivery)
    attempt.finished_at, attempt.duration_ms = now, duration_ms
    delivery.updated_at = now
    if isinstance(outcome, int):
        delivery.state, delivery.last_error, delivery.next_attempt_at = "delivered", None, None
        attempt.outcome, attempt.status_code = "delivered", outcome
        return "delivered"
    attempt.status_code = getattr(outcome, "status_code", None)
    attempt.error_class = type(outcome).__name__
    attempt.response_excerpt = str(outcome)[:RESPONSE_EXCERPT_CHARS]
    delivery.last_error = f"{type(outcome).__name__}: {outcome}"[:RESPONSE_EXCERPT_CHARS]
    if isinstance(outcome, RetryableError) and delivery.attempt_count < settings.max_attempts:
        delivery.state = attempt.outcome = "retrying"
        delivery.next_attempt_at = now + backoff_delay(settings.retry_base_seconds, delivery.attempt_count)
        _enqueue(session, delivery.id, delivery.attempt_count + 1, now=now, run_after=delivery.next_attempt_at)
        return "retrying"
    delivery.state = attempt.outcome = "failed"
    delivery.next_attempt_at = None
    return "failed"


def deliver(database: Database, settings: Settings, delivery_id: uuid.UUID) -> str:
    """Send one delivery once; returns what happened (for logs and tests)."""
    with database.session_scope() as session:
        request = claim(session, delivery_id, now=utc_now(), stale_after=timedelta(seconds=settings.worker_stale_after_seconds))
    if request is None:
        return "not_deliverable"
    started = time.monotonic()
    try:
        outcome: int | Exception = post(request)
    except (RetryableError, TerminalError) as error:
        outcome = error
    duration_ms = int((time.monotonic() - started) * 1000)
    with database.session_scope() as session:
        return record(session, delivery_id, outcome, settings=settings, duration_ms=duration_ms, now=utc_now())
