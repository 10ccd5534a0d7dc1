"""Dunning tables: recorded decisions (steps and escalations), holds, payment plans, escalation lists.

`dunning_step.dedup_key` is unique: it is the key `gateway.dunning.rules.decide` builds from ids and
ISO dates (style rule 9), so recording the same decision twice is impossible, not merely avoided.
Statuses follow the transition tables in `gateway.dunning.lifecycle`.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from gateway.store.base import Base, RecordMixin
from gateway.store.types import ExactDecimal, UTCDateTime


class DunningPolicyAssignment(RecordMixin, Base):
    """Which shipped policy applies to one creditor entity's claims of one type (fiscal or not).

    Without a row the policy follows from the creditor's kind (`gateway.dunning.service.KIND_TO_POLICY_ENTITY`).
    """

    __tablename__ = "dunning_policy_assignment"
    __table_args__ = (UniqueConstraint("creditor_id", "claim_type", "fiscal"),)

    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"), index=True)
    claim_type: Mapped[str] = mapped_column(String(32))
    fiscal: Mapped[bool] = mapped_column(Boolean, default=False)
    policy_id: Mapped[str] = mapped_column(String(64))
    assigned_by: Mapped[str] = mapped_column(String(200))


class DunningStep(RecordMixin, Base):
    """One recorded send-step or escalate decision, with the delivery facts of its reminder."""

    __tablename__ = "dunning_step"

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claim.id"), index=True)
    step: Mapped[int | None] = mapped_column(Integer)  # None for an escalation
    step_key: Mapped[str | None] = mapped_column(String(64))
    policy: Mapped[str] = mapped_column(String(100))  # id@version
    action: Mapped[str] = mapped_column(String(16))  # send_step | escalate
    decided_on: Mapped[date] = mapped_column(Date)
    dedup_key: Mapped[str] = mapped_column(String(200), unique=True)
    status: Mapped[str] = mapped_column(String(32), index=True)
    fee: Mapped[Decimal] = mapped_column(ExactDecimal(2), default=Decimal("0.00"))
    interest: Mapped[Decimal | None] = mapped_column(ExactDecimal(2))
    lump_sum: Mapped[Decimal | None] = mapped_column(ExactDecimal(2))
    amount_open: Mapped[Decimal] = mapped_column(ExactDecimal(2))
    new_due_date: Mapped[date | None] = mapped_column(Date)
    channel_requirement: Mapped[str | None] = mapped_column(String(16))
    template: Mapped[str | None] = mapped_column(String(100))
    rule_set_version: Mapped[str] = mapped_column(String(64))
    rate_version: Mapped[str | None] = mapped_column(String(64))
    amounts: Mapped[list] = mapped_column(JSON, default=list)
    detail: Mapped[str | None] = mapped_column(Text)
    document_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("document.id"))
    dispatch_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("dispatch.id"))
    # Delivery facts copied from the dispatch when first observed (the dispatch row keeps no timestamps per state).
    channel: Mapped[str | None] = mapped_column(String(32))
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    registered: Mapped[bool] = mapped_column(Boolean, default=False)
    proof_reference: Mapped[str | None] = mapped_column(String(200))
    stated_due_date: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ClaimHold(RecordMixin, Base):
    """A hold stops the dunning clock (a medical declaration only suspends disconnection steps).

    Days are Brussels calendar days, both ends inclusive, as `gateway.dunning.rules.Hold`.
    """

    __tablename__ = "claim_hold"

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claim.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # dispute | buyer_response_uq | buyer_response_re | medical_declaration | manual
    reason: Mapped[str] = mapped_column(String(1000))
    author: Mapped[str] = mapped_column(String(200))
    starts_on: Mapped[date] = mapped_column(Date)
    ends_on: Mapped[date | None] = mapped_column(Date)
    ended_by: Mapped[str | None] = mapped_column(String(200))
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentPlan(RecordMixin, Base):
    __tablename__ = "payment_plan"

    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"), index=True)
    debtor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("debtor.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), index=True)  # running | defaulted | completed | lapsed
    total: Mapped[Decimal] = mapped_column(ExactDecimal(2))
    months: Mapped[int] = mapped_column(Integer)
    first_due_date: Mapped[date] = mapped_column(Date)
    granted_on: Mapped[date] = mapped_column(Date)
    granted_by: Mapped[str] = mapped_column(String(200))
    waived_rules: Mapped[list] = mapped_column(JSON, default=list)
    exception_by: Mapped[str | None] = mapped_column(String(200))
    exception_reason: Mapped[str | None] = mapped_column(String(1000))
    confirmed_on: Mapped[date | None] = mapped_column(Date)
    # The debtor's confirmation (municipal debtor regulation: "de schuldenaar bevestigt"): by when it is
    # due (granted_on + GATEWAY_PAYMENT_PLAN_CONFIRMATION_DAYS), where it came from and who recorded it.
    confirm_by: Mapped[date | None] = mapped_column(Date)
    confirmation_source: Mapped[str | None] = mapped_column(String(200))
    confirmed_by: Mapped[str | None] = mapped_column(String(200))
    ended_on: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class PaymentPlanClaim(Base):
    """The claims one plan covers (all of one debtor)."""

    __tablename__ = "payment_plan_claim"

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_plan.id"), primary_key=True)
    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claim.id"), primary_key=True, index=True)


class PaymentPlanInstalment(RecordMixin, Base):
    __tablename__ = "payment_plan_instalment"
    __table_args__ = (UniqueConstraint("plan_id", "number"),)

    plan_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("payment_plan.id"), index=True)
    number: Mapped[int] = mapped_column(Integer)
    due_date: Mapped[date] = mapped_column(Date)
    amount: Mapped[Decimal] = mapped_column(ExactDecimal(2))
    # Its own OGM: the debtor's transfer names the instalment, reconciled like a claim's.
    structured_communication: Mapped[str] = mapped_column(String(12), unique=True)


class EscalationEntry(RecordMixin, Base):
    """A claim on an escalation list (dwangbevel per approving body, dwangschrift, bailiff, disconnection)."""

    __tablename__ = "escalation_entry"
    __table_args__ = (UniqueConstraint("claim_id", "kind"),)

    claim_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("claim.id"), index=True)
    creditor_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("creditor_entity.id"), index=True)
    dunning_step_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("dunning_step.id"))
    kind: Mapped[str] = mapped_column(String(16), index=True)  # dwangbevel | dwangschrift | bailiff | disconnection
    approving_body: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)  # pending | approved
    amount_open: Mapped[Decimal] = mapped_column(ExactDecimal(2))
    evidence: Mapped[dict] = mapped_column(JSON, default=dict)
    approved_by: Mapped[str | None] = mapped_column(String(200))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
