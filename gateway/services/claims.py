"""Claim intake and the claim's own lifecycle (payments, cancellation).

A claim is stored whole or not at all: the caller's scope commits, and a batch runs each item
in its own savepoint so a refused item leaves no trace while its neighbours are kept.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal

from sqlalchemy.orm import Session

from gateway.api.payloads import ClaimIn, ConsentIn, ContactIn, DebtorIn, DebtorPatch, PaymentIn
from gateway.domain import claim_status, identifiers
from gateway.domain.claim import Address, Party
from gateway.domain.claim_status import ClaimStatus
from gateway.domain.money import line_net_amount
from gateway.errors import Conflict, FieldProblem, InvalidInput, NotFound
from gateway.services import audit
from gateway.services.auth import Principal
from gateway.store.models import Claim, ClaimLine, CreditorEntity, Debtor, DebtorConsent, DebtorContact, Payment
from gateway.store.repositories.claims import ClaimRepository
from gateway.workers import queue

# How many random OGMs to draw before giving up (10^10 bases: a collision is already rare).
OGM_DRAWS = 20


@dataclass(frozen=True)
class IntakeWarning:
    """Accepted, but worth a look: e.g. an e-mail domain that looks like a typo."""

    field: str
    rule: str
    message: str
    suggestion: str | None = None


@dataclass
class Intake:
    claim: Claim
    warnings: list[IntakeWarning] = field(default_factory=list)


def creditor_party(creditor: CreditorEntity) -> Party:
    return Party(
        name=creditor.name,
        enterprise_number=creditor.enterprise_number,
        vat_number=creditor.vat_number,
        peppol_id=creditor.peppol_id,
        address=Address(street=creditor.street, postal_code=creditor.postal_code, city=creditor.city, country=creditor.country),
        language=(creditor.languages or ["nl"])[0],
        email=creditor.sender_email,
        iban=creditor.iban,
        bic=creditor.bic,
    )


def email_warnings(contacts: list[ContactIn], path: str) -> list[IntakeWarning]:
    """A likely typo is stored as given and reported with a suggestion; never silently rewritten."""
    warnings = []
    for index, contact in enumerate(contacts):
        if contact.kind == "email" and (suggestion := identifiers.suggest_email(contact.value)):
            warnings.append(
                IntakeWarning(f"{path}.{index}.value", "email.likely_typo", f"did you mean {suggestion}? stored as given: {contact.value}", suggestion)
            )
    return warnings


def resolve_creditor(repo: ClaimRepository, principal: Principal, code: str | None) -> CreditorEntity:
    if code is None:
        creditor = repo.creditor(principal.creditor_id)
    else:
        creditor = repo.creditor_by_code(code)
        if creditor is None or creditor.id not in principal.visible_creditor_ids:
            # Unknown and not-yours look the same: a key learns nothing about other creditors.
            raise InvalidInput.single("creditor", "creditor.unknown", f"no creditor entity {code!r} for this API key")
    assert creditor is not None
    return creditor


def create_claim(session: Session, principal: Principal, payload: ClaimIn, *, now: datetime) -> Intake:
    repo = ClaimRepository(session)
    creditor = resolve_creditor(repo, principal, payload.creditor)
    if payload.currency not in (creditor.allowed_currencies or ["EUR"]):
        raise InvalidInput.single("currency", "currency.not_allowed", f"{creditor.name} accepts {', '.join(creditor.allowed_currencies)}")
    if repo.claim_number_exists(creditor.id, payload.number):
        raise Conflict(f"claim number {payload.number!r} already exists for {creditor.code}", problems=[FieldProblem("number", "claim.number_exists", "claim numbers are unique per creditor entity")])

    if payload.structured_communication is not None:
        ogm = payload.structured_communication
        if repo.ogm_exists(ogm):
            raise InvalidInput.single("structured_communication", "ogm.in_use", "this structured communication is already used by another claim")
    else:
        ogm = _fresh_ogm(repo)

    debtor = upsert_debtor(session, repo, creditor, payload.debtor, actor=principal.actor, now=now)
    domain_claim = payload.to_domain(creditor_party(creditor), ogm)
    totals = domain_claim.totals
    claim = Claim(
        creditor_id=creditor.id,
        debtor_id=debtor.id,
        number=payload.number,
        claim_type=payload.type.value,
        fiscal=payload.fiscal,
        currency=payload.currency,
        issue_date=payload.issue_date,
        due_date=payload.due_date,
        structured_communication=ogm,
        buyer_reference=payload.buyer_reference,
        order_reference=payload.order_reference,
        note=payload.note,
        status=ClaimStatus.OPEN.value,
        total_net=totals.tax_exclusive_amount,
        total_vat=totals.tax_amount,
        total_amount=totals.payable_amount,
        amount_paid=Decimal("0.00"),
        created_at=now,
    )
    claim.lines = [
        ClaimLine(
            position=position,
            description=line.description,
            quantity=line.quantity,
            unit_code=line.unit_code,
            unit_price=line.unit_price,
            vat_category=line.vat_category,
            vat_rate=line.vat_rate,
            exemption_reason_code=line.exemption_reason_code,
            exemption_reason=line.exemption_reason,
            net_amount=line_net_amount(line.quantity, line.unit_price),
            created_at=now,
        )
        for position, line in enumerate(domain_claim.lines, start=1)
    ]
    session.add(claim)
    session.flush()
    audit.record(
        session, actor=principal.actor, creditor_id=creditor.id, entity_type="claim", entity_id=claim.id,
        action="claim.created", data={"number": claim.number, "total": str(claim.total_amount), "ogm": ogm}, at=now,
    )
    queue.enqueue(session, "claim.issue", {"claim_id": str(claim.id)}, dedup_key=f"claim.issue:{claim.id}", now=now)
    return Intake(claim=claim, warnings=email_warnings(payload.debtor.contacts, "debtor.contacts"))


def _fresh_ogm(repo: ClaimRepository) -> str:
    for _ in range(OGM_DRAWS):
        candidate = identifiers.new_random_ogm()
        if not repo.ogm_exists(candidate):
            return candidate
    raise Conflict("could not draw an unused structured communication")


def upsert_debtor(session: Session, repo: ClaimRepository, creditor: CreditorEntity, data: DebtorIn, *, actor: str, now: datetime) -> Debtor:
    """Find the debtor by the client's reference (or identifier) and bring it up to date."""
    debtor = None
    if data.external_id:
        debtor = repo.debtor_by_external_id(creditor.id, data.external_id)
    if debtor is None:
        debtor = repo.debtor_by_identifier(creditor.id, enterprise_number=data.enterprise_number, national_number=data.national_register_number)
    created = debtor is None
    if debtor is None:
        debtor = Debtor(creditor_id=creditor.id, external_id=data.external_id, created_at=now, contacts=[], consents=[])
        session.add(debtor)
    elif debtor.kind != data.kind:
        raise InvalidInput.single("debtor.kind", "debtor.kind_changed", f"debtor {debtor.external_id or debtor.id} is a {debtor.kind}")
    for name in ("kind", "name", "enterprise_number", "vat_number", "peppol_id", "national_register_number", "language"):
        value = getattr(data, name)
        if value is not None:
            setattr(debtor, name, value)
    _apply_address(debtor, data.address)
    debtor.updated_at = now
    session.flush()
    if created:
        audit.record(session, actor=actor, creditor_id=creditor.id, entity_type="debtor", entity_id=debtor.id, action="debtor.created", data={"name": debtor.name}, at=now)
    _add_contacts(session, debtor, data.contacts, actor=actor, now=now)
    _apply_consents(session, debtor, data.consents, actor=actor, now=now)
    return debtor


def _apply_address(debtor: Debtor, address) -> None:
    debtor.street, debtor.postal_code, debtor.city, debtor.country = address.street, address.postal_code, address.city, address.country


def _add_contacts(session: Session, debtor: Debtor, contacts: list[ContactIn], *, actor: str, now: datetime) -> None:
    known = {(contact.kind, contact.value.lower()) for contact in debtor.contacts}
    for contact in contacts:
        if (contact.kind, contact.value.lower()) in known:
            continue
        debtor.contacts.append(DebtorContact(kind=contact.kind, value=contact.value, validity="unverified", created_at=now))
        known.add((contact.kind, contact.value.lower()))
        audit.record(session, actor=actor, creditor_id=debtor.creditor_id, entity_type="debtor", entity_id=debtor.id, action="contact.added", data={"kind": contact.kind, "value": contact.value}, at=now)


def _apply_consents(session: Session, debtor: Debtor, consents: list[ConsentIn], *, actor: str, now: datetime) -> None:
    current = {consent.channel: consent for consent in debtor.consents}
    for consent in consents:
        existing = current.get(consent.channel)
        if existing is not None and existing.given == consent.given and existing.given_on == consent.date and existing.source == consent.source:
            continue
        if existing is None:
            existing = DebtorConsent(channel=consent.channel, created_at=now)
            debtor.consents.append(existing)
            current[consent.channel] = existing
        existing.given, existing.given_on, existing.source = consent.given, consent.date, consent.source
        audit.record(
            session, actor=actor, creditor_id=debtor.creditor_id, entity_type="debtor", entity_id=debtor.id, action="consent.recorded",
            data={"channel": consent.channel, "given": consent.given, "date": consent.date.isoformat() if consent.date else None, "source": consent.source}, at=now,
        )


def get_claim(session: Session, principal: Principal, claim_id: uuid.UUID) -> Claim:
    claim = ClaimRepository(session).claim_for(claim_id, principal.visible_creditor_ids)
    if claim is None:
        raise NotFound(f"no claim {claim_id}")
    return claim


def record_payment(session: Session, principal: Principal, claim_id: uuid.UUID, payment: PaymentIn, *, now: datetime) -> tuple[Claim, Payment, bool]:
    """Book a payment; a repeat of the same (source, external_id) changes nothing. Returns (claim, payment, created)."""
    repo = ClaimRepository(session)
    claim = repo.claim_for(claim_id, principal.visible_creditor_ids, for_update=True)
    if claim is None:
        raise NotFound(f"no claim {claim_id}")
    if payment.external_id is not None and (existing := repo.payment_by_external_id(payment.source, payment.external_id)) is not None:
        if existing.claim_id != claim.id:
            raise Conflict("this payment id is already booked on another claim", problems=[FieldProblem("external_id", "payment.duplicate", "payment ids are unique per source")])
        return claim, existing, False
    if payment.amount > claim.amount_open:
        raise InvalidInput.single("amount", "payment.exceeds_open_amount", f"the claim has {claim.amount_open} open")
    new_paid = claim.amount_paid + payment.amount
    target = ClaimStatus.PAID if new_paid == claim.total_amount else ClaimStatus.PARTIALLY_PAID
    if target != claim.status:
        claim.status = claim_status.transition(claim.status, target).value
    claim.amount_paid = new_paid
    claim.updated_at = now
    row = Payment(claim_id=claim.id, amount=payment.amount, paid_on=payment.paid_on, source=payment.source, external_id=payment.external_id, reference=payment.reference, created_at=now)
    session.add(row)
    session.flush()
    audit.record(
        session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="payment.recorded",
        data={"amount": str(payment.amount), "paid_on": payment.paid_on.isoformat(), "source": payment.source, "status": claim.status}, at=now,
    )
    return claim, row, True


def cancel_claim(session: Session, principal: Principal, claim_id: uuid.UUID, reason: str, *, now: datetime) -> Claim:
    claim = ClaimRepository(session).claim_for(claim_id, principal.visible_creditor_ids, for_update=True)
    if claim is None:
        raise NotFound(f"no claim {claim_id}")
    previous = claim.status
    claim.status = claim_status.transition(claim.status, ClaimStatus.CANCELLED).value
    claim.updated_at = now
    audit.record(
        session, actor=principal.actor, creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="claim.cancelled",
        data={"reason": reason, "from": previous}, at=now,
    )
    return claim


def get_debtor(session: Session, principal: Principal, debtor_id: uuid.UUID) -> Debtor:
    debtor = ClaimRepository(session).debtor_for(debtor_id, principal.visible_creditor_ids)
    if debtor is None:
        raise NotFound(f"no debtor {debtor_id}")
    return debtor


def patch_debtor(session: Session, principal: Principal, debtor_id: uuid.UUID, patch: DebtorPatch, *, now: datetime) -> tuple[Debtor, list[IntakeWarning]]:
    debtor = get_debtor(session, principal, debtor_id)
    changed = {}
    if patch.name is not None:
        debtor.name, changed["name"] = patch.name, patch.name
    if patch.language is not None:
        debtor.language, changed["language"] = patch.language, patch.language
    if patch.address is not None:
        _apply_address(debtor, patch.address)
        changed["address"] = patch.address.model_dump()
    if changed:
        audit.record(session, actor=principal.actor, creditor_id=debtor.creditor_id, entity_type="debtor", entity_id=debtor.id, action="debtor.updated", data=changed, at=now)
    warnings: list[IntakeWarning] = []
    if patch.contacts is not None:
        wanted = {(c.kind, c.value.lower()) for c in patch.contacts}
        for contact in list(debtor.contacts):
            if (contact.kind, contact.value.lower()) not in wanted:
                debtor.contacts.remove(contact)
                audit.record(session, actor=principal.actor, creditor_id=debtor.creditor_id, entity_type="debtor", entity_id=debtor.id, action="contact.removed", data={"kind": contact.kind, "value": contact.value}, at=now)
        _add_contacts(session, debtor, patch.contacts, actor=principal.actor, now=now)
        warnings = email_warnings(patch.contacts, "contacts")
    if patch.consents is not None:
        _apply_consents(session, debtor, patch.consents, actor=principal.actor, now=now)
    debtor.updated_at = now
    session.flush()
    return debtor, warnings
