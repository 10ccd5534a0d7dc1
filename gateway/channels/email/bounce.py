"""Bounce parsing: raw RFC 822 bytes in, a `BounceReport` out. Sans-IO, no network.

What a returned message can be, checked in this order:

1. a **DSN**: `multipart/report; report-type=delivery-status` (RFC 6522 section 3) with a
   `message/delivery-status` part (RFC 3464 section 2) or its SMTPUTF8 sibling
   `message/global-delivery-status` (RFC 6533 section 6.2);
2. a **non-standard bounce**: the plain-text reports of qmail (QSBMF), Exim, Postfix without
   DSN, Exchange / Outlook NDRs, Gmail and the generic "was undeliverable" text;
3. an **auto-reply** (RFC 3834 section 5 `Auto-Submitted: auto-replied`, `X-Autoreply`, an
   "Out of office" / "Afwezig" / "Absent" subject);
4. anything else is **not a bounce**.

Bounces come before auto-replies because Exim marks its own bounces `Auto-Submitted:
auto-replied`.

Hard or soft (docs/channels-and-law.md section 7.2): only "the address or its domain does
not exist" is hard, because a hard bounce invalidates a debtor's contact and sends the next
legal reminder over another channel. Mailbox full (X.2.2), greylisting, every 4.X.X and every
policy or spam block (5.7.X) are soft: the address is fine, the message or our reputation is
not.

Hostile or broken input never raises anything but `BounceParseError` (too large, not bytes,
empty); broken MIME that the stdlib parser tolerates gives `not_a_bounce`.
"""

from __future__ import annotations

import email
import email.policy
import re
from collections.abc import Iterator
from dataclasses import dataclass
from email.errors import MessageError
from email.header import decode_header, make_header
from email.message import Message
from email.utils import getaddresses
from enum import StrEnum

# The largest message most MTAs accept (Gmail and Exchange Online: 25 MB). A bounce that
# returns our own invoice PDF and UBL in full still fits.
MAX_BOUNCE_BYTES = 25 * 1024 * 1024
# Text scanned per body part; bounce reports state their findings in the first few KB, and a
# bound keeps regular-expression work linear on hostile input.
MAX_SCAN_CHARS = 64 * 1024
# MIME parts visited per message; a report has 2 or 3, a bounce of a mail with attachments a
# dozen. Beyond this we stop walking instead of recursing through a crafted bomb.
MAX_PARTS = 200
# Characters of an address header handed to the address parser; real ones are far shorter.
MAX_HEADER_CHARS = 4096
# Local part of our VERP return path (see gateway.channels.email.verp).
VERP_LOCAL_PREFIX = "bounces+"


class BounceParseError(ValueError):
    """The input cannot be examined at all; `rule` is a stable id (`bounce.too_large`, ...)."""

    def __init__(self, rule: str, message: str) -> None:
        super().__init__(message)
        self.rule = rule
        self.message = message


class MessageKind(StrEnum):
    DSN = "dsn"
    NON_STANDARD_BOUNCE = "non_standard_bounce"
    AUTO_REPLY = "auto_reply"
    NOT_A_BOUNCE = "not_a_bounce"


class FailureKind(StrEnum):
    HARD = "hard"  # the address or its domain does not exist: mark the contact invalid
    SOFT = "soft"  # anything else: keep the address, count it, maybe try again or elsewhere


class Reason(StrEnum):
    """Why a recipient failed; finer than hard/soft, for the admin screen and alerts."""

    USER_UNKNOWN = "user_unknown"
    HOST_UNKNOWN = "host_unknown"
    HAS_MOVED = "has_moved"
    MAILBOX_FULL = "mailbox_full"
    POLICY = "policy"  # spam / reputation / SPF-DKIM-DMARC: alert operations, not the debtor
    DELAYED = "delayed"
    TRANSIENT = "transient"
    OTHER = "other"



@dataclass(frozen=True)
class BouncedRecipient:
    address: str
    kind: FailureKind
    status: str | None  # RFC 3463 enhanced status code "5.1.1", or None when the report has none
    diagnostic: str | None
    reason: Reason
    action: str  # RFC 3464 section 2.3.3 action: "failed" or "delayed"


@dataclass(frozen=True)
class BounceReport:
    """`is_bounce` is true when the message reports a failed or delayed delivery.

    A DSN that only reports `delivered` / `relayed` / `expanded` recipients is `dsn` with
    `is_bounce` false. A non-standard bounce whose recipients could not be read is still a
    bounce (with no recipients): the VERP token then tells which dispatch failed.
    """

    is_bounce: bool
    message_kind: MessageKind
    recipients: tuple[BouncedRecipient, ...] = ()
    original_message_id: str | None = None
    verp_token: str | None = None
    original_envelope_id: str | None = None  # RFC 3464 section 2.2.1, the ENVID we sent (RFC 3461)

    def to_json(self) -> dict:
        """The `gateway bounce parse --json` document (keys documented in the README)."""
        return {
            "is_bounce": self.is_bounce,
            "recipients": [
                {
                    "address": r.address,
                    "kind": r.kind.value,
                    "status": r.status,
                    "reason": r.reason.value,
                    "action": r.action,
                    "diagnostic": r.diagnostic,
                }
                for r in self.recipients
            ],
            "message_kind": self.message_kind.value,
            "original_message_id": self.original_message_id,
            "verp_token": self.verp_token,
        }


# --- classification ----------------------------------------------------------------------

# RFC 3463 section 2: status-code = class "." subject "." detail; class 2 / 4 / 5. The
# look-arounds keep "10.5.1.1" (an IP address) from matching.
_STATUS_RE = re.compile(r"(?<![\d.])([245])\.(\d{1,3})\.(\d{1,3})(?!\.?\d)")

_HOST_UNKNOWN_RE = re.compile(
    r"no such domain|unrouteable (?:mail )?(?:address|domain)|host (?:or domain name )?not found"
    r"|domain (?:name )?not found|domain (?:does not|doesn't) exist|nxdomain|unknown host"
    r"|name or service not known|mx records point to non-existent hosts|domain .{1,80} couldn't be found"
    r"|null mx"
)
_USER_UNKNOWN_RE = re.compile(
    r"user unknown|unknown user|no such (?:user|mailbox|recipient|address|person)"
    r"|unknown (?:recipient|mailbox|address|local.?part)|(?:does not|doesn't|does n't) exist"
    r"|invalid (?:recipient|mailbox)|mailbox not found|address not found|recipient not found"
    r"|no mailbox here by that name|couldn't be found|could not be found|recipnotfound"
    r"|recipientnotfound|not a valid (?:recipient|mailbox|user)|user not found"
    r"|is niet gevonden|bestaat niet|introuvable|n'existe pas|existiert nicht|unbekannt"
)
_MOVED_RE = re.compile(r"has moved|no longer (?:at|with) this address|address (?:has )?changed")
_MAILBOX_FULL_RE = re.compile(
    r"mailbox (?:is )?full|over (?:the )?quota|quota exceeded|exceeded (?:the |its |their |storage )?(?:storage|quota)"
    r"|insufficient (?:system )?storage|mailbox size limit|out of storage|postvak is vol|boîte aux lettres est pleine"
)
_POLICY_RE = re.compile(
    r"spam|blocked|blacklist|block ?list|denylist|reputation|rejected for policy|policy"
    r"|spf|dkim|dmarc|content rejected|not authorized|access denied|relay(?:ing)? denied"
)
_SENDER_SIDE_RE = re.compile(
    r"sender (?:address|domain)|\bmail from\b|envelope sender|from domain|your (?:ip|server|domain)"
)
_GREYLIST_RE = re.compile(r"greylist|graylist|try again later|temporar")


def extract_status(text: str | None) -> str | None:
    """The most specific RFC 3463 code in a text: "5.1.0 ... 550 5.1.1 ..." gives 5.1.1.

    A code with a non-zero detail is preferred over an `X.Y.0` catch-all; ties go to the first.
    """
    if not text:
        return None
    codes = [".".join(m.groups()) for m in _STATUS_RE.finditer(text[:MAX_SCAN_CHARS])]
    if not codes:
        return None
    specific = [code for code in codes if not code.endswith(".0")]
    return (specific or codes)[0]


def classify(status: str | None, diagnostic: str | None, action: str = "failed") -> tuple[FailureKind, Reason]:
    """Hard or soft for one recipient, from its status code, diagnostic text and DSN action."""
    text = (diagnostic or "").lower()[:MAX_SCAN_CHARS]
    klass, subject, detail = (status.split(".") + ["", ""])[:3] if status else ("", "", "")

    # RFC 3464 section 2.3.3: "delayed" is a warning; delivery is still being attempted.
    if action == "delayed":
        return FailureKind.SOFT, Reason.DELAYED
    # RFC 3463 section 3.1: 4.X.X is a persistent transient failure, whatever the text says
    # (Postfix answers 450 4.1.1 while a recipient cannot yet be verified).
    if klass == "4":
        if subject == "2" and detail == "2" or _MAILBOX_FULL_RE.search(text):
            return FailureKind.SOFT, Reason.MAILBOX_FULL
        return FailureKind.SOFT, Reason.TRANSIENT
    # RFC 3463 section 3.2 X.1.7 "Bad sender's mailbox address syntax" and X.1.8 "Bad
    # sender's system address" are about our envelope sender ("Sender address rejected:
    # Domain not found"), never about the debtor's address.
    if (subject, detail) in {("1", "7"), ("1", "8")}:
        return FailureKind.SOFT, Reason.POLICY
    # The same complaint without those codes ("553 5.7.1 Sender domain does not exist"): one
    # misconfiguration on our side must not invalidate every debtor's address. An explicit
    # recipient code (X.1.1, X.1.2, X.1.6) still wins.
    if _SENDER_SIDE_RE.search(text) and (subject, detail) not in {("1", "1"), ("1", "2"), ("1", "6")}:
        return FailureKind.SOFT, Reason.POLICY
    # RFC 3463 section 3.3 X.2.2 "Mailbox full": the owner can empty it; soft (section 7.2).
    if (subject, detail) == ("2", "2") or _MAILBOX_FULL_RE.search(text):
        return FailureKind.SOFT, Reason.MAILBOX_FULL
    # RFC 3463 section 3.2 X.1.2 "Bad destination system address". (X.1.10, registered by
    # RFC 7505 for a null MX, is used by Exchange Online for unknown users, so it falls to the
    # X.1.X rule below unless the text names the domain.)
    if (subject, detail) == ("1", "2") or _HOST_UNKNOWN_RE.search(text):
        return FailureKind.HARD, Reason.HOST_UNKNOWN
    # RFC 3463 section 3.2 X.1.6 "Destination mailbox has moved, No forwarding address".
    if (subject, detail) == ("1", "6") or _MOVED_RE.search(text):
        return FailureKind.HARD, Reason.HAS_MOVED
    if _USER_UNKNOWN_RE.search(text):
        return FailureKind.HARD, Reason.USER_UNKNOWN
    # RFC 3463 section 3.2 X.1.X addressing status: the recipient's address is wrong (X.1.7
    # and X.1.8 were handled above).
    if klass == "5" and subject == "1":
        return FailureKind.HARD, Reason.USER_UNKNOWN
    # RFC 3463 section 3.8 X.7.X security or policy status: soft unless clearly
    # recipient-unknown (handled above).
    if subject == "7" or _POLICY_RE.search(text):
        return FailureKind.SOFT, Reason.POLICY
    if _GREYLIST_RE.search(text):
        return FailureKind.SOFT, Reason.TRANSIENT
    return FailureKind.SOFT, Reason.OTHER


# --- message access that never raises ----------------------------------------------------


def _header(msg: Message, name: str) -> str:
    """A header decoded per RFC 2047, or "" when it is absent or undecodable."""
    raw = msg.get(name)
    if raw is None:
        return ""
    try:
        return str(make_header(decode_header(str(raw))))
    except (ValueError, LookupError, UnicodeError, TypeError, MessageError):  # CharsetError on a bogus charset
        return str(raw)


def _addresses(msg: Message, *names: str) -> list[str]:
    values = [_header(msg, name)[:MAX_HEADER_CHARS] for name in names]
    try:
        pairs = getaddresses([v for v in values if v])
    except (ValueError, IndexError, TypeError, RecursionError):  # email.utils recurses on crafted input
        return []
    return [addr.strip().lower() for _, addr in pairs if "@" in addr]


def _decoded_text(part: Message) -> str:
    """Body text of a leaf part, decoded from its transfer encoding and charset."""
    try:
        payload = part.get_payload(decode=True)
    except (ValueError, TypeError, AssertionError):
        return ""
    if payload is None:
        payload = part.get_payload()
        return payload[:MAX_SCAN_CHARS] if isinstance(payload, str) else ""
    charset = part.get_content_charset() or "utf-8"
    try:
        return payload[:MAX_SCAN_CHARS * 4].decode(charset, errors="replace")[:MAX_SCAN_CHARS]
    except (LookupError, ValueError):  # unknown charset name, or one with a NUL in it
        return payload[:MAX_SCAN_CHARS].decode("latin-1")


def _restore_8bit(text: str) -> str:
    """The parser keeps 8-bit bytes as surrogate escapes; RFC 6533 section 6.2 makes
    message/global-delivery-status UTF-8, so restore and decode them as UTF-8."""
    return text.encode("ascii", "surrogateescape").decode("utf-8", errors="replace")


def _block_text(block: Message) -> str:
    # raw_items() keeps the escapes; get_payload() without decode would replace them with
    # U+FFFD (it decodes with the block's absent charset), so take the bytes instead.
    lines = [f"{key}: {_restore_8bit(str(value))}" for key, value in block.raw_items()]
    body = block.get_payload(decode=True)
    text = "\n".join(lines)
    if isinstance(body, bytes) and body:
        text += "\n\n" + body.decode("utf-8", errors="replace")
    return text


def _message_payload_text(part: Message) -> str:
    """Text of a `message/*` part: the stdlib parses it into header blocks; render them back."""
    payload = part.get_payload()
    if isinstance(payload, list):
        try:
            return "\n\n".join(_block_text(b) for b in payload if isinstance(b, Message))[:MAX_SCAN_CHARS]
        except (ValueError, LookupError, UnicodeError, TypeError):
            return ""
    return _decoded_text(part)


@dataclass
class _Walk:
    texts: list[str]  # text/plain (or stripped text/html) bodies outside returned messages
    status_reports: list[str]  # message/delivery-status and message/global-delivery-status
    returned: list[Message]  # message/rfc822 parts: the original as we sent it
    returned_headers: list[str]  # text/rfc822-headers parts


_TAG_RE = re.compile(r"<[^>]{0,2000}>")


def _walk(msg: Message) -> _Walk:
    found = _Walk([], [], [], [])
    html: list[str] = []
    stack: list[Message] = [msg]
    visited = 0
    while stack and visited < MAX_PARTS:
        part = stack.pop(0)
        visited += 1
        ctype = part.get_content_type()
        if ctype in ("message/delivery-status", "message/global-delivery-status"):
            found.status_reports.append(_message_payload_text(part))
        elif ctype in ("message/rfc822", "message/global"):
            inner = part.get_payload()
            inner = inner[0] if isinstance(inner, list) and inner else inner
            if isinstance(inner, Message):
                found.returned.append(inner)
        elif ctype in ("text/rfc822-headers", "text/global-headers"):
            found.returned_headers.append(_decoded_text(part))
        elif part.is_multipart():
            payload = part.get_payload()
            if isinstance(payload, list):
                stack[0:0] = [p for p in payload if isinstance(p, Message)]
        elif ctype == "text/plain" and part.get_content_disposition() != "attachment":
            found.texts.append(_decoded_text(part))
        elif ctype == "text/html" and part.get_content_disposition() != "attachment":
            html.append(_TAG_RE.sub(" ", _decoded_text(part)))
    if not found.texts:
        found.texts = html
    return found


# --- DSN (RFC 3464) ----------------------------------------------------------------------


def _field_blocks(text: str) -> list[dict[str, str]]:
    """RFC 3464 section 2.1: groups of RFC 822-style fields separated by blank lines.

    Keys are lower-cased; folded lines (RFC 5322 section 2.2.3) are unfolded.
    """
    blocks: list[dict[str, str]] = []
    current: dict[str, str] = {}
    last: str | None = None
    for line in text.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            if current:
                blocks.append(current)
            current, last = {}, None
        elif line[0] in " \t" and last is not None:
            current[last] += " " + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            last = key.strip().lower()
            current.setdefault(last, value.strip())
            if current[last] != value.strip():  # repeated field: keep the first (RFC 3464 allows one)
                last = None
    if current:
        blocks.append(current)
    return blocks


def _typed_value(value: str) -> str:
    """`rfc822; jan@example.be` -> `jan@example.be` (RFC 3464 section 2.1.2 address-type ; address)."""
    _, sep, rest = value.partition(";")
    return (rest if sep else value).strip().strip("<>").strip()


def _dsn_recipients(reports: list[str]) -> tuple[list[BouncedRecipient], str | None]:
    recipients: list[BouncedRecipient] = []
    envelope_id: str | None = None
    for report in reports:
        blocks = _field_blocks(report)
        for block in blocks:
            if "original-envelope-id" in block and envelope_id is None:
                envelope_id = block["original-envelope-id"].strip() or None
            # RFC 3464 section 2.3.1: Original-Recipient is the address as we gave it in RCPT TO
            # (ORCPT); Final-Recipient may be an alias's target. Our contact is the former.
            address = _typed_value(block.get("original-recipient") or block.get("final-recipient") or "")
            if not address:
                continue  # the per-message block (RFC 3464 section 2.2)
            status = extract_status(block.get("status"))
            diagnostic = _typed_value(block["diagnostic-code"]) if "diagnostic-code" in block else None
            action = block.get("action", "").strip().lower()
            if not action:  # section 2.3.3 makes Action required; infer from the status class
                action = {"5": "failed", "4": "delayed", "2": "delivered"}.get((status or " ")[0], "failed")
            if action not in ("failed", "delayed"):
                continue  # delivered, relayed, expanded: not a failure
            # Exim and Exchange write `Status: 5.0.0` and the real code in Diagnostic-Code.
            detailed = extract_status(diagnostic)
            if detailed and (status is None or (status.endswith(".0.0") and detailed[0] == status[0])):
                status = detailed
            kind, reason = classify(status, diagnostic, action)
            recipients.append(BouncedRecipient(address.lower(), kind, status, diagnostic, reason, action))
    return recipients, envelope_id


# --- non-standard bounces ------------------------------------------------------------------

# (format, marker) pairs found in the body of the report; markers are lower-case.
_BODY_MARKERS: tuple[tuple[str, str], ...] = (
    ("qmail", "this is the qmail-send program"),
    ("exim", "this message was created automatically by mail delivery software"),
    ("postfix", "this is the mail system at host"),
    ("postfix", "i'm sorry to have to inform you that your message could not"),
    ("exchange", "delivery has failed to these recipients or groups"),
    ("exchange", "levering is mislukt voor deze ontvangers of groepen"),
    ("exchange", "la remise a échoué pour les destinataires ou groupes suivants"),
    ("exchange", "diagnostic information for administrators"),
    ("generic", "couldn't be delivered"),
    ("gmail", "** address not found **"),
    ("gmail", "** message not delivered **"),
    ("gmail", "your message wasn't delivered to"),
    ("gmail", "there was a temporary problem delivering your message"),
    ("gmail", "delivery to the following recipient failed"),
    ("generic", "was undeliverable"),
    ("generic", "could not be delivered to one or more recipients"),
    ("generic", "message could not be delivered"),
    ("generic", "delivery failed"),
)
_BOUNCE_SENDER_RE = re.compile(r"^(?:mailer-daemon|mailer_daemon|mail-daemon|mailerdaemon|postmaster|mdaemon)@")
_BOUNCE_SUBJECT_RE = re.compile(
    r"undeliver|undelivered mail|returned mail|delivery status notification|delivery (?:status )?failure"
    r"|mail delivery failed|failure notice|delivery has failed|non remis|onbestelbaar|unzustellbar"
    r"|niet bezorgd|message not delivered|could not send message|delayed mail|delivery delayed"
)
# Where the returned original starts inside a plain-text report; addresses below it are the
# original's headers, not failed recipients.
_ORIGINAL_MARKER_RE = re.compile(
    r"^[ \t]*(?:-{2,}[ \t]*)?(?:below this line is a copy of the message|this is a copy of the message"
    r"|original message|original message headers|undelivered message|the original message"
    r"|message headers follow)",
    re.IGNORECASE | re.MULTILINE,
)
_ADDRESS_RE = re.compile(
    r"[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
    r"(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+"
)
# qmail QSBMF (cr.yp.to/proto/qsbmf.txt) and Postfix bounce(8): a paragraph per recipient
# starting "<address>:" (Postfix may add " (expanded from <alias>)").
_ANGLE_PARAGRAPH_RE = re.compile(
    r"^<([^<>\s]{1,254}@[^<>\s]{1,254})>(?: \(expanded from <?([^<>()\s]{1,254}@[^<>()\s]{1,254})>?\))?:[ \t]*(.*)$"
)
# Exim: "The following address(es) failed:" / "...has not yet been delivered is:" then
# two-space indented addresses, each followed by a deeper indented reason.
_EXIM_LIST_RE = re.compile(
    r"following address(?:\(es\)|es)? failed:|address(?:es)? to which the message has not yet been delivered (?:is|are):",
    re.IGNORECASE,
)


def _relevant_text(text: str) -> str:
    match = _ORIGINAL_MARKER_RE.search(text)
    return text[: match.start()] if match else text


def _angle_paragraphs(text: str) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    lines = text.replace("\r\n", "\n").split("\n")
    index = 0
    while index < len(lines):
        match = _ANGLE_PARAGRAPH_RE.match(lines[index])
        index += 1
        if not match:
            continue
        reason = [match.group(3).strip()]
        while index < len(lines) and lines[index].strip() and not _ANGLE_PARAGRAPH_RE.match(lines[index]):
            reason.append(lines[index].strip())
            index += 1
        # "(expanded from <alias>)": the alias is the address we sent to (as Original-Recipient).
        found.append((match.group(2) or match.group(1), " ".join(r for r in reason if r)))
    return found


def _exim_list(text: str) -> list[tuple[str, str]]:
    match = _EXIM_LIST_RE.search(text)
    if not match:
        return []
    found: list[tuple[str, list[str]]] = []
    for line in text[match.end():].replace("\r\n", "\n").split("\n")[1:]:
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" \t"))
        if indent == 0:
            break
        address = _ADDRESS_RE.fullmatch(line.strip().strip("<>"))
        if indent <= 2 and address:
            found.append((address.group(0), []))
        elif found:
            found[-1][1].append(line.strip())
    return [(address, " ".join(reason)) for address, reason in found]


def _nearby_addresses(text: str, ignore: set[str]) -> list[tuple[str, str]]:
    """Every address in the report with the lines around each mention as its diagnostic."""
    lines = text.replace("\r\n", "\n").split("\n")
    order: list[str] = []
    windows: dict[str, list[str]] = {}
    for index, line in enumerate(lines):
        for match in _ADDRESS_RE.finditer(line):
            address = match.group(0).strip(".").lower()
            if address in ignore or _BOUNCE_SENDER_RE.match(address) or address.startswith(VERP_LOCAL_PREFIX):
                continue
            if address not in windows:
                order.append(address)
                windows[address] = []
            end = index + 1
            while end < len(lines) and end - index < 6 and lines[end].strip():
                end += 1
            windows[address].extend(l.strip() for l in lines[index:end] if l.strip())
    return [(address, " ".join(windows[address])) for address in order]


def _non_standard(texts: list[str], ignore: set[str], subject: str, sender: str) -> tuple[bool, list[BouncedRecipient]]:
    body = "\n".join(texts)
    lowered = body.lower()
    formats = {name for name, marker in _BODY_MARKERS if marker in lowered}
    from_daemon = bool(_BOUNCE_SENDER_RE.match(sender)) or sender == ""
    bounce_subject = bool(_BOUNCE_SUBJECT_RE.search(subject.lower()))
    # A format-specific marker is enough; the generic phrases ("was undeliverable", "delivery
    # failed") also occur in mail written by people, so they need a daemon sender or a bounce
    # subject as well; with neither marker, both are needed.
    strong = bool(formats - {"generic"})
    if not (strong or ("generic" in formats and (from_daemon or bounce_subject)) or (from_daemon and bounce_subject)):
        return False, []
    text = _relevant_text(body)
    pairs: list[tuple[str, str]] = []
    delayed = "has not yet been delivered" in lowered or "delivery attempts will continue" in lowered or "will retry" in lowered
    if "qmail" in formats or "postfix" in formats:
        pairs = _angle_paragraphs(text)
    if not pairs and "exim" in formats:
        pairs = _exim_list(text)
    if not pairs:
        pairs = _nearby_addresses(text, ignore)
    unique: dict[str, str] = {}
    for address, diagnostic in pairs:
        if address.lower() not in ignore:
            unique.setdefault(address.lower(), diagnostic)
    recipients: list[BouncedRecipient] = []
    action = "delayed" if delayed else "failed"
    for address, diagnostic in unique.items():
        # With one recipient the whole report speaks about it: Gmail and Exchange name the
        # address in one sentence and quote the server's answer paragraphs later.
        context = text if len(unique) == 1 else diagnostic
        status = extract_status(diagnostic) or extract_status(context)
        kind, reason = classify(status, context, action)
        recipients.append(BouncedRecipient(address, kind, status, diagnostic.strip()[:1000] or None, reason, action))
    return True, recipients


# --- auto-replies (RFC 3834) -------------------------------------------------------------

_AUTO_REPLY_SUBJECT_RE = re.compile(
    r"^\s*(?:(?:re|aw|tr|fw|fwd|antw)\s*:\s*)*(?:out of (?:the )?office|automatic reply|auto(?:matic)?[- ]?(?:reply|response)"
    r"|autoreply|automatisch antwoord|afwezig|r[ée]ponse automatique|absent|abwesen|automatische antwort|vacation|auto:)",
    re.IGNORECASE,
)


def _is_auto_reply(msg: Message, subject: str) -> bool:
    # RFC 3834 section 5.1: "auto-replied" marks automatic responses.
    if _header(msg, "Auto-Submitted").strip().lower().startswith("auto-replied"):
        return True
    if msg.get("X-Autoreply") is not None or msg.get("X-Autorespond") is not None:
        return True
    if _header(msg, "Precedence").strip().lower() == "auto_reply":
        return True
    return bool(_AUTO_REPLY_SUBJECT_RE.match(subject))


# --- the entry point -----------------------------------------------------------------------

_MESSAGE_ID_RE = re.compile(r"^message-id:[ \t]*(?:\r?\n[ \t]+)?(<[^<>\s]{1,500}>)", re.IGNORECASE | re.MULTILINE)
_VERP_RE = re.compile(re.escape(VERP_LOCAL_PREFIX) + r"([A-Za-z0-9._=-]{1,120})@", re.IGNORECASE)


def _original_message_id(found: _Walk) -> str | None:
    for returned in found.returned:
        value = _header(returned, "Message-ID").strip()
        if value:
            return value
    for text in found.returned_headers + found.texts:
        match = _MESSAGE_ID_RE.search(text)
        if match:
            return match.group(1)
    return None


def _verp_token(msg: Message, found: _Walk) -> str | None:
    """Our token from where the bounce was delivered, or from the returned original's Return-Path."""
    candidates = [_header(msg, name) for name in ("Delivered-To", "X-Original-To", "Envelope-To", "To", "Return-Path")]
    candidates += [_header(returned, "Return-Path") for returned in found.returned]
    candidates += found.returned_headers
    for value in candidates:
        match = _VERP_RE.search(value or "")
        if match:
            return match.group(1)
    return None


def parse_bounce(raw: bytes) -> BounceReport:
    """Examine one inbound message; see the module docstring for the order of checks."""
    if not isinstance(raw, (bytes, bytearray)):
        raise BounceParseError("bounce.type", f"a message is bytes, got {type(raw).__name__}")
    if len(raw) > MAX_BOUNCE_BYTES:
        raise BounceParseError("bounce.too_large", f"message is {len(raw)} bytes; the limit is {MAX_BOUNCE_BYTES}")
    if not raw.strip():
        raise BounceParseError("bounce.empty", "message is empty")
    try:
        # compat32 never raises on header access; the default policy's header parser has
        # raised IndexError / AttributeError on crafted addresses in past CPython releases.
        msg = email.message_from_bytes(bytes(raw), policy=email.policy.compat32)
        has_headers = bool(msg.keys())
        if has_headers:
            return _analyse(msg)
    except _STDLIB_ERRORS as exc:
        # The stdlib parser is lenient but not total (charset and recursion errors on crafted
        # input); a message it cannot take apart is reported, never propagated as a crash.
        raise BounceParseError("bounce.mime", f"the MIME structure cannot be read: {exc.__class__.__name__}") from exc
    # Binary garbage, a stray text: every mail (and every bounce) starts with header fields
    # (RFC 5322 section 2.1). Said plainly instead of "not a bounce, no VERP token".
    raise BounceParseError("bounce.no_headers", "not an RFC 822 message: it has no header fields")


_STDLIB_ERRORS = (ValueError, LookupError, UnicodeError, TypeError, AttributeError, IndexError, RecursionError, MessageError)


def _analyse(msg: Message) -> BounceReport:
    found = _walk(msg)
    subject = _header(msg, "Subject")
    from_addresses = _addresses(msg, "From")
    sender = from_addresses[0] if from_addresses else ""
    return_path = _header(msg, "Return-Path").strip()
    if return_path == "<>":  # RFC 5321 section 4.5.5: bounces have a null reverse-path
        sender = ""
    ignore = set(_addresses(msg, "To", "Delivered-To", "X-Original-To", "Envelope-To", "From"))
    original_id = _original_message_id(found)
    token = _verp_token(msg, found)

    # RFC 6522 section 3: the report type is a parameter of multipart/report; we also accept a
    # delivery-status part under a missing or misspelt report-type, as some MTAs send.
    if found.status_reports:
        recipients, envelope_id = _dsn_recipients(found.status_reports)
        return BounceReport(bool(recipients), MessageKind.DSN, tuple(recipients), original_id, token, envelope_id)

    is_bounce, recipients = _non_standard(found.texts, ignore, subject, sender)
    if is_bounce:
        return BounceReport(True, MessageKind.NON_STANDARD_BOUNCE, tuple(recipients), original_id, token)
    if _is_auto_reply(msg, subject):
        return BounceReport(False, MessageKind.AUTO_REPLY, (), original_id, token)
    return BounceReport(False, MessageKind.NOT_A_BOUNCE, (), None, token)

def iter_hard_addresses(report: BounceReport) -> Iterator[str]:
    """Addresses to mark invalid (`ContactValidity.BOUNCED`)."""
    return (r.address for r in report.recipients if r.kind is FailureKind.HARD)
