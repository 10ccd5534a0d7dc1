"""Personal links: signed, expiring tokens naming one debtor at one creditor (issue 7).

Every consumer message (e-mail, SMS, eBox, letter) carries `{public_base_url}/my/{token}`; the
personal page trusts nothing but the token. Pure: secret, values and `now` in, a string out.

Token: `v1.<payload>.<mac>` with payload = base64url(debtor id 16 bytes + creditor id 16 bytes +
expiry as 5-byte big-endian epoch seconds) and mac = base64url(HMAC-SHA256(secret, "v1." + payload)),
128 bits kept: 74 characters, short enough for an SMS. No database row: a link
stays valid until it expires or the secret is rotated (`previous_secrets` keeps old links
working during a rotation). `verify` answers every bad token with the same `InvalidLink`, so a
wrong, altered or expired token reveals nothing about whether the debtor exists.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

VERSION = "v1"
MAC_BYTES = 16
MIN_SECRET_BYTES = 16
MAX_TOKEN_CHARS = 120  # a real token is 74 characters; anything longer is refused before decoding
PAYLOAD_BYTES = 16 + 16 + 5


class InvalidLink(Exception):
    """A token that is malformed, altered, signed with another secret, or expired."""


@dataclass(frozen=True)
class LinkSubject:
    debtor_id: uuid.UUID
    creditor_id: uuid.UUID
    expires_at: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(secret: bytes, signed_part: str) -> str:
    return _b64(hmac.new(secret, signed_part.encode("ascii"), hashlib.sha256).digest()[:MAC_BYTES])


def _check_secret(secret: bytes) -> None:
    if len(secret) < MIN_SECRET_BYTES:
        raise ValueError(f"a personal-link secret needs at least {MIN_SECRET_BYTES} bytes")


def sign(secret: bytes, debtor_id: uuid.UUID, creditor_id: uuid.UUID, *, expires_at: datetime) -> str:
    _check_secret(secret)
    if expires_at.tzinfo is None:
        raise ValueError("expires_at must be timezone-aware")
    payload = _b64(debtor_id.bytes + creditor_id.bytes + int(expires_at.timestamp()).to_bytes(5, "big"))
    signed_part = f"{VERSION}.{payload}"
    return f"{signed_part}.{_mac(secret, signed_part)}"


def issue(secret: bytes, debtor_id: uuid.UUID, creditor_id: uuid.UUID, *, now: datetime, valid_for: timedelta) -> str:
    return sign(secret, debtor_id, creditor_id, expires_at=now + valid_for)


def verify(secret: bytes, token: str, *, now: datetime, previous_secrets: Sequence[bytes] = ()) -> LinkSubject:
    if not token or len(token) > MAX_TOKEN_CHARS or token.count(".") != 2:
        raise InvalidLink("malformed")
    version, payload, mac = token.split(".")
    if version != VERSION:
        raise InvalidLink("malformed")
    signed_part = f"{version}.{payload}"
    try:
        signed_part.encode("ascii")
        if not any(hmac.compare_digest(_mac(key, signed_part), mac) for key in (secret, *previous_secrets)):
            raise InvalidLink("signature")
        raw = _unb64(payload)
        if len(raw) != PAYLOAD_BYTES:
            raise InvalidLink("malformed")
        expires = datetime.fromtimestamp(int.from_bytes(raw[32:], "big"), timezone.utc)
        subject = LinkSubject(uuid.UUID(bytes=raw[:16]), uuid.UUID(bytes=raw[16:32]), expires)
    except InvalidLink:
        raise
    except (ValueError, UnicodeError) as exc:
        raise InvalidLink("malformed") from exc
    if subject.expires_at <= now:
        raise InvalidLink("expired")
    return subject


def url(public_base_url: str, token: str) -> str:
    return f"{public_base_url.rstrip('/')}/my/{token}"
