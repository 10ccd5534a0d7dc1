"""Status events for accounting software, derived in one place: the audit trail.

`audit.record` / `audit.record_many` call `publish_from_audit` for every row, so any code path
that records an event-worthy action also publishes its event, in the same transaction, and no
call site publishes by hand. `EVENT_TYPES` is the single list of what counts as a status event.
Publishing also creates one webhook delivery per active endpoint of the creditor (same
transaction; the jobs run after commit).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.services import webhooks
from gateway.store.models import Event

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


def publish(session: Session, *, creditor_id: uuid.UUID, type: str, claim_id: uuid.UUID | None, data: dict, now: datetime) -> Event:
    event = Event(creditor_id=creditor_id, type=type, claim_id=claim_id, data=data, created_at=now)
    session.add(event)
    session.flush()  # the id orders the feed and keys the webhook deliveries
    webhooks.fan_out(session, event, now=now)
    return event


def publish_from_audit(session: Session, *, creditor_id: uuid.UUID | None, entity_type: str, entity_id: uuid.UUID, action: str, data: dict, at: datetime) -> Event | None:
    kind = event_type(action, data)
    if kind is None or creditor_id is None:
        return None
    claim_id = entity_id if entity_type == "claim" else None
    return publish(session, creditor_id=creditor_id, type=kind, claim_id=claim_id, data={"action": action, **data}, now=at)


def page(session: Session, creditor_ids: list[uuid.UUID], *, after: int | None, limit: int) -> list[Event]:
    query = select(Event).where(Event.creditor_id.in_(creditor_ids))
    if after is not None:
        query = query.where(Event.id > after)
    return list(session.scalars(query.order_by(Event.id).limit(limit)))
