"""Issuing documents from stored claims: number, render, validate, store (immutable).

Numbers are gap-free per (creditor, prefix): the sequence row is taken under a row lock
(PostgreSQL `FOR UPDATE`; SQLite serialises writers with BEGIN IMMEDIATE) and advanced in the
same transaction that inserts the document, so a rollback gives the number back. The unique
constraints on `document` (creditor, prefix, sequence) and (creditor, number) back this up.

A document is validated with the official artefacts before anything may send it; the verdict
is stored with the document (`meta["validation"]`) and shown on the claim. A document that is
not clean (any error or warning) never gets a dispatch.

Reminders (`issue_reminder`, from the `dunning.send_step` handler) follow the same rules: a
UBL Reminder (REM) and, when the step charges a fee, a BIS 3.0 fee invoice (FEE, own OGM) are
numbered in one savepoint, validated, and dispatched only when both are clean.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.orm import Session

from gateway.delivery import service as delivery
from gateway.delivery.router import RoutingDecision
from gateway.config import Settings
from gateway.domain.claim import Address, Channel, Claim as DomainClaim, ClaimLine as DomainLine, ClaimType, DebtorKind, Party
from gateway.domain.claim_status import ClaimStatus, transition
from gateway.domain.document import (
    DocumentReference,
    DocumentRuleError,
    InvoiceDocument,
    IssueData,
    OverdueInvoice,
    ReminderLine,
    build_credit_note,
    build_fee_invoice,
    build_invoice,
    build_reminder,
)
from gateway.domain.identifiers import new_random_ogm
from gateway.dunning.service import attach_dispatch, policy_for_claim
from gateway.errors import Conflict, InvalidInput
from gateway.kit.time import brussels_today
from gateway.peppol.standards import StandardsMissing
from gateway.peppol.ubl_render import render
from gateway.peppol.validate import validate_document
from gateway.services import audit, letters
from gateway.services.claims import creditor_party
from gateway.store.models import Claim, ClaimLine, CreditorEntity, Debtor, Document, DocumentSequence, DunningStep
from gateway.store.repositories.dunning import DunningRepository

UBL_MEDIA_TYPE = "application/xml"
PREFIXES = {"invoice": "INV", "credit_note": "CN", "reminder": "REM", "fee_invoice": "FEE", "notice": "MSG"}


@dataclass(frozen=True)
class Issued:
    document: Document
    validation_status: str  # clean | invalid | not_run


def next_number(session: Session, creditor_id: uuid.UUID, prefix: str) -> tuple[int, str]:
    """Take the next number of a sequence; it is only spent if the caller's transaction commits."""
    query = select(DocumentSequence).where(DocumentSequence.creditor_id == creditor_id, DocumentSequence.prefix == prefix)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update()
        # A creditor's first document of a kind: two workers may both find no row. Insert it with
        # ON CONFLICT DO NOTHING (the loser waits for the winner's row, then locks it below)
        # instead of both inserting and one failing on the primary key.
        session.execute(
            postgresql_insert(DocumentSequence).values(creditor_id=creditor_id, prefix=prefix, next_value=1).on_conflict_do_nothing(index_elements=["creditor_id", "prefix"])
        )
    sequence = session.scalar(query)
    if sequence is None:  # SQLite: one writer at a time (BEGIN IMMEDIATE), no race
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


# --- reminders (dunning.send_step) ---------------------------------------------------------------

REMINDER_OGM_DRAWS = 20  # random OGM draws for a fee invoice before giving up (10^10 bases: collisions are rare)
INTEREST_RULES = ("BXIX-INTEREST-CAP", "B2B-INTEREST", "POLICY-INTEREST")  # `gateway.dunning.legal` rule ids of interest amounts


@dataclass(frozen=True)
class ReminderOutcome:
    """What `issue_reminder` did for one recorded send step.

    status: issued (clean, dispatch queued and attached) | not_clean (stored, no dispatch) |
    refused (DocumentRuleError, nothing stored, no number spent) | no_channel (stored, nothing left to
    send it on) | already_issued (the step has its reminder already).
    """

    status: str
    reminder: Document | None = None
    fee_invoice: Document | None = None
    dispatch_id: uuid.UUID | None = None
    channel: str | None = None
    rule: str | None = None


def _issued_invoice(session: Session, claim: Claim) -> Document | None:
    return session.scalar(select(Document).where(Document.claim_id == claim.id, Document.kind == "invoice").order_by(Document.issued_at.desc()).limit(1))


def _step_documents(session: Session, claim: Claim, step_id: uuid.UUID) -> list[Document]:
    """Reminder documents already issued for this step (a repeated job must not issue a second one)."""
    rows = session.scalars(select(Document).where(Document.claim_id == claim.id, Document.kind == "reminder")).all()
    return [d for d in rows if (d.meta or {}).get("dunning_step_id") == str(step_id)]


def _fee_ogm(session: Session) -> str:
    """A random OGM that no claim and no payment-plan instalment uses (as claims and instalments draw theirs)."""
    repo = DunningRepository(session)
    for _ in range(REMINDER_OGM_DRAWS):
        candidate = new_random_ogm()
        if not repo.ogms_taken({candidate}):
            return candidate
    raise Conflict("could not draw an unused structured communication for the fee invoice")


def _interest_line(step: DunningStep, invoice: InvoiceDocument) -> ReminderLine | None:
    """The interest the dunning decision recorded (amount and rate version as decided, not recomputed)."""
    if step.interest is None or step.interest <= 0:
        return None
    recorded = next((a for a in (step.amounts or []) if a.get("rule") in INTEREST_RULES), None)
    explanation = recorded.get("explanation") if recorded else None
    note = f"Late-payment interest on invoice {invoice.number}"
    if step.rate_version:
        note += f" (rates {step.rate_version})"
    if explanation:
        note += f": {explanation}"
    # the days the interest covers as the decision computed them (Book XIX: from the end of the first
    # reminder's term); older rows without them: from the invoice's due date
    first_day = date.fromisoformat(recorded["first_day"]) if recorded and recorded.get("first_day") else invoice.due_date
    last_day = date.fromisoformat(recorded["last_day"]) if recorded and recorded.get("last_day") else step.decided_on
    return ReminderLine(
        id="0", note=note[:1000], amount=step.interest, billing_reference=DocumentReference(invoice.number, invoice.issue_date),
        period_start=first_day, period_end=last_day,
    )


def issue_reminder(
    session: Session, claim: Claim, step: DunningStep, *, route: RoutingDecision | None, now: datetime, standards_dir: Path | None = None,
    settings: Settings | None = None,
) -> ReminderOutcome:
    """Issue the reminder of a recorded `send_step` decision (`dunning_step` row, status `decided`).

    Business debtor: a UBL 2.1 Reminder (REM numbers) about the claim's issued invoice, with the
    decision's interest and fee, the claim's OGM and the decision's new due date; a fee is first
    issued as its own BIS 3.0 invoice (FEE numbers, own OGM) that the reminder's fee line refers
    to. Both numbers are taken in one savepoint: a `DocumentRuleError` spends neither, stores
    nothing and is recorded as `document.refused`. Both documents are validated; only when both
    are clean are they dispatched on `route` (the caller's channel choice) and the reminder's
    dispatch is attached to the step, so the dunning clock follows its delivery.

    Consumer: no UBL; a PDF reminder letter (`issue_consumer_reminder`) on the same terms.
    """

    def record(action: str, data: dict) -> None:
        audit.record(session, actor="worker", creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action=action, data=data, at=now)

    if step.document_id is not None or _step_documents(session, claim, step.id):
        return ReminderOutcome("already_issued")
    debtor = session.get(Debtor, claim.debtor_id)
    if debtor.kind != DebtorKind.BUSINESS.value:
        if settings is None:
            raise TypeError("a consumer reminder needs the settings (personal link, letter rendering)")
        return issue_consumer_reminder(session, claim, step, route=route, now=now, settings=settings)

    fee_doc: Document | None = None
    fee_view = fee_ogm = fee_xml = fee_sequence = fee_number = None
    try:
        invoice = _issued_invoice(session, claim)
        if invoice is None:
            raise DocumentRuleError("reminder.no_invoice", "the claim has no issued invoice to remind of", field="claim")
        if step.new_due_date is None:
            raise DocumentRuleError("reminder.new_due_date", "the recorded step states no new due date", field="new_due_date")
        issue_date = brussels_today(now)
        invoice_view = build_invoice(domain_claim(session, claim), IssueData(number=invoice.number, issue_date=brussels_today(invoice.issued_at)))
        with session.begin_nested():  # a refused reminder (or fee invoice) gives its numbers back
            if step.fee > 0:
                fee_sequence, fee_number = next_number(session, claim.creditor_id, PREFIXES["fee_invoice"])
                fee_ogm = _fee_ogm(session)
                fee_view = build_fee_invoice(
                    invoice_view, IssueData(number=fee_number, issue_date=issue_date, structured_communication=fee_ogm),
                    fee=step.fee, description=f"Reminder fee (step {step.step}) on invoice {invoice.number}", due_date=step.new_due_date,
                )
                fee_xml = render(fee_view)
            sequence, number = next_number(session, claim.creditor_id, PREFIXES["reminder"])
            overdue = [OverdueInvoice(invoice_view, step.amount_open)]
            view = build_reminder(
                overdue, IssueData(number=number, issue_date=issue_date),
                today=step.decided_on, new_due_date=step.new_due_date, sequence=step.step or 1, fee=step.fee, fee_invoice=fee_view,
            )
            interest = _interest_line(step, invoice_view)
            if interest is not None:
                # build_reminder's order: one line per overdue invoice, then interest, then the fee
                head, tail = view.lines[: len(overdue)], view.lines[len(overdue):]
                lines = [replace(line, id=str(i)) for i, line in enumerate([*head, interest, *tail], start=1)]
                view = replace(view, lines=tuple(lines), total=sum((line.amount for line in lines), Decimal("0.00")))
            xml = render(view)
    except DocumentRuleError as error:
        record("document.refused", {"kind": "reminder", "step": step.step, "dedup_key": step.dedup_key, "rules": [p.rule for p in error.problems], "message": error.message})
        return ReminderOutcome("refused", rule=error.rule)

    if fee_view is not None:
        fee_verdict = validation_verdict(fee_xml, standards_dir)
        fee_doc = Document(
            claim_id=claim.id, creditor_id=claim.creditor_id, kind="fee_invoice", prefix=PREFIXES["fee_invoice"], sequence=fee_sequence, number=fee_number,
            media_type=UBL_MEDIA_TYPE, content=fee_xml, sha256=hashlib.sha256(fee_xml).hexdigest(), issued_at=now, rule_set_version=step.rule_set_version,
            meta={"validation": fee_verdict, "customization": "peppol-bis-billing-3.0", "payable": str(fee_view.totals.payable_amount),
                  "structured_communication": fee_ogm, "references": invoice.number, "dunning_step_id": str(step.id),
                  "due_date": step.new_due_date.isoformat()},
            created_at=now,
        )
        session.add(fee_doc)
    verdict = validation_verdict(xml, standards_dir)
    document = Document(
        claim_id=claim.id, creditor_id=claim.creditor_id, kind="reminder", prefix=PREFIXES["reminder"], sequence=sequence, number=number,
        media_type=UBL_MEDIA_TYPE, content=xml, sha256=hashlib.sha256(xml).hexdigest(), issued_at=now, rule_set_version=step.rule_set_version,
        meta={"validation": verdict, "customization": "ubl-reminder-2.1", "total": str(view.total), "step": step.step, "dunning_step_id": str(step.id),
              "new_due_date": step.new_due_date.isoformat(), "fee_invoice": fee_doc.number if fee_doc else None, "rate_version": step.rate_version},
        created_at=now,
    )
    session.add(document)
    session.flush()
    clean = verdict["status"] == "clean" and (fee_doc is None or fee_doc.meta["validation"]["status"] == "clean")
    record("reminder.issued", {
        "number": number, "step": step.step, "fee": str(step.fee), "interest": str(step.interest) if step.interest is not None else None,
        "fee_invoice": fee_doc.number if fee_doc else None, "validation": verdict["status"],
        "fee_validation": fee_doc.meta["validation"]["status"] if fee_doc else None, "new_due_date": step.new_due_date.isoformat(),
    })
    if not clean or route is None:
        return ReminderOutcome("not_clean" if not clean else "no_channel", reminder=document, fee_invoice=fee_doc)
    dispatch = delivery.queue_dispatch(
        session, document_id=document.id, claim_id=claim.id, channel=route.channel.value, recipient=route.recipient, reason=route.reason, now=now
    )
    if fee_doc is not None:
        delivery.queue_dispatch(
            session, document_id=fee_doc.id, claim_id=claim.id, channel=route.channel.value, recipient=route.recipient, reason=route.reason, now=now
        )
    attach_dispatch(session, step.id, document_id=document.id, dispatch_id=dispatch.id, now=now)
    return ReminderOutcome("issued", reminder=document, fee_invoice=fee_doc, dispatch_id=dispatch.id, channel=route.channel.value)


# --- consumer letters (gateway/services/letters.py) ----------------------------------


def issue_consumer_invoice(session: Session, claim: Claim, *, now: datetime, settings: Settings) -> Document:
    """The consumer's invoice as a PDF letter under the next INV number.

    Raises `DocumentRuleError` (no IBAN, no postal address ...); nothing is stored then and no
    number is spent."""
    with session.begin_nested():
        sequence, number = next_number(session, claim.creditor_id, PREFIXES["invoice"])
        facts = letters.LetterFacts("invoice", number, brussels_today(now), claim.due_date)
        return letters.issue_letter(session, claim, facts, sequence=sequence, prefix=PREFIXES["invoice"], settings=settings, now=now, meta={})


def _upcoming_fees(session: Session, claim: Claim, step: DunningStep) -> tuple[tuple[int, Decimal], ...]:
    """The fees of the policy's later steps, stated on a first reminder (Book XIX art. XIX.2 para. 2)."""
    if (step.step or 0) != 1:
        return ()
    try:
        policy = policy_for_claim(DunningRepository(session), claim)
    except InvalidInput:
        return ()
    # a consumer's letter: the consumer's fee of each later step (it may differ from a company's, Book XIX)
    fees = ((later.number, later.fee_for(DebtorKind.CONSUMER)) for later in policy.steps if later.number > 1)
    return tuple((number, fee) for number, fee in fees if fee > 0)


def issue_consumer_reminder(
    session: Session, claim: Claim, step: DunningStep, *, route: RoutingDecision | None, now: datetime, settings: Settings
) -> ReminderOutcome:
    """A consumer's reminder letter (REM number) for a recorded send step, dispatched on `route`.

    The letter asks for the claim's open amount under its OGM, states the step's fee and interest
    with their own OGM (paid apart, as a business pays its fee invoice), the new due date, and on
    a first reminder the fees that later steps will cost. Registered when the route is."""

    def record(action: str, data: dict) -> None:
        audit.record(session, actor="worker", creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action=action, data=data, at=now)

    interest = step.interest or Decimal("0.00")
    try:
        if step.new_due_date is None:
            raise DocumentRuleError("reminder.new_due_date", "the recorded step states no new due date", field="new_due_date")
        invoice = _issued_invoice(session, claim)
        with session.begin_nested():
            fee_ogm = _fee_ogm(session) if step.fee + interest > 0 else None
            sequence, number = next_number(session, claim.creditor_id, PREFIXES["reminder"])
            facts = letters.LetterFacts(
                "reminder", number, brussels_today(now), step.new_due_date, step=step.step,
                registered=route is not None and route.channel is Channel.REGISTERED_PAPER, fee=step.fee, interest=interest, fee_ogm=fee_ogm,
                fees_to_follow=_upcoming_fees(session, claim, step), invoice_number=invoice.number if invoice else None,
                invoice_date=brussels_today(invoice.issued_at) if invoice else None,
            )
            document = letters.issue_letter(session, claim, facts, sequence=sequence, prefix=PREFIXES["reminder"], settings=settings, now=now, meta={
                "step": step.step, "dunning_step_id": str(step.id), "new_due_date": step.new_due_date.isoformat(), "fee": str(step.fee),
                "interest": str(interest), "fee_structured_communication": fee_ogm, "rate_version": step.rate_version,
                # what the letter states, kept for the other channels (a first reminder by SMS says the same, Book XIX)
                "references": facts.invoice_number, "fees_to_follow": [[number, str(fee)] for number, fee in facts.fees_to_follow],
            }, rule_set_version=step.rule_set_version)
    except DocumentRuleError as error:
        record("document.refused", {"kind": "reminder", "step": step.step, "dedup_key": step.dedup_key, "rules": [p.rule for p in error.problems], "message": error.message})
        return ReminderOutcome("refused", rule=error.rule)
    record("reminder.issued", {
        "number": document.number, "step": step.step, "fee": str(step.fee), "interest": str(interest), "format": "letter-pdf",
        "registered": facts.registered, "new_due_date": step.new_due_date.isoformat(), "fee_structured_communication": fee_ogm,
    })
    if route is None:
        return ReminderOutcome("no_channel", reminder=document)
    dispatch = delivery.queue_dispatch(session, document_id=document.id, claim_id=claim.id, channel=route.channel.value, recipient=route.recipient, reason=route.reason, now=now)
    attach_dispatch(session, step.id, document_id=document.id, dispatch_id=dispatch.id, now=now)
    return ReminderOutcome("issued", reminder=document, dispatch_id=dispatch.id, channel=route.channel.value)


def issue_notice(
    session: Session, claim: Claim, *, kind: str, text: str, now: datetime, failed_dispatch_id: uuid.UUID, pdf: bytes | None = None,
    enclose_with: uuid.UUID | None = None,
) -> Document | None:
    """A short service message (a contact-repair SMS or e-mail, or with `pdf` a note printed after
    the paper letter of dispatch `enclose_with`) stored as a document, so it is dispatched, tracked
    and shown like any other; MSG numbers. None when one exists already for that failure."""
    for existing in session.scalars(select(Document).where(Document.claim_id == claim.id, Document.kind == kind)):
        if (existing.meta or {}).get("failed_dispatch_id") == str(failed_dispatch_id):
            return None
    content, media_type = (pdf, letters.PDF) if pdf is not None else (text.encode(), letters.TEXT)
    meta = {"failed_dispatch_id": str(failed_dispatch_id), "validation": {"status": "not_applicable", "reason": "a service message"}}
    if enclose_with is not None:
        meta.update(enclose_with=str(enclose_with), text=text)
    sequence, number = next_number(session, claim.creditor_id, PREFIXES["notice"])
    document = Document(
        claim_id=claim.id, creditor_id=claim.creditor_id, kind=kind, prefix=PREFIXES["notice"], sequence=sequence, number=number,
        media_type=media_type, content=content, sha256=hashlib.sha256(content).hexdigest(), issued_at=now, meta=meta, created_at=now,
    )
    session.add(document)
    session.flush()
    return document
