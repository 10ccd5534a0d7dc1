"""SMS delivery receipts (DLR): the SMPP receipt text and its `stat` mapped in one table.

SMPP 3.4 Appendix B delivery receipt (the short message text of a `deliver_sm` with
esm_class "SMSC Delivery Receipt"):

    id:IIIIIIIIII sub:SSS dlvrd:DDD submit date:YYMMDDhhmm done date:YYMMDDhhmm stat:DDDDDDD err:E text: ...

`stat` is the 7-letter abbreviation of the SMPP 3.4 section 5.2.28 message_state. The table
below is the only place where a `stat` becomes one of our states (DESIGN.md section 3).

Columns:
- `state`: the canonical delivery state the dispatch moves to;
- `final`: no further receipt is expected for this SMSC message (a later receipt for the same
  id is recorded but cannot move the state back);
- `contact_invalid`: the number itself is bad, so the debtor's phone contact is marked
  `unreachable` and a repair is asked for (DESIGN.md section 2, step 6). A permanent failure
  without it (REJECTD, DELETED) still tries the next channel but keeps the number.

Why these rows (docs/channels-and-law.md section 7.5):
- ACCEPTD is *not* our `accepted`: that state is a buyer's business acceptance. An SMSC that
  reports ACCEPTD has taken the message on (SMPP 3.4: "accepted", e.g. read by customer
  service on the subscriber's behalf, and in practice used as "accepted by the operator");
  delivery is not confirmed, so the dispatch stays `sent`.
- EXPIRED: the validity period passed with the handset off or out of reach. The number is
  fine; try again later or over another channel: `failed_temporary`.
- UNDELIV: invalid or inactive number: `failed_permanent`, and the contact is invalid.
- REJECTD: refused by the operator or route (blacklist, barring, spam filter). Retrying the
  same message will not help (`failed_permanent`), but the number is not proven wrong.
- DELETED: removed from the SMSC queue by an operator: `failed_permanent` for this message,
  the number is not to blame.
- UNKNOWN: the SMSC does not know the state. Stay `sent`; the delivery sweeper expires an
  unacknowledged `sent` dispatch (EXPIRED after the validity period is the usual follow-up).
- ENROUTE: intermediate, still `sent`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from gateway.channels.delivery_state import DeliveryState


class DlrError(ValueError):
    """A receipt cannot be read or carries a `stat` the table does not know."""


@dataclass(frozen=True)
class DlrOutcome:
    state: DeliveryState
    final: bool
    contact_invalid: bool


S = DeliveryState

DLR_TABLE: dict[str, DlrOutcome] = {
    "DELIVRD": DlrOutcome(S.DELIVERED, final=True, contact_invalid=False),
    "ACCEPTD": DlrOutcome(S.SENT, final=False, contact_invalid=False),
    "ENROUTE": DlrOutcome(S.SENT, final=False, contact_invalid=False),
    "UNKNOWN": DlrOutcome(S.SENT, final=False, contact_invalid=False),
    "EXPIRED": DlrOutcome(S.FAILED_TEMPORARY, final=True, contact_invalid=False),
    "UNDELIV": DlrOutcome(S.FAILED_PERMANENT, final=True, contact_invalid=True),
    "REJECTD": DlrOutcome(S.FAILED_PERMANENT, final=True, contact_invalid=False),
    "DELETED": DlrOutcome(S.FAILED_PERMANENT, final=True, contact_invalid=False),
}

# Canonical states after which the SMS channel moves a dispatch no further. `delivered` is
# terminal *for the channel*: read, accepted, rejected and paid come from other sources.
TERMINAL_STATES = frozenset({S.DELIVERED, S.FAILED_PERMANENT})


def map_stat(stat: str) -> DlrOutcome:
    """The row for an SMPP `stat` value (case-insensitive); unknown values raise DlrError."""
    try:
        return DLR_TABLE[stat.strip().upper()]
    except KeyError:
        raise DlrError(f"unknown DLR stat {stat!r}; known: {', '.join(DLR_TABLE)}") from None


def is_terminal(state: DeliveryState) -> bool:
    return state in TERMINAL_STATES


@dataclass(frozen=True)
class DeliveryReceipt:
    message_id: str
    submitted: int | None
    delivered: int | None
    submit_date: datetime | None  # SMSC local time, as sent; the receipt carries no zone
    done_date: datetime | None
    stat: str
    err: str | None
    text: str | None

    @property
    def outcome(self) -> DlrOutcome:
        return map_stat(self.stat)


# Field names per SMPP 3.4 Appendix B; "submit date" and "done date" contain a space. Values
# run up to the next known field name, so an `id` with odd characters still parses.
_FIELD_RE = re.compile(r"(?i)\b(id|sub|dlvrd|submit date|done date|stat|err|text):")
MAX_RECEIPT_CHARS = 1024  # a receipt rides in one short message; anything longer is not one


def _date(value: str | None) -> datetime | None:
    if not value:
        return None
    # YYMMDDhhmm; some SMSCs add seconds. strptime accepts 1-digit fields, so check the length.
    formats = {10: "%y%m%d%H%M", 12: "%y%m%d%H%M%S"}
    if not value.isdigit() or len(value) not in formats:
        raise DlrError(f"a DLR date is YYMMDDhhmm[ss], got {value!r}")
    try:
        return datetime.strptime(value, formats[len(value)])
    except ValueError:
        raise DlrError(f"a DLR date is YYMMDDhhmm[ss], got {value!r}") from None


def _int(value: str | None) -> int | None:
    if value is None or value == "":
        return None
    if not value.isdigit():
        raise DlrError(f"a DLR counter is digits, got {value!r}")
    return int(value)


def parse_receipt(text: str) -> DeliveryReceipt:
    """Parse the SMPP delivery receipt text; `id` and `stat` are required."""
    if len(text) > MAX_RECEIPT_CHARS:
        raise DlrError(f"a delivery receipt is at most {MAX_RECEIPT_CHARS} characters")
    matches = list(_FIELD_RE.finditer(text))
    fields: dict[str, str] = {}
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        fields.setdefault(match.group(1).lower(), text[match.end():end].strip())
    if not fields.get("id") or not fields.get("stat"):
        raise DlrError("a delivery receipt needs id: and stat:")
    stat = fields["stat"].upper()
    map_stat(stat)  # refuse unknown states here, not later in a worker
    return DeliveryReceipt(
        message_id=fields["id"],
        submitted=_int(fields.get("sub")),
        delivered=_int(fields.get("dlvrd")),
        submit_date=_date(fields.get("submit date")),
        done_date=_date(fields.get("done date")),
        stat=stat,
        err=fields.get("err") or None,
        text=fields.get("text") or None,
    )
