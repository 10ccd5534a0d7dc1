"""Job handlers by kind. A handler receives (task, payload, now): `task.session` is a task scope
that commits when the handler returns, `task.settings` the worker's settings. It raises
`RetryableError` to be tried again later."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from gateway.config import Settings


@dataclass(frozen=True)
class Task:
    """What a handler gets. `session` is the task scope (None for a handler registered with
    `own_transactions=True`, which opens its own short transactions on `database`, e.g. to
    commit before calling a provider)."""

    session: Session | None
    settings: Settings
    database: Any = None
    providers: Any = None


Handler = Callable[[Task, dict, datetime], None]
HANDLERS: dict[str, Handler] = {}
OWN_TRANSACTIONS: set[str] = set()


def handler(kind: str, *, own_transactions: bool = False) -> Callable[[Handler], Handler]:
    def register(function: Handler) -> Handler:
        HANDLERS[kind] = function
        if own_transactions:
            OWN_TRANSACTIONS.add(kind)
        return function

    return register
