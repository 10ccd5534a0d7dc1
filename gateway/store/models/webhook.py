"""Status events for accounting software: the pull feed (`event`) and push webhooks.

One `event` row per status change (see `gateway.services.events`); one `webhook_delivery` per
(event, endpoint), unique, so an event reaches an endpoint at most once; one `webhook_attempt`
per HTTP try (rule 6: every attempt is a row).
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import JSON, BigInteger, Boolean, ForeignKey, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from gateway.kit.time import utc_now
from gateway.store.base import Base, RecordMixin
from gateway.store.types import UTCDateTime


class Event(Base):
    """A status event of a creditor. The id is a sequence: it orders the feed and is its cursor."""

    __tablename__ = "event"

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True)
    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"), index=True)
    type: Mapped[str] = mapped_column(String(64))
    claim_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, index=True)
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utc_now)


class WebhookEndpoint(RecordMixin, Base):
    __tablename__ = "webhook_endpoint"

    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    # Shared with the receiver, who verifies X-Gateway-Signature with it; shown once on creation.
    secret: Mapped[str] = mapped_column(String(128))
    # False: disabled (nothing is sent to it; `gateway webhooks enable` / the API turn it back on).
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Removed endpoints keep their row (their deliveries and attempts point at it); inactive for good.
    removed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookDelivery(RecordMixin, Base):
    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("event_id", "endpoint_id"),)

    event_id: Mapped[int] = mapped_column(ForeignKey("event.id"), index=True)
    endpoint_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_endpoint.id"), index=True)
    # pending, in_flight, retrying, delivered, failed; cancelled: its endpoint was disabled or removed before it went out
    state: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class WebhookAttempt(RecordMixin, Base):
    __tablename__ = "webhook_attempt"
    __table_args__ = (UniqueConstraint("delivery_id", "number"),)

    delivery_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("webhook_delivery.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    outcome: Mapped[str | None] = mapped_column(String(16))  # delivered, retrying, failed, abandoned
    status_code: Mapped[int | None] = mapped_column(Integer)
    response_excerpt: Mapped[str | None] = mapped_column(String(2000))
    error_class: Mapped[str | None] = mapped_column(String(100))
    duration_ms: Mapped[int | None] = mapped_column(Integer)
