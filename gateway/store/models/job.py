from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, RecordMixin
from gateway.store.types import UTCDateTime


class Job(RecordMixin, Base):
    """Transactional outbox: outgoing work written in the same transaction as the change that caused it."""

    __tablename__ = "job"

    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    # Unique while set: the same logical job (e.g. "issue claim X") is enqueued at most once.
    dedup_key: Mapped[str | None] = mapped_column(String(200), unique=True)
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)  # pending, running, done, failed
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    locked_by: Mapped[str | None] = mapped_column(String(100))
    locked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
