"""Payments that arrive with a structured reference instead of a claim id.

`book_by_reference` finds the claim whose OGM (structured communication) is the payment's
reference and books the payment on it through `claims.record_payment`, so every rule of a booking
holds (idempotent on source + external id, never above the open amount, the claim's status moves,
the audit trail). Used by the Bancontact callback path for payments made through the long-lived
invoice link (no payment request of ours), and meant for any other source that only knows the
reference (a bank statement line).

Outcomes (`ReferenceMatch.status`): `booked`, `already_booked` (the same payment again),
`unknown_reference` (no claim has that OGM: the caller keeps the payment, booked on nothing, with
the reason), `refused` (more than the open amount, a claim that takes no payment: a refund by hand).

Also here: the Bancontact payment request of a new invoice or reminder (`queue_payment_request`,
made by the worker through the outbox) and the stable pay link that leads to it (`pay_url_for`).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.api.payloads import PaymentIn
from gateway.config import Settings
from gateway.domain.identifiers import IdentifierError, normalize_ogm
from gateway.errors import GatewayError
from gateway.kit import pay_link
from gateway.services.auth import Principal
from gateway.services.claims import record_payment
from gateway.store.models import Claim
from gateway.workers import queue


@dataclass(frozen=True)
class ReferenceMatch:
    status: str  # booked | already_booked | unknown_reference | refused
    claim_id: uuid.UUID | None = None
    reason: str | None = None


def claim_by_reference(session: Session, reference: str) -> Claim | None:
    """The claim whose OGM is `reference` (12 digits or +++ddd/dddd/ddddd+++); None when none is."""
    try:
        digits = normalize_ogm(reference)
    except IdentifierError:
        return None
    return session.scalar(select(Claim).where(Claim.structured_communication == digits))


def book_by_reference(
    session: Session, *, reference: str, amount: Decimal, paid_on: date, source: str, external_id: str, actor: str, now: datetime,
) -> ReferenceMatch:
    claim = claim_by_reference(session, reference)
    if claim is None:
        return ReferenceMatch("unknown_reference", reason=f"no claim has the structured reference {reference!r}")
    principal = Principal(key_id=uuid.UUID(int=0), creditor_id=claim.creditor_id, visible_creditor_ids=frozenset({claim.creditor_id}), actor=actor)
    payment = PaymentIn(amount=amount, paid_on=paid_on, source=source, external_id=external_id, reference=claim.structured_communication)
    try:
        with session.begin_nested():  # a refused booking leaves nothing behind
            _, _, created = record_payment(session, principal, claim.id, payment, now=now)
    except GatewayError as error:  # more than the open amount (paid twice), a cancelled claim: a refund by hand
        return ReferenceMatch("refused", claim.id, f"claim {claim.number}: {error.message}")
    return ReferenceMatch("booked" if created else "already_booked", claim.id)


def pay_url_for(settings: Settings, document_id: uuid.UUID) -> str | None:
    """The stable pay link of an invoice or reminder (`gateway.kit.pay_link`); None unless the
    personal-link secret is set and Bancontact payment requests can be made."""
    from gateway.channels.setup import bancontact_configured

    if not settings.personal_link_secret or not bancontact_configured(settings):
        return None
    return pay_link.url(settings.public_base_url, pay_link.sign(settings.personal_link_secret.encode(), document_id))


PAYMENT_REQUEST = "payment.request"


def queue_payment_request(session: Session, settings: Settings, *, claim_id: uuid.UUID, document_id: uuid.UUID, now: datetime) -> bool:
    """Queue the Bancontact payment request of a new invoice or reminder (one per document; the
    worker makes it through the outbox after this transaction commits). False when Bancontact
    is not configured."""
    from gateway.channels.setup import bancontact_configured

    if not bancontact_configured(settings):
        return False
    queue.enqueue(session, PAYMENT_REQUEST, {"claim_id": str(claim_id), "document_id": str(document_id)}, now=now, dedup_key=f"{PAYMENT_REQUEST}:{document_id}")
    return True
