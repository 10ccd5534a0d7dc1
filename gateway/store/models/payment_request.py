from __future__ import annotations

import uuid
from datetime import datetime
from decimal import Decimal

from sqlalchemy import ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, RecordMixin
from gateway.store.types import ExactDecimal, UTCDateTime


class PaymentRequest(RecordMixin, Base):
    """Our outbox row for one Bancontact payment (creation there is not idempotent).

    The row is committed in state `creating` before the API is called; `active_claim_id` (the
    claim's id while the request is creating or pending, NULL once it is final) is unique, so a
    claim has at most one live request and two workers cannot both create one.
    See gateway/channels/payment/bancontact.py for the lifecycle.
    """

    __tablename__ = "payment_request"

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claim.id"), index=True)
    # The invoice or reminder it asks payment for (migration 0009); None from the personal page.
    document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("document.id"), index=True)
    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"))
    active_claim_id: Mapped[uuid.UUID | None] = mapped_column(unique=True)
    provider: Mapped[str] = mapped_column(String(32))  # bancontact
    state: Mapped[str] = mapped_column(String(32), index=True)  # creating, pending, succeeded, failed, expired, cancelled
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(2))
    currency: Mapped[str] = mapped_column(String(3))
    reference: Mapped[str] = mapped_column(String(35))  # the OGM digits
    description: Mapped[str] = mapped_column(String(140))
    payment_id: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider_status: Mapped[str | None] = mapped_column(String(40))  # PENDING, IDENTIFIED, ..., SUCCEEDED
    deeplink: Mapped[str | None] = mapped_column(String(2048))
    qrcode_url: Mapped[str | None] = mapped_column(String(2048))
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
