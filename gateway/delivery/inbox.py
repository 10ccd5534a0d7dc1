"""The callback inbox: every verified callback is stored once, then applied by a worker.

`store_many` inserts with insert-on-conflict-do-nothing on (source, external_id) and queues the
apply job only for new rows, so a provider that repeats a callback (they all do) causes one
state change at most. The raw body is what is stored; the worker re-parses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from gateway.channels.base import CallbackEvent
from gateway.kit.ids import new_id
from gateway.store.models import InboundEvent
from gateway.workers import queue

APPLY = "inbox.apply"
STORED_HEADERS = ("content-type", "x-signature", "x-timestamp", "x-event-id", "user-agent")  # enough to audit, no secrets
_TABLE = InboundEvent.__table__  # Core statements: intake is the hottest write path (no ORM unit of work needed)


@dataclass(frozen=True)
class Arrival:
    """One verified callback: the events it carries, as received."""

    source: str
    events: tuple[CallbackEvent, ...]
    headers: dict[str, str]
    body: bytes
    received_at: datetime


def store(session: Session, source: str, event: CallbackEvent, *, headers: dict[str, str], body: bytes, now: datetime) -> bool:
    """Store one event of a verified callback; True when it is new."""
    return store_many(session, [Arrival(source, (event,), headers, body, now)])[0] == 1


def store_many(session: Session, arrivals: list[Arrival]) -> list[int]:
    """Store the events of several callbacks in the caller's transaction; per callback, how many were new.

    One INSERT for all rows and one for their apply jobs. An event repeated within the batch (a
    provider retrying while its first try is still in flight) counts as new once, for the
    first callback that carried it."""
    rows, owner = [], {}
    for index, arrival in enumerate(arrivals):
        kept = {name: value for name, value in arrival.headers.items() if name.lower() in STORED_HEADERS}
        for event in arrival.events:
            key = (arrival.source, event.external_id)
            if key in owner:
                continue
            owner[key] = index
            rows.append({"id": new_id(), "source": arrival.source, "external_id": event.external_id, "received_at": arrival.received_at,
                         "headers": kept, "body": arrival.body, "created_at": arrival.received_at})
    created = [0] * len(arrivals)
    if not rows:
        return created
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    statement = (
        insert(_TABLE).values(rows).on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(_TABLE.c.id, _TABLE.c.source, _TABLE.c.external_id)
    )
    new = session.execute(statement).all()
    jobs = []
    for event_id, source, external_id in new:
        created[owner[(source, external_id)]] += 1
        received_at = arrivals[owner[(source, external_id)]].received_at
        jobs.append(queue.job_row(APPLY, {"event_id": str(event_id)}, now=received_at, dedup_key=f"{APPLY}:{event_id}"))
    queue.enqueue_many(session, jobs)
    return created


def event_of(stored: InboundEvent, events: list[CallbackEvent]) -> CallbackEvent | None:
    return next((event for event in events if event.external_id == stored.external_id), None)
