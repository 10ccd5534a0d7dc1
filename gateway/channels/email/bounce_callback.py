"""`BounceVerifier`: bounces as provider callbacks (source `email/bounce`).

Both entrances use it: `POST /v1/callbacks/email/bounce` with the raw RFC 822 message as body
(an MTA pipe or a relay's webhook), and the SMTP receiver (bounce_receiver.py).

Authenticity: a bounce has no signature header; what authenticates it is the HMAC-signed VERP
token in the address it was sent to (`bounces+<dispatch id>.<mac>@<bounce domain>`, verp.py),
found by `parse_bounce` in Delivered-To / X-Original-To / To or the returned original's
Return-Path. A message without a token, or whose token does not verify, is refused
(`CallbackRejected`, nothing stored): a forged bounce must never invalidate a debtor's address.
When the bounce also quotes the original Message-ID on our message domain, it must name the
same dispatch.

Events (one per bounce, on the provider message id `<dispatch id@message domain>`):

- a hard failure of any recipient -> `failed_permanent` with `contact_invalid` (the router marks
  the address bounced, asks for a repair and tries the next channel);
- otherwise a failure (`Action: failed`, soft: mailbox full, policy, 4.x.x) -> `failed_temporary`
  (the delivery service sends again later);
- `Action: delayed` only, auto-replies and other non-bounces -> no event: the relay is still
  trying (RFC 3464 section 2.3.3: delayed is a warning), or nothing failed.

external_id: `<dispatch id>:<state>:<the bounce's own Message-ID, or the body's SHA-256>`, so
the same bounce delivered twice is stored once.
"""

from __future__ import annotations

import email
import email.policy
import hashlib
from collections.abc import Sequence
from datetime import datetime

from gateway.channels.base import CallbackEvent, CallbackRejected
from gateway.channels.email.bounce import BounceParseError, BounceReport, FailureKind, parse_bounce
from gateway.channels.email.verp import verify_token
from gateway.domain.transmission import DeliveryState

SOURCE = "email/bounce"


class BounceVerifier:
    source = SOURCE

    def __init__(self, *, secrets: Sequence[bytes], message_domain: str) -> None:
        if not secrets:
            raise ValueError("a bounce verifier needs at least one VERP secret")
        self.secrets = tuple(secrets)
        self.message_domain = message_domain.lower()

    def verify_callback(self, headers: dict[str, str], body: bytes, now: datetime) -> list[CallbackEvent]:
        return self._events(body)

    def parse_callback(self, headers: dict[str, str], body: bytes) -> list[CallbackEvent]:
        # The stored body was verified on the way in; checking the MAC again costs microseconds.
        return self._events(body)

    def _events(self, body: bytes) -> list[CallbackEvent]:
        try:
            report = parse_bounce(body)
        except BounceParseError as exc:
            raise CallbackRejected(f"not a readable message ({exc.rule}): {exc.message}") from exc
        dispatch_id = self._dispatch_id(report)
        failed = [r for r in report.recipients if r.action != "delayed"]
        if not report.is_bounce or (report.recipients and not failed):
            return []
        hard = [r for r in failed if r.kind is FailureKind.HARD]
        state = DeliveryState.FAILED_PERMANENT if hard else DeliveryState.FAILED_TEMPORARY
        first = (hard or failed or [None])[0]
        # Only a hard bounce blames the address (the router then marks it bounced and asks for a repair).
        detail: dict = {"message_kind": report.message_kind.value, "kind": "hard" if hard else "soft", "contact_invalid": bool(hard)}
        if first is not None:
            reason = " ".join(part for part in (first.status, first.reason.value, first.diagnostic) if part)
            detail.update(reason=f"bounce: {reason}", status=first.status or "", address=first.address, bounce_reason=first.reason.value)
        else:
            detail["reason"] = f"bounce ({report.message_kind.value}) without a readable recipient"
        return [
            CallbackEvent(
                external_id=f"{dispatch_id}:{state.value}:{_bounce_identity(body)}",
                provider_message_id=f"<{dispatch_id}@{self.message_domain}>",
                state=state,
                detail=detail,
            )
        ]

    def _dispatch_id(self, report: BounceReport) -> str:
        if not report.verp_token:
            raise CallbackRejected("no VERP token: the message was not sent to one of our bounce addresses")
        dispatch_id = verify_token(report.verp_token, self.secrets)
        if dispatch_id is None:
            raise CallbackRejected("the VERP token does not verify")
        quoted = report.original_message_id
        if quoted:
            local, _, domain = quoted.strip("<>").rpartition("@")
            if domain.lower() == self.message_domain and local != dispatch_id:
                raise CallbackRejected("the quoted Message-ID names another dispatch than the VERP token")
        return dispatch_id


def _bounce_identity(body: bytes) -> str:
    """The bounce's own Message-ID when it has a sane one, else a hash of the whole message."""
    message = email.message_from_bytes(body, policy=email.policy.compat32)
    own = str(message.get("Message-ID", "") or "").strip()
    if own.startswith("<") and own.endswith(">") and 3 < len(own) <= 120 and " " not in own:
        return own
    return "sha256:" + hashlib.sha256(body).hexdigest()
