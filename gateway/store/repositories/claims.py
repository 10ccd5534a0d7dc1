"""All claim, debtor and payment queries."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import date

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from gateway.store.models import (
    AuditEvent,
    Claim,
    CreditorEntity,
    Debtor,
    Dispatch,
    DispatchAttempt,
    Document,
    Payment,
)


class ClaimRepository:
    def __init__(self, session: Session) -> None:
        self.session = session

    def creditor_by_code(self, code: str) -> CreditorEntity | None:
        return self.session.scalar(select(CreditorEntity).where(CreditorEntity.code == code))

    def creditor(self, creditor_id: uuid.UUID) -> CreditorEntity | None:
        return self.session.get(CreditorEntity, creditor_id)

    def creditors(self, ids: Iterable[uuid.UUID]) -> dict[uuid.UUID, CreditorEntity]:
        rows = self.session.scalars(select(CreditorEntity).where(CreditorEntity.id.in_(list(ids))))
        return {row.id: row for row in rows}

    def claim_number_exists(self, creditor_id: uuid.UUID, number: str) -> bool:
        return self.session.scalar(select(Claim.id).where(Claim.creditor_id == creditor_id, Claim.number == number)) is not None

    def ogm_exists(self, ogm: str) -> bool:
        return self.session.scalar(select(Claim.id).where(Claim.structured_communication == ogm)) is not None

    def debtor_by_external_id(self, creditor_id: uuid.UUID, external_id: str) -> Debtor | None:
        return self.session.scalar(select(Debtor).where(Debtor.creditor_id == creditor_id, Debtor.external_id == external_id))

    def debtor_by_identifier(self, creditor_id: uuid.UUID, *, enterprise_number: str | None, national_number: str | None) -> Debtor | None:
        if enterprise_number:
            column, value = Debtor.enterprise_number, enterprise_number
        elif national_number:
            column, value = Debtor.national_register_number, national_number
        else:
            return None
        return self.session.scalar(select(Debtor).where(Debtor.creditor_id == creditor_id, column == value).limit(1))

    def debtor_for(self, debtor_id: uuid.UUID, creditor_ids: frozenset[uuid.UUID]) -> Debtor | None:
        return self.session.scalar(select(Debtor).where(Debtor.id == debtor_id, Debtor.creditor_id.in_(creditor_ids)))

    def claim_for(self, claim_id: uuid.UUID, creditor_ids: frozenset[uuid.UUID], *, for_update: bool = False) -> Claim | None:
        query = select(Claim).where(Claim.id == claim_id, Claim.creditor_id.in_(creditor_ids)).options(selectinload(Claim.lines))
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def list_claims(
        self,
        creditor_ids: frozenset[uuid.UUID],
        *,
        after: uuid.UUID | None,
        limit: int,
        status: str | None = None,
        debtor_id: uuid.UUID | None = None,
        due_before: date | None = None,
        due_after: date | None = None,
        number: str | None = None,
        structured_communication: str | None = None,
        claim_type: str | None = None,
    ) -> Sequence[Claim]:
        query = select(Claim).where(Claim.creditor_id.in_(creditor_ids))
        filters = {
            Claim.status: status,
            Claim.debtor_id: debtor_id,
            Claim.number: number,
            Claim.structured_communication: structured_communication,
            Claim.claim_type: claim_type,
        }
        for column, value in filters.items():
            if value is not None:
                query = query.where(column == value)
        if due_before is not None:
            query = query.where(Claim.due_date < due_before)
        if due_after is not None:
            query = query.where(Claim.due_date > due_after)
        if after is not None:
            query = query.where(Claim.id > after)
        return self.session.scalars(query.order_by(Claim.id).limit(limit)).all()

    def payment_by_external_id(self, source: str, external_id: str) -> Payment | None:
        return self.session.scalar(select(Payment).where(Payment.source == source, Payment.external_id == external_id))

    def payments(self, claim_id: uuid.UUID) -> Sequence[Payment]:
        return self.session.scalars(select(Payment).where(Payment.claim_id == claim_id).order_by(Payment.created_at)).all()

    def documents(self, claim_id: uuid.UUID) -> Sequence[Document]:
        return self.session.scalars(select(Document).where(Document.claim_id == claim_id).order_by(Document.issued_at)).all()

    def dispatches(self, claim_id: uuid.UUID) -> Sequence[Dispatch]:
        return self.session.scalars(select(Dispatch).where(Dispatch.claim_id == claim_id).order_by(Dispatch.created_at)).all()

    def attempts(self, dispatch_ids: list[uuid.UUID]) -> Sequence[DispatchAttempt]:
        if not dispatch_ids:
            return []
        query = select(DispatchAttempt).where(DispatchAttempt.dispatch_id.in_(dispatch_ids))
        return self.session.scalars(query.order_by(DispatchAttempt.dispatch_id, DispatchAttempt.number)).all()

    def history(self, entity_ids: list[uuid.UUID]) -> Sequence[AuditEvent]:
        query = select(AuditEvent).where(AuditEvent.entity_id.in_(entity_ids)).order_by(AuditEvent.id)
        return self.session.scalars(query).all()
