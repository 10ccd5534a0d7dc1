"""The channel contract: what a provider must do, and what the gateway does around it.

A *channel* is a way to reach a debtor (peppol, email, sms, ebox, paper, registered_paper); a
*provider* is one implementation of a channel (an access point, an SMTP relay, an SMS gateway,
a sandbox). The delivery service (`gateway.delivery.service`) owns the dispatch row; providers
never touch the database.

`ChannelProvider.send(request)`:

- On entry the dispatch is `in_flight` and that state is committed: a crash during the call
  leaves it `in_flight`, and the sweeper puts it back to `queued` after the stale timeout, so the
  same request is sent again later.
- `request.idempotency_key` is stable for the dispatch across every attempt. A provider MUST
  pass it to the remote service (header, message id, client reference) so that a retry after a
  crash is recognised there and never becomes a second message.
- Return `SendResult` when the remote side accepted the message: `state` is `sent` (accepted,
  delivery reported later by callback) or `delivered` (a synchronous channel that knows).
- Raise `RetryableError` for timeouts, connection errors, 5xx and 429: the dispatch becomes
  `failed_temporary` and is retried with exponential backoff, up to the attempt limit.
- Raise `TerminalError` for anything that will not get better by retrying (4xx, recipient
  unknown, document refused): the dispatch becomes `failed_permanent` and the router tries the
  next channel.
- Every call gets an explicit timeout; nothing else escapes (a bug is recorded as terminal).

Providers with callbacks (`CallbackVerifier`, named by `source`):

- `verify_callback(headers, body, now)` checks the signature on the raw body and the timestamp
  window and returns the `CallbackEvent`s the body carries, or raises `CallbackRejected`. The
  route stores the raw body once per event (unique on source + external id) before anything
  acts on it, and answers 2xx.
- `parse_callback(headers, body)` returns the same events without verifying; the worker that
  applies a stored (already verified) event calls it and applies the event to its dispatch.
- A verifier whose callbacks are not dispatch reports (Bancontact payments) defines
  `apply_stored(session, stored_event, now=)` instead; the worker hands the stored event to it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Protocol

from gateway.domain.transmission import DeliveryState


@dataclass(frozen=True)
class SendRequest:
    dispatch_id: uuid.UUID
    idempotency_key: str
    channel: str
    recipient: str
    document_number: str
    document_media_type: str
    document: bytes
    language: str = "nl"
    sender_name: str = ""
    sender_email: str | None = None
    extra: dict = field(default_factory=dict)  # channel-specific values (amount, OGM, payment link, ...)


@dataclass(frozen=True)
class SendResult:
    state: DeliveryState  # sent or delivered
    provider_message_id: str | None = None
    status_code: int | None = None
    response_excerpt: str | None = None


@dataclass(frozen=True)
class CallbackEvent:
    """One provider report, stored once in the inbox under (source, external_id)."""

    external_id: str  # unique per source: the provider's event id, or message id + status
    provider_message_id: str
    state: DeliveryState
    detail: dict = field(default_factory=dict)


class CallbackRejected(Exception):
    """A callback whose signature, timestamp or body does not verify; nothing is stored."""


class ChannelProvider(Protocol):
    name: str
    channel: str

    def send(self, request: SendRequest) -> SendResult: ...


class CallbackVerifier(Protocol):
    source: str

    def verify_callback(self, headers: dict[str, str], body: bytes, now: datetime) -> list[CallbackEvent]: ...

    def parse_callback(self, headers: dict[str, str], body: bytes) -> list[CallbackEvent]: ...
