from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, RecordMixin
from gateway.store.types import UTCDateTime


class Dispatch(RecordMixin, Base):
    """One row per (document, channel, recipient); its state follows the delivery table."""

    __tablename__ = "dispatch"
    __table_args__ = (UniqueConstraint("document_id", "channel", "recipient"),)

    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("document.id"), index=True)
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claim.id"), index=True)
    channel: Mapped[str] = mapped_column(String(32))
    recipient: Mapped[str] = mapped_column(String(254))
    state: Mapped[str] = mapped_column(String(32), index=True, default="queued")
    # Sent to the provider on every attempt so a retry after a crash is never a second message.
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    provider: Mapped[str | None] = mapped_column(String(64))
    provider_message_id: Mapped[str | None] = mapped_column(String(200), index=True)
    routing_reason: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DispatchAttempt(RecordMixin, Base):
    __tablename__ = "dispatch_attempt"
    __table_args__ = (UniqueConstraint("dispatch_id", "number"),)

    dispatch_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dispatch.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(32))  # sent, failed_temporary, failed_permanent
    provider: Mapped[str | None] = mapped_column(String(64))
    request_id: Mapped[str | None] = mapped_column(String(200))
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(String(2000))
    error_class: Mapped[str | None] = mapped_column(String(100))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
