"""Job handlers by kind. A handler receives (session, payload, now) and runs inside a task scope
that commits when it returns; it raises `RetryableError` to be tried again later."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy.orm import Session

Handler = Callable[[Session, dict, datetime], None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        return function

    return register
