"""Claim intake and the claim's own lifecycle (payments, cancellation).

A claim is stored whole or not at all: the caller's scope commits, and a batch runs each item
in its own savepoint so a refused item leaves no trace while its neighbours are kept.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from gateway.api.payloads import ClaimIn, ConsentIn, ContactIn, DebtorIn, DebtorPatch, PaymentIn
from gateway.domain import claim_status, identifiers
from gateway.domain.claim import Address, Party
from gateway.domain.claim_status import ClaimStatus
from gateway.domain.money import line_net_amount
from gateway.errors import Conflict, FieldProblem, GatewayError, InvalidInput, NotFound
from gateway.kit.ids import new_id
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


@dataclass(frozen=True)
class StoredClaim:
    """A claim as intake inserted it (intake writes rows in bulk, without ORM objects)."""

    id: uuid.UUID
    creditor_id: uuid.UUID
    debtor_id: uuid.UUID
    number: str
    claim_type: str
    fiscal: bool
    currency: str
    issue_date: date
    due_date: date
    structured_communication: str
    buyer_reference: str | None
    order_reference: str | None
    note: str | None
    status: str
    total_net: Decimal
    total_vat: Decimal
    total_amount: Decimal
    amount_paid: Decimal
    created_at: datetime

    @property
    def amount_open(self) -> Decimal:
        return self.total_amount - self.amount_paid


@dataclass
class Intake:
    claim: StoredClaim
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


def create_claim(session: Session, principal: Principal, payload: ClaimIn, *, now: datetime) -> Intake:
    """Store one claim, or raise the `GatewayError` that refuses it."""
    [result] = create_claims(session, principal, [payload], now=now)
    if isinstance(result, GatewayError):
        raise result
    return result


def create_claims(session: Session, principal: Principal, payloads: Sequence[ClaimIn], *, now: datetime) -> list[Intake | GatewayError]:
    """Store each claim whole or refuse it, with one result per payload, in order.

    The checks run set-wise (one query per kind of check for the whole list), every refusal
    is decided before anything is added, and the accepted claims are flushed together. A
    unique-constraint race with a concurrent request is the only refusal found at flush time;
    then the items are retried one by one, each in its own savepoint.
    """
    savepoint = session.begin_nested()
    try:
        results = _create_claims(session, principal, payloads, now=now)
        savepoint.commit()
        return results
    except IntegrityError:
        savepoint.rollback()
    if len(payloads) == 1:
        return [Conflict("a concurrent request stored a claim with the same number or structured communication")]
    return [create_claims(session, principal, [payload], now=now)[0] for payload in payloads]


@dataclass
class _Accepted:
    index: int
    payload: ClaimIn
    creditor: CreditorEntity
    ogm: str | None
    debtor: Debtor | None = None


def _create_claims(session: Session, principal: Principal, payloads: Sequence[ClaimIn], *, now: datetime) -> list[Intake | GatewayError]:
    repo = ClaimRepository(session)
    results: list[Intake | GatewayError | None] = [None] * len(payloads)
    creditors = _visible_creditors(repo, principal, {p.creditor for p in payloads if p.creditor is not None})
    known_numbers = repo.existing_claim_numbers({(c.id, p.number) for p in payloads if (c := creditors.get(p.creditor or principal.creditor_id))})
    known_ogms = repo.existing_ogms({p.structured_communication for p in payloads if p.structured_communication})

    accepted: list[_Accepted] = []
    for index, payload in enumerate(payloads):
        try:
            creditor = _creditor_for(creditors, principal, payload.creditor)
            _check_claim(payload, creditor, known_numbers, known_ogms)
        except GatewayError as error:
            results[index] = error
            continue
        known_numbers.add((creditor.id, payload.number))
        if payload.structured_communication:
            known_ogms.add(payload.structured_communication)
        accepted.append(_Accepted(index, payload, creditor, payload.structured_communication))

    fresh = _fresh_ogms(repo, sum(1 for item in accepted if item.ogm is None), taken=known_ogms)
    for item in accepted:
        if item.ogm is None:
            item.ogm = fresh.pop()

    debtors = DebtorBook(session, repo, actor=principal.actor, now=now)
    debtors.preload([(item.creditor.id, item.payload.debtor) for item in accepted])
    stored: list[_Accepted] = []
    for item in accepted:
        try:
            item.debtor = debtors.upsert(item.creditor, item.payload.debtor)
        except GatewayError as error:
            results[item.index] = error
            continue
        stored.append(item)
    session.flush()  # debtors first: claims reference them

    claim_rows, line_rows, audit_rows, job_rows = [], [], [], []
    for item in stored:
        claim, lines = _claim_rows(item, now)
        claim_rows.append(claim)
        line_rows.extend(lines)
        audit_rows.append(
            audit.event_row(
                actor=principal.actor, creditor_id=item.creditor.id, entity_type="claim", entity_id=claim["id"],
                action="claim.created", data={"number": claim["number"], "total": str(claim["total_amount"]), "ogm": item.ogm}, at=now,
            )
        )
        job_rows.append(queue.job_row("claim.issue", {"claim_id": str(claim["id"])}, dedup_key=f"claim.issue:{claim['id']}", now=now))
        results[item.index] = Intake(claim=StoredClaim(**claim), warnings=email_warnings(item.payload.debtor.contacts, "debtor.contacts"))
    if claim_rows:
        # Bulk statements: intake is the hot path (the benchmark target is 1,000 claims/s).
        session.execute(insert(Claim), claim_rows)
        session.execute(insert(ClaimLine), line_rows)
        audit.record_many(session, audit_rows)
        queue.enqueue_many(session, job_rows)
    return results  # type: ignore[return-value]


def _visible_creditors(repo: ClaimRepository, principal: Principal, codes: set[str]) -> dict:
    """Creditors by code and by id, limited to what the key may see."""
    found: dict = {}
    for creditor in repo.creditors_by_codes(codes) + [repo.creditor(principal.creditor_id)]:
        if creditor is not None and creditor.id in principal.visible_creditor_ids:
            found[creditor.code] = found[creditor.id] = creditor
    return found


def _creditor_for(creditors: dict, principal: Principal, code: str | None) -> CreditorEntity:
    creditor = creditors.get(code if code is not None else principal.creditor_id)
    if creditor is None:
        # Unknown and not-yours look the same: a key learns nothing about other creditors.
        raise InvalidInput.single("creditor", "creditor.unknown", f"no creditor entity {code!r} for this API key")
    return creditor


def _check_claim(payload: ClaimIn, creditor: CreditorEntity, known_numbers: set, known_ogms: set) -> None:
    allowed = creditor.allowed_currencies or ["EUR"]
    if payload.currency not in allowed:
        raise InvalidInput.single("currency", "currency.not_allowed", f"{creditor.name} accepts {', '.join(allowed)}")
    if (creditor.id, payload.number) in known_numbers:
        raise Conflict(
            f"claim number {payload.number!r} already exists for {creditor.code}",
            problems=[FieldProblem("number", "claim.number_exists", "claim numbers are unique per creditor entity")],
        )
    if payload.structured_communication and payload.structured_communication in known_ogms:
        raise InvalidInput.single("structured_communication", "ogm.in_use", "this structured communication is already used by another claim")


def _fresh_ogms(repo: ClaimRepository, count: int, *, taken: set[str]) -> list[str]:
    """`count` random OGMs that no claim uses (10^10 bases: a collision is already rare)."""
    chosen: set[str] = set()
    for _ in range(OGM_DRAWS):
        if len(chosen) >= count:
            break
        candidates = {identifiers.new_random_ogm() for _ in range(count - len(chosen))} - taken - chosen
        chosen |= candidates - repo.existing_ogms(candidates)
    if len(chosen) < count:
        raise Conflict("could not draw unused structured communications")
    return sorted(chosen)


def _claim_rows(item: _Accepted, now: datetime) -> tuple[dict, list[dict]]:
    payload = item.payload
    domain_claim = payload.to_domain(creditor_party(item.creditor), item.ogm)
    totals = domain_claim.totals
    claim_id = new_id()
    claim = {
        "id": claim_id,
        "creditor_id": item.creditor.id,
        "debtor_id": item.debtor.id,
        "number": payload.number,
        "claim_type": payload.type.value,
        "fiscal": payload.fiscal,
        "currency": payload.currency,
        "issue_date": payload.issue_date,
        "due_date": payload.due_date,
        "structured_communication": item.ogm,
        "buyer_reference": payload.buyer_reference,
        "order_reference": payload.order_reference,
        "note": payload.note,
        "status": ClaimStatus.OPEN.value,
        "total_net": totals.tax_exclusive_amount,
        "total_vat": totals.tax_amount,
        "total_amount": totals.payable_amount,
        "amount_paid": Decimal("0.00"),
        "created_at": now,
    }
    lines = [
        {
            "id": new_id(),
            "claim_id": claim_id,
            "position": position,
            "description": line.description,
            "quantity": line.quantity,
            "unit_code": line.unit_code,
            "unit_price": line.unit_price,
            "vat_category": line.vat_category,
            "vat_rate": line.vat_rate,
            "exemption_reason_code": line.exemption_reason_code,
            "exemption_reason": line.exemption_reason,
            "net_amount": line_net_amount(line.quantity, line.unit_price),
            "created_at": now,
        }
        for position, line in enumerate(domain_claim.lines, start=1)
    ]
    return claim, lines


class DebtorBook:
    """Finds or creates the debtors of a list of claims with a few set-wise queries.

    A debtor is matched by the client's reference (`external_id`), else by enterprise or
    national register number, within one creditor; two claims of one new debtor in the same
    batch share the new row.
    """

    def __init__(self, session: Session, repo: ClaimRepository, *, actor: str, now: datetime) -> None:
        self.session, self.repo, self.actor, self.now = session, repo, actor, now
        self.by_key: dict[tuple, Debtor] = {}

    @staticmethod
    def _keys(creditor_id, data: DebtorIn) -> list[tuple]:
        keys = []
        if data.external_id:
            keys.append((creditor_id, "external_id", data.external_id))
        if data.enterprise_number:
            keys.append((creditor_id, "enterprise_number", data.enterprise_number))
        if data.national_register_number:
            keys.append((creditor_id, "national_register_number", data.national_register_number))
        return keys

    def _remember(self, debtor: Debtor) -> None:
        for field_name in ("external_id", "enterprise_number", "national_register_number"):
            value = getattr(debtor, field_name)
            if value:
                self.by_key.setdefault((debtor.creditor_id, field_name, value), debtor)

    def preload(self, items: list[tuple]) -> None:
        wanted = [key for creditor_id, data in items for key in self._keys(creditor_id, data)]
        for debtor in self.repo.debtors_by_keys(wanted):
            self._remember(debtor)

    def upsert(self, creditor: CreditorEntity, data: DebtorIn) -> Debtor:
        debtor = next((self.by_key[key] for key in self._keys(creditor.id, data) if key in self.by_key), None)
        if debtor is not None and debtor.kind != data.kind:
            raise InvalidInput.single("debtor.kind", "debtor.kind_changed", f"debtor {debtor.external_id or debtor.id} is a {debtor.kind}")
        if debtor is None:
            debtor = Debtor(id=new_id(), creditor_id=creditor.id, external_id=data.external_id, created_at=self.now, contacts=[], consents=[])
            self.session.add(debtor)
            audit.record(self.session, actor=self.actor, creditor_id=creditor.id, entity_type="debtor", entity_id=debtor.id, action="debtor.created", data={"name": data.name}, at=self.now)
        for name in ("kind", "name", "enterprise_number", "vat_number", "peppol_id", "national_register_number", "language"):
            value = getattr(data, name)
            if value is not None and getattr(debtor, name) != value:
                setattr(debtor, name, value)
        _apply_address(debtor, data.address)
        debtor.updated_at = self.now
        self._remember(debtor)
        _add_contacts(self.session, debtor, data.contacts, actor=self.actor, now=self.now)
        _apply_consents(self.session, debtor, data.consents, actor=self.actor, now=self.now)
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


def record_payment(
    session: Session, principal: Principal, claim_id: uuid.UUID, payment: PaymentIn, *, now: datetime,
    incoming_payment_id: uuid.UUID | None = None, instalment_id: uuid.UUID | None = None,
) -> tuple[Claim, Payment, bool]:
    """Book a payment; a repeat of the same (source, external_id) changes nothing. Returns (claim, payment, created).

    `incoming_payment_id` / `instalment_id`: the matched transfer it comes from and the payment-plan
    instalment whose OGM it carried (`gateway.services.payments.book_incoming`). A part payment leaves
    a claim in a payment plan `in_payment_plan`."""
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
    if target is ClaimStatus.PARTIALLY_PAID and claim.status == ClaimStatus.IN_PAYMENT_PLAN.value:
        target = ClaimStatus.IN_PAYMENT_PLAN  # an instalment: the plan runs on
    if target != claim.status:
        claim.status = claim_status.transition(claim.status, target).value
    claim.amount_paid = new_paid
    claim.updated_at = now
    row = Payment(claim_id=claim.id, amount=payment.amount, paid_on=payment.paid_on, source=payment.source, external_id=payment.external_id, reference=payment.reference,
                  incoming_payment_id=incoming_payment_id, instalment_id=instalment_id, created_at=now)
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
