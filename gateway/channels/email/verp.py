"""VERP return paths with an HMAC-signed token: `bounces+<dispatch id>.<mac>@<bounce domain>`.

Variable envelope return paths (cr.yp.to/proto/verp.txt, docs/channels-and-law.md section
7.3) put an identifier in the envelope sender (RFC 5321 section 4.1.1.2 MAIL FROM), so a
bounce names the failed dispatch whatever its body looks like. The MAC makes forged bounces
detectable: a bounce whose token does not verify cannot invalidate a debtor's address.

Token: `<dispatch_id>.<mac>` where `mac` is the first 80 bits of
HMAC-SHA256(secret, "verp.v1:" + dispatch_id), base32, lower case, without padding (16 chars).

Limits: RFC 5321 section 4.5.3.1.1 caps a local part at 64 octets; `bounces+` (8) + a
36-character UUID + `.` + 16 = 61. Lower-case base32 survives MTAs that fold the local part's
case; the dispatch id is returned exactly as it was signed, so use lower-case ids (a UUID's
`str()` is).

Pure functions: the secrets are passed in (current key first, older keys after it during a
rotation).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Sequence

LOCAL_PREFIX = "bounces+"
MAX_LOCAL_PART = 64  # RFC 5321 section 4.5.3.1.1
MAC_BYTES = 10  # 80 bits: forging one needs ~2**80 tries against a bounce endpoint
MIN_SECRET_BYTES = 16  # a shorter HMAC key is guessable offline from one signed token
_MAC_LABEL = b"verp.v1:"
_DISPATCH_ID_RE = re.compile(r"[A-Za-z0-9_-]{1,40}")
_MAC_RE = re.compile(r"[a-z2-7]{16}")


class VerpError(ValueError):
    """A token cannot be built (bad dispatch id, short secret, overlong address)."""


def _check_secret(secret: bytes) -> None:
    if not isinstance(secret, (bytes, bytearray)) or len(secret) < MIN_SECRET_BYTES:
        raise VerpError(f"a VERP secret is at least {MIN_SECRET_BYTES} bytes")


def _mac(secret: bytes, dispatch_id: str) -> str:
    digest = hmac.new(bytes(secret), _MAC_LABEL + dispatch_id.encode("ascii"), hashlib.sha256).digest()
    return base64.b32encode(digest[:MAC_BYTES]).decode("ascii").lower()


def make_token(dispatch_id: str, secret: bytes) -> str:
    """`<dispatch_id>.<mac>`; the id is 1-40 characters of `[A-Za-z0-9_-]` (a UUID fits)."""
    _check_secret(secret)
    if not isinstance(dispatch_id, str) or not _DISPATCH_ID_RE.fullmatch(dispatch_id):
        raise VerpError("a dispatch id for VERP is 1-40 characters of letters, digits, '-' and '_'")
    return f"{dispatch_id}.{_mac(secret, dispatch_id)}"


def return_path(dispatch_id: str, secret: bytes, domain: str) -> str:
    """The envelope sender for one dispatch: `bounces+<token>@<domain>`."""
    local = LOCAL_PREFIX + make_token(dispatch_id, secret)
    if len(local) > MAX_LOCAL_PART:
        raise VerpError(f"VERP local part is {len(local)} octets; RFC 5321 allows {MAX_LOCAL_PART}")
    domain = domain.strip().lower()
    if not domain or "@" in domain or any(ch.isspace() for ch in domain):
        raise VerpError("a VERP domain is a bare domain name such as bounces.gateway.example")
    return f"{local}@{domain}"


def verify_token(token: str, secrets: Sequence[bytes]) -> str | None:
    """The dispatch id when the token's MAC matches one of `secrets`, else None (tampered)."""
    if not isinstance(token, str):
        return None
    dispatch_id, sep, mac = token.rpartition(".")
    mac = mac.lower()
    if not sep or not _DISPATCH_ID_RE.fullmatch(dispatch_id) or not _MAC_RE.fullmatch(mac):
        return None
    for secret in secrets:
        _check_secret(secret)
        if hmac.compare_digest(_mac(secret, dispatch_id), mac):
            return dispatch_id
    return None


def dispatch_id_from_address(address: str, secrets: Sequence[bytes], domain: str | None = None) -> str | None:
    """The dispatch id from a full return-path address, or None if it is not ours or forged.

    `domain`, when given, must match the address's domain (case-insensitive).
    """
    if not isinstance(address, str):
        return None
    local, sep, address_domain = address.strip().strip("<>").rpartition("@")
    if not sep or not local.lower().startswith(LOCAL_PREFIX):
        return None
    if domain is not None and address_domain.lower() != domain.strip().lower():
        return None
    return verify_token(local[len(LOCAL_PREFIX):], secrets)
