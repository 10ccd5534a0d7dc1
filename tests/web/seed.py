"""The admin pages' world, made by the gateway's own code wherever the gateway makes it.

Creditors gent (+ ocmw-gent) and az-sint-jan; users viewer / clerk / director at gent and a clerk
at the hospital. Claims go through the worker's own `claim.issue` handler (routing, numbering, UBL
rendering and the official validation, so the documents' `meta["validation"]` is the validator's);
what cannot happen here is played at the edge only:

- F2026-0100 (ocmw-gent) and AZ-7 (hospital): business debtors without a Peppol id, so the router
  sends the invoice by e-mail. The send itself is the SMTP relay's part: the seed records the
  attempt the way transmit does and the relay's "250 accepted" (`record_success`); then the hard
  bounce arrives as the bounce callback reports it (`apply_provider_report`), and the worker's
  `dispatch.failed` handler routes the invoice to paper.
- F2026-0101 (gent): no buyer reference; the handler refuses the invoice (PEPPOL-EN16931-R003,
  audit `document.refused`): nothing is stored.
- F2026-0102 (ocmw-gent): its invoice is the real rendering with the tax-inclusive total raised by
  1.00 (the BR-CO-15 mutation of tests/peppol/test_invalid_variants.py), validated by the official
  rules and stored with that verdict, as issuance stores an invalid document: not dispatched.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from gateway.api.payloads import ClaimIn
from gateway.channels.base import SendResult
from gateway.config import Settings
from gateway.delivery import service as delivery
from gateway.domain.document import IssueData, build_invoice
from gateway.domain.transmission import DeliveryState, transition
from gateway.kit.time import brussels_today, utc_now
from gateway.peppol.ubl_render import render
from gateway.services import audit, documents
from gateway.services.auth import Principal, descendants
from gateway.services.claims import create_claim
from gateway.store.models import Claim, CreditorEntity, Dispatch, DispatchAttempt, Document, Job
from gateway.store.session import Database
from gateway.web import account
from gateway.workers import queue
from gateway.workers.registry import HANDLERS, Task
from gateway.workers.run import load_handlers
from tests.factories import claim_payload, seed_creditors
from tests.peppol.test_invalid_variants import break_document

PASSWORD = "correct horse battery"
BOUNCE = "550 5.1.1 mailbox unavailable (hard bounce)"
SMTP_PROVIDER = "smtp"
OTHER_DEBTOR = {
    "external_id": "D-VERSTRAETE", "kind": "business", "name": "Drukkerij Verstraete NV", "enterprise_number": "0417497106",
    "vat_number": "BE0417497106", "address": {"street": "Veldstraat 20", "postal_code": "9000", "city": "Gent", "country": "BE"},
    "language": "nl", "contacts": [{"kind": "email", "value": "facturen@verstraete.be"}],
}


@dataclass
class Case:
    claim_id: uuid.UUID
    debtor_id: uuid.UUID
    document_id: uuid.UUID
    document_number: str
    dispatch_id: uuid.UUID
    fallback_id: uuid.UUID  # the paper letter the worker queued after the bounce
    hospital_claim_id: uuid.UUID
    hospital_dispatch_id: uuid.UUID
    refused_claim_id: uuid.UUID
    invalid_claim_id: uuid.UUID
    invalid_document_id: uuid.UUID
    invalid_document_number: str


def _principal(session, code: str) -> Principal:
    creditor = session.scalar(select(CreditorEntity).where(CreditorEntity.code == code))
    return Principal(key_id=uuid.uuid4(), creditor_id=creditor.id, visible_creditor_ids=frozenset(descendants(session, creditor.id)), actor="test:seed")


def seed_settings(database: Database, standards_dir: Path) -> Settings:
    """What the seed's handlers read: the database and the official artefacts (they call no provider)."""
    return Settings(database_url=database.url, standards_dir=standards_dir)


def run_jobs(database: Database, settings: Settings, kinds: list[str], *, now: datetime) -> int:
    """Run the due jobs of `kinds` through the worker's own handlers, as `gateway worker` does (one task scope each)."""
    load_handlers()
    ran = 0
    while True:
        with database.session_scope() as session:
            job = queue.claim_next(session, "seed", now=now, kinds=kinds)
            if job is None:
                return ran
            job_id, kind, payload = job.id, job.kind, dict(job.payload)
        with database.session_scope() as session:
            HANDLERS[kind](Task(session, settings, database), payload, now)
            queue.complete(session, job_id, now=now)
        ran += 1


def new_claim(database: Database, code: str, payload: dict, *, now: datetime) -> uuid.UUID:
    with database.session_scope() as session:
        return create_claim(session, _principal(session, code), ClaimIn.model_validate(payload), now=now).claim.id


def business_by_email(number: str, email: str) -> dict:
    payload = claim_payload(number)
    payload["debtor"].pop("peppol_id")
    payload["debtor"]["contacts"] = [{"kind": "email", "value": email}]
    payload["debtor"]["external_id"] = f"D-{number}"
    return payload


def _accepted(session, dispatch_id: uuid.UUID, *, sent: datetime) -> str:
    """The relay accepts the e-mail: transmit's claim and record (without the SMTP exchange); returns the message id."""
    dispatch = session.get(Dispatch, dispatch_id)
    dispatch.state = transition(dispatch.state, DeliveryState.IN_FLIGHT).value
    dispatch.attempt_count += 1
    dispatch.provider, dispatch.updated_at = SMTP_PROVIDER, sent
    session.add(DispatchAttempt(dispatch_id=dispatch.id, number=dispatch.attempt_count, started_at=sent, provider=SMTP_PROVIDER, created_at=sent))
    session.flush()
    message_id = f"<{dispatch_id}@mail.gateway.example>"
    delivery.record_success(session, dispatch_id, SendResult(DeliveryState.SENT, message_id, 250, "250 2.0.0 queued as 4F2A1"), duration_ms=38, now=sent)
    transmit_job = session.scalar(select(Job).where(Job.dedup_key == f"{delivery.TRANSMIT}:{dispatch_id}:1"))
    queue.complete(session, transmit_job.id, now=sent)
    return message_id


def email_accepted_then_bounced(database: Database, dispatch_id: uuid.UUID, *, sent: datetime, bounced: datetime) -> None:
    """The relay accepts the e-mail, then the bounce is reported (as the bounce callback reports it)."""
    with database.session_scope() as session:
        message_id = _accepted(session, dispatch_id, sent=sent)
    with database.session_scope() as session:
        delivery.apply_provider_report(session, message_id, DeliveryState.FAILED_PERMANENT, detail={"reason": BOUNCE, "contact_invalid": True}, now=bounced, max_attempts=8)


STORED_UBL = b'<?xml version="1.0" encoding="UTF-8"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"/>'


def _claim_with_failed_dispatch(session, code: str, number: str, email: str, *, now: datetime, sequence: int):
    """Within the caller's session (tests/security/world.py): a claim whose invoice e-mail bounced. The
    document is stored as given (the security world's creditors lack what a real invoice needs, e.g. a VAT
    number), with the verdict issuance stores when the official artefacts are missing; the dispatch is
    queued by the delivery service, accepted and bounced as in `email_accepted_then_bounced`."""
    claim = create_claim(session, _principal(session, code), ClaimIn.model_validate(business_by_email(number, email)), now=now).claim
    document = Document(
        claim_id=claim.id, creditor_id=claim.creditor_id, kind="invoice", prefix="INV", sequence=sequence, number=f"{code.upper()}-INV-{sequence:06d}",
        media_type=documents.UBL_MEDIA_TYPE, content=STORED_UBL, sha256=hashlib.sha256(STORED_UBL).hexdigest(), issued_at=now,
        meta={"validation": documents.validation_verdict(STORED_UBL, Path("/nonexistent/standards"))}, created_at=now,
    )
    session.add(document)
    session.flush()
    dispatch = delivery.queue_dispatch(session, document_id=document.id, claim_id=claim.id, channel="email", recipient=email,
                                       reason="business debtor without Peppol id: e-mail with PDF and UBL", now=now)
    message_id = _accepted(session, dispatch.id, sent=now)
    session.flush()  # the report finds its dispatch by the provider message id just recorded
    bounced = delivery.apply_provider_report(session, message_id, DeliveryState.FAILED_PERMANENT, detail={"reason": BOUNCE, "contact_invalid": True}, now=now, max_attempts=8)
    assert bounced is not None and bounced.state == DeliveryState.FAILED_PERMANENT.value
    return claim, document, dispatch


def invalid_invoice(database: Database, settings: Settings, claim_id: uuid.UUID, *, now: datetime) -> Document:
    """Issue the claim's invoice as issuance does, but from a rendering that breaks BR-CO-15; the verdict is the validator's."""
    with database.session_scope() as session:
        claim = session.get(Claim, claim_id)
        sequence, number = documents.next_number(session, claim.creditor_id, documents.PREFIXES["invoice"])
        xml, _ = break_document(render(build_invoice(documents.domain_claim(session, claim), IssueData(number=number, issue_date=brussels_today(now)))))
        verdict = documents.validation_verdict(xml, settings.standards_dir)
        document = Document(
            claim_id=claim.id, creditor_id=claim.creditor_id, kind="invoice", prefix=documents.PREFIXES["invoice"], sequence=sequence, number=number,
            media_type=documents.UBL_MEDIA_TYPE, content=xml, sha256=hashlib.sha256(xml).hexdigest(), issued_at=now,
            meta={"validation": verdict, "customization": "peppol-bis-billing-3.0"}, created_at=now,
        )
        session.add(document)
        audit.record(session, actor="worker", creditor_id=claim.creditor_id, entity_type="claim", entity_id=claim.id, action="document.issued",
                     data={"kind": "invoice", "number": number, "validation": verdict["status"]}, at=now)
        # Its claim.issue job is this issuance: done.
        job = session.scalar(select(Job).where(Job.kind == "claim.issue", Job.state == "pending", Job.payload["claim_id"].as_string() == str(claim.id)))
        queue.complete(session, job.id, now=now)
        session.flush()
        session.expunge(document)
        return document


def failed_email_claim(database: Database, settings: Settings, code: str, number: str, email: str, *, now: datetime) -> tuple[uuid.UUID, uuid.UUID]:
    """A claim whose invoice e-mail bounced, after the worker's fallback; returns (claim id, failed dispatch id)."""
    claim_id = new_claim(database, code, business_by_email(number, email), now=now)
    run_jobs(database, settings, ["claim.issue"], now=now + timedelta(seconds=1))
    with database.session_scope() as session:
        dispatch_id = session.scalar(select(Dispatch.id).where(Dispatch.claim_id == claim_id))
    email_accepted_then_bounced(database, dispatch_id, sent=now + timedelta(seconds=2), bounced=now + timedelta(seconds=3))
    run_jobs(database, settings, [delivery.FAILED], now=now + timedelta(seconds=4))
    return claim_id, dispatch_id


def seed_admin_world(database: Database, standards_dir: Path, *, now: datetime | None = None) -> Case:
    """The world described in the module docstring; `standards_dir` holds the installed official artefacts."""
    seed_creditors(database)
    settings = seed_settings(database, standards_dir)
    now = now or utc_now() - timedelta(minutes=5)
    with database.session_scope() as session:
        for email, code, role in (
            ("viewer@gent.be", "gent", "viewer"), ("clerk@gent.be", "gent", "clerk"), ("director@gent.be", "gent", "financial_director"),
            ("clerk@azsintjan.be", "az-sint-jan", "clerk"),
        ):
            account.create_user(session, email, PASSWORD, creditor_code=code, role=role, now=now)
    claim_id, dispatch_id = failed_email_claim(database, settings, "ocmw-gent", "F2026-0100", "an.peeters@telenet.bee", now=now)
    hospital_claim_id, hospital_dispatch_id = failed_email_claim(database, settings, "az-sint-jan", "AZ-7", "jan@azpatient.be", now=now)

    refused = claim_payload("F2026-0101")
    refused.pop("buyer_reference")
    refused["debtor"] = dict(OTHER_DEBTOR)
    refused_claim_id = new_claim(database, "gent", refused, now=now + timedelta(seconds=10))
    run_jobs(database, settings, ["claim.issue"], now=now + timedelta(seconds=11))

    invalid = claim_payload("F2026-0102")
    invalid["debtor"] = dict(OTHER_DEBTOR)
    invalid_claim_id = new_claim(database, "ocmw-gent", invalid, now=now + timedelta(seconds=20))
    invalid_document = invalid_invoice(database, settings, invalid_claim_id, now=now + timedelta(seconds=21))

    with database.session_scope() as session:
        claim = session.get(Claim, claim_id)
        document = session.scalar(select(Document).where(Document.claim_id == claim_id))
        fallback_id = session.scalar(select(Dispatch.id).where(Dispatch.claim_id == claim_id, Dispatch.id != dispatch_id))
        return Case(
            claim_id=claim_id, debtor_id=claim.debtor_id, document_id=document.id, document_number=document.number, dispatch_id=dispatch_id,
            fallback_id=fallback_id, hospital_claim_id=hospital_claim_id, hospital_dispatch_id=hospital_dispatch_id, refused_claim_id=refused_claim_id,
            invalid_claim_id=invalid_claim_id, invalid_document_id=invalid_document.id, invalid_document_number=invalid_document.number,
        )
