"""Queries of the admin pages. Every query is limited to the signed-in user's creditor entities.

The claim page reads through `store/repositories/claims.py` (the same queries as the claims API);
these are the queries only the admin pages make: counts, queues, lists and search.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

from gateway.store.models import AuditEvent, Claim, ClaimHold, CreditorEntity, Debtor, DebtorContact, Dispatch, Document, DunningStep

SUPERSEDED = "dispatch.superseded"  # audit action on a failed dispatch that was replaced by a resend
UNREACHABLE = "dispatch.closed_unreachable"  # audit action on a failed dispatch a clerk closed: no better contact known
CLOSING_ACTIONS = (SUPERSEDED, UNREACHABLE)
REFUSED = "document.refused"  # audit action of issuance when a claim cannot become a valid document: nothing is stored
# What the worker's dispatch.failed handler (gateway/workers/tasks.py) records on the claim after a
# dispatch failed for good, each naming the failed dispatch as `failed_dispatch_id`: the router's next step.
ROUTER_NEXT_ACTIONS = ("contact_repair.requested", "contact_repair.skipped", "dispatch.fallback", "dispatch.no_channel_left")
SEARCH_LIMIT = 50  # a search is for finding one case, not for exporting
# Holds put by a Peppol Invoice Response UQ (under query) or RE (rejected): the buyer waits for an answer.
BUYER_RESPONSE_HOLDS = {"buyer_response_uq": "UQ", "buyer_response_re": "RE"}


class AdminRepository:
    def __init__(self, session: Session, creditor_ids: frozenset[uuid.UUID]) -> None:
        self.session = session
        self.creditor_ids = creditor_ids

    def creditors(self) -> dict[uuid.UUID, CreditorEntity]:
        rows = self.session.scalars(select(CreditorEntity).where(CreditorEntity.id.in_(self.creditor_ids)).order_by(CreditorEntity.code))
        return {row.id: row for row in rows}

    def _closed_ids(self):
        return select(AuditEvent.entity_id).where(AuditEvent.entity_type == "dispatch", AuditEvent.action.in_(CLOSING_ACTIONS))

    def dispatch_counts(self, start: datetime, end: datetime) -> list[tuple[str, str, int]]:
        """(channel, state, count) of dispatches created in [start, end)."""
        query = (
            select(Dispatch.channel, Dispatch.state, func.count())
            .join(Claim, Claim.id == Dispatch.claim_id)
            .where(Claim.creditor_id.in_(self.creditor_ids), Dispatch.created_at >= start, Dispatch.created_at < end)
            .group_by(Dispatch.channel, Dispatch.state)
            .order_by(Dispatch.channel, Dispatch.state)
        )
        return [(channel, state, count) for channel, state, count in self.session.execute(query)]

    def invalid_documents(self, start: datetime, end: datetime) -> Sequence[tuple[Document, Claim]]:
        query = (
            select(Document, Claim)
            .join(Claim, Claim.id == Document.claim_id)
            .where(
                Claim.creditor_id.in_(self.creditor_ids), Document.issued_at >= start, Document.issued_at < end,
                Document.meta[("validation", "status")].as_string() == "invalid",
            )
            .order_by(Document.issued_at.desc())
        )
        return self.session.execute(query).all()

    def refused_documents(self, start: datetime, end: datetime) -> Sequence[tuple[AuditEvent, Claim]]:
        """Documents refused before they were stored (the audit's `document.refused`: the rule ids and why), newest first."""
        query = (
            select(AuditEvent, Claim)
            .join(Claim, Claim.id == AuditEvent.entity_id)
            .where(
                AuditEvent.entity_type == "claim", AuditEvent.action == REFUSED, Claim.creditor_id.in_(self.creditor_ids),
                AuditEvent.at >= start, AuditEvent.at < end,
            )
            .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
        )
        return self.session.execute(query).all()

    def undeliverable(self) -> Sequence[tuple[Dispatch, Claim, Debtor]]:
        """Dispatches that failed for good and were neither resent nor closed as unreachable, oldest first."""
        query = (
            select(Dispatch, Claim, Debtor)
            .join(Claim, Claim.id == Dispatch.claim_id)
            .join(Debtor, Debtor.id == Claim.debtor_id)
            .where(Claim.creditor_id.in_(self.creditor_ids), Dispatch.state == "failed_permanent", Dispatch.id.not_in(self._closed_ids()))
            .order_by(Dispatch.updated_at, Dispatch.id)
        )
        return self.session.execute(query).all()

    def router_next(self, failed: Sequence[Dispatch]) -> dict[uuid.UUID, list[tuple[AuditEvent, Dispatch | None]]]:
        """Per failed dispatch, what the router did after the failure, in the order it happened: each
        audit event with the dispatch it queued (the fallback, the contact-repair message), if any."""
        if not failed:
            return {}
        by_id = {str(dispatch.id): dispatch.id for dispatch in failed}
        events = self.session.scalars(
            select(AuditEvent)
            .where(AuditEvent.entity_type == "claim", AuditEvent.entity_id.in_({d.claim_id for d in failed}), AuditEvent.action.in_(ROUTER_NEXT_ACTIONS))
            .order_by(AuditEvent.id)
        ).all()
        events = [event for event in events if (event.data or {}).get("failed_dispatch_id") in by_id]
        queued_ids = [uuid.UUID(event.data["dispatch_id"]) for event in events if event.data.get("dispatch_id")]
        queued = {d.id: d for d in self.session.scalars(select(Dispatch).where(Dispatch.id.in_(queued_ids)))} if queued_ids else {}
        steps: dict[uuid.UUID, list[tuple[AuditEvent, Dispatch | None]]] = {}
        for event in events:
            next_id = event.data.get("dispatch_id")
            steps.setdefault(by_id[event.data["failed_dispatch_id"]], []).append((event, queued.get(uuid.UUID(next_id)) if next_id else None))
        return steps

    def holds_in_effect(self, today: date) -> Sequence[tuple[ClaimHold, Claim, Debtor]]:
        """Claims held on `today` (dispute, debt mediation, manual, medical declaration), oldest hold first.
        Buyer responses (UQ / RE) have their own list: `buyer_responses_waiting`."""
        query = (
            select(ClaimHold, Claim, Debtor)
            .join(Claim, Claim.id == ClaimHold.claim_id)
            .join(Debtor, Debtor.id == Claim.debtor_id)
            .where(
                Claim.creditor_id.in_(self.creditor_ids), ClaimHold.kind.not_in(BUYER_RESPONSE_HOLDS), ClaimHold.ended_at.is_(None),
                ClaimHold.starts_on <= today, or_(ClaimHold.ends_on.is_(None), ClaimHold.ends_on >= today),
                Claim.status.not_in(("paid", "cancelled", "written_off")),
            )
            .order_by(ClaimHold.starts_on, ClaimHold.created_at, ClaimHold.id)
        )
        return self.session.execute(query).all()

    def buyer_responses_waiting(self, today: date) -> Sequence[tuple[ClaimHold, Claim, Debtor]]:
        """UQ / RE holds still running on `today`, oldest first: each is a buyer waiting for the creditor's answer."""
        query = (
            select(ClaimHold, Claim, Debtor)
            .join(Claim, Claim.id == ClaimHold.claim_id)
            .join(Debtor, Debtor.id == Claim.debtor_id)
            .where(
                Claim.creditor_id.in_(self.creditor_ids), ClaimHold.kind.in_(BUYER_RESPONSE_HOLDS), ClaimHold.ended_at.is_(None),
                or_(ClaimHold.ends_on.is_(None), ClaimHold.ends_on >= today),
            )
            .order_by(ClaimHold.starts_on, ClaimHold.created_at, ClaimHold.id)
        )
        return self.session.execute(query).all()

    def dispatch(self, dispatch_id: uuid.UUID, *, for_update: bool = False) -> tuple[Dispatch, Claim] | None:
        query = select(Dispatch, Claim).join(Claim, Claim.id == Dispatch.claim_id).where(Dispatch.id == dispatch_id, Claim.creditor_id.in_(self.creditor_ids))
        if for_update:
            query = query.with_for_update(of=Dispatch)
        row = self.session.execute(query).first()
        return (row[0], row[1]) if row is not None else None

    def is_closed(self, dispatch_id: uuid.UUID) -> bool:
        """Resent or closed as unreachable already."""
        query = select(AuditEvent.id).where(AuditEvent.entity_type == "dispatch", AuditEvent.action.in_(CLOSING_ACTIONS), AuditEvent.entity_id == dispatch_id)
        return self.session.scalar(query.limit(1)) is not None

    def dispatch_exists(self, document_id: uuid.UUID, channel: str, recipient: str) -> bool:
        query = select(Dispatch.id).where(Dispatch.document_id == document_id, Dispatch.channel == channel, Dispatch.recipient == recipient)
        return self.session.scalar(query) is not None

    def sent_registered(self, document_id: uuid.UUID) -> bool:
        """Whether the document went out as a registered letter (its PDF then carries the registered marking)."""
        query = select(Dispatch.id).where(Dispatch.document_id == document_id, Dispatch.channel == "registered_paper")
        return self.session.scalar(query.limit(1)) is not None

    def dunning_steps(self, claim_id: uuid.UUID) -> Sequence[DunningStep]:
        query = select(DunningStep).join(Claim, Claim.id == DunningStep.claim_id).where(DunningStep.claim_id == claim_id, Claim.creditor_id.in_(self.creditor_ids))
        return self.session.scalars(query.order_by(DunningStep.created_at)).all()

    def document(self, document_id: uuid.UUID) -> Document | None:
        query = select(Document).join(Claim, Claim.id == Document.claim_id).where(Document.id == document_id, Claim.creditor_id.in_(self.creditor_ids))
        return self.session.scalar(query)

    def debtor(self, debtor_id: uuid.UUID) -> Debtor | None:
        return self.session.scalar(select(Debtor).where(Debtor.id == debtor_id, Debtor.creditor_id.in_(self.creditor_ids)))

    def search(self, text: str) -> Sequence[tuple[Claim, Debtor]]:
        """Claims whose number, OGM, debtor name, enterprise number or debtor e-mail matches `text`."""
        text = text.strip()
        if not text:
            return []
        digits = "".join(ch for ch in text if ch.isdigit())
        conditions = [
            func.lower(Claim.number) == text.lower(),
            func.lower(Debtor.name).contains(text.lower(), autoescape=True),
            Debtor.id.in_(select(DebtorContact.debtor_id).where(func.lower(DebtorContact.value).contains(text.lower(), autoescape=True))),
        ]
        if len(digits) >= 4:
            conditions += [Claim.structured_communication.contains(digits), Debtor.enterprise_number.contains(digits)]
        query = (
            select(Claim, Debtor)
            .join(Debtor, Debtor.id == Claim.debtor_id)
            .where(Claim.creditor_id.in_(self.creditor_ids), or_(*conditions))
            .order_by(Claim.created_at.desc(), Claim.id)
            .limit(SEARCH_LIMIT)
        )
        return self.session.execute(query).all()
