"""Poll eBox read receipts into the callback inbox (the eBox does not push to senders).

`poll_read_receipts` lists the eBox dispatches that are `delivered` (published, not yet read),
asks the status endpoint about each outside any transaction, and stores every status answer
in the inbox under source "ebox" like a callback (unique on `{messageId}:read`), so the
inbox worker applies it exactly as it applies pushed reports: a repeated poll stores nothing
new and a read receipt moves the dispatch to `read` once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from gateway.channels.ebox.provider import EboxProvider
from gateway.delivery import inbox
from gateway.domain.transmission import DeliveryState
from gateway.errors import RetryableError, TerminalError
from gateway.store.models import Dispatch
from gateway.store.session import Database

POLL_BATCH = 200  # status calls per run; the rest wait for the next run


def poll_read_receipts(database: Database, provider: EboxProvider, *, now: datetime, limit: int = POLL_BATCH) -> int:
    """Store new read receipts; returns how many new inbox events were stored."""
    with database.session_scope() as session:
        message_ids = session.scalars(
            select(Dispatch.provider_message_id)
            .where(Dispatch.channel == provider.channel, Dispatch.state == DeliveryState.DELIVERED.value, Dispatch.provider_message_id.is_not(None))
            .order_by(Dispatch.updated_at)
            .limit(limit)
        ).all()
    answers = []
    for message_id in message_ids:
        try:
            answers.append(provider.client.status(message_id))
        except (RetryableError, TerminalError):
            continue  # asked again on the next run
    stored = 0
    with database.session_scope() as session:
        for answer in answers:
            events = [event for event in provider.parse_callback({}, answer.body) if event.state is DeliveryState.READ]
            stored += sum(inbox.store(session, provider.source, event, headers={"content-type": "application/json"}, body=answer.body, now=now) for event in events)
    return stored
