"""Issuing documents from stored claims: number, render, validate, store (immutable).

Numbers are gap-free per (creditor, prefix): the sequence row is taken under a row lock
(PostgreSQL `FOR UPDATE`; SQLite serialises writers with BEGIN IMMEDIATE) and advanced in the
same transaction that inserts the document, so a rollback gives the number back. The unique
constraints on `document` (creditor, prefix, sequence) and (creditor, number) back this up.

A document is validated with the official artefacts before anything may send it; the verdict
is stored with the document (`meta["validation"]`) and shown on the claim. A document that is
not clean (any error or warning) never gets a dispatch.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.domain.claim import Address, Claim as DomainClaim, ClaimLine as DomainLine, ClaimType, DebtorKind, Party
from gateway.domain.claim_status import ClaimStatus, transition
from gateway.domain.document import IssueData, build_credit_note, build_invoice
from gateway.errors import InvalidInput
from gateway.kit.time import brussels_today
from gateway.peppol.standards import StandardsMissing
from gateway.peppol.ubl_render import render
from gateway.peppol.validate import validate_document
from gateway.services.claims import creditor_party
from gateway.store.models import Claim, ClaimLine, CreditorEntity, Debtor, Document, DocumentSequence

UBL_MEDIA_TYPE = "application/xml"
PREFIXES = {"invoice": "INV", "credit_note": "CN", "reminder": "REM", "fee_invoice": "FEE"}


@dataclass(frozen=True)
class Issued:
    document: Document
    validation_status: str  # clean | invalid | not_run


def next_number(session: Session, creditor_id: uuid.UUID, prefix: str) -> tuple[int, str]:
    """Take the next number of a sequence; it is only spent if the caller's transaction commits."""
    query = select(DocumentSequence).where(DocumentSequence.creditor_id == creditor_id, DocumentSequence.prefix == prefix)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
    sequence = session.scalar(query)
    if sequence is None:
        sequence = DocumentSequence(creditor_id=creditor_id, prefix=prefix, next_value=1)
        session.add(sequence)
    value = sequence.next_value
    sequence.next_value = value + 1
    session.flush()
    return value, f"{prefix}{value:06d}"


def domain_claim(session: Session, claim: Claim) -> DomainClaim:
    """The stored claim as the value object the renderer takes (a snapshot of the parties)."""
    creditor = session.get(CreditorEntity, claim.creditor_id)
    debtor = session.get(Debtor, claim.debtor_id)
    lines = session.scalars(select(ClaimLine).where(ClaimLine.claim_id == claim.id).order_by(ClaimLine.position)).all()
    return DomainClaim(
        number=claim.number,
        claim_type=ClaimType(claim.claim_type),
        fiscal=claim.fiscal,
        creditor=creditor_party(creditor),
        debtor=Party(
            name=debtor.name,
            kind=DebtorKind(debtor.kind),
            enterprise_number=debtor.enterprise_number,
            vat_number=debtor.vat_number,
            peppol_id=debtor.peppol_id,
            national_register_number=debtor.national_register_number,
            address=Address(street=debtor.street, postal_code=debtor.postal_code, city=debtor.city, country=debtor.country),
            language=debtor.language,
        ),
        issue_date=claim.issue_date,
        due_date=claim.due_date,
        currency=claim.currency,
        structured_communication=claim.structured_communication,
        lines=tuple(
            DomainLine(
                description=line.description, quantity=line.quantity, unit_price=line.unit_price, vat_category=line.vat_category,
                vat_rate=line.vat_rate, unit_code=line.unit_code, exemption_reason_code=line.exemption_reason_code,
                exemption_reason=line.exemption_reason,
            )
            for line in lines
        ),
        buyer_reference=claim.buyer_reference,
        order_reference=claim.order_reference,
        note=claim.note,
    )


def validation_verdict(xml: bytes, standards_dir: Path | None) -> dict:
    try:
        report = validate_document(xml, standards_dir=standards_dir)
    except StandardsMissing as exc:
        return {"status": "not_run", "reason": str(exc)}
    return {
        "status": "clean" if report.clean else "invalid",
        "valid": report.valid,
        "errors": [issue.to_dict() for issue in report.errors],
        "warnings": [issue.to_dict() for issue in report.warnings],
    }


def issue_invoice(session: Session, claim: Claim, *, now: datetime, standards_dir: Path | None = None) -> Issued:
    """Number, render and validate the BIS 3.0 invoice of a claim, and store it.

    Raises `DocumentRuleError` (naming the EN 16931 / Peppol rule) when the claim cannot
    become a valid invoice; nothing is stored then and no number is spent.
    """
    value = domain_claim(session, claim)
    prefix = PREFIXES["invoice"]
    with session.begin_nested():  # a refused claim gives its number back: the sequence stays gap-free
        sequence, number = next_number(session, claim.creditor_id, prefix)
        xml = render(build_invoice(value, IssueData(number=number, issue_date=brussels_today(now))))
    verdict = validation_verdict(xml, standards_dir)
    document = Document(
        claim_id=claim.id, creditor_id=claim.creditor_id, kind="invoice", prefix=prefix, sequence=sequence, number=number,
        media_type=UBL_MEDIA_TYPE, content=xml, sha256=hashlib.sha256(xml).hexdigest(), issued_at=now,
        meta={"validation": verdict, "customization": "peppol-bis-billing-3.0", "payable": str(value.totals.payable_amount)}, created_at=now,
    )
    session.add(document)
    session.flush()
    return Issued(document, verdict["status"])


def issue_credit_note(
    session: Session, claim: Claim, *, reason: str, lines: Sequence[DomainLine] | None, now: datetime, standards_dir: Path | None = None
) -> Issued:
    """A BIS 3.0 credit note (381) correcting the claim's invoice, in full or for some lines.

    The invoice's view model is rebuilt from the stored claim with the issued number and date
    (the renderer is deterministic, so it is the document that was sent). The credit note may
    not exceed what is left to credit on the invoice (`credit_note.exceeds_invoice`) nor what is
    still open on the claim (`credit_note.exceeds_open_amount`); the claim's total goes down by
    the credited amount, and a claim credited in full with nothing paid is cancelled.
    """
    invoice = session.scalar(select(Document).where(Document.claim_id == claim.id, Document.kind == "invoice").order_by(Document.issued_at.desc()).limit(1))
    if invoice is None:
        raise InvalidInput.single("claim", "credit_note.no_invoice", "the claim has no issued invoice to correct")
    invoice_view = build_invoice(domain_claim(session, claim), IssueData(number=invoice.number, issue_date=brussels_today(invoice.issued_at)))
    earlier = session.scalars(select(Document).where(Document.corrects_document_id == invoice.id, Document.kind == "credit_note")).all()
    already = sum((Decimal(d.meta["payable"]) for d in earlier), Decimal("0.00"))
    prefix = PREFIXES["credit_note"]
    with session.begin_nested():  # a refused credit note spends no number
        sequence, number = next_number(session, claim.creditor_id, prefix)
        credit = build_credit_note(invoice_view, IssueData(number=number, issue_date=brussels_today(now), note=reason), lines=lines, already_credited=already)
        amount = credit.totals.payable_amount
        if amount > claim.amount_open:
            raise InvalidInput.single("lines", "credit_note.exceeds_open_amount", f"the claim has {claim.amount_open} open; pay back before crediting {amount}")
        xml = render(credit)
    verdict = validation_verdict(xml, standards_dir)
    document = Document(
        claim_id=claim.id, creditor_id=claim.creditor_id, kind="credit_note", prefix=prefix, sequence=sequence, number=number,
        media_type=UBL_MEDIA_TYPE, content=xml, sha256=hashlib.sha256(xml).hexdigest(), issued_at=now, corrects_document_id=invoice.id,
        meta={"validation": verdict, "customization": "peppol-bis-billing-3.0", "payable": str(amount), "reason": reason}, created_at=now,
    )
    session.add(document)
    claim.total_amount -= amount
    claim.updated_at = now
    if claim.total_amount == 0 and claim.amount_paid == 0:
        claim.status = transition(claim.status, ClaimStatus.CANCELLED).value
    session.flush()
    return Issued(document, verdict["status"])
