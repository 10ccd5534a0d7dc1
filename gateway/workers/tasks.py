"""Job handlers of the claim pipeline."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.orm import Session

from gateway.delivery.router import ContactFacts, DebtorFacts, choose_channel
from gateway.services import audit
from gateway.store.models import Claim, Debtor
from gateway.workers.registry import handler


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


@handler("claim.issue")
def issue_claim(session: Session, payload: dict, now: datetime) -> None:
    """Route a new claim: decide its first channel and record why."""
    claim = session.get(Claim, uuid.UUID(payload["claim_id"]))
    if claim is None or claim.status != "open":
        return
    debtor = session.get(Debtor, claim.debtor_id)
    decision = choose_channel(debtor_facts(debtor), postal_address(debtor))
    audit.record(
        session, actor="worker", creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="claim.routed",
        data={"channel": decision.channel.value, "recipient": decision.recipient, "reason": decision.reason}, at=now,
    )
