"""Pull feed of status events: `GET /v1/events?after=CURSOR` (the same events the webhooks push)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated

from fastapi import APIRouter, Query

from gateway.api.deps import AUTH_RESPONSES, DatabaseDep, PrincipalDep
from gateway.errors import InvalidInput
from gateway.services import events
from gateway.services.webhooks import event_view

router = APIRouter(prefix="/v1", tags=["events"])

MAX_EVENT_ID = 2**63 - 1
ERRORS = {**AUTH_RESPONSES, 422: {"description": "a parameter breaks a rule"}}


def _encode_cursor(event_id: int) -> str:
    return base64.urlsafe_b64encode(event_id.to_bytes(8, "big")).decode().rstrip("=")


def _decode_cursor(cursor: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error) as exc:
        raise InvalidInput.single("after", "cursor.invalid", "use the next_cursor value of a previous page") from exc
    value = int.from_bytes(raw, "big") if len(raw) == 8 else -1
    # Event ids are signed 64-bit (BIGINT / SQLite INTEGER): 8 bytes above that are no cursor we gave out.
    if not 0 <= value <= MAX_EVENT_ID:
        raise InvalidInput.single("after", "cursor.invalid", "use the next_cursor value of a previous page")
    return value


@router.get("/events", summary="Status events of the key's creditors, oldest first, with cursor paging", responses=ERRORS)
def list_events(
    database: DatabaseDep,
    principal: PrincipalDep,
    after: Annotated[str | None, Query(description="next_cursor of the previous page; omit to start at the oldest event")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict:
    """`next_cursor` is set on every non-empty page: poll with it to get only newer events.

    On PostgreSQL a page never runs past an event whose transaction may still commit (the fence in
    `gateway.services.events`); while such a transaction stays open longer than a few seconds the
    page is empty and `next_cursor` stays where it was, so nothing is ever skipped."""
    after_id = _decode_cursor(after) if after else None
    with database.session_scope() as session:
        rows = events.page(session, sorted(principal.visible_creditor_ids), after=after_id, limit=limit)
        items = [event_view(row) for row in rows]
    return {"items": items, "next_cursor": _encode_cursor(rows[-1].id) if rows else after}
