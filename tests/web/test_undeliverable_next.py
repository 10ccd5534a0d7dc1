"""The undeliverable queue shows what the router did after each failure, read from the audit trail
the worker's dispatch.failed handler writes (gateway/workers/tasks.py), on SQLite and PostgreSQL.

A consumer's invoice e-mail bounces: the real handler asks for a new address by SMS and sends the
letter on paper; the letter comes back too, and the handler finds no channel left.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.api.payloads import ClaimIn
from gateway.app import create_app
from gateway.kit.time import utc_now
from gateway.services.claims import create_claim
from gateway.store.models import AuditEvent, Dispatch, Document
from gateway.workers.registry import HANDLERS, Task
from gateway.workers.run import load_handlers
from tests.factories import consumer_claim
from tests.web.seed import _principal, seed_admin_world
from tests.web.test_admin_http import signed_in

LETTER = b"%PDF-1.7 the invoice letter"


@dataclass
class Chain:
    claim_id: uuid.UUID
    email_id: uuid.UUID
    repair_id: uuid.UUID
    paper_id: uuid.UUID


def run_failure_handler(database, settings, dispatch_id: uuid.UUID, *, contact_at_fault: bool) -> None:
    """The worker's own dispatch.failed job, as `gateway worker` runs it after a permanent failure
    (`contact_at_fault` as delivery.service sets it: true for a hard bounce)."""
    load_handlers()
    with database.session_scope() as session:
        HANDLERS["dispatch.failed"](Task(session, settings), {"dispatch_id": str(dispatch_id), "contact_at_fault": contact_at_fault}, utc_now())


def actions_about(database, failed_id: uuid.UUID) -> list[tuple[str, dict]]:
    with database.session_scope() as session:
        events = session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "claim").order_by(AuditEvent.id)).all()
        return [(e.action, e.data) for e in events if e.data.get("failed_dispatch_id") == str(failed_id)]


@pytest.fixture
def chain(database, settings, standards_dir) -> Chain:
    seed_admin_world(database, standards_dir)
    settings = settings.model_copy(update={"personal_link_secret": "personal-link-secret-undeliverable"})
    now = utc_now()
    with database.session_scope() as session:
        payload = consumer_claim("C-500")
        payload["debtor"]["contacts"].append({"kind": "phone", "value": "+32470123456"})
        payload["debtor"]["consents"].append({"channel": "sms", "given": True, "date": "2026-01-15", "source": "portal"})
        claim = create_claim(session, _principal(session, "gent"), ClaimIn.model_validate(payload), now=now).claim
        letter = Document(
            claim_id=claim.id, creditor_id=claim.creditor_id, kind="invoice", prefix="F", sequence=7, number="GENT-F-000007", media_type="application/pdf",
            content=LETTER, sha256=hashlib.sha256(LETTER).hexdigest(), issued_at=now, meta={}, created_at=now,
        )
        session.add(letter)
        session.flush()
        email = Dispatch(
            document_id=letter.id, claim_id=claim.id, channel="email", recipient="an.peeters@telenet.be", state="failed_permanent", idempotency_key="c500-email",
            attempt_count=1, routing_reason="consumer consented to e-mail", last_error="HardBounce: 550 5.1.1 user unknown", created_at=now, updated_at=now,
        )
        session.add(email)
        session.flush()
        claim_id, email_id = claim.id, email.id
    run_failure_handler(database, settings, email_id, contact_at_fault=True)
    [(_, fallback), (_, repair)] = actions_about(database, email_id)
    paper_id = uuid.UUID(fallback["dispatch_id"])
    with database.session_scope() as session:
        paper = session.get(Dispatch, paper_id)
        paper.state, paper.last_error = "failed_permanent", "returned: addressee unknown"
    run_failure_handler(database, settings, paper_id, contact_at_fault=False)
    return Chain(claim_id, email_id, uuid.UUID(repair["dispatch_id"]), paper_id)


@pytest.fixture
def client(settings, database):
    with TestClient(create_app(settings, database=database)) as test_client:
        yield test_client


def card(html: str, dispatch_id: uuid.UUID) -> str:
    return html.split(f'id="dispatch-{dispatch_id}"')[1].split("</article>")[0]


def test_the_queue_shows_the_fallback_the_contact_repair_and_no_channel_left(client, database, chain):
    # The audit trail as the worker wrote it: first the paper letter, then the repair SMS; then nothing left.
    assert [action for action, _ in actions_about(database, chain.email_id)] == ["dispatch.fallback", "contact_repair.requested"]
    assert actions_about(database, chain.paper_id) == [("dispatch.no_channel_left", {
        "failed_dispatch_id": str(chain.paper_id), "requirement": None, "reason": "every channel the debtor can be reached on has been tried (tried: email, paper)",
    })]

    signed_in(client, "clerk@gent.be")
    client.get("/admin/lang/en")
    page = client.get("/admin/undeliverable").text
    email_card = card(page, chain.email_id)
    assert '<dt>Why this channel</dt><dd class="routing-reason">consumer consented to e-mail</dd>' in email_card
    assert (
        '<dt>What the router did next</dt><dd class="next">'
        f'<span data-action="dispatch.fallback">Sent on the next channel: <a href="/admin/claims/{chain.claim_id}#dispatch-{chain.paper_id}">letter → Kerkstraat 1, 9000 Gent, BE</a> '
        '<span class="state state-failed_permanent">failed (permanent)</span></span><br>'
        f'<span data-action="contact_repair.requested">Asked for a new contact: <a href="/admin/claims/{chain.claim_id}#dispatch-{chain.repair_id}">SMS → +32470123456</a> '
        '<span class="state state-queued">queued</span></span></dd>'
    ) in email_card
    paper_card = card(page, chain.paper_id)
    assert ('<dt>Why this channel</dt><dd class="routing-reason">after email failed (HardBounce: 550 5.1.1 user unknown): '
            'consumer consented to e-mail but has no usable address: paper</dd>') in paper_card
    assert ('<dt>What the router did next</dt><dd class="next"><span data-action="dispatch.no_channel_left">No channel left: '
            'every channel the debtor can be reached on has been tried (tried: email, paper)</span></dd>') in paper_card
    # The seeded bounce: the worker sent the invoice on paper.
    assert page.count('<dd class="next">—</dd>') == 0

    # The links land on the dispatch in the claim's timeline.
    claim_page = client.get(f"/admin/claims/{chain.claim_id}").text
    assert f'id="dispatch-{chain.paper_id}"' in claim_page and f'id="dispatch-{chain.repair_id}"' in claim_page


def test_a_skipped_contact_repair_says_why(client, database, settings, standards_dir):
    seed_admin_world(database, standards_dir)
    now = utc_now()
    with database.session_scope() as session:
        payload = consumer_claim("C-501")
        payload["debtor"]["contacts"].append({"kind": "phone", "value": "+32470123456"})
        claim = create_claim(session, _principal(session, "gent"), ClaimIn.model_validate(payload), now=now).claim
        letter = Document(claim_id=claim.id, creditor_id=claim.creditor_id, kind="invoice", prefix="F", sequence=8, number="GENT-F-000008", media_type="application/pdf",
                          content=LETTER, sha256=hashlib.sha256(LETTER).hexdigest(), issued_at=now, meta={}, created_at=now)
        session.add(letter)
        session.flush()
        email = Dispatch(document_id=letter.id, claim_id=claim.id, channel="email", recipient="an.peeters@telenet.be", state="failed_permanent", idempotency_key="c501-email",
                         attempt_count=1, last_error="HardBounce: 550", created_at=now, updated_at=now)
        session.add(email)
        session.flush()
        email_id = email.id
    run_failure_handler(database, settings, email_id, contact_at_fault=True)  # no personal_link_secret: the page is off
    signed_in(client, "viewer@gent.be")
    client.get("/admin/lang/en")
    next_cell = card(client.get("/admin/undeliverable").text, email_id).split('<dd class="next">')[1].split("</dd>")[0]
    assert next_cell.startswith('<span data-action="dispatch.fallback">Sent on the next channel: ')
    assert next_cell.endswith('<br><span data-action="contact_repair.skipped">No new contact asked: the personal page is off (no personal_link_secret)</span>')
