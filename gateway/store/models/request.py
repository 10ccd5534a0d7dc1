from __future__ import annotations

import uuid

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, RecordMixin


class IdempotencyRecord(RecordMixin, Base):
    """The first response to an Idempotency-Key, replayed for the same key and body."""

    __tablename__ = "idempotency_record"
    __table_args__ = (UniqueConstraint("creditor_id", "key"),)

    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"))
    key: Mapped[str] = mapped_column(String(200))
    method_path: Mapped[str] = mapped_column(String(200))
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[dict] = mapped_column(JSON)
