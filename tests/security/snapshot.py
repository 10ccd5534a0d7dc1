"""Whole-database snapshots: prove that a series of refused requests changed nothing."""

from __future__ import annotations

from sqlalchemy import select

from gateway.store.base import Base
from gateway.store.session import Database


def snapshot(database: Database, *, skip: frozenset[str] = frozenset()) -> dict[str, dict[tuple, tuple]]:
    """table name -> {primary key: the row's values}, for every table of the model but `skip`."""
    result: dict[str, dict[tuple, tuple]] = {}
    with database.engine.connect() as connection:
        for table in Base.metadata.sorted_tables:
            if table.name in skip:
                continue
            keys = [column.name for column in table.primary_key.columns]
            rows = connection.execute(select(table)).mappings().all()
            result[table.name] = {tuple(row[k] for k in keys): tuple(row.values()) for row in rows}
    return result


def changes(before: dict, after: dict) -> tuple[list[str], dict[str, list[tuple]]]:
    """(descriptions of rows changed or deleted, {table: new rows})."""
    changed: list[str] = []
    added: dict[str, list[tuple]] = {}
    for name, rows in before.items():
        now = after[name]
        for key, values in rows.items():
            if key not in now:
                changed.append(f"{name} {key} deleted")
            elif now[key] != values:
                changed.append(f"{name} {key} changed: {values} -> {now[key]}")
        new = [values for key, values in now.items() if key not in rows]
        if new:
            added[name] = new
    return changed, added
