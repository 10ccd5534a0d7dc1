"""PDF letters: the consumer's invoice and reminders, the PDF rendition of a business UBL
document for paper and e-mail, and the consumer's contact-repair notice.

A consumer gets no UBL (DESIGN.md section 2): the document is a PDF letter from
`gateway.letters.render` with the creditor's branding, the EPC QR for the open amount under
the claim's OGM, and the debtor's personal link (`gateway.kit.personal_link`). The same
stored PDF goes out on every channel (eBox publishes it, e-mail attaches it, the printer
prints it, an SMS links to the personal page where it can be downloaded), so what the debtor
got is provable by one hash.

Numbers: invoices share the INV sequence with business invoices, reminders the REM sequence
(gap-free, `documents.next_number`); a rendering error spends no number (savepoint).

A business document keeps its UBL as the document of record; `pdf_rendition` draws it as a
letter (no personal link, so the same input gives the same bytes on every attempt) for the
printer and as the PDF beside the UBL in an e-mail.

A reminder's fee and interest are not added to the claim (a payment above the claim's open
amount is refused): as for businesses, they get their own structured communication, stated in
the letter beside the amount that stays open under the claim's OGM.

The creditor's stored logo passes `logo.check_logo` again before every letter: a logo stored
before a rule existed (an SVG with a DTD, a script, an outside reference ...) is left off the
letter instead of being parsed by WeasyPrint; the refusal is logged and kept in the issued
document's `meta["logo_refused"]` (rule and message), so the letter still goes out.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from dataclasses import dataclass, replace
from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.orm import Session

from gateway.channels.email.compose import format_amount, format_date
from gateway.channels.payment.bancontact_link import invoice_link
from gateway.config import Settings
from gateway.domain.document import DocumentRuleError
from gateway.domain.identifiers import format_ogm
from gateway.kit.ids import new_id
from gateway.kit.time import brussels_today
from gateway.letters.logo import LogoError, check_logo
from gateway.services import payments
from gateway.services.consumer_page import personal_url_for
from gateway.store.models import Claim, ClaimLine, CreditorEntity, Debtor, Document

log = logging.getLogger(__name__)

PDF = "application/pdf"
TEXT = "text/plain; charset=utf-8"
DEFAULT_COLOUR = "#1f4e79"
COUNTRY_NAMES = {"NL": "Nederland", "FR": "France", "DE": "Deutschland", "LU": "Luxembourg"}

LABELS = {
    "vat": {"nl": "Btw", "fr": "TVA", "de": "MwSt.", "en": "VAT"},
    "paid": {"nl": "Reeds betaald", "fr": "Déjà payé", "de": "Bereits bezahlt", "en": "Already paid"},
    "open": {"nl": "Openstaand saldo van factuur {number} van {date}", "fr": "Solde ouvert de la facture {number} du {date}",
             "de": "Offener Betrag der Rechnung {number} vom {date}", "en": "Open balance of invoice {number} of {date}"},
    "fee": {"nl": "Herinneringskost (stap {step})", "fr": "Frais de rappel (étape {step})", "de": "Mahngebühr (Stufe {step})", "en": "Reminder fee (step {step})"},
    "interest": {"nl": "Verwijlintrest", "fr": "Intérêts de retard", "de": "Verzugszinsen", "en": "Late-payment interest"},
    "separate": {
        "nl": "Bijkomende kosten ({amount}) betaalt u apart met de gestructureerde mededeling {ogm}.",
        "fr": "Les frais supplémentaires ({amount}) se paient séparément avec la communication structurée {ogm}.",
        "de": "Zusätzliche Kosten ({amount}) zahlen Sie separat mit der strukturierten Mitteilung {ogm}.",
        "en": "Additional costs ({amount}) are paid separately with the structured communication {ogm}.",
    },
    "next_step": {"nl": "Volgende herinnering (stap {step})", "fr": "Rappel suivant (étape {step})", "de": "Nächste Mahnung (Stufe {step})", "en": "Next reminder (step {step})"},
}

# By the kind of contact that failed: an e-mail address, or a phone number.
REPAIR_TEXT = {
    "email": {
        "nl": "{sender}: uw {what} {number} kon niet bezorgd worden op {contact}. Geef een nieuw adres op via {link}",
        "fr": "{sender}: votre {what} {number} n'a pas pu être remis à {contact}. Indiquez une nouvelle adresse via {link}",
        "de": "{sender}: Ihr(e) {what} {number} konnte nicht an {contact} zugestellt werden. Neue Adresse angeben: {link}",
        "en": "{sender}: your {what} {number} could not be delivered to {contact}. Update your details at {link}",
    },
    "phone": {
        "nl": "{sender}: uw {what} {number} kon niet bezorgd worden op {contact}. Geef een nieuw gsm-nummer op via {link}",
        "fr": "{sender}: votre {what} {number} n'a pas pu être remis au {contact}. Indiquez un nouveau numéro via {link}",
        "de": "{sender}: Ihr(e) {what} {number} konnte nicht an {contact} zugestellt werden. Neue Nummer angeben: {link}",
        "en": "{sender}: your {what} {number} could not be delivered to {contact}. Update your number at {link}",
    },
}
WHAT = {
    "invoice": {"nl": "factuur", "fr": "facture", "de": "Rechnung", "en": "invoice"},
    "reminder": {"nl": "herinnering", "fr": "rappel", "de": "Mahnung", "en": "reminder"},
}


def _label(key: str, language: str, **values) -> str:
    table = LABELS[key]
    return table.get(language, table["nl"]).format(**values)


def masked_contact(value: str) -> str:
    """`j...@example.be` / `+3247...89`: enough for the debtor to recognise, not a full address in an
    SMS. Three dots, not an ellipsis: one character outside GSM-7 makes the whole SMS UCS-2."""
    if "@" in value:
        local, _, domain = value.partition("@")
        return f"{local[:1]}...@{domain}"
    return f"{value[:5]}...{value[-2:]}"


@dataclass(frozen=True)
class LetterFacts:
    """What a letter says beyond the claim (reminders: step, fee, interest, new term)."""

    kind: str  # invoice | reminder
    number: str
    issue_date: date
    due_date: date
    step: int | None = None
    registered: bool = False
    fee: Decimal = Decimal("0.00")
    interest: Decimal = Decimal("0.00")
    fee_ogm: str | None = None
    fees_to_follow: tuple[tuple[int, Decimal], ...] = ()
    invoice_number: str | None = None
    invoice_date: date | None = None
    # A document about something else than the claim's open amount (a fee invoice): its own lines, total and OGM.
    own_lines: tuple[tuple[str, Decimal], ...] | None = None
    own_total: Decimal | None = None
    own_ogm: str | None = None


def usable_logo(creditor: CreditorEntity) -> tuple[bytes | None, str | None, LogoError | None]:
    """(logo, media type, None) when the stored logo passes today's rules, else (None, None, the refusal)."""
    data = getattr(creditor, "logo", None)
    if data is None:
        return None, None, None
    try:
        media_type = check_logo(data)
    except LogoError as refusal:
        return None, None, refusal
    if media_type != creditor.logo_media_type:
        return None, None, LogoError("logo_file.media_type", f"the stored logo is {media_type}, recorded as {creditor.logo_media_type!r}")
    return data, media_type, None


def letter_input(creditor: CreditorEntity, debtor: Debtor, claim: Claim, lines: list[ClaimLine], facts: LetterFacts, *, url: str | None):
    """(the renderer's input, the stored logo's refusal or None); pure (row attributes in, values out).

    Raises DocumentRuleError naming the field. A logo that fails `check_logo` is left out, not fatal."""
    from gateway.letters.render import LetterInput, LetterLine, LetterParty  # WeasyPrint loads on first letter only

    if not creditor.iban:
        raise DocumentRuleError("letter.creditor_iban", f"creditor {creditor.code} has no IBAN: a letter needs one for the transfer and its EPC QR", field="creditor.iban")
    for field_name in ("street", "postal_code", "city"):
        if not getattr(debtor, field_name):
            raise DocumentRuleError("letter.debtor_address", f"the debtor has no {field_name}: a letter needs a postal address", field=f"debtor.address.{field_name}")
    language = debtor.language
    note = None
    if facts.own_lines is not None:
        letter_lines = [LetterLine(description, amount) for description, amount in facts.own_lines]
    elif facts.kind == "invoice":
        letter_lines = [LetterLine(f"{line.description} ({line.quantity.normalize():f} × {line.unit_price.normalize():f})", line.net_amount) for line in lines]
        if claim.total_vat:
            letter_lines.append(LetterLine(_label("vat", language), claim.total_vat))
        if claim.amount_paid:
            letter_lines.append(LetterLine(_label("paid", language), -claim.amount_paid))
    else:
        invoice_date = format_date(facts.invoice_date or claim.issue_date, language)
        letter_lines = [LetterLine(_label("open", language, number=facts.invoice_number or claim.number, date=invoice_date), claim.amount_open)]
        extra = facts.fee + facts.interest
        if extra > 0 and facts.fee_ogm:
            # word joiners keep the OGM on one line (line breaking may otherwise split it after a "+")
            note = _label("separate", language, amount=format_amount(extra, language), ogm="\u2060".join(format_ogm(facts.fee_ogm)))
    logo, logo_media_type, logo_refused = usable_logo(creditor)
    return LetterInput(
        kind=facts.kind, language=language,
        creditor=LetterParty(creditor.name, _address(creditor.street, creditor.postal_code, creditor.city, creditor.country)),
        creditor_enterprise_number=creditor.enterprise_number, creditor_iban=creditor.iban, creditor_bic=creditor.bic,
        creditor_colour=creditor.primary_colour or DEFAULT_COLOUR,
        logo=logo, logo_media_type=logo_media_type,
        debtor=LetterParty(debtor.name, _address(debtor.street, debtor.postal_code, debtor.city, debtor.country)),
        document_number=facts.number, issue_date=facts.issue_date, claim_number=claim.number, lines=tuple(letter_lines),
        total_due=facts.own_total if facts.own_total is not None else claim.amount_open, currency=claim.currency, due_date=facts.due_date,
        ogm=facts.own_ogm or claim.structured_communication,
        step=facts.step, registered=facts.registered,
        fees_to_follow=tuple(LetterLine(_label("next_step", language, step=step), fee) for step, fee in facts.fees_to_follow),
        personal_url=url, note=note,
    ), logo_refused


def _address(street: str | None, postal_code: str | None, city: str | None, country: str | None) -> tuple[str, ...]:
    lines = [street or "", f"{postal_code or ''} {city or ''}".strip()]
    if country and country != "BE":
        lines.append(COUNTRY_NAMES.get(country, country))
    return tuple(line for line in lines if line)


@dataclass(frozen=True)
class RenderedLetter:
    pdf: bytes
    epc_payload: str
    personal_url: str | None
    logo_refused: LogoError | None  # the creditor's stored logo, left off this letter


def render_pdf(
    session: Session, claim: Claim, facts: LetterFacts, *, settings: Settings | None, now: datetime, document_id: uuid.UUID | None = None,
) -> RenderedLetter:
    """A letter for the stored claim; no personal link without settings.

    A consumer letter carries Bancontact twice (issue 5): the QR is the long-lived invoice link
    (the Bancontact app scans it and pays at once, days after printing; the payment comes back
    with our OGM as reference and is booked by it), and the printed link is the document's stable
    pay link (`payments.pay_url_for`), which leads to a live payment request; without one (no
    secret or no Bancontact API) the invoice link is printed instead."""
    from gateway.letters.render import letter_epc_payload, render_letter

    creditor = session.get(CreditorEntity, claim.creditor_id)
    debtor = session.get(Debtor, claim.debtor_id)
    lines = list(session.scalars(select(ClaimLine).where(ClaimLine.claim_id == claim.id).order_by(ClaimLine.position)))
    url = personal_url_for(settings, debtor.id, claim.creditor_id, now) if settings is not None and debtor.kind == "consumer" else None
    letter, logo_refused = letter_input(creditor, debtor, claim, lines, facts, url=url)
    if logo_refused is not None:
        log.warning("creditor %s: stored logo left off letter %s: %s: %s", creditor.code, facts.number, logo_refused.rule, logo_refused.message)
    if settings is not None and debtor.kind == "consumer":
        template_link = invoice_link(
            settings.bancontact_payment_profile_id, amount=letter.total_due, reference=letter.ogm, description=f"{creditor.name} {facts.number}",
        )
        pay_url = payments.pay_url_for(settings, document_id) if document_id is not None else None
        letter = replace(letter, bancontact_url=pay_url or template_link, bancontact_qr_url=template_link)
    return RenderedLetter(render_letter(letter), letter_epc_payload(letter), url, logo_refused)


def issue_letter(
    session: Session, claim: Claim, facts: LetterFacts, *, sequence: int, prefix: str, settings: Settings, now: datetime, meta: dict,
    rule_set_version: str | None = None,
) -> Document:
    """Render and store a letter under an already taken number (the caller's savepoint gives it back on error).

    Its Bancontact payment request is queued with it (one per invoice or reminder, made by the
    worker through the outbox once this transaction commits)."""
    document_id = new_id()  # known before rendering: the letter prints its own pay link
    rendered = render_pdf(session, claim, facts, settings=settings, now=now, document_id=document_id)
    pdf, epc_payload, url = rendered.pdf, rendered.epc_payload, rendered.personal_url
    if rendered.logo_refused is not None:
        meta = {**meta, "logo_refused": {"rule": rendered.logo_refused.rule, "message": rendered.logo_refused.message}}
    document = Document(
        id=document_id, claim_id=claim.id, creditor_id=claim.creditor_id, kind=facts.kind, prefix=prefix, sequence=sequence, number=facts.number,
        media_type=PDF, content=pdf, sha256=hashlib.sha256(pdf).hexdigest(), issued_at=now, rule_set_version=rule_set_version,
        meta={
            "format": "letter-pdf", "language": session.get(Debtor, claim.debtor_id).language, "payable": str(claim.amount_open),
            "due_date": facts.due_date.isoformat(), "structured_communication": claim.structured_communication, "epc_payload": epc_payload,
            "personal_link": bool(url), "registered": facts.registered, "validation": {"status": "not_applicable", "reason": "a PDF letter has no UBL rules"},
            **meta,
        },
        created_at=now,
    )
    session.add(document)
    session.flush()
    if facts.own_lines is None and claim.amount_open > 0:
        payments.queue_payment_request(session, settings, claim_id=claim.id, document_id=document.id, now=now)
    return document


def has_pdf_rendition(document: Document) -> bool:
    """Whether `pdf_rendition` has a PDF for this document (the same test, without drawing it)."""
    meta = document.meta or {}
    return (
        document.media_type == PDF or document.kind == "invoice" or (document.kind == "reminder" and bool(meta.get("new_due_date")))
        or (document.kind == "fee_invoice" and bool(meta.get("payable")) and bool(meta.get("structured_communication")))
    )


def pdf_rendition(session: Session, document: Document, *, registered: bool = False) -> bytes | None:
    """The PDF a printer or an e-mail needs for a stored document: the letter itself, or a UBL
    invoice / reminder / fee invoice drawn as a letter; None for what has no letter form."""
    if document.media_type == PDF:
        return document.content
    if not has_pdf_rendition(document):
        return None
    meta = document.meta or {}
    claim = session.get(Claim, document.claim_id)
    issued_on = brussels_today(document.issued_at)
    if document.kind == "invoice":
        facts = LetterFacts("invoice", document.number, issued_on, claim.due_date, registered=registered)
    elif document.kind == "reminder":
        facts = LetterFacts(
            "reminder", document.number, issued_on, date.fromisoformat(meta["new_due_date"]), step=meta.get("step"), registered=registered,
            invoice_number=meta.get("references"),
        )
    else:  # a fee invoice with its own amount and OGM (has_pdf_rendition)
        total = Decimal(meta["payable"])
        due = date.fromisoformat(meta["due_date"]) if meta.get("due_date") else claim.due_date
        facts = LetterFacts(
            "invoice", document.number, issued_on, due, registered=registered, own_lines=((f"{document.number}: {meta.get('references') or claim.number}", total),),
            own_total=total, own_ogm=meta["structured_communication"],
        )
    return render_pdf(session, claim, facts, settings=None, now=document.issued_at).pdf


def repair_text(*, language: str, sender: str, kind: str, number: str, contact: str, link: str, contact_kind: str = "email") -> str:
    templates = REPAIR_TEXT[contact_kind]
    template = templates.get(language, templates["nl"])
    what = WHAT.get(kind, WHAT["invoice"]).get(language, WHAT["invoice"]["nl"])
    return template.format(sender=sender, what=what, number=number, contact=masked_contact(contact), link=link)


def repair_note_pdf(session: Session, claim: Claim, text: str) -> bytes:
    """The contact-repair request as a one-page note with the creditor's letterhead, enclosed with
    the paper letter (after its pages) when the debtor has no other contact to be asked on."""
    from gateway.letters.render import render_note

    creditor = session.get(CreditorEntity, claim.creditor_id)
    debtor = session.get(Debtor, claim.debtor_id)
    return render_note(
        language=debtor.language, creditor_name=creditor.name, colour=creditor.primary_colour or DEFAULT_COLOUR,
        logo=getattr(creditor, "logo", None), logo_media_type=getattr(creditor, "logo_media_type", None), text=text,
    )


def enclosures_for(session: Session, dispatch_id: uuid.UUID, claim_id: uuid.UUID) -> list[bytes]:
    """The notes to print after a paper dispatch's letter (`meta.enclose_with` names the dispatch)."""
    notes = session.scalars(select(Document).where(Document.claim_id == claim_id, Document.media_type == PDF, Document.kind == "contact_repair").order_by(Document.created_at))
    return [note.content for note in notes if (note.meta or {}).get("enclose_with") == str(dispatch_id)]
