"""Invoice Response PD ("payment initiated") end to end, on SQLite and PostgreSQL: the sandbox AP
calls back over HTTP, the worker applies it, the claim is *reported paid by the buyer* (shown on
GET /v1/claims/{id}), dunning pauses for 14 days with a hold, and no payment is ever booked."""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

from fastapi.testclient import TestClient
from sqlalchemy import select

from gateway.app import create_app
from gateway.channels.peppol.buyer_response import REPORTED_PAID_HOLD_DAYS
from gateway.channels.peppol.provider import sign
from gateway.dunning import service as dunning_service
from gateway.kit.time import brussels_today, utc_now
from gateway.peppol.sandbox_ap import Step
from gateway.store.models import AuditEvent, Claim, ClaimHold, Payment
from tests.peppol.fixtures_discovery import test_pki, untrusted_pki  # noqa: F401 - fixtures
from tests.peppol.test_ap_delivery import BY_DIGIT, SECRET, issue, peppol_by_recipient, settle, world  # noqa: F401 - fixture


def test_pd_marks_the_claim_reported_paid_holds_dunning_and_books_nothing(database, world):  # noqa: F811
    ap = world.start_ap(callback_url=None)
    ap.callback_url = world.serve()
    issue(world, "PD-1", BY_DIGIT["4"])  # delivered; IR AP; IR PD
    settle(world)
    assert ap.refused == []
    today = brussels_today(utc_now())
    ends_on = today + timedelta(days=REPORTED_PAID_HOLD_DAYS)
    assert peppol_by_recipient(database)[f"0208:{BY_DIGIT['4']}"].state == "paid"
    with database.session_scope() as session:
        claim = session.scalar(select(Claim).where(Claim.number == "PD-1"))
        claim_id = claim.id
        assert (claim.status, claim.amount_paid, claim.amount_open) == ("on_hold", Decimal("0.00"), claim.total_amount)
        assert session.scalars(select(Payment)).all() == []
        [hold] = session.scalars(select(ClaimHold)).all()
        assert (hold.kind, hold.author, hold.reason, hold.starts_on, hold.ends_on, hold.ended_at) == (
            "manual", "peppol", "buyer reported paid (PD)", today, ends_on, None)
        actions = [e.action for e in session.scalars(select(AuditEvent).where(AuditEvent.entity_id == claim_id).order_by(AuditEvent.id))]
        assert actions.count("claim.reported_paid") == 1 and actions.count("hold.added") == 1
        assert "payment.recorded" not in actions
    with TestClient(create_app(world.settings, database=database, providers=world.providers)) as client:
        detail = client.get(f"/v1/claims/{claim_id}", headers={"Authorization": f"Bearer {world.keys.municipality_key}"}).json()
    reported = detail["reported_paid"]
    dispatch = peppol_by_recipient(database)[f"0208:{BY_DIGIT['4']}"]
    assert reported == {
        "reported_on": today.isoformat(), "response_code": "PD", "response_id": f"IR-{dispatch.provider_message_id}-3",
        "response_date": reported["response_date"], "dispatch_id": str(dispatch.id), "hold_id": str(hold.id),
        "hold_ends_on": ends_on.isoformat(), "reason": "buyer reported paid (PD)",
    }
    assert reported["response_date"] in {today.isoformat(), utc_now().date().isoformat()}
    assert (detail["status"], detail["amount_paid"], detail["payments"]) == ("on_hold", "0.00", [])

    # While the hold runs the dunning run waits; the day after it ends the claim is back in dunning.
    with database.session_scope() as session:
        waiting = dunning_service.evaluate(session, claim_id, today=ends_on, now=utc_now())
        assert (waiting.decision.action.value, waiting.decision.reason.value) == ("wait", "on_hold")
    with database.session_scope() as session:
        dunning_service.evaluate(session, claim_id, today=ends_on + timedelta(days=1), now=utc_now())
        assert session.get(Claim, claim_id).status == "open"
    with database.session_scope() as session:
        lapsed = session.scalar(select(AuditEvent).where(AuditEvent.entity_id == claim_id, AuditEvent.action == "hold.lapsed"))
        assert lapsed.data == {"from": "on_hold", "to": "open", "today": (ends_on + timedelta(days=1)).isoformat()}


def test_a_payment_after_pd_closes_the_claim_and_a_repeated_pd_adds_no_second_hold(database, world):  # noqa: F811
    ap = world.start_ap(callback_url=None)  # callbacks kept in ap.outbox; the test posts them
    issue(world, "PD-2", BY_DIGIT["4"])
    world.worker.drain()
    assert ap.wait_idle(60)
    headers = {"Authorization": f"Bearer {world.keys.municipality_key}"}
    with TestClient(create_app(world.settings, database=database, providers=world.providers)) as client:
        for callback_headers, body in ap.outbox:
            assert client.post("/v1/callbacks/peppol-ap", content=body, headers=callback_headers).status_code == 202
        world.worker.drain()
        # The buyer's AP sends the PD again under a new event id (a second copy, not a second report).
        [document] = ap.documents.values()
        body = json.dumps(ap._callback(document, Step("buyer_response", invoice_response="PD"), 9)).encode()
        timestamp = str(int(time.time()))
        resent = client.post("/v1/callbacks/peppol-ap", content=body, headers={"X-Timestamp": timestamp, "X-Signature": sign(SECRET.encode(), timestamp, body)})
        assert resent.json() == {"stored": 1, "duplicates": 0}
        world.worker.drain()
        with database.session_scope() as session:
            claim = session.scalar(select(Claim).where(Claim.number == "PD-2"))
            claim_id, total = claim.id, claim.total_amount
            assert claim.status == "on_hold"
            assert len(session.scalars(select(ClaimHold)).all()) == 1
        paid = client.post(f"/v1/claims/{claim_id}/payments", headers=headers, json={
            "amount": str(total), "paid_on": brussels_today(utc_now()).isoformat(), "source": "bank_statement", "external_id": "CODA-1"})
        assert paid.status_code in (200, 201), paid.text
        detail = client.get(f"/v1/claims/{claim_id}", headers=headers).json()
    assert (detail["status"], detail["amount_paid"], detail["amount_open"]) == ("paid", str(total), "0.00")
    assert [p["external_id"] for p in detail["payments"]] == ["CODA-1"]
    assert detail["reported_paid"]["response_code"] == "PD"
