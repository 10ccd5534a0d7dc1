"""Status events for accounting software, derived in one place: the audit trail.

`audit.record` / `audit.record_many` call `publish_from_audit` for every row, so any code path
that records an event-worthy action also publishes its event, in the same transaction, and no
call site publishes by hand. `EVENT_TYPES` is the single list of what counts as a status event.
Publishing also creates one webhook delivery per active endpoint of the creditor (same
transaction; the jobs run after commit).

The pull feed pages by `event.id` (`GET /v1/events?after=CURSOR`), so it must never serve an id
while a lower one may still appear. On SQLite writers are serialised (`BEGIN IMMEDIATE`), so
commit order is id order. On PostgreSQL it is not: a transaction that took id 10 may commit
after one that took id 11, and a reader that saw 11 would skip 10 for ever. The fix here is a
*fence*, not a queue:

- every publishing transaction takes a shared transaction-scoped advisory lock (`FENCE_KEY`)
  before its id is drawn, and keeps it until it commits or rolls back; shared locks never wait
  on each other, so publishers stay fully concurrent;
- a reader first notes the sequence's last value H, then the transactions holding the shared
  lock, waits until those have ended, and serves only ids <= H. Every id <= H was drawn by a
  transaction that held the lock when H was read, so once those are gone each id <= H is
  committed (visible) or rolled back (never will be); ids above H wait for the next poll.

Why not an exclusive per-creditor lock around publication: it would serialise every worker's
transaction tail for a busy creditor (the callback benchmark applies hundreds per second for
one creditor), a key with `--include-children` reads several creditors at once, and a reader
queued for an exclusive lock makes every later publisher wait behind it, which can deadlock
with row locks those publishers hold. Here readers wait, publishers never do.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime

from sqlalchemy import insert, select, text
from sqlalchemy.orm import Session

from gateway.services import webhooks
from gateway.store.models import Event

_EVENT = Event.__table__

# audit action -> event type. A dispatch report that carries an Invoice Response is a buyer response.
EVENT_TYPES = {
    "document.issued": "document.issued",
    "credit_note.issued": "document.issued",
    "dispatch.reported": "dispatch.state_changed",
    "dispatch.fallback": "dispatch.state_changed",
    "payment.recorded": "payment.recorded",
    "reminder.issued": "dunning.step",
}
BUYER_RESPONSE = "buyer.responded"


def event_type(action: str, data: dict) -> str | None:
    kind = EVENT_TYPES.get(action)
    if kind == "dispatch.state_changed" and data.get("response_kind") == "invoice_response":
        return BUYER_RESPONSE
    return kind


# The advisory lock of the feed fence (two-int form: shows in pg_locks as classid, objid, objsubid 2).
# 0x6576656E is "even(t)" in ASCII: a namespace no other advisory lock of the gateway uses.
FENCE_KEY = (0x6576656E, 1)
# A reader waits at most this long for in-flight publishers; past it the page is empty and the
# client polls again with the same cursor (serving past an unsettled id could skip it for ever).
FENCE_WAIT_SECONDS = 5.0
FENCE_POLL_SECONDS = (0.002, 0.05)  # first and largest pause between looks at pg_locks


def _is_postgresql(session: Session) -> bool:
    return session.get_bind().dialect.name == "postgresql"


def publish(session: Session, *, creditor_id: uuid.UUID, type: str, claim_id: uuid.UUID | None, data: dict, now: datetime) -> int:
    """Append an event in the caller's transaction (and its webhook deliveries); returns its id."""
    if _is_postgresql(session):
        # Before the id is drawn, and again on every publish: re-entrant within a transaction, and a
        # rolled-back savepoint (the dunning run uses one per claim) releases what it took.
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:classid, :objid)"), {"classid": FENCE_KEY[0], "objid": FENCE_KEY[1]})
    # A Core INSERT ... RETURNING: the id (which orders the feed) is drawn here, under the fence,
    # without flushing the rest of the unit of work; claim_id has no foreign key to wait for.
    event_id = session.execute(
        insert(_EVENT).values(creditor_id=creditor_id, type=type, claim_id=claim_id, data=data, created_at=now).returning(_EVENT.c.id)
    ).scalar_one()
    webhooks.fan_out(session, event_id=event_id, creditor_id=creditor_id, now=now)
    return event_id


def publish_from_audit(session: Session, *, creditor_id: uuid.UUID | None, entity_type: str, entity_id: uuid.UUID, action: str, data: dict, at: datetime) -> int | None:
    kind = event_type(action, data)
    if kind is None or creditor_id is None:
        return None
    claim_id = entity_id if entity_type == "claim" else None
    return publish(session, creditor_id=creditor_id, type=kind, claim_id=claim_id, data={"action": action, **data}, now=at)


def page(session: Session, creditor_ids: list[uuid.UUID], *, after: int | None, limit: int, wait_seconds: float = FENCE_WAIT_SECONDS) -> list[Event]:
    """Events after `after`, oldest first, never past an id that could still be followed by a lower one."""
    query = select(Event).where(Event.creditor_id.in_(creditor_ids))
    if after is not None:
        query = query.where(Event.id > after)
    if _is_postgresql(session):
        horizon = settled_horizon(session, wait_seconds=wait_seconds)
        if horizon is None:
            return []
        query = query.where(Event.id <= horizon)
    return list(session.scalars(query.order_by(Event.id).limit(limit)))


def settled_horizon(session: Session, *, wait_seconds: float) -> int | None:
    """PostgreSQL: the highest event id below which every id is settled (0 before the first event), or
    None when publishers still running after `wait_seconds` hold it back. See the module docstring."""
    # 1. H: the last id drawn so far (the sequence is not transactional: it counts rolled-back ids too).
    horizon = session.scalar(text("SELECT pg_sequence_last_value(pg_get_serial_sequence('event', 'id')::regclass)")) or 0
    # 2. The transactions that may still hold an id <= H: those holding the fence now. (Read after
    #    H: a transaction that takes the fence from here on draws its id after H.)
    holders = session.scalars(text(
        "SELECT virtualtransaction FROM pg_locks WHERE locktype = 'advisory' AND classid = :classid AND objid = :objid"
        " AND objsubid = 2 AND granted AND pid <> pg_backend_pid()"
    ), {"classid": FENCE_KEY[0], "objid": FENCE_KEY[1]}).all()
    # 3. Wait for them to end (a virtual transaction id is never reused for a later transaction).
    deadline = time.monotonic() + wait_seconds
    pause = FENCE_POLL_SECONDS[0]
    while holders:
        holders = session.scalars(text(
            "SELECT virtualtransaction FROM pg_locks WHERE locktype = 'advisory' AND classid = :classid AND objid = :objid"
            " AND objsubid = 2 AND granted AND virtualtransaction = ANY(:holders)"
        ), {"classid": FENCE_KEY[0], "objid": FENCE_KEY[1], "holders": list(holders)}).all()
        if not holders:
            break
        if time.monotonic() >= deadline:
            return None
        time.sleep(pause)
        pause = min(pause * 2, FENCE_POLL_SECONDS[1])
    return horizon
