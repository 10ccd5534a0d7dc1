"""Shared set-up for the dunning service and API tests: stored claims, the channel work
simulated, and the API client on a controlled clock (fixtures `seeded`, `clock`, `client`: import
them into a test module; a module may override `clock` with its own date).

A test that is about the dunning clock, not the documents, plays the channel: it stores a
reminder document and its dispatch with the state a provider would have reported, and attaches
them to the recorded step (`service.attach_dispatch`), as `issue_reminder` does
(tests/dunning/test_reminder_issue.py covers the real documents).
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import date, datetime, timezone

import json

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.api import dunning as dunning_api
from gateway.api.payloads import ClaimIn
from gateway.app import create_app
from gateway.dunning import service
from gateway.services import auth
from gateway.services import claims as claim_service
from gateway.store.models import Claim, DispatchAttempt, Document, Dispatch

from tests.factories import bearer, seed_creditors

NOW = datetime(2026, 11, 23, 10, 0, tzinfo=timezone.utc)


def utc(*parts) -> datetime:
    return datetime(*parts, tzinfo=timezone.utc)


@pytest.fixture
def seeded(database):
    return seed_creditors(database)


@pytest.fixture
def clock():
    """The API's "today" (`dunning_api.today`); a test moves it by setting clock["today"]."""
    return {"today": date(2026, 12, 1)}


@pytest.fixture
def client(settings, database, clock):
    app = create_app(settings, database=database)
    app.dependency_overrides[dunning_api.today] = lambda: clock["today"]
    with TestClient(app) as test_client:
        yield test_client


def post_claim(client, key, payload) -> dict:
    response = client.post("/v1/claims", content=json.dumps(payload), headers={**bearer(key), "Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    return response.json()


def principal(database, key):
    with database.session_scope() as session:
        return auth.authenticate(session, key)


def store_claim(database, key, payload) -> uuid.UUID:
    who = principal(database, key)
    with database.session_scope() as session:
        intake = claim_service.create_claim(session, who, ClaimIn.model_validate(payload), now=NOW)
        return intake.claim.id


def evaluate(database, claim_id, today: date) -> service.Evaluation:
    with database.session_scope() as session:
        return service.evaluate(session, claim_id, today=today, now=datetime(today.year, today.month, today.day, 6, tzinfo=timezone.utc))


def claim_status(database, claim_id) -> str:
    with database.session_scope() as session:
        return session.get(Claim, claim_id).status


def count(database, model, *where) -> int:
    with database.session_scope() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where))


def deliver_step(database, step_id, *, channel: str, state: str, sent_at: datetime, changed_at: datetime | None = None, proof: str | None = None, number: int = 1) -> uuid.UUID:
    """Store the reminder document and its dispatch in `state`, attach them to the step; returns the document id."""
    with database.session_scope() as session:
        from gateway.store.models import DunningStep

        step = session.get(DunningStep, step_id)
        claim = session.get(Claim, step.claim_id)
        content = f"reminder {step.dedup_key}".encode()
        document = Document(
            claim_id=claim.id, creditor_id=claim.creditor_id, kind="reminder", prefix="HER", sequence=number, number=f"HER-{number:04d}",
            media_type="application/pdf", content=content, sha256=hashlib.sha256(content).hexdigest(), issued_at=sent_at, meta={}, created_at=sent_at,
        )
        session.add(document)
        session.flush()
        dispatch = add_dispatch(session, document, channel=channel, state=state, sent_at=sent_at, changed_at=changed_at, proof=proof)
        service.attach_dispatch(session, step_id, document_id=document.id, dispatch_id=dispatch.id, now=sent_at)
        return document.id


def add_dispatch(session, document, *, channel: str, state: str, sent_at: datetime, changed_at: datetime | None = None, proof: str | None = None, recipient: str = "Markt 1, 9000 Gent, BE") -> Dispatch:
    dispatch = Dispatch(
        document_id=document.id, claim_id=document.claim_id, channel=channel, recipient=recipient, state=state,
        idempotency_key=hashlib.sha256(f"{document.id}|{channel}|{recipient}".encode()).hexdigest(), attempt_count=1,
        provider="fake", provider_message_id=proof, created_at=sent_at, updated_at=changed_at or sent_at,
    )
    session.add(dispatch)
    session.flush()
    outcome = "failed_permanent" if state == "failed_permanent" else "sent"
    session.add(DispatchAttempt(dispatch_id=dispatch.id, number=1, started_at=sent_at, finished_at=sent_at, outcome=outcome, provider="fake", created_at=sent_at))
    session.flush()
    return dispatch
