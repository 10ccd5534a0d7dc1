from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, RecordMixin
from gateway.store.types import UTCDateTime


class InboundEvent(RecordMixin, Base):
    """A verified callback, stored before it is acted on; duplicates collapse on (source, external_id)."""

    __tablename__ = "inbound_event"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    source: Mapped[str] = mapped_column(String(64))
    external_id: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    headers: Mapped[dict] = mapped_column(JSON, default=dict)
    body: Mapped[bytes] = mapped_column(LargeBinary)
    handled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    error: Mapped[str | None] = mapped_column(Text)
