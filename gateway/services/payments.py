"""Incoming payments matched by their structured reference (OGM) and booked where it points.

`match_reference(session, reference)` is the one place that says what an OGM belongs to:

- a claim's own OGM (`claim.structured_communication`)                  -> kind "claim"
- a payment-plan instalment's OGM (`payment_plan_instalment`)           -> kind "instalment"
- a fee's own OGM: a business fee invoice (`document.kind = fee_invoice`,
  meta.structured_communication) or a consumer reminder letter whose fee
  and interest are paid apart (meta.fee_structured_communication)       -> kind "fee"

It only reads (no booking, no locking) so every payment source can use it: bank statement lines
through `book_incoming` here, and a Bancontact callback carrying an OGM as its reference.

`book_incoming` records the transfer once (`incoming_payment`, unique per source and external id,
so a statement read twice books once) and books it: on the claim (`claims.record_payment`); on an
instalment, over the plan's claims oldest due date first, each part a `payment` row linked to the
instalment; a fee payment is the `incoming_payment` row alone (a fee is not part of the claim's open
amount). An unknown reference (404, as any object of another creditor) or more than the open
amount (422) is refused naming the rule and stores nothing.

`book_by_reference` is the same booking for a source that knows only the reference and acts for
no creditor (a Bancontact payment made through the long-lived invoice link, for which we made no
payment request): it books as the creditor the reference belongs to and answers with a status
instead of an error (`booked`, `already_booked`, `unknown_reference`, `refused`), so the caller
keeps the payment, booked on nothing, with the reason.

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
from gateway.errors import Conflict, FieldProblem, GatewayError, InvalidInput, NotFound
from gateway.kit import pay_link
from gateway.kit.time import brussels_today
from gateway.services import audit
from gateway.services.auth import Principal
from gateway.services.claims import record_payment
from gateway.store.models import Claim, Document, IncomingPayment, PaymentPlan, PaymentPlanClaim, PaymentPlanInstalment
from gateway.workers import queue

MATCH_CLAIM = "claim"
MATCH_INSTALMENT = "instalment"
MATCH_FEE = "fee"
# Where a document keeps the OGM its fee (and interest) is paid under, by document kind.
FEE_OGM_KEYS = {"fee_invoice": "structured_communication", "reminder": "fee_structured_communication"}


@dataclass(frozen=True)
class ReferenceMatch:
    kind: str  # MATCH_CLAIM | MATCH_INSTALMENT | MATCH_FEE
    ogm: str  # the 12 digits
    creditor_id: uuid.UUID
    claim_ids: tuple[uuid.UUID, ...]  # the claim; an instalment's plan claims (oldest due first); the claim a fee belongs to
    plan_id: uuid.UUID | None = None
    instalment_id: uuid.UUID | None = None
    instalment_number: int | None = None
    document_id: uuid.UUID | None = None


def match_reference(session: Session, reference: str, *, creditor_ids: frozenset[uuid.UUID] | None = None) -> ReferenceMatch | None:
    """What the structured reference `reference` (+++ddd/dddd/ddddd+++ or 12 digits) belongs to, among
    `creditor_ids` (all creditors when None); None when nothing carries it.

    Raises `InvalidInput` (ogm.format / ogm.length / ogm.checksum) for a reference that is not an OGM,
    and `Conflict` PAYMENT-REFERENCE-AMBIGUOUS if two things carry the same OGM (draws avoid it)."""
    try:
        ogm = normalize_ogm(reference)
    except IdentifierError as error:
        raise InvalidInput.single("reference", error.rule, error.message) from error

    def visible(query, creditor_column):
        return query if creditor_ids is None else query.where(creditor_column.in_(creditor_ids))

    found: list[ReferenceMatch] = []
    for claim in session.scalars(visible(select(Claim).where(Claim.structured_communication == ogm), Claim.creditor_id)):
        found.append(ReferenceMatch(MATCH_CLAIM, ogm, claim.creditor_id, (claim.id,)))
    query = select(PaymentPlanInstalment, PaymentPlan).join(PaymentPlan, PaymentPlan.id == PaymentPlanInstalment.plan_id).where(
        PaymentPlanInstalment.structured_communication == ogm)
    for instalment, plan in session.execute(visible(query, PaymentPlan.creditor_id)):
        claims = session.scalars(
            select(Claim.id).join(PaymentPlanClaim, PaymentPlanClaim.claim_id == Claim.id)
            .where(PaymentPlanClaim.plan_id == plan.id).order_by(Claim.due_date, Claim.number)
        ).all()
        found.append(ReferenceMatch(MATCH_INSTALMENT, ogm, plan.creditor_id, tuple(claims), plan_id=plan.id, instalment_id=instalment.id,
                                   instalment_number=instalment.number))
    for kind, key in FEE_OGM_KEYS.items():
        query = select(Document).where(Document.kind == kind, Document.meta[key].as_string() == ogm)
        for document in session.scalars(visible(query, Document.creditor_id)):
            found.append(ReferenceMatch(MATCH_FEE, ogm, document.creditor_id, (document.claim_id,), document_id=document.id))
    if len(found) > 1:
        raise Conflict(f"structured reference {ogm} is carried by {len(found)} items",
                       problems=[FieldProblem("reference", "PAYMENT-REFERENCE-AMBIGUOUS", ", ".join(m.kind for m in found))])
    return found[0] if found else None


@dataclass(frozen=True)
class IncomingIn:
    reference: str
    amount: Decimal
    paid_on: date
    source: str = "bank_statement"
    external_id: str | None = None


@dataclass(frozen=True)
class Booked:
    incoming: IncomingPayment
    match: ReferenceMatch
    parts: tuple[tuple[Claim, Decimal], ...]  # (claim, amount booked on it); empty for a fee
    created: bool  # False: this (source, external_id) was booked before; nothing changed


def book_incoming(session: Session, principal: Principal, payment: IncomingIn, *, now: datetime) -> Booked:
    """Match `payment` by its reference and book it (see the module docstring)."""
    if payment.external_id is not None:
        existing = session.scalar(select(IncomingPayment).where(IncomingPayment.source == payment.source, IncomingPayment.external_id == payment.external_id))
        if existing is not None:
            if existing.creditor_id not in principal.visible_creditor_ids:
                raise Conflict("this payment id is already booked", problems=[FieldProblem("external_id", "payment.duplicate", "payment ids are unique per source")])
            match = match_reference(session, existing.reference, creditor_ids=principal.visible_creditor_ids)
            return Booked(existing, match, (), created=False)
    match = match_reference(session, payment.reference, creditor_ids=principal.visible_creditor_ids)
    if match is None:
        # 404 like any object another creditor owns: the reference is the object's id here (never echoed back)
        raise NotFound("no claim, payment-plan instalment or fee of yours carries this structured reference",
                       problems=[FieldProblem("reference", "PAYMENT-REFERENCE-UNKNOWN", "no claim, payment-plan instalment or fee of yours carries it")])
    incoming = IncomingPayment(
        creditor_id=match.creditor_id, reference=match.ogm, amount=payment.amount, paid_on=payment.paid_on, source=payment.source,
        external_id=payment.external_id, matched=match.kind, claim_id=match.claim_ids[0] if match.kind != MATCH_INSTALMENT else None,
        plan_id=match.plan_id, instalment_id=match.instalment_id, document_id=match.document_id, created_at=now,
    )
    session.add(incoming)
    session.flush()
    parts: list[tuple[Claim, Decimal]] = []
    if match.kind == MATCH_FEE:
        document = session.get(Document, match.document_id)
        audit.record(session, actor=principal.actor, creditor_id=match.creditor_id, entity_type="claim", entity_id=document.claim_id, action="payment.fee_received",
                     data={"incoming_payment_id": str(incoming.id), "amount": str(payment.amount), "paid_on": payment.paid_on.isoformat(),
                           "document": document.number, "reference": match.ogm, "source": payment.source}, at=now)
        return Booked(incoming, match, (), created=True)
    claims = [session.get(Claim, claim_id) for claim_id in match.claim_ids]
    open_total = sum((claim.amount_open for claim in claims), Decimal("0.00"))
    if payment.amount > open_total:
        raise InvalidInput.single("amount", "payment.exceeds_open_amount", f"{payment.amount} is more than the {open_total} open under {match.ogm}")
    remaining = payment.amount
    for claim in claims:  # an instalment pays the oldest claim of the plan first
        part = min(remaining, claim.amount_open)
        if part <= 0:
            continue
        booked, _, _ = record_payment(
            session, principal, claim.id, PaymentIn(amount=part, paid_on=payment.paid_on, source=payment.source, reference=match.ogm), now=now,
            incoming_payment_id=incoming.id, instalment_id=match.instalment_id,
        )
        parts.append((booked, part))
        remaining -= part
    if match.kind == MATCH_INSTALMENT:
        from gateway.dunning import service as dunning  # the plan's lifecycle lives there (imports this package)

        audit.record(session, actor=principal.actor, creditor_id=match.creditor_id, entity_type="payment_plan", entity_id=match.plan_id,
                     action="payment_plan.instalment_paid",
                     data={"incoming_payment_id": str(incoming.id), "instalment": match.instalment_number, "amount": str(payment.amount),
                           "paid_on": payment.paid_on.isoformat(), "parts": [{"claim_id": str(c.id), "amount": str(a)} for c, a in parts]}, at=now)
        dunning.close_plan_if_paid(session, match.plan_id, today=max(payment.paid_on, brussels_today(now)), now=now, actor=principal.actor)
    return Booked(incoming, match, tuple(parts), created=True)


@dataclass(frozen=True)
class ReferenceBooking:
    status: str  # booked | already_booked | unknown_reference | refused
    claim_id: uuid.UUID | None = None
    reason: str | None = None


def book_by_reference(
    session: Session, *, reference: str, amount: Decimal, paid_on: date, source: str, external_id: str, actor: str, now: datetime,
) -> ReferenceBooking:
    """`book_incoming` for a source acting for no creditor (see the module docstring)."""
    try:
        match = match_reference(session, reference)
    except GatewayError as error:  # not an OGM, or two things carry it
        return ReferenceBooking("unknown_reference", reason=f"structured reference {reference!r}: {error.message}")
    if match is None:
        return ReferenceBooking("unknown_reference", reason=f"no claim, payment-plan instalment or fee carries the structured reference {reference!r}")
    principal = Principal(key_id=uuid.UUID(int=0), creditor_id=match.creditor_id, visible_creditor_ids=frozenset({match.creditor_id}), actor=actor)
    try:
        with session.begin_nested():  # a refused booking leaves nothing behind
            booked = book_incoming(session, principal, IncomingIn(reference, amount, paid_on, source, external_id), now=now)
    except GatewayError as error:  # more than the open amount (paid twice), a cancelled claim: a refund by hand
        claim = session.get(Claim, match.claim_ids[0])
        return ReferenceBooking("refused", claim.id, f"claim {claim.number}: {error.message}")
    return ReferenceBooking("booked" if booked.created else "already_booked", match.claim_ids[0])


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
