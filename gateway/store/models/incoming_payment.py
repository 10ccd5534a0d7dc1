"""Incoming payments matched by their structured reference (OGM), before they are booked.

One row per transfer as the bank statement (or another source) reports it: the reference, the
amount and what it matched (`gateway.services.payments.match_reference`): a claim's OGM, a
payment-plan instalment's OGM, or a fee's own OGM. Booking a claim or an instalment creates
`payment` rows linked back to this row; a fee payment is this row alone (it does not lower the
claim's open amount). (source, external_id) is unique: a statement line read twice books once.
"""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal

from sqlalchemy import Date, ForeignKey, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, RecordMixin
from gateway.store.types import ExactDecimal


class IncomingPayment(RecordMixin, Base):
    __tablename__ = "incoming_payment"
    __table_args__ = (UniqueConstraint("source", "external_id"),)

    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"), index=True)
    reference: Mapped[str] = mapped_column(String(12), index=True)  # the OGM's 12 digits
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(2))
    paid_on: Mapped[date] = mapped_column(Date)
    source: Mapped[str] = mapped_column(String(32))  # bank_statement, api, bancontact, cash
    external_id: Mapped[str | None] = mapped_column(String(100))
    matched: Mapped[str] = mapped_column(String(16))  # claim | instalment | fee
    claim_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("claim.id"), index=True)
    plan_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payment_plan.id"), index=True)
    instalment_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("payment_plan_instalment.id"))
    document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("document.id"))  # the fee invoice / reminder whose fee OGM it carries
