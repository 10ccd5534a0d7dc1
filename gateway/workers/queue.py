"""The transactional outbox: jobs are rows, written in the transaction that caused them.

Claiming a job is its own short transaction: PostgreSQL picks a row with
`FOR UPDATE SKIP LOCKED`, so several worker processes share the table without blocking or
double-claiming; SQLite serialises writers (BEGIN IMMEDIATE) and runs one worker process at a
time (a file lock in `gateway.workers.run`). After the claim commits, the handler runs in a
fresh transaction; only then is the job marked done. A worker that dies leaves its job
`running`; the sweeper puts jobs whose lease is older than `worker_stale_after_seconds` back.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from gateway.kit.ids import new_id
from gateway.store.models import Job


def job_row(kind: str, payload: dict, *, now: datetime, dedup_key: str | None = None, run_after: datetime | None = None) -> dict:
    return {"id": new_id(), "kind": kind, "payload": payload, "dedup_key": dedup_key, "state": "pending", "run_after": run_after or now, "attempts": 0, "created_at": now}


def enqueue(session: Session, kind: str, payload: dict, *, now: datetime, dedup_key: str | None = None, run_after: datetime | None = None) -> None:
    """Add a job in the caller's transaction. A dedup key is unique: the same logical job can't be queued twice."""
    enqueue_many(session, [job_row(kind, payload, now=now, dedup_key=dedup_key, run_after=run_after)])


def enqueue_many(session: Session, rows: list[dict]) -> None:
    if rows:
        session.execute(insert(Job.__table__), rows)  # Core: rows from `job_row` are complete, no ORM bookkeeping needed


@dataclass(frozen=True)
class ClaimedJob:
    id: uuid.UUID
    kind: str
    payload: dict
    attempts: int  # including this one


_JOB = Job.__table__


def claim_next(session: Session, worker_id: str, *, now: datetime, kinds: list[str] | None = None) -> ClaimedJob | None:
    """Lease the oldest due pending job to `worker_id`. The caller commits right after.

    One statement: the UPDATE's subquery picks the row (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so
    concurrent workers each get another row and never wait on one another)."""
    pick = select(_JOB.c.id).where(_JOB.c.state == "pending", _JOB.c.run_after <= now)
    if kinds:
        pick = pick.where(_JOB.c.kind.in_(kinds))
    pick = pick.order_by(_JOB.c.run_after, _JOB.c.id).limit(1)
    if session.get_bind().dialect.name == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    statement = (
        update(_JOB).where(_JOB.c.id == pick.scalar_subquery())
        .values(state="running", locked_by=worker_id, locked_at=now, attempts=_JOB.c.attempts + 1)
        .returning(_JOB.c.id, _JOB.c.kind, _JOB.c.payload, _JOB.c.attempts)
    )
    row = session.execute(statement).first()
    return ClaimedJob(*row) if row is not None else None


def complete(session: Session, job_id: uuid.UUID, *, now: datetime) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(state="done", finished_at=now, locked_by=None))


def retry_later(session: Session, job_id: uuid.UUID, error: str, *, now: datetime, delay: timedelta) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(state="pending", run_after=now + delay, last_error=error[:2000], locked_by=None))


def fail(session: Session, job_id: uuid.UUID, error: str, *, now: datetime) -> None:
    session.execute(update(Job).where(Job.id == job_id).values(state="failed", finished_at=now, last_error=error[:2000], locked_by=None))


def requeue_stale(session: Session, *, now: datetime, stale_after: timedelta) -> int:
    """Put back jobs whose worker died mid-run (its lease is older than `stale_after`)."""
    result = session.execute(
        update(Job).where(Job.state == "running", Job.locked_at < now - stale_after).values(state="pending", locked_by=None)
    )
    return result.rowcount or 0

