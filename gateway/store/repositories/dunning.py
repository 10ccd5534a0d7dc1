"""All dunning queries: recorded steps, holds, payment plans, escalation lists, policy assignments."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from gateway.store.models import (
    AuditEvent,
    Claim,
    ClaimHold,
    CreditorEntity,
    Debtor,
    Dispatch,
    DispatchAttempt,
    Document,
    DunningPolicyAssignment,
    DunningStep,
    EscalationEntry,
    Job,
    Payment,
    PaymentPlan,
    PaymentPlanClaim,
    PaymentPlanInstalment,
)


class DunningRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    # --- claims and their facts -------------------------------------------------------------
    def claim(self, claim_id: uuid.UUID, *, for_update: bool = False) -> Claim | None:
        query = select(Claim).where(Claim.id == claim_id)
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        return self.session.scalar(query)

    def visible_claim(self, claim_id: uuid.UUID, creditor_ids: frozenset[uuid.UUID], *, for_update: bool = False) -> Claim | None:
        query = select(Claim).where(Claim.id == claim_id, Claim.creditor_id.in_(creditor_ids))
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        return self.session.scalar(query)

    def claim_ids_in(self, statuses: Sequence[str], *, after: uuid.UUID | None, limit: int) -> list[uuid.UUID]:
        query = select(Claim.id).where(Claim.status.in_(list(statuses)))
        if after is not None:
            query = query.where(Claim.id > after)
        return list(self.session.scalars(query.order_by(Claim.id).limit(limit)))

    def creditor(self, creditor_id: uuid.UUID) -> CreditorEntity | None:
        return self.session.get(CreditorEntity, creditor_id)

    def debtor(self, debtor_id: uuid.UUID) -> Debtor | None:
        return self.session.get(Debtor, debtor_id)

    def debtor_kind(self, debtor_id: uuid.UUID) -> str | None:
        """The one fact the engine needs of a debtor, without loading its contacts and consents."""
        return self.session.scalar(select(Debtor.kind).where(Debtor.id == debtor_id))

    def payments(self, claim_ids: Sequence[uuid.UUID]) -> Sequence[Payment]:
        return self.session.scalars(select(Payment).where(Payment.claim_id.in_(list(claim_ids))).order_by(Payment.paid_on, Payment.id)).all()

    def assignment(self, creditor_id: uuid.UUID, claim_type: str, fiscal: bool) -> DunningPolicyAssignment | None:
        return self.session.scalar(
            select(DunningPolicyAssignment).where(
                DunningPolicyAssignment.creditor_id == creditor_id,
                DunningPolicyAssignment.claim_type == claim_type,
                DunningPolicyAssignment.fiscal == fiscal,
            )
        )

    def assignments(self) -> Sequence[DunningPolicyAssignment]:
        return self.session.scalars(select(DunningPolicyAssignment).order_by(DunningPolicyAssignment.creditor_id, DunningPolicyAssignment.claim_type)).all()

    # --- steps --------------------------------------------------------------------------------
    def steps(self, claim_id: uuid.UUID) -> Sequence[DunningStep]:
        return self.session.scalars(select(DunningStep).where(DunningStep.claim_id == claim_id).order_by(DunningStep.created_at, DunningStep.id)).all()

    def step(self, step_id: uuid.UUID) -> DunningStep | None:
        return self.session.get(DunningStep, step_id)

    def step_by_dedup_key(self, dedup_key: str) -> DunningStep | None:
        return self.session.scalar(select(DunningStep).where(DunningStep.dedup_key == dedup_key))

    def insert_step(self, values: dict) -> uuid.UUID | None:
        """Insert a decision; None when its dedup key is already recorded (a concurrent run included)."""
        dialect = self.session.get_bind().dialect.name
        module = postgresql if dialect == "postgresql" else sqlite
        statement = module.insert(DunningStep).values(**values).on_conflict_do_nothing(index_elements=["dedup_key"]).returning(DunningStep.id)
        return self.session.execute(statement).scalar()

    def dispatches_by_document(self, document_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[Dispatch]]:
        """Every dispatch of each document (the first channel and its fallbacks), oldest first."""
        found: dict[uuid.UUID, list[Dispatch]] = {}
        if document_ids:
            query = select(Dispatch).where(Dispatch.document_id.in_(list(document_ids))).order_by(Dispatch.created_at, Dispatch.id)
            for row in self.session.scalars(query):
                found.setdefault(row.document_id, []).append(row)
        return found

    def attempts(self, dispatch_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, list[DispatchAttempt]]:
        found: dict[uuid.UUID, list[DispatchAttempt]] = {}
        if dispatch_ids:
            query = select(DispatchAttempt).where(DispatchAttempt.dispatch_id.in_(list(dispatch_ids))).order_by(DispatchAttempt.number)
            for attempt in self.session.scalars(query):
                found.setdefault(attempt.dispatch_id, []).append(attempt)
        return found

    def dispatch(self, dispatch_id: uuid.UUID) -> Dispatch | None:
        return self.session.get(Dispatch, dispatch_id)

    def document(self, document_id: uuid.UUID) -> Document | None:
        return self.session.get(Document, document_id)

    # --- holds --------------------------------------------------------------------------------
    def holds(self, claim_id: uuid.UUID) -> Sequence[ClaimHold]:
        return self.session.scalars(select(ClaimHold).where(ClaimHold.claim_id == claim_id).order_by(ClaimHold.starts_on, ClaimHold.id)).all()

    def hold(self, claim_id: uuid.UUID, hold_id: uuid.UUID) -> ClaimHold | None:
        return self.session.scalar(select(ClaimHold).where(ClaimHold.id == hold_id, ClaimHold.claim_id == claim_id))

    # --- payment plans ------------------------------------------------------------------------
    def running_plan_for(self, claim_id: uuid.UUID) -> PaymentPlan | None:
        query = (
            select(PaymentPlan)
            .join(PaymentPlanClaim, PaymentPlanClaim.plan_id == PaymentPlan.id)
            .where(PaymentPlanClaim.claim_id == claim_id, PaymentPlan.status == "running")
        )
        return self.session.scalar(query)

    def plan(self, plan_id: uuid.UUID, creditor_ids: frozenset[uuid.UUID], *, for_update: bool = False) -> PaymentPlan | None:
        query = select(PaymentPlan).where(PaymentPlan.id == plan_id, PaymentPlan.creditor_id.in_(creditor_ids))
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        return self.session.scalar(query)

    def instalment_payments(self, instalment_ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Decimal]:
        """What was booked under each instalment's OGM (gateway.services.payments)."""
        found: dict[uuid.UUID, Decimal] = {}
        if instalment_ids:
            for row in self.session.scalars(select(Payment).where(Payment.instalment_id.in_(list(instalment_ids)))):
                found[row.instalment_id] = found.get(row.instalment_id, Decimal("0.00")) + row.amount
        return found

    def plan_claim_ids(self, plan_id: uuid.UUID) -> list[uuid.UUID]:
        return list(self.session.scalars(select(PaymentPlanClaim.claim_id).where(PaymentPlanClaim.plan_id == plan_id).order_by(PaymentPlanClaim.claim_id)))

    def instalments(self, plan_id: uuid.UUID) -> Sequence[PaymentPlanInstalment]:
        return self.session.scalars(select(PaymentPlanInstalment).where(PaymentPlanInstalment.plan_id == plan_id).order_by(PaymentPlanInstalment.number)).all()

    def ogms_taken(self, ogms: set[str]) -> set[str]:
        if not ogms:
            return set()
        claims = set(self.session.scalars(select(Claim.structured_communication).where(Claim.structured_communication.in_(ogms))))
        instalments = set(self.session.scalars(select(PaymentPlanInstalment.structured_communication).where(PaymentPlanInstalment.structured_communication.in_(ogms))))
        # fees paid under their own OGM (business fee invoices, consumer reminder letters): payments are matched on it too
        fees: set[str] = set()
        for kind, key in (("fee_invoice", "structured_communication"), ("reminder", "fee_structured_communication")):
            column = Document.meta[key].as_string()
            fees |= set(self.session.scalars(select(column).where(Document.kind == kind, column.in_(ogms))))
        return claims | instalments | fees

    # --- escalation lists ---------------------------------------------------------------------
    def escalations(self, creditor_ids: frozenset[uuid.UUID], *, kind: str | None = None, status: str | None = None) -> Sequence[EscalationEntry]:
        query = select(EscalationEntry).where(EscalationEntry.creditor_id.in_(creditor_ids))
        if kind is not None:
            query = query.where(EscalationEntry.kind == kind)
        if status is not None:
            query = query.where(EscalationEntry.status == status)
        return self.session.scalars(query.order_by(EscalationEntry.approving_body, EscalationEntry.created_at, EscalationEntry.id)).all()

    def escalation(self, entry_id: uuid.UUID, creditor_ids: frozenset[uuid.UUID], *, for_update: bool = False) -> EscalationEntry | None:
        query = select(EscalationEntry).where(EscalationEntry.id == entry_id, EscalationEntry.creditor_id.in_(creditor_ids))
        if for_update and self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        return self.session.scalar(query)

    def escalations_of_claim(self, claim_id: uuid.UUID) -> Sequence[EscalationEntry]:
        return self.session.scalars(select(EscalationEntry).where(EscalationEntry.claim_id == claim_id).order_by(EscalationEntry.created_at)).all()

    # --- audit ---------------------------------------------------------------------------------
    def audit_events(self, claim_id: uuid.UUID, action: str) -> Sequence[AuditEvent]:
        return self.session.scalars(select(AuditEvent).where(AuditEvent.entity_id == claim_id, AuditEvent.action == action).order_by(AuditEvent.id)).all()

    # --- jobs ---------------------------------------------------------------------------------
    def existing_job_keys(self, keys: set[str]) -> set[str]:
        if not keys:
            return set()
        return set(self.session.scalars(select(Job.dedup_key).where(Job.dedup_key.in_(keys))))
