"""Append-only audit trail: every change to claims, contacts, consents, holds and payments."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from gateway.services import events
from gateway.store.models import AuditEvent


def record(
    session: Session,
    *,
    actor: str,
    creditor_id: uuid.UUID | None,
    entity_type: str,
    entity_id: uuid.UUID,
    action: str,
    data: dict | None = None,
    at: datetime,
) -> None:
    record_many(session, [event_row(actor=actor, creditor_id=creditor_id, entity_type=entity_type, entity_id=entity_id, action=action, data=data, at=at)])


def event_row(*, actor: str, creditor_id: uuid.UUID | None, entity_type: str, entity_id: uuid.UUID, action: str, data: dict | None = None, at: datetime) -> dict:
    """An audit event as a row, for `record_many`."""
    return {"at": at, "actor": actor, "creditor_id": creditor_id, "entity_type": entity_type, "entity_id": entity_id, "action": action, "data": data or {}}


def record_many(session: Session, rows: list[dict]) -> None:
    """Append events in one statement, at once (a Core INSERT: no unit-of-work bookkeeping; the
    table has no foreign keys that pending objects would have to satisfy first)."""
    if rows:
        session.execute(insert(AuditEvent.__table__), rows)
    for row in rows:
        if row["action"] in events.EVENT_TYPES:
            events.publish_from_audit(session, **{name: row[name] for name in ("creditor_id", "entity_type", "entity_id", "action", "data", "at")})
