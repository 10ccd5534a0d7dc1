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

    def creditors_by_codes(self, codes: set[str]) -> list[CreditorEntity]:
        if not codes:
            return []
        return list(self.session.scalars(select(CreditorEntity).where(CreditorEntity.code.in_(codes))))

    def existing_claim_numbers(self, pairs: set[tuple[uuid.UUID, str]]) -> set[tuple[uuid.UUID, str]]:
        """Which (creditor id, claim number) pairs are taken; one query per creditor."""
        by_creditor: dict[uuid.UUID, set[str]] = {}
        for creditor_id, number in pairs:
            by_creditor.setdefault(creditor_id, set()).add(number)
        found: set[tuple[uuid.UUID, str]] = set()
        for creditor_id, numbers in by_creditor.items():
            query = select(Claim.number).where(Claim.creditor_id == creditor_id, Claim.number.in_(numbers))
            found |= {(creditor_id, number) for number in self.session.scalars(query)}
        return found

    def existing_ogms(self, ogms: set[str]) -> set[str]:
        if not ogms:
            return set()
        return set(self.session.scalars(select(Claim.structured_communication).where(Claim.structured_communication.in_(ogms))))

    def debtors_by_keys(self, keys: list[tuple[uuid.UUID, str, str]]) -> list[Debtor]:
        """Debtors matching any (creditor id, column name, value) key; one query per creditor and column."""
        groups: dict[tuple[uuid.UUID, str], set[str]] = {}
        for creditor_id, column, value in keys:
            groups.setdefault((creditor_id, column), set()).add(value)
        found: dict[uuid.UUID, Debtor] = {}
        for (creditor_id, column), values in groups.items():
            query = select(Debtor).where(Debtor.creditor_id == creditor_id, getattr(Debtor, column).in_(values)).order_by(Debtor.id)
            for debtor in self.session.scalars(query):
                found.setdefault(debtor.id, debtor)
        return list(found.values())

    def debtor_for(self, debtor_id: uuid.UUID, creditor_ids: frozenset[uuid.UUID]) -> Debtor | None:
        return self.session.scalar(select(Debtor).where(Debtor.id == debtor_id, Debtor.creditor_id.in_(creditor_ids)))

    def claim_for(self, claim_id: uuid.UUID, creditor_ids: frozenset[uuid.UUID], *, for_update: bool = False) -> Claim | None:
        query = select(Claim).where(Claim.id == claim_id, Claim.creditor_id.in_(creditor_ids)).options(selectinload(Claim.lines))
        if for_update:
            query = query.with_for_update()
        return self.session.scalar(query)

    def lock_claim(self, claim_id: uuid.UUID) -> Claim | None:
        """The claim under its row lock (PostgreSQL; SQLite serialises writers), freshly read."""
        query = select(Claim).where(Claim.id == claim_id).execution_options(populate_existing=True)
        if self.session.get_bind().dialect.name == "postgresql":
            query = query.with_for_update()
        return self.session.scalar(query)

    def invoice_of(self, claim_id: uuid.UUID) -> Document | None:
        return self.session.scalar(select(Document).where(Document.claim_id == claim_id, Document.kind == "invoice"))

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
