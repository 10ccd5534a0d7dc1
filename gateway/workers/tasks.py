"""Job handlers of the claim pipeline."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.delivery.router import ContactFacts, DebtorFacts, RoutingDecision, choose_channel
from gateway.domain.document import DocumentRuleError
from gateway.services import audit, documents
from gateway.store.models import Claim, Debtor, Dispatch
from gateway.workers.registry import Task, handler


def debtor_facts(debtor: Debtor) -> DebtorFacts:
    return DebtorFacts(
        kind=debtor.kind,
        peppol_id=debtor.peppol_id,
        national_register_number=debtor.national_register_number,
        contacts=tuple(ContactFacts(c.kind, c.value, c.validity) for c in debtor.contacts),
        consents={c.channel: c.given for c in debtor.consents},
    )


def postal_address(debtor: Debtor) -> str:
    return f"{debtor.street}, {debtor.postal_code} {debtor.city}, {debtor.country}"


def _record(session: Session, claim: Claim, action: str, data: dict, now: datetime) -> None:
    audit.record(session, actor="worker", creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action=action, data=data, at=now)


@handler("claim.issue")
def issue_claim(task: Task, payload: dict, now: datetime) -> None:
    """Route a new claim; for a business debtor issue its BIS 3.0 invoice and queue the dispatch."""
    session = task.session
    claim = session.get(Claim, uuid.UUID(payload["claim_id"]))
    if claim is None or claim.status != "open":
        return
    debtor = session.get(Debtor, claim.debtor_id)
    decision = choose_channel(debtor_facts(debtor), postal_address(debtor))
    _record(session, claim, "claim.routed", {"channel": decision.channel.value, "recipient": decision.recipient, "reason": decision.reason}, now)
    if debtor.kind != "business":
        return  # consumer letters and messages are rendered by their channels
    try:
        issued = documents.issue_invoice(session, claim, now=now, standards_dir=task.settings.standards_dir)
    except DocumentRuleError as error:
        _record(session, claim, "document.refused", {"kind": "invoice", "rules": [p.rule for p in error.problems], "message": error.message}, now)
        return
    document = issued.document
    _record(session, claim, "document.issued", {"kind": "invoice", "number": document.number, "validation": issued.validation_status}, now)
    if issued.validation_status == "clean":
        _queue_dispatch(session, claim, document.id, decision, now)


def _queue_dispatch(session: Session, claim: Claim, document_id: uuid.UUID, decision: RoutingDecision, now: datetime) -> None:
    key = hashlib.sha256(f"{document_id}|{decision.channel.value}|{decision.recipient}".encode()).hexdigest()
    session.add(
        Dispatch(
            document_id=document_id, claim_id=claim.id, channel=decision.channel.value, recipient=decision.recipient, state="queued",
            idempotency_key=key, routing_reason=decision.reason, created_at=now, updated_at=now,
        )
    )
