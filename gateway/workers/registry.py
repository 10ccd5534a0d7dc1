"""Job handlers by kind. A handler receives (task, payload, now): `task.session` is a task scope
that commits when the handler returns, `task.settings` the worker's settings. It raises
`RetryableError` to be tried again later."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.config import Settings


@dataclass(frozen=True)
class Task:
    session: Session
    settings: Settings


Handler = Callable[[Task, dict, datetime], None]
HANDLERS: dict[str, Handler] = {}


def handler(kind: str) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        return function

    return register
