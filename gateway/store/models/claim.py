from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from gateway.store.base import Base, RecordMixin
from gateway.store.types import ExactDecimal, UTCDateTime


class Claim(RecordMixin, Base):
    __tablename__ = "claim"
    __table_args__ = (UniqueConstraint("creditor_id", "number"),)

    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"), index=True)
    debtor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("debtor.id"), index=True)
    number: Mapped[str] = mapped_column(String(64))
    claim_type: Mapped[str] = mapped_column(String(32))
    fiscal: Mapped[bool] = mapped_column(Boolean, default=False)
    currency: Mapped[str] = mapped_column(String(3))
    issue_date: Mapped[date] = mapped_column(Date)
    due_date: Mapped[date] = mapped_column(Date, index=True)
    # The OGM/VCS (12 digits) is the reconciliation key on every channel, so it is unique.
    structured_communication: Mapped[str] = mapped_column(String(12), unique=True)
    buyer_reference: Mapped[str | None] = mapped_column(String(200))
    order_reference: Mapped[str | None] = mapped_column(String(200))
    note: Mapped[str | None] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(32), index=True, default="open")
    total_net: Mapped[Decimal] = mapped_column(ExactDecimal(2))
    total_vat: Mapped[Decimal] = mapped_column(ExactDecimal(2))
    total_amount: Mapped[Decimal] = mapped_column(ExactDecimal(2))
    amount_paid: Mapped[Decimal] = mapped_column(ExactDecimal(2), default=Decimal("0.00"))
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    lines: Mapped[list[ClaimLine]] = relationship(lazy="raise", order_by="ClaimLine.position", cascade="all, delete-orphan")

    @property
    def amount_open(self) -> Decimal:
        return self.total_amount - self.amount_paid


class ClaimLine(RecordMixin, Base):
    __tablename__ = "claim_line"
    __table_args__ = (UniqueConstraint("claim_id", "position"),)

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claim.id", ondelete="CASCADE"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    description: Mapped[str] = mapped_column(String(500))
    quantity: Mapped[Decimal] = mapped_column(ExactDecimal(4))
    unit_code: Mapped[str] = mapped_column(String(8))
    unit_price: Mapped[Decimal] = mapped_column(ExactDecimal(6))
    vat_category: Mapped[str] = mapped_column(String(2))
    vat_rate: Mapped[Decimal] = mapped_column(ExactDecimal(2, precision=5))
    exemption_reason_code: Mapped[str | None] = mapped_column(String(32))
    exemption_reason: Mapped[str | None] = mapped_column(String(300))
    net_amount: Mapped[Decimal] = mapped_column(ExactDecimal(2))


class Payment(RecordMixin, Base):
    __tablename__ = "payment"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claim.id"), index=True)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(2))
    paid_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(32))  # api, bancontact, bank_statement
    external_id: Mapped[str | None] = mapped_column(String(100))
    reference: Mapped[str | None] = mapped_column(String(140))
    # Set when the payment came in under a structured reference (gateway.services.payments): the transfer
    # it was booked from, and the payment-plan instalment whose OGM it carried.
    incoming_payment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("incoming_payment.id"))
    instalment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payment_plan_instalment.id"))
