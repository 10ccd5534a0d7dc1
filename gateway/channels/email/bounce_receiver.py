"""The SMTP receiver for bounces: aiosmtpd on 127.0.0.1 for the VERP bounce domain.

Run it behind the MTA that is MX for the bounce domain (or as that MX on a loopback port
during tests and the demo). Each message takes the same path as `POST /v1/callbacks/email/bounce`:
verify (`BounceVerifier`), `inbox.store` once per event, and the `inbox.apply` job does the rest.

SMTP answers (RFC 5321 section 4.2):
- RCPT TO outside the bounce domain -> `550 5.1.1`: we are no open relay and no mailbox;
- a message that does not verify (no or forged VERP token, unreadable) -> `550 5.7.1` with the
  reason, so the sending MTA gives up instead of retrying a forgery;
- a store failure (database down) -> `451 4.3.0`, so the sending MTA tries again later;
- otherwise `250` (also for auto-replies and duplicates: stored 0, nothing to do).

The recipient of the SMTP envelope is added as `Delivered-To` in front of the message, as a
final-delivery MTA does, so the token is in the stored body even when the bounce's own header
fields do not name our address.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from gateway.channels.base import CallbackRejected
from gateway.channels.email.bounce_callback import SOURCE, BounceVerifier
from gateway.channels.email.sink import LoopbackController
from gateway.delivery import inbox
from gateway.kit.time import utc_now
from gateway.store.session import Database

log = logging.getLogger(__name__)


def accept_bounce(database: Database, verifier: BounceVerifier, raw: bytes, *, now: datetime) -> tuple[int, int]:
    """Verify and store one bounce; (stored, duplicates). Raises `CallbackRejected`."""
    events = verifier.verify_callback({}, raw, now)
    with database.session_scope() as session:
        stored = sum(inbox.store(session, SOURCE, event, headers={}, body=raw, now=now) for event in events)
    return stored, len(events) - stored


def with_delivered_to(recipient: str, raw: bytes) -> bytes:
    if "\r" in recipient or "\n" in recipient:
        raise CallbackRejected("line break in the envelope recipient")
    return f"Delivered-To: {recipient}\r\n".encode("ascii", "replace") + raw


class _BounceHandler:
    def __init__(self, receiver: BounceReceiver) -> None:
        self.receiver = receiver

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        _, _, domain = address.rpartition("@")
        if domain.lower() != self.receiver.bounce_domain:
            return "550 5.1.1 Not a bounce address of this gateway"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = bytes(envelope.original_content or envelope.content)
        loop = asyncio.get_running_loop()
        stored = 0
        for recipient in envelope.rcpt_tos:
            try:
                # The store is blocking I/O: off the event loop, so other connections go on.
                stored += (await loop.run_in_executor(None, self.receiver.accept, with_delivered_to(recipient, raw)))[0]
            except CallbackRejected as exc:
                log.info("email.bounce_refused", extra={"reason": str(exc)})
                return f"550 5.7.1 Bounce refused: {str(exc)[:200]}"
            except Exception:  # noqa: BLE001 - the sender must retry, not lose the bounce
                log.exception("email.bounce_store_failed")
                return "451 4.3.0 Bounce not stored, try again later"
        return f"250 OK: {stored} stored"


class BounceReceiver:
    def __init__(self, database: Database, verifier: BounceVerifier, *, bounce_domain: str, host: str = "127.0.0.1", port: int = 0) -> None:
        self.database = database
        self.verifier = verifier
        self.bounce_domain = bounce_domain.strip().lower()
        self._controller = LoopbackController(_BounceHandler(self), host=host, port=port)

    def accept(self, raw: bytes) -> tuple[int, int]:
        return accept_bounce(self.database, self.verifier, raw, now=utc_now())

    @property
    def port(self) -> int:
        return self._controller.port

    def start(self) -> BounceReceiver:
        self._controller.start()
        return self

    def stop(self) -> None:
        self._controller.stop()

    def __enter__(self) -> BounceReceiver:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
