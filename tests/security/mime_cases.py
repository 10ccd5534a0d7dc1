"""Hostile RFC 822 / MIME messages for the bounce entry points.

Every message is addressed to a *valid* VERP address of a real dispatch, so nothing but the
parser's robustness stands between it and a state change. None of them is a bounce report a
mail server would write; the expected answer is a clear refusal or "not a bounce".
"""

from __future__ import annotations


def _headers(to: str, content_type: str, extra: str = "") -> str:
    return (
        "From: MAILER-DAEMON@mx.example.be\r\n"
        f"To: {to}\r\n"
        "Subject: Undelivered Mail Returned to Sender\r\n"
        "Message-ID: <hostile@mx.example.be>\r\n"
        "MIME-Version: 1.0\r\n"
        f"Content-Type: {content_type}\r\n{extra}\r\n"
    )


def mime_cases(to: str) -> dict[str, bytes]:
    """name -> raw message; `to` is the VERP address the message claims to answer."""
    parts_body = "".join(f"--P\r\nContent-Type: text/plain\r\n\r\npart {i}\r\n" for i in range(20_000)) + "--P--\r\n"
    nested = "".join(f'--N{i}\r\nContent-Type: multipart/mixed; boundary="N{i + 1}"\r\n\r\n' for i in range(3_000))
    return {
        "missing-boundary": (_headers(to, "multipart/report; report-type=delivery-status")
                             + "--B\r\nContent-Type: message/delivery-status\r\n\r\nFinal-Recipient: rfc822; x@y.be\r\n--B--\r\n").encode(),
        "boundary-never-closed": (_headers(to, 'multipart/mixed; boundary="B"') + "--B\r\nContent-Type: text/plain\r\n\r\n" + "x" * 100_000).encode(),
        "wrong-boundary": (_headers(to, 'multipart/mixed; boundary="A"') + "--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n--B--\r\n").encode(),
        "twenty-thousand-parts": (_headers(to, 'multipart/mixed; boundary="P"') + parts_body).encode(),
        "nested-3000-deep": (_headers(to, 'multipart/mixed; boundary="N0"') + nested + "innermost\r\n").encode(),
        "header-of-4-mib": (_headers(to, "text/plain", "X-Padding: " + "a" * (4 * 1024 * 1024) + "\r\n") + "hello\r\n").encode(),
        "folded-header-100k-lines": (_headers(to, "text/plain", "X-Folded: start\r\n" + " x\r\n" * 100_000) + "hello\r\n").encode(),
        "to-with-50k-addresses": (_headers(to + ", " + ", ".join(f"u{i}@example.be" for i in range(50_000)), "text/plain") + "hello\r\n").encode(),
        "100k-header-fields": (_headers(to, "text/plain", "".join(f"X-H{i}: v\r\n" for i in range(100_000))) + "hello\r\n").encode(),
        "unknown-charset": (_headers(to, 'text/plain; charset="x-evil-charset"', "Content-Transfer-Encoding: 8bit\r\n") + "caf\xe9 \xff\xfe\r\n").encode("latin-1"),
        "utf7-charset": (_headers(to, 'text/plain; charset="utf-7"') + "+AGEAYgBj-+ZZZZ-\r\n").encode(),
        "encoded-word-bad-charset": (_headers(to, "text/plain").replace("Subject: Undelivered Mail Returned to Sender", "Subject: =?x-nope?B?////?= =?utf-8?Q?=FF=FE?=") + "hello\r\n").encode(),
        "base64-garbage": (_headers(to, "text/plain", "Content-Transfer-Encoding: base64\r\n") + "!!!!@@@@####$$$$" * 20_000 + "\r\n").encode(),
        "base64-truncated": (_headers(to, 'multipart/report; report-type=delivery-status; boundary="B"')
                             + "--B\r\nContent-Type: message/delivery-status\r\nContent-Transfer-Encoding: base64\r\n\r\nRmluYWwtUmVjaXBpZW50OiByZmM4MjI7IHhAeS5iZQ\r\n--B--\r\n").encode(),
        "quoted-printable-garbage": (_headers(to, "text/plain", "Content-Transfer-Encoding: quoted-printable\r\n") + "=ZZ=\r\n=" * 50_000 + "\r\n").encode(),
        "nul-and-binary": (_headers(to, "application/octet-stream") + "\x00\x01\x02\xff" * 50_000).encode("latin-1"),
        "rfc822-inside-rfc822-500-deep": (_headers(to, "message/rfc822") + "Content-Type: message/rfc822\r\n\r\n" * 500 + "hello\r\n").encode(),
        "delivery-status-garbage": (_headers(to, 'multipart/report; report-type=delivery-status; boundary="B"')
                                    + "--B\r\nContent-Type: message/delivery-status\r\n\r\n" + ":::\r\n\r\n" * 20_000 + "--B--\r\n").encode(),
        "no-header-body-separator": ("To: " + to + "\r\n" + "Subject: x" * 100_000).encode(),
        "only-line-breaks": b"\r\n" * 100_000,
    }
