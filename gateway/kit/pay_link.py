"""Stable pay links: `{public_base_url}/pay/<token>` for one invoice or reminder (issue 5).

A Bancontact payment made through `POST /v3/payments` is payable for 20 minutes
(channels-and-law.md 1.3); a mail or an SMS is read hours or days later. So the link in a message
names the *document* and never expires: following it reuses the claim's live payment request or
makes a new one through the outbox (`bancontact.request_payment`) and redirects to its deeplink.

Token: `<b64url(document id, 16 bytes)>.<b64url(HMAC-SHA256(secret, "pay-link:v1:" + id)[:12])>`,
39 characters, short enough for an SMS. The secret is the personal-link secret (one secret to
rotate; the label keeps the two kinds of token apart). Pure: values in, a string out.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence

LABEL = b"pay-link:v1:"
MAC_BYTES = 12
MAX_TOKEN_CHARS = 64


class InvalidPayLink(Exception):
    """A token that is malformed, altered or signed with another secret."""


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _mac(secret: bytes, document_id: uuid.UUID) -> str:
    return _b64(hmac.new(secret, LABEL + document_id.bytes, hashlib.sha256).digest()[:MAC_BYTES])


def sign(secret: bytes, document_id: uuid.UUID) -> str:
    if not secret:
        raise ValueError("a pay link needs a secret")
    return f"{_b64(document_id.bytes)}.{_mac(secret, document_id)}"


def verify(secrets: Sequence[bytes], token: str) -> uuid.UUID:
    """The document id a token names; `InvalidPayLink` for anything else (the same for every reason)."""
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 1:
        raise InvalidPayLink("not a pay link")
    encoded, mac = token.split(".")
    try:
        document_id = uuid.UUID(bytes=base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)))
    except (ValueError, TypeError) as exc:
        raise InvalidPayLink("not a pay link") from exc
    if not any(secret and hmac.compare_digest(mac, _mac(secret, document_id)) for secret in secrets):
        raise InvalidPayLink("not a pay link")
    return document_id


def url(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}/pay/{token}"
