"""The status events a Peppol claim produces, exactly, in the pull feed and in signed webhooks (SQLite
and PostgreSQL): document.issued, dispatch.state_changed (a callback applied, and a fallback),
buyer.responded (an Invoice Response) and dunning.step (a reminder issued). The flow is real: loopback
SML/SMP, the sandbox AP calling back over HTTP, the worker, the dunning service."""

from __future__ import annotations

import base64
from datetime import date, datetime, timezone

import pytest
import requests
from lxml import etree
from sqlalchemy import select

from gateway.dunning import service as dunning_service
from gateway.dunning import tasks as dunning_tasks
from gateway.peppol.sandbox_smp import PeppolSandbox, SandboxParticipant
from gateway.services import webhook_endpoints
from gateway.store.models import Claim, CreditorEntity, Dispatch, Document, Event
from gateway.workers.registry import Task
from tests.api.test_events_webhooks import Receiver
from tests.factories import bearer, claim_payload, seed_creditors
from tests.peppol.fixtures_discovery import test_pki, untrusted_pki  # noqa: F401 - fixtures
from tests.peppol.peppol_world import World, create, make_due, settle

CBC = "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2"
RECEIVER = "0208:0420001189"  # ends in 9: delivered, then an Invoice Response CA; its SMP lists no Reminder
STEP_DAY = date(2026, 12, 7)
STEP_AT = datetime(2026, 12, 7, 7, 0, tzinfo=timezone.utc)


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.close()


@pytest.fixture
def world(database, settings, standards_dir, test_pki, untrusted_pki):  # noqa: F811
    settings = settings.model_copy(update={"standards_dir": standards_dir, "max_attempts": 3, "retry_base_seconds": 0})
    keys = seed_creditors(database)
    with PeppolSandbox((SandboxParticipant(RECEIVER),), pki=test_pki, untrusted_pki=untrusted_pki) as smp:
        running = World(database, settings, keys, smp, test_pki)
        yield running
        running.stop()


def test_each_status_event_type_in_the_feed_and_the_webhooks(database, world, receiver):
    ap = world.start_ap(callback_url=None)
    ap.callback_url = world.serve()
    base = ap.callback_url.removesuffix("/v1/callbacks/peppol-ap")
    with database.session_scope() as session:
        endpoint = webhook_endpoints.add_by_code(session, "gent", receiver.url, now=STEP_AT)
        receiver.secret = endpoint.secret
        creditor_id = session.scalar(select(CreditorEntity.id).where(CreditorEntity.code == "gent"))
    payload = claim_payload("F-EVENTS")
    payload["debtor"] = {**payload["debtor"], "enterprise_number": "0420001189", "vat_number": "BE0420001189", "peppol_id": RECEIVER}
    create(world, payload)
    settle(world)  # invoice issued and sent; the AP calls back: delivered, then the CA
    with database.session_scope() as session:
        claim_id = session.scalar(select(Claim.id).where(Claim.number == "F-EVENTS"))
        evaluation = dunning_service.evaluate(session, claim_id, today=STEP_DAY, now=STEP_AT)
    with database.session_scope() as session:
        dunning_tasks.send_step(Task(session, world.settings, database, world.providers), {"step_id": str(evaluation.step_id)}, STEP_AT)
    make_due(database)
    world.worker.drain()  # the reminder's lookup: no Reminder type, so it falls back to e-mail

    feed = requests.get(f"{base}/v1/events", headers=bearer(world.keys.municipality_key), timeout=30).json()["items"]
    with database.session_scope() as session:
        invoice, reminder = session.scalars(select(Document).order_by(Document.prefix)).all()
        invoice_dispatch = session.scalar(select(Dispatch).where(Dispatch.document_id == invoice.id))
        failed, fallback = session.scalars(select(Dispatch).where(Dispatch.document_id == reminder.id).order_by(Dispatch.channel.desc())).all()
        events = session.scalars(select(Event).order_by(Event.id)).all()
    # What the sandbox AP sent as the Invoice Response (its id and IssueDate), read from its own record.
    [sent] = ap.documents.values()
    response_xml = etree.fromstring(base64.b64decode(sent.events[1]["invoice_response"]))
    response_id, response_date = (response_xml.findtext(f"{{{CBC}}}{name}") for name in ("ID", "IssueDate"))

    dispatch = {"dispatch_id": str(invoice_dispatch.id), "channel": "peppol", "reported": "delivered", "state": "delivered", "source": "peppol-ap"}
    expected = [
        ("document.issued", {"action": "document.issued", "kind": "invoice", "number": "INV000001", "validation": "clean"}),
        ("dispatch.state_changed", {"action": "dispatch.reported", **dispatch, "status": "delivered"}),
        ("buyer.responded", {"action": "dispatch.reported", **dispatch, "status": "buyer_response", "response_kind": "invoice_response",
                             "response_code": "CA", "response_id": response_id, "response_date": response_date,
                             "reason": "PAY (OPStatusReason): Accepted if paid to the account on the contract."}),
        ("dunning.step", {"action": "reminder.issued", "number": "REM000001", "step": 1, "fee": "0.00", "interest": None, "fee_invoice": None,
                          "validation": "clean", "fee_validation": None, "new_due_date": "2027-01-06"}),
        ("dispatch.state_changed", {"action": "dispatch.fallback", "failed_dispatch_id": str(failed.id), "dispatch_id": str(fallback.id), "channel": "email",
                                    "reason": f"after peppol failed (PeppolNotReachable: {RECEIVER}: document_type_not_supported: smp.document_type_not_listed): Peppol failed: e-mail with PDF and UBL"}),
    ]
    assert response_id == f"IR-{invoice_dispatch.provider_message_id}-2"
    assert [(f["type"], f["data"]) for f in feed] == expected
    assert feed == [
        {"id": str(event.id), "type": event.type, "creditor_id": str(creditor_id), "claim_id": str(claim_id), "created_at": event.created_at.isoformat(), "data": event.data}
        for event in events
    ]
    assert events[3].created_at == STEP_AT  # the dunning step is dated by the run that decided it
    # The same events, signed, once each, to the creditor's endpoint.
    assert all(r["valid"] and r["status"] == 200 for r in receiver.received)
    assert sorted((r["event"] for r in receiver.received), key=lambda e: int(e["id"])) == feed
    assert sorted(r["event_id"] for r in receiver.received) == [f["id"] for f in feed]
