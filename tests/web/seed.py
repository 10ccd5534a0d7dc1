"""Admin users and a claim with an issued document and a failed e-mail dispatch, for the admin page tests."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select

from gateway.api.payloads import ClaimIn
from gateway.kit.time import utc_now
from gateway.services.auth import Principal, descendants
from gateway.services.claims import create_claim
from gateway.store.models import CreditorEntity, Dispatch, DispatchAttempt, Document
from gateway.store.session import Database
from gateway.web import account
from tests.factories import claim_payload, seed_creditors

PASSWORD = "correct horse battery"
UBL = b'<?xml version="1.0" encoding="UTF-8"?><Invoice xmlns="urn:oasis:names:specification:ubl:schema:xsd:Invoice-2"><cbc:ID xmlns:cbc="urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2">GENT-2026-000001</cbc:ID></Invoice>'


@dataclass
class Case:
    claim_id: uuid.UUID
    debtor_id: uuid.UUID
    document_id: uuid.UUID
    dispatch_id: uuid.UUID
    hospital_claim_id: uuid.UUID
    hospital_dispatch_id: uuid.UUID


def _principal(session, code: str) -> Principal:
    creditor = session.scalar(select(CreditorEntity).where(CreditorEntity.code == code))
    return Principal(key_id=uuid.uuid4(), creditor_id=creditor.id, visible_creditor_ids=frozenset(descendants(session, creditor.id)), actor="test:seed")


def _claim_with_failed_dispatch(session, code: str, number: str, email: str, *, now, sequence: int, invalid: bool = False):
    payload = claim_payload(number)
    payload["debtor"]["contacts"] = [{"kind": "email", "value": email}]
    payload["debtor"]["external_id"] = f"D-{number}"
    intake = create_claim(session, _principal(session, code), ClaimIn.model_validate(payload), now=now)
    claim = intake.claim
    issued = now + timedelta(seconds=1)
    document = Document(
        claim_id=claim.id, creditor_id=claim.creditor_id, kind="invoice", prefix="F", sequence=sequence, number=f"{code.upper()}-F-{sequence:06d}",
        media_type="application/xml", content=UBL, sha256=hashlib.sha256(UBL).hexdigest(), issued_at=issued,
        meta={"validation": {"status": "invalid" if invalid else "valid", "errors": [{"id": "BR-CO-15"}] if invalid else []}}, created_at=issued,
    )
    session.add(document)
    session.flush()
    sent = now + timedelta(seconds=2)
    dispatch = Dispatch(
        document_id=document.id, claim_id=claim.id, channel="email", recipient=email, state="failed_permanent", idempotency_key=hashlib.sha256(f"{document.id}|email|{email}".encode()).hexdigest(),
        attempt_count=1, provider="fake-smtp", routing_reason="consumer consented to e-mail", last_error="550 5.1.1 mailbox unavailable (hard bounce)",
        created_at=sent, updated_at=sent + timedelta(seconds=1),
    )
    session.add(dispatch)
    session.flush()
    session.add(DispatchAttempt(dispatch_id=dispatch.id, number=1, started_at=sent, finished_at=sent, outcome="failed_permanent", provider="fake-smtp", status_code=550, error_class="HardBounce", created_at=sent))
    session.flush()
    return claim, document, dispatch


def seed_admin_world(database: Database) -> Case:
    """Creditors gent (+ ocmw-gent) and az-sint-jan; users viewer/clerk/director at gent and a clerk at the hospital."""
    seed_creditors(database)
    now = utc_now() - timedelta(minutes=5)
    with database.session_scope() as session:
        for email, code, role in (
            ("viewer@gent.be", "gent", "viewer"), ("clerk@gent.be", "gent", "clerk"), ("director@gent.be", "gent", "financial_director"),
            ("clerk@azsintjan.be", "az-sint-jan", "clerk"),
        ):
            account.create_user(session, email, PASSWORD, creditor_code=code, role=role, now=now)
        claim, document, dispatch = _claim_with_failed_dispatch(session, "ocmw-gent", "F2026-0100", "an.peeters@telenet.bee", now=now, sequence=1, invalid=True)
        hospital_claim, _, hospital_dispatch = _claim_with_failed_dispatch(session, "az-sint-jan", "AZ-7", "jan@azpatient.be", now=now, sequence=1)
        return Case(
            claim_id=claim.id, debtor_id=claim.debtor_id, document_id=document.id, dispatch_id=dispatch.id,
            hospital_claim_id=hospital_claim.id, hospital_dispatch_id=hospital_dispatch.id,
        )
