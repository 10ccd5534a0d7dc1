"""The SMS gateway's HTTP API, our side of it. The only module that talks to the SMS vendor.

The protocol (spoken by `gateway.channels.sms.sandbox` on loopback):

- `POST {base}/v1/messages` with `Authorization: Bearer <api key>` and a JSON body
  `{"to": "+32...", "text": "...", "client_reference": "<our idempotency key>", "callback_url": "..."}`.
  `201 {"id", "status": "ACCEPTD", "segments"}` for a new message; a repeat of the same
  `client_reference` answers `200` with the first message's id (the vendor deduplicates, so a
  retry after a crash never sends a second SMS).
- Delivery reports are `POST`ed to `callback_url` as JSON
  `{"event_id", "message_id", "stat", "err", "done_at"}` with `X-Timestamp` (Unix seconds) and
  `X-Signature` = hex HMAC-SHA256(secret, timestamp + "." + raw body).

HTTP outcomes map onto the channel contract (`gateway.channels.base`): connection errors,
timeouts, 5xx and 429 are `RetryableError`; any other 4xx is `TerminalError`.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass

import requests

from gateway.errors import RetryableError, TerminalError

MESSAGES_PATH = "/v1/messages"
ERROR_EXCERPT_CHARS = 300  # enough of a vendor error body to diagnose, short enough for a log line


def signature(secret: bytes, timestamp: str, body: bytes) -> str:
    """Hex HMAC-SHA256 over `timestamp + "." + body` (the vendor's callback signature)."""
    return hmac.new(secret, timestamp.encode("ascii") + b"." + body, hashlib.sha256).hexdigest()


@dataclass(frozen=True)
class SmsAccepted:
    message_id: str
    status_code: int
    segments: int | None
    repeated: bool  # the vendor already had this client reference


class SmsClient:
    def __init__(self, base_url: str, api_key: str, *, timeout_seconds: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.timeout_seconds = timeout_seconds

    def send(self, *, to: str, text: str, client_reference: str, callback_url: str) -> SmsAccepted:
        payload = {"to": to, "text": text, "client_reference": client_reference, "callback_url": callback_url}
        try:
            response = requests.post(
                self.base_url + MESSAGES_PATH, json=payload, headers={"Authorization": f"Bearer {self.api_key}"}, timeout=self.timeout_seconds,
            )
        except requests.RequestException as exc:
            raise RetryableError(f"sms gateway unreachable: {type(exc).__name__}: {exc}") from exc
        if response.status_code >= 500 or response.status_code == 429:
            raise RetryableError(f"sms gateway HTTP {response.status_code}: {response.text[:ERROR_EXCERPT_CHARS]}")
        if response.status_code >= 400:
            raise TerminalError(f"sms gateway HTTP {response.status_code}: {response.text[:ERROR_EXCERPT_CHARS]}")
        try:
            data = response.json()
            message_id = str(data["id"])
        except (ValueError, KeyError, TypeError) as exc:
            raise RetryableError(f"sms gateway answered {response.status_code} without a message id") from exc
        return SmsAccepted(message_id, response.status_code, data.get("segments"), repeated=response.status_code == 200)
