"""Job handlers of the claim pipeline."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, object_session

from gateway.channels.peppol.buyer_response import hold_claim_for_buyer_response
from gateway.delivery import inbox
from gateway.delivery import service as delivery
from gateway.delivery.router import REQUIRED_CHANNELS, ContactFacts, DebtorFacts, PeppolLookupFacts, choose_channel, no_channel_reason, repair_channel
from gateway.domain.claim import Channel
from gateway.domain.document import DocumentRuleError
from gateway.errors import Conflict, InvalidInput, RetryableError, TerminalError
from gateway.kit.backoff import backoff_delay
from gateway.peppol.discovery import LookupOutcome, LookupResult, belgian_participant_ids
from gateway.services import audit, documents, letters, payments, webhooks
from gateway.services.consumer_page import personal_url_for
from gateway.store.models import Claim, CreditorEntity, Debtor, Dispatch, Document, DunningStep, InboundEvent
from gateway.store.repositories.claims import ClaimRepository
from gateway.workers import periodic, queue
from gateway.workers.registry import Task, handler


def debtor_facts(debtor: Debtor, *, peppol_lookup: PeppolLookupFacts | None = None) -> DebtorFacts:
    creditor = object_session(debtor).get(CreditorEntity, debtor.creditor_id)
    return DebtorFacts(
        kind=debtor.kind,
        peppol_id=debtor.peppol_id,
        national_register_number=debtor.national_register_number,
        contacts=tuple(ContactFacts(c.kind, c.value, c.validity) for c in debtor.contacts),
        consents={c.channel: c.given for c in debtor.consents},
        disabled_channels=frozenset(creditor.disabled_channels or ()),
        peppol_lookup=peppol_lookup if not debtor.peppol_id else None,
    )


def postal_address(debtor: Debtor) -> str:
    return f"{debtor.street}, {debtor.postal_code} {debtor.city}, {debtor.country}"


def _record(session: Session, claim: Claim, action: str, data: dict, now: datetime) -> None:
    audit.record(session, actor="worker", creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action=action, data=data, at=now)


ISSUE = "claim.issue"
# claim.issue issues the invoice, so that is the document type discovery is asked about.
ROUTING_LOOKUP_DOCUMENT_TYPE = "invoice"


@handler(ISSUE)
def issue_claim(task: Task, payload: dict, now: datetime) -> None:
    """Route a new claim, issue its invoice and queue the dispatch.

    Business debtor without a Peppol id: participant discovery first (0208 before 9925). Reachable:
    Peppol with the id found, which is recorded on the debtor. Not registered / document type not
    supported: the router goes on to e-mail (PDF + UBL) or paper and says why. Lookup failed
    (DNS / SMP down): nothing is issued yet; the claim is routed again later with backoff, and
    after `max_attempts` failed lookups the router falls back and says so.
    Business debtor: a BIS 3.0 invoice, dispatched only when the official validation is clean.
    Consumer: a PDF letter (with the EPC QR and the personal link), the same bytes on every channel."""
    claim_id = uuid.UUID(payload["claim_id"])
    lookup = peppol_lookup_before_routing(task, claim_id, now)
    session = task.session
    repository = ClaimRepository(session)
    claim = repository.lock_claim(claim_id)
    if claim is None or claim.status != "open":
        return
    if repository.invoice_of(claim.id) is not None:
        # Issued by another try of this job: a slow worker whose lease expired is replaced by a new
        # try while it still runs. The claim's row lock orders the two; the second finds the invoice.
        return
    debtor = session.get(Debtor, claim.debtor_id)
    attempt = int(payload.get("lookup_attempt", 1))
    if lookup is not None and lookup.is_retryable and not debtor.peppol_id and attempt < task.settings.max_attempts:
        _route_again_later(session, claim, lookup, attempt=attempt, settings=task.settings, now=now)
        return
    facts = debtor_facts(debtor, peppol_lookup=lookup_facts(lookup, attempt) if lookup is not None else None)
    decision = choose_channel(facts, postal_address(debtor))
    routed = {"channel": decision.channel.value, "recipient": decision.recipient, "reason": decision.reason}
    if facts.peppol_lookup is not None:
        routed["peppol_lookup"] = {"outcome": facts.peppol_lookup.outcome, "rule": lookup.reason, "tried": list(lookup.tried), "attempts": attempt}
    _record(session, claim, "claim.routed", routed, now)
    if facts.peppol_lookup is not None and decision.channel is Channel.PEPPOL:
        _record_found_peppol_id(session, debtor, claim, lookup, now)
    try:
        if debtor.kind != "business":
            letter = documents.issue_consumer_invoice(session, claim, now=now, settings=task.settings)
            _record(session, claim, "document.issued", {"kind": "invoice", "number": letter.number, "format": "letter-pdf"}, now)
            delivery.queue_dispatch(
                session, document_id=letter.id, claim_id=claim.id, channel=decision.channel.value, recipient=decision.recipient, reason=decision.reason, now=now
            )
            return
        issued = documents.issue_invoice(session, claim, now=now, standards_dir=task.settings.standards_dir)
    except DocumentRuleError as error:
        _record(session, claim, "document.refused", {"kind": "invoice", "rules": [p.rule for p in error.problems], "message": error.message}, now)
        return
    document = issued.document
    _record(session, claim, "document.issued", {"kind": "invoice", "number": document.number, "validation": issued.validation_status}, now)
    if issued.validation_status == "clean":
        delivery.queue_dispatch(
            session, document_id=document.id, claim_id=claim.id, channel=decision.channel.value, recipient=decision.recipient, reason=decision.reason, now=now
        )


def peppol_lookup_before_routing(task: Task, claim_id: uuid.UUID, now: datetime) -> LookupResult | None:
    """Discovery's answer for the claim's business debtor without a Peppol id, or None (nothing to ask).

    The Peppol provider's discovery (and its cache) is used; without a Peppol provider there is no
    Peppol channel to find. Runs before the task's own transaction opens: one short read, then DNS
    and HTTP with no transaction open (a lookup may take seconds; SQLite would hold its write lock)."""
    provider = task.providers.for_channel(Channel.PEPPOL.value) if task.providers is not None else None
    discovery = getattr(provider, "discovery", None)
    if discovery is None or task.database is None:
        return None
    with task.database.session_scope() as session:
        claim = session.get(Claim, claim_id)
        debtor = session.get(Debtor, claim.debtor_id) if claim is not None and claim.status == "open" else None
        if debtor is None or debtor.kind != "business" or debtor.peppol_id:
            return None
        try:
            participant_ids = belgian_participant_ids(debtor.enterprise_number, vat_number=debtor.vat_number)
        except InvalidInput:
            return None  # stored identifiers were checked at intake; an old odd one just means no lookup
    if not participant_ids:
        return None
    return discovery.lookup_first(participant_ids, ROUTING_LOOKUP_DOCUMENT_TYPE, now=now)


def lookup_facts(result: LookupResult, attempts: int) -> PeppolLookupFacts:
    reachable = result.outcome is LookupOutcome.REACHABLE
    return PeppolLookupFacts(
        outcome=result.outcome.value, participant_id=result.participant_id if reachable else None, rule=result.reason,
        tried=result.tried, attempts=attempts,
    )


def _route_again_later(session: Session, claim: Claim, lookup: LookupResult, *, attempt: int, settings, now: datetime) -> None:
    """A failed lookup says nothing about the debtor: ask again after a backoff, not fall back on a DNS hiccup.

    One claim.issue job per try (the dedup key carries the try number), as dispatch.transmit does."""
    run_after = now + backoff_delay(settings.retry_base_seconds, attempt)
    _record(session, claim, "claim.routing_deferred", {
        "reason": f"Peppol lookup failed ({lookup.reason}): routed again at {run_after.isoformat()}", "rule": lookup.reason, "detail": lookup.detail,
        "tried": list(lookup.tried), "attempt": attempt, "max_attempts": settings.max_attempts, "next_try_at": run_after.isoformat(),
    }, now)
    queue.enqueue(session, ISSUE, {"claim_id": str(claim.id), "lookup_attempt": attempt + 1}, now=now, run_after=run_after, dedup_key=f"{ISSUE}:{claim.id}:lookup:{attempt + 1}")


def _record_found_peppol_id(session: Session, debtor: Debtor, claim: Claim, lookup: LookupResult, now: datetime) -> None:
    """The id discovery found becomes the debtor's: later documents (reminders, credit notes) go there directly."""
    debtor.peppol_id, debtor.updated_at = lookup.participant_id, now
    audit.record(session, actor="worker", creditor_id=debtor.creditor_id, entity_type="debtor", entity_id=debtor.id, action="debtor.peppol_id_found", data={
        "peppol_id": lookup.participant_id, "tried": list(lookup.tried), "rule": lookup.reason, "smp_url": lookup.smp_url,
        "endpoint": lookup.endpoint.url if lookup.endpoint is not None else None, "claim_id": str(claim.id),
    }, at=now)


@handler(delivery.TRANSMIT, own_transactions=True)
def transmit_dispatch(task: Task, payload: dict, now: datetime) -> None:
    delivery.transmit(task.database, task.providers, task.settings, uuid.UUID(payload["dispatch_id"]))


@handler(webhooks.DELIVER, own_transactions=True)
def deliver_webhook(task: Task, payload: dict, now: datetime) -> None:
    webhooks.deliver(task.database, task.settings, uuid.UUID(payload["delivery_id"]))


@handler(inbox.APPLY)
def apply_inbound_event(task: Task, payload: dict, now: datetime) -> None:
    """Apply a stored callback to its dispatch (idempotent: handled_at is set once)."""
    session = task.session
    stored = session.get(InboundEvent, uuid.UUID(payload["event_id"]))
    if stored is None or stored.handled_at is not None:
        return
    verifier = task.providers.verifiers.get(stored.source)
    if verifier is None:
        raise RetryableError(f"no verifier configured for {stored.source}")
    if hasattr(verifier, "apply_stored"):  # callbacks that are not dispatch reports (payments)
        verifier.apply_stored(session, stored, now=now)
        return
    event = inbox.event_of(stored, verifier.parse_callback(stored.headers, stored.body))
    stored.handled_at = now
    if event is None:
        stored.error = "event not found in the stored body"
        return
    dispatch = delivery.apply_provider_report(session, event.provider_message_id, event.state, detail=event.detail, now=now, max_attempts=task.settings.max_attempts)
    if dispatch is None:
        # A report can beat our own record of the send (the provider calls back before step 3 of
        # transmit commits, or the worker died in between and the retry has not run yet): try
        # again later (rolled back, handled_at unset) instead of dropping the report for good.
        raise RetryableError(f"no dispatch with provider message id {event.provider_message_id} (yet)")
    claim = session.get(Claim, dispatch.claim_id)
    _record(session, claim, "dispatch.reported", {"dispatch_id": str(dispatch.id), "channel": dispatch.channel, "reported": event.state.value, "state": dispatch.state, "source": stored.source, **{k: v for k, v in event.detail.items() if isinstance(v, (str, int))}}, now)
    hold_claim_for_buyer_response(session, claim, dispatch, event.detail, now)  # UQ / RE pause dunning


# A permanent failure of the debtor's own contact marks it unusable (DESIGN.md section 2, "Feedback").
INVALID_CONTACT = {"email": ("email", "bounced"), "sms": ("phone", "unreachable")}


@handler(delivery.FAILED)
def dispatch_failed(task: Task, payload: dict, now: datetime) -> None:
    """Route the same document to the next channel; mark the contact invalid only when it is to blame.

    `payload["contact_at_fault"]` (delivery.service: an `InvalidContact` on sending, or a report
    with `contact_invalid`: hard bounce, SMS UNDELIV) decides. A failure on our side (DKIM key,
    a message we could not compose, an operator REJECTD, a policy block) still falls back, so the
    debtor gets the document, but keeps the contact and asks for no repair; the fallback's audit
    record says which of the two it was."""
    session = task.session
    failed = session.get(Dispatch, uuid.UUID(payload["dispatch_id"]))
    claim = session.get(Claim, failed.claim_id)
    debtor = session.get(Debtor, claim.debtor_id)
    contact_at_fault = bool(payload.get("contact_at_fault"))
    if contact_at_fault and failed.channel in INVALID_CONTACT:
        kind, validity = INVALID_CONTACT[failed.channel]
        for contact in debtor.contacts:
            if contact.kind == kind and contact.value.lower() == failed.recipient.lower() and contact.validity != validity:
                contact.validity, contact.validity_reason, contact.validity_changed_at = validity, failed.last_error, now
                audit.record(session, actor="worker", creditor_id=debtor.creditor_id, entity_type="debtor", entity_id=debtor.id, action="contact.invalidated", data={"kind": kind, "value": contact.value, "reason": failed.last_error}, at=now)
    tried = frozenset(
        (channel, recipient) for channel, recipient in session.execute(select(Dispatch.channel, Dispatch.recipient).where(Dispatch.document_id == failed.document_id))
    )
    if claim.status not in ("open", "partially_paid"):
        return
    document = session.get(Document, failed.document_id)
    if document.kind == "contact_repair":
        return  # a repair notice that failed has no next channel: the document it was about has its own fallback
    requirement = channel_requirement(session, document)
    decision = choose_channel(debtor_facts(debtor), postal_address(debtor), tried=tried, short_message=is_short_reminder(document), requirement=requirement)
    blame: dict = {}
    if failed.channel in INVALID_CONTACT:  # a channel that uses a debtor's contact: say whether it was blamed
        blame["contact_invalidated"] = contact_at_fault
        if not contact_at_fault:
            blame["contact_kept"] = "the failure is not the contact's fault (our side, the operator or a policy): the contact stays usable"
    nxt = None
    if decision is None:
        _record(session, claim, "dispatch.no_channel_left", {
            "failed_dispatch_id": str(failed.id), "requirement": requirement, "reason": no_channel_reason(requirement, tried), **blame,
        }, now)
    else:
        reason = f"after {failed.channel} failed ({failed.last_error}): {decision.reason}"
        nxt = delivery.queue_dispatch(session, document_id=failed.document_id, claim_id=claim.id, channel=decision.channel.value, recipient=decision.recipient, reason=reason, now=now)
        _record(session, claim, "dispatch.fallback", {"failed_dispatch_id": str(failed.id), "dispatch_id": str(nxt.id), "channel": decision.channel.value, "reason": reason, **blame}, now)
    if contact_at_fault:
        _ask_for_contact_repair(task, failed, claim, debtor, fallback=nxt, now=now)


def channel_requirement(session: Session, document: Document) -> str | None:
    """The channel requirement ("registered", "paper") of the dunning step a reminder or fee
    invoice was issued for; None for anything else. A fallback must honour it as the first send did."""
    step_id = (document.meta or {}).get("dunning_step_id")
    step = session.get(DunningStep, uuid.UUID(step_id)) if step_id else None
    # "any", "electronic" and "in_person" are not channel restrictions the router enforces.
    return step.channel_requirement if step is not None and step.channel_requirement in REQUIRED_CHANNELS else None


def is_short_reminder(document: Document) -> bool:
    """A reminder without fee or interest: an SMS with the personal link can carry it (router)."""
    meta = document.meta or {}
    return document.kind == "reminder" and meta.get("fee") in ("0", "0.00") and meta.get("interest") in ("0", "0.00", None)


REPAIR_CONTACT_KIND = {"email": "email", "sms": "phone"}
PAPER_CHANNELS = ("paper", "registered_paper")


def _ask_for_contact_repair(task: Task, failed: Dispatch, claim: Claim, debtor: Debtor, *, fallback: Dispatch | None, now: datetime) -> None:
    """Ask the consumer to give a new contact on the personal page (DESIGN.md section 2, "Feedback").

    After an e-mail bounce an SMS, after an unreachable number an e-mail (`router.repair_channel`);
    with no other usable contact, a note printed after the paper letter that carries the document
    anyway (`fallback`, the dispatch just queued). One request per failed dispatch (the notice is a
    document of its own, deduplicated on the failed dispatch). Skipped, and said so, when the
    personal page is off (no personal-link secret: a repair request without a place to repair is
    noise) or when the note has no paper letter to go with."""
    session = task.session
    route = repair_channel(debtor_facts(debtor), failed.channel, postal_address(debtor))
    if route is None:
        return
    link = personal_url_for(task.settings, debtor.id, claim.creditor_id, now)
    if link is None:
        _record(session, claim, "contact_repair.skipped", {"failed_dispatch_id": str(failed.id), "reason": "the personal page is off (no personal_link_secret)"}, now)
        return
    failed_document = session.get(Document, failed.document_id)
    creditor = session.get(CreditorEntity, claim.creditor_id)
    text = letters.repair_text(
        language=debtor.language, sender=creditor.name, kind=failed_document.kind, number=failed_document.number, contact=failed.recipient, link=link,
        contact_kind=REPAIR_CONTACT_KIND[failed.channel],
    )
    if route.channel.value == "paper":
        if fallback is None or fallback.channel not in PAPER_CHANNELS:
            _record(session, claim, "contact_repair.skipped", {"failed_dispatch_id": str(failed.id), "reason": "no other usable contact, and no paper letter to enclose a note with"}, now)
            return
        notice = documents.issue_notice(
            session, claim, kind="contact_repair", now=now, failed_dispatch_id=failed.id, text=text,
            pdf=letters.repair_note_pdf(session, claim, text), enclose_with=fallback.id,
        )
        if notice is not None:
            _record(session, claim, "contact_repair.requested", {
                "failed_dispatch_id": str(failed.id), "dispatch_id": str(fallback.id), "channel": "paper_note", "contact": failed.recipient, "notice": notice.number,
            }, now)
        return
    notice = documents.issue_notice(session, claim, kind="contact_repair", now=now, failed_dispatch_id=failed.id, text=text)
    if notice is None:
        return  # asked already for this failed dispatch
    repair = delivery.queue_dispatch(session, document_id=notice.id, claim_id=claim.id, channel=route.channel.value, recipient=route.recipient, reason=route.reason, now=now)
    _record(session, claim, "contact_repair.requested", {"failed_dispatch_id": str(failed.id), "dispatch_id": str(repair.id), "channel": route.channel.value, "contact": failed.recipient}, now)


@handler(payments.PAYMENT_REQUEST, own_transactions=True)
def make_payment_request(task: Task, payload: dict, now: datetime) -> None:
    """The Bancontact payment request of a new invoice or reminder (issue 5: one per claim or reminder).

    Made through the outbox (`bancontact.request_payment`: the `payment_request` row is committed
    before Bancontact is called, a lost answer is reconciled by reference), outside any
    transaction of ours. A claim paid or closed in the meantime needs none; a request another
    worker is creating right now is retried later; a refusal stays on the row (`failed`)."""
    from gateway.channels.payment.bancontact import PaymentBeingCreated, request_payment

    verifier = task.providers.verifiers.get("bancontact") if task.providers is not None else None
    if verifier is None or getattr(verifier, "client", None) is None:
        return  # Bancontact is not configured in this process: the stable pay link makes one when followed
    claim_id, document_id = uuid.UUID(payload["claim_id"]), uuid.UUID(payload["document_id"])
    with task.database.session_scope() as session:
        claim = session.get(Claim, claim_id)
        if claim is None or claim.status not in ("open", "partially_paid"):
            return
    try:
        request_payment(task.database, verifier.client, claim_id, callback_url=verifier.callback_url, document_id=document_id, now=now)
    except PaymentBeingCreated as error:
        raise RetryableError(str(error)) from error
    except Conflict:
        return  # paid or closed between the check and the lock: nothing to ask for
    except TerminalError:
        return  # recorded on the outbox row (state failed, last_error); the pay link makes a new one when followed


@handler(periodic.EBOX_RECEIPTS, own_transactions=True)
def poll_ebox_receipts(task: Task, payload: dict, now: datetime) -> None:
    """Read receipts into the inbox; nothing to do without an eBox provider."""
    from gateway.channels.ebox.receipts import poll_read_receipts

    provider = task.providers.for_channel("ebox")
    if provider is not None:
        poll_read_receipts(task.database, provider, now=now)


@handler(periodic.PRINT_BATCH, own_transactions=True)
def close_print_batch(task: Task, payload: dict, now: datetime) -> None:
    """The pending paper letters (ordinary and registered) go to the print provider as one batch."""
    from gateway.channels.paper.drop import close_batch

    drop_dirs = {getattr(task.providers.for_channel(channel), "drop_dir", None) for channel in ("paper", "registered_paper")} - {None}
    for drop_dir in sorted(drop_dirs):
        close_batch(drop_dir, now=now)
