"""Append-only audit trail: every change to claims, contacts, consents, holds and payments."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

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
    session.add(
        AuditEvent(
            at=at,
            actor=actor,
            creditor_id=creditor_id,
            entity_type=entity_type,
            entity_id=entity_id,
            action=action,
            data=data or {},
        )
    )


def event_row(*, actor: str, creditor_id: uuid.UUID | None, entity_type: str, entity_id: uuid.UUID, action: str, data: dict | None = None, at: datetime) -> dict:
    """An audit event as a row, for `record_many`."""
    return {"at": at, "actor": actor, "creditor_id": creditor_id, "entity_type": entity_type, "entity_id": entity_id, "action": action, "data": data or {}}


def record_many(session: Session, rows: list[dict]) -> None:
    """Append many events in one statement (bulk intake)."""
    if rows:
        session.execute(insert(AuditEvent), rows)
