"""Optional DKIM signing of outgoing mail (RFC 6376), with dkimpy.

A creditor's mail leaves our relay under its own From domain; receivers that check DMARC want a
DKIM signature aligned with that domain (or SPF on the return path, which is our bounce domain
and never aligned). Signing is optional because many relays sign themselves.

The headers signed are the ones a receiver shows or threads on; `relaxed/relaxed`
canonicalisation survives the header refolding and whitespace changes relays make.
"""

from __future__ import annotations

from dataclasses import dataclass

import dkim

from gateway.errors import TerminalError

SIGNED_HEADERS = (b"from", b"to", b"subject", b"date", b"message-id", b"mime-version", b"content-type", b"reply-to", b"content-language")


@dataclass(frozen=True)
class DkimKey:
    domain: str  # d= (the From domain, or its organisational domain for relaxed DMARC alignment)
    selector: str  # s= (the DNS name <selector>._domainkey.<domain> holds the public key)
    private_key_pem: bytes


def sign(message: bytes, key: DkimKey) -> bytes:
    """The message with a DKIM-Signature header prepended."""
    try:
        header = dkim.sign(
            message, key.selector.encode("ascii"), key.domain.encode("ascii"), key.private_key_pem,
            canonicalize=(b"relaxed", b"relaxed"), include_headers=list(SIGNED_HEADERS),
        )
    except dkim.DKIMException as exc:  # a broken key or message: every retry would fail the same way
        raise TerminalError(f"DKIM signing failed: {exc}") from exc
    return header + message
