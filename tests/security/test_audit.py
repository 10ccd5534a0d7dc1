"""The audit log: append-only in the database (PostgreSQL trigger, proved with raw SQL), and it
records who changed contacts, consents, holds, approvals and payments, each action done through
the API (or the admin pages) and its exact row asserted: actor, action, entity, data."""

from __future__ import annotations

import json
import re
import uuid

import psycopg
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from sqlalchemy.exc import DBAPIError

from gateway.api import dunning as dunning_api
from gateway.app import create_app
from gateway.store.models import ApiKey, AuditEvent, Claim, Dispatch
from tests.factories import bearer, claim_payload, seed_creditors
from tests.security.world import TODAY, seed_world
from tests.web.seed import PASSWORD


@pytest.fixture
def client(settings, database):
    app = create_app(settings, database=database)
    app.dependency_overrides[dunning_api.today] = lambda: TODAY
    with TestClient(app) as test_client:
        yield test_client


def rows_after(database, last_id: int) -> list[tuple]:
    with database.session_scope() as session:
        return [(e.actor, e.entity_type, e.entity_id, e.action, e.data)
                for e in session.scalars(select(AuditEvent).where(AuditEvent.id > last_id).order_by(AuditEvent.id))]


def last_id(database) -> int:
    with database.session_scope() as session:
        return session.scalar(select(AuditEvent.id).order_by(AuditEvent.id.desc()).limit(1)) or 0


def actor_of(database, key: str) -> str:
    prefix = key.split("_")[1]
    with database.session_scope() as session:
        assert session.scalar(select(ApiKey).where(ApiKey.prefix == prefix)) is not None
    return f"api_key:{prefix}"


# --- append-only ------------------------------------------------------------------------------


def test_the_database_refuses_update_delete_and_truncate_of_audit_rows_in_raw_sql(database, client):
    keys = seed_creditors(database)
    client.post("/v1/claims", content=json.dumps(claim_payload("A-1")), headers={**bearer(keys.municipality_key), "Content-Type": "application/json"})
    if database.engine.dialect.name == "sqlite":  # triggers of migration 0008
        import sqlite3

        with sqlite3.connect(database.url.split("///", 1)[1]) as connection:
            [(count, first)] = connection.execute("SELECT count(*), min(id) FROM audit_event").fetchall()
            assert count >= 2
            for statement in (f"UPDATE audit_event SET actor = 'someone else' WHERE id = {first}", f"DELETE FROM audit_event WHERE id = {first}", "DELETE FROM audit_event"):
                with pytest.raises(sqlite3.IntegrityError, match="audit_event is append-only"):
                    connection.execute(statement)
            assert connection.execute("SELECT count(*) FROM audit_event").fetchone()[0] == count
        return
    url = database.engine.url.render_as_string(hide_password=False).replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url, autocommit=True) as connection:
        [(count, first)] = connection.execute("SELECT count(*), min(id) FROM audit_event").fetchall()
        assert count >= 2  # debtor.created, claim.created
        for statement in (f"UPDATE audit_event SET actor = 'someone else' WHERE id = {first}",
                          f"DELETE FROM audit_event WHERE id = {first}", "DELETE FROM audit_event", "TRUNCATE audit_event CASCADE"):
            with pytest.raises(psycopg.errors.RaiseException, match="audit_event is append-only"):
                connection.execute(statement)
        assert connection.execute("SELECT count(*) FROM audit_event").fetchone()[0] == count
        assert connection.execute(f"SELECT actor FROM audit_event WHERE id = {first}").fetchone()[0].startswith("api_key:")


def test_the_orm_refuses_update_and_delete_on_both_databases(database, client):
    keys = seed_creditors(database)
    client.post("/v1/claims", content=json.dumps(claim_payload("A-1")), headers={**bearer(keys.municipality_key), "Content-Type": "application/json"})
    for change in ("update", "delete"):
        with pytest.raises(Exception, match="append-only"):
            with database.session_scope() as session:
                event = session.scalar(select(AuditEvent).limit(1))
                if change == "update":
                    event.actor = "someone else"
                else:
                    session.delete(event)
    if database.engine.dialect.name == "postgresql":
        with pytest.raises(DBAPIError, match="append-only"):
            with database.engine.begin() as connection:
                connection.execute(text("UPDATE audit_event SET action = 'x'"))


# --- who changed what -----------------------------------------------------------------------


def test_contacts_consents_holds_approvals_and_payments_are_recorded_with_their_actor(database, client):
    world = seed_world(client, database, victims=("gent",))
    key = world.keys["gent"]
    actor = actor_of(database, key)
    victim = world.victims["gent"]
    headers = {**bearer(key), "Content-Type": "application/json"}
    claim = client.post("/v1/claims", content=json.dumps(claim_payload("AUD-1")), headers=headers).json()
    claim_id, debtor_id = uuid.UUID(claim["id"]), uuid.UUID(client.get(f"/v1/claims/{claim['id']}", headers=bearer(key)).json()["debtor"]["id"])

    start = last_id(database)
    patched = client.patch(f"/v1/debtors/{debtor_id}", headers=headers, content=json.dumps({
        "contacts": [{"kind": "email", "value": "facturen@janssens.be"}, {"kind": "phone", "value": "+32470123456"}],
        "consents": [{"channel": "email", "given": True, "date": "2026-11-20", "source": "phone call"}],
    }))
    assert patched.status_code == 200, patched.text
    debtor = ("debtor", debtor_id)
    # The debtor is matched by enterprise number, so it carries the earlier claims' addresses too.
    assert rows_after(database, start) == [
        (actor, *debtor, "contact.removed", {"kind": "email", "value": "boekhouding@janssens.be"}),
        (actor, *debtor, "contact.removed", {"kind": "email", "value": victim.email}),
        (actor, *debtor, "contact.added", {"kind": "email", "value": "facturen@janssens.be"}),
        (actor, *debtor, "contact.added", {"kind": "phone", "value": "+32470123456"}),
        (actor, *debtor, "consent.recorded", {"channel": "email", "given": True, "date": "2026-11-20", "source": "phone call"}),
    ]

    start = last_id(database)
    paid = client.post(f"/v1/claims/{claim_id}/payments", headers=headers, content=json.dumps({"amount": "50.00", "paid_on": "2026-11-25", "external_id": "BANK-1", "source": "bank_statement"}))
    assert paid.status_code == 201, paid.text
    assert rows_after(database, start) == [(actor, "claim", claim_id, "payment.recorded", {"amount": "50.00", "paid_on": "2026-11-25", "source": "bank_statement", "status": "partially_paid"})]

    start = last_id(database)
    hold = client.post(f"/v1/claims/{claim_id}/holds", headers=headers, content=json.dumps({"kind": "dispute", "reason": "wrong hall", "author": "An (front desk)"})).json()
    ended = client.post(f"/v1/claims/{claim_id}/holds/{hold['hold']['id']}/end", headers=headers, content=json.dumps({"author": "Piet (finance)"}))
    assert ended.status_code == 200, ended.text
    hold_id = hold["hold"]["id"]
    assert rows_after(database, start) == [
        (actor, "claim", claim_id, "hold.added", {"hold_id": hold_id, "kind": "dispute", "reason": "wrong hall", "author": "An (front desk)", "starts_on": "2026-12-01", "ends_on": None, "from": "partially_paid", "to": "disputed"}),
        (actor, "claim", claim_id, "hold.ended", {"hold_id": hold_id, "kind": "dispute", "author": "Piet (finance)", "ends_on": "2026-12-01", "from": "disputed", "to": "partially_paid"}),
    ]

    start = last_id(database)
    approved = client.post(f"/v1/escalations/{victim.entry_id}/approve", headers=headers, content=json.dumps({"approved_by": "college 2027-02-08, besluit 14"}))
    assert approved.status_code == 200, approved.text
    assert rows_after(database, start) == [(actor, "claim", victim.escalated_claim_id, "escalation.approved", {
        "entry_id": str(victim.entry_id), "kind": "dwangbevel", "approving_body": "college_van_burgemeester_en_schepenen", "approved_by": "college 2027-02-08, besluit 14"})]

    start = last_id(database)
    plan = client.post(f"/v1/claims/{claim_id}/payment-plan", headers=headers, content=json.dumps({"months": 2, "first_due_date": "2027-01-01", "confirmed_on": "2026-12-01"}))
    assert plan.status_code == 201, plan.text
    assert rows_after(database, start) == [(actor, "claim", claim_id, "payment_plan.granted", {
        "plan_id": plan.json()["id"], "from": "partially_paid", "total": "57.21", "months": 2, "waived_rules": [], "exception_by": None, "exception_reason": None,
        "confirmed_on": "2026-12-01", "confirm_by": None})]

    # A refused change records nothing.
    start = last_id(database)
    assert client.patch(f"/v1/debtors/{debtor_id}", headers=headers, content=json.dumps({"contacts": [{"kind": "email", "value": "not an address"}]})).status_code == 422
    assert client.post(f"/v1/claims/{claim_id}/payments", headers=bearer(world.keys["az-sint-jan"]), json={"amount": "1.00", "paid_on": "2026-11-25"}).status_code == 404
    assert rows_after(database, start) == []


def test_a_contact_fixed_in_the_admin_pages_is_recorded_with_the_admin_user(database, client):
    world = seed_world(client, database, victims=("gent",))
    victim = world.victims["gent"]
    page = client.get("/admin/signin")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    assert client.post("/admin/signin", data={"email": world.admins["gent"], "password": PASSWORD, "csrf_token": token}, follow_redirects=False).status_code == 303
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', client.get("/admin/undeliverable").text).group(1)
    start = last_id(database)
    response = client.post(f"/admin/undeliverable/{victim.dispatch_id}/resend", data={"value": "fixed@gent.be", "csrf_token": csrf}, follow_redirects=False)
    assert response.status_code == 303, response.text
    with database.session_scope() as session:
        failed = session.get(Dispatch, victim.dispatch_id)
        new = session.scalar(select(Dispatch).where(Dispatch.recipient == "fixed@gent.be"))
        claim = session.get(Claim, failed.claim_id)
        bounced_claim_id, debtor_id, new_id = claim.id, claim.debtor_id, new.id
    actor = f"admin:{world.admins['gent']}"
    assert rows_after(database, start) == [
        (actor, "debtor", debtor_id, "contact.removed", {"kind": "email", "value": victim.email}),
        (actor, "debtor", debtor_id, "contact.added", {"kind": "email", "value": "fixed@gent.be"}),
        (actor, "dispatch", victim.dispatch_id, "dispatch.superseded", {"by": str(new_id), "recipient": "fixed@gent.be"}),
        (actor, "claim", bounced_claim_id, "dispatch.resent", {"channel": "email", "failed_channel": "email", "from": victim.email, "to": "fixed@gent.be", "failed_dispatch": str(victim.dispatch_id), "new_dispatch": str(new_id)}),
    ]
