"""The callback inbox: every verified callback is stored once, then applied by a worker.

`store` inserts with insert-on-conflict-do-nothing on (source, external_id) and queues the
apply job only for a new row, so a provider that repeats a callback (they all do) causes one
state change at most. The raw body is what is stored; the worker re-parses it.
"""

from __future__ import annotations

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


def store(session: Session, source: str, event: CallbackEvent, *, headers: dict[str, str], body: bytes, now: datetime) -> bool:
    """Store one event of a verified callback; True when it is new."""
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    event_id = new_id()
    kept = {name: value for name, value in headers.items() if name.lower() in STORED_HEADERS}
    statement = (
        insert(InboundEvent)
        .values(id=event_id, source=source, external_id=event.external_id, received_at=now, headers=kept, body=body, created_at=now)
        .on_conflict_do_nothing(index_elements=["source", "external_id"])
        .returning(InboundEvent.id)
    )
    created = session.execute(statement).scalar() is not None
    if created:
        queue.enqueue(session, APPLY, {"event_id": str(event_id)}, now=now, dedup_key=f"{APPLY}:{event_id}")
    return created


def event_of(stored: InboundEvent, events: list[CallbackEvent]) -> CallbackEvent | None:
    return next((event for event in events if event.external_id == stored.external_id), None)


