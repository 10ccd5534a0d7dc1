"""Upgrade safety: from the first schema to head with data, on SQLite and PostgreSQL.

An empty database is migrated one revision at a time (Alembic's own revision list, so a new
migration is walked through automatically). After each revision that has a seeder below, rows are
written with raw SQL in that revision's storage format (SQLite: UUIDs as 32 hex digits, money as
scaled integers, naive UTC timestamps), exactly as a database of that age holds them. At head,
every row is read back through the ORM and through the API with exact values; the admin user of
0003 signs in. Then downgrade to base and upgrade again on an empty database.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from datetime import date, datetime, timezone
from decimal import Decimal

import pytest
from alembic.script import ScriptDirectory
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text

from gateway.app import create_app
from gateway.config import Settings
from gateway.store.migrate import alembic_config, downgrade, upgrade
from gateway.store.models import AuditEvent, Claim, ClaimHold, ClaimLine, Debtor, DebtorContact, Dispatch, Document, Payment
from gateway.store.session import Database
from tests.conftest import POSTGRES_ADMIN_URL, _admin, admin_or_skip

KEY_PREFIX = "0123456789ab"
API_KEY = f"gw_{KEY_PREFIX}_upgrade-test-secret-upgrade-test-secret-000"
PASSWORD = "correct horse battery"
IDS = {name: uuid.uuid5(uuid.NAMESPACE_URL, f"upgrade/{name}") for name in (
    "creditor", "key", "debtor", "contact", "consent", "claim", "line1", "line2", "payment", "document", "dispatch", "attempt",
    "inbound", "job", "hold", "step", "admin", "request", "webhook", "claim2", "line3")}
T0 = datetime(2026, 11, 2, 9, 30, tzinfo=timezone.utc)
UBL = b"<Invoice xmlns='urn:oasis:names:specification:ubl:schema:xsd:Invoice-2'/>"


class Raw:
    """Values in the storage format of a dialect, for raw SQL."""

    def __init__(self, dialect: str) -> None:
        self.sqlite = dialect == "sqlite"

    def id(self, name: str) -> str:
        return IDS[name].hex if self.sqlite else str(IDS[name])

    def money(self, value: str, places: int = 2):
        return int(Decimal(value).scaleb(places)) if self.sqlite else Decimal(value)

    def at(self, moment: datetime):
        return moment.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f") if self.sqlite else moment


def _insert(connection, table: str, **values) -> None:
    columns = ", ".join(values)
    marks = ", ".join(f":{name}" for name in values)
    params = {name: json.dumps(value) if isinstance(value, (dict, list)) else value for name, value in values.items()}
    connection.execute(text(f"INSERT INTO {table} ({columns}) VALUES ({marks})"), params)


def seed_0001(connection, raw: Raw) -> None:
    _insert(connection, "creditor_entity", id=raw.id("creditor"), code="gent", kind="municipality", name="Stad Gent", enterprise_number="0207451227",
            vat_number="BE0207451227", iban="BE48320070184927", languages=["nl"], allowed_currencies=["EUR"], street="Botermarkt 1", postal_code="9000",
            city="Gent", country="BE", created_at=raw.at(T0))
    _insert(connection, "api_key", id=raw.id("key"), creditor_id=raw.id("creditor"), name="erp", prefix=KEY_PREFIX,
            key_hash=hashlib.sha256(API_KEY.encode()).hexdigest(), includes_children=False, created_at=raw.at(T0))
    _insert(connection, "debtor", id=raw.id("debtor"), creditor_id=raw.id("creditor"), external_id="D-1", kind="business", name="Bakkerij Janssens BV",
            enterprise_number="0403019261", vat_number="BE0403019261", peppol_id="0208:0403019261", street="Markt 1", postal_code="9000", city="Gent",
            country="BE", language="nl", created_at=raw.at(T0))
    _insert(connection, "debtor_contact", id=raw.id("contact"), debtor_id=raw.id("debtor"), kind="email", value="boekhouding@janssens.be",
            validity="bounced", validity_reason="550 5.1.1", validity_changed_at=raw.at(T0), created_at=raw.at(T0))
    _insert(connection, "debtor_consent", id=raw.id("consent"), debtor_id=raw.id("debtor"), channel="email", given=True, given_on="2026-01-15",
            source="portal", created_at=raw.at(T0))
    # 3 x 0.333 at 21 % + 1 x 100.00 at 6 %: net 101.00, VAT 6.21, total 107.21; 50.00 paid
    _insert(connection, "claim", id=raw.id("claim"), creditor_id=raw.id("creditor"), debtor_id=raw.id("debtor"), number="F2026-0001", claim_type="invoice",
            fiscal=False, currency="EUR", issue_date="2026-11-02", due_date="2026-12-02", structured_communication="010806817183", buyer_reference="PO-778",
            status="partially_paid", total_net=raw.money("101.00"), total_vat=raw.money("6.21"), total_amount=raw.money("107.21"),
            amount_paid=raw.money("50.00"), created_at=raw.at(T0))
    for name, position, description, quantity, price, rate, net in (("line1", 1, "Zaalhuur", "3", "0.333", "21", "1.00"), ("line2", 2, "Schoonmaak", "1", "100.00", "6", "100.00")):
        _insert(connection, "claim_line", id=raw.id(name), claim_id=raw.id("claim"), position=position, description=description, quantity=raw.money(quantity, 4),
                unit_code="C62", unit_price=raw.money(price, 6), vat_category="S", vat_rate=raw.money(rate), net_amount=raw.money(net), created_at=raw.at(T0))
    _insert(connection, "payment", id=raw.id("payment"), claim_id=raw.id("claim"), amount=raw.money("50.00"), paid_on="2026-11-20", source="bank_statement",
            external_id="BANK-1", reference="+++010/8068/17183+++", created_at=raw.at(T0))
    _insert(connection, "document", id=raw.id("document"), claim_id=raw.id("claim"), creditor_id=raw.id("creditor"), kind="invoice", prefix="INV", sequence=1,
            number="INV000001", media_type="application/xml", content=UBL, sha256=hashlib.sha256(UBL).hexdigest(), issued_at=raw.at(T0),
            meta={"validation": {"status": "valid"}}, created_at=raw.at(T0))
    _insert(connection, "dispatch", id=raw.id("dispatch"), document_id=raw.id("document"), claim_id=raw.id("claim"), channel="email",
            recipient="boekhouding@janssens.be", state="failed_permanent", idempotency_key="k" * 64, attempt_count=1, provider="smtp",
            last_error="bounce: 5.1.1", created_at=raw.at(T0), updated_at=raw.at(T0))
    _insert(connection, "dispatch_attempt", id=raw.id("attempt"), dispatch_id=raw.id("dispatch"), number=1, started_at=raw.at(T0), finished_at=raw.at(T0),
            outcome="failed_permanent", provider="smtp", status_code=550, created_at=raw.at(T0))
    _insert(connection, "audit_event", at=raw.at(T0), actor=f"api_key:{KEY_PREFIX}", creditor_id=raw.id("creditor"), entity_type="claim",
            entity_id=raw.id("claim"), action="claim.created", data={"number": "F2026-0001", "total": "107.21", "ogm": "010806817183"})
    _insert(connection, "inbound_event", id=raw.id("inbound"), source="email/bounce", external_id="x:failed_permanent:<b@mx>", received_at=raw.at(T0),
            headers={}, body=b"From: MAILER-DAEMON\r\n\r\nbounce", handled_at=raw.at(T0), created_at=raw.at(T0))
    _insert(connection, "job", id=raw.id("job"), kind="claim.issue", payload={"claim_id": str(IDS["claim"])}, state="done", run_after=raw.at(T0),
            attempts=1, finished_at=raw.at(T0), created_at=raw.at(T0))


def seed_0002(connection, raw: Raw) -> None:
    _insert(connection, "claim", id=raw.id("claim2"), creditor_id=raw.id("creditor"), debtor_id=raw.id("debtor"), number="F2026-0002", claim_type="rent",
            fiscal=False, currency="EUR", issue_date="2026-11-02", due_date="2026-12-02", structured_communication="010806817284", buyer_reference="PO-779",
            status="disputed", total_net=raw.money("250.00"), total_vat=raw.money("0.00"), total_amount=raw.money("250.00"),
            amount_paid=raw.money("0.00"), created_at=raw.at(T0))
    _insert(connection, "claim_line", id=raw.id("line3"), claim_id=raw.id("claim2"), position=1, description="Huur", quantity=raw.money("1", 4), unit_code="C62",
            unit_price=raw.money("250.00", 6), vat_category="E", vat_rate=raw.money("0"), exemption_reason="Vrijgesteld art. 44",
            net_amount=raw.money("250.00"), created_at=raw.at(T0))
    _insert(connection, "claim_hold", id=raw.id("hold"), claim_id=raw.id("claim2"), kind="dispute", reason="wrong meter", author="front desk",
            starts_on="2026-11-25", created_at=raw.at(T0))
    _insert(connection, "dunning_step", id=raw.id("step"), claim_id=raw.id("claim"), step=1, step_key="first-reminder", policy="municipality-non-fiscal@2026.1",
            action="send_step", decided_on="2026-12-07", dedup_key=f"dunning/{IDS['claim']}/step/1/2026-12-07", status="decided", fee=raw.money("0.00"),
            amount_open=raw.money("57.21"), rule_set_version="2026.1", amounts={}, registered=False, created_at=raw.at(T0))


def seed_0003(connection, raw: Raw) -> None:
    _insert(connection, "admin_user", id=raw.id("admin"), email="fin@gent.be", password_hash=PasswordHasher().hash(PASSWORD), role="financial_director",
            creditor_id=raw.id("creditor"), language="nl", disabled=False, created_at=raw.at(T0))


def seed_0004(connection, raw: Raw) -> None:
    _insert(connection, "payment_request", id=raw.id("request"), claim_id=raw.id("claim"), creditor_id=raw.id("creditor"), active_claim_id=raw.id("claim"),
            provider="bancontact", state="created", amount=raw.money("57.21"), currency="EUR", reference="010806817183", description="F2026-0001",
            updated_at=raw.at(T0), created_at=raw.at(T0))


def seed_0005(connection, raw: Raw) -> None:
    _insert(connection, "event", creditor_id=raw.id("creditor"), type="payment.recorded", claim_id=raw.id("claim"),
            data={"amount": "50.00", "status": "partially_paid"}, created_at=raw.at(T0))
    _insert(connection, "webhook_endpoint", id=raw.id("webhook"), creditor_id=raw.id("creditor"), url="https://erp.gent.be/hook", secret="s" * 64,
            active=True, created_at=raw.at(T0))


SEEDERS = {"0001": seed_0001, "0002": seed_0002, "0003": seed_0003, "0004": seed_0004, "0005": seed_0005}


@pytest.fixture(params=["sqlite", "postgres"])
def empty_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'upgrade.sqlite'}"
        return
    name = f"gateway_upgrade_{os.getpid()}"
    admin_or_skip(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)", f"CREATE DATABASE {name}")
    yield POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def revisions_in_order(url: str) -> list[str]:
    script = ScriptDirectory.from_config(alembic_config(url))
    return [revision.revision for revision in reversed(list(script.walk_revisions()))]


def _engine_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) if url.startswith("postgresql://") else url


def test_migrations_from_the_first_schema_keep_data_written_at_every_revision(empty_url):
    revisions = revisions_in_order(empty_url)
    assert revisions[:5] == ["0001", "0002", "0003", "0004", "0005"]
    engine = create_engine(_engine_url(empty_url))
    raw = Raw(engine.dialect.name)
    for revision in revisions:
        upgrade(empty_url, revision)
        if revision in SEEDERS:
            with engine.begin() as connection:
                SEEDERS[revision](connection, raw)
    engine.dispose()

    database = Database(empty_url)
    try:
        with database.session_scope() as session:
            claim = session.get(Claim, IDS["claim"])
            assert (claim.total_net, claim.total_vat, claim.total_amount, claim.amount_paid) == (Decimal("101.00"), Decimal("6.21"), Decimal("107.21"), Decimal("50.00"))
            assert claim.created_at == T0 and claim.due_date == date(2026, 12, 2)
            lines = session.scalars(select(ClaimLine).where(ClaimLine.claim_id == claim.id).order_by(ClaimLine.position)).all()
            assert [(line.quantity, line.unit_price, line.net_amount) for line in lines] == [
                (Decimal("3.0000"), Decimal("0.333000"), Decimal("1.00")), (Decimal("1.0000"), Decimal("100.000000"), Decimal("100.00"))]
            assert session.get(Payment, IDS["payment"]).amount == Decimal("50.00")
            assert session.get(Document, IDS["document"]).content == UBL
            assert session.get(Dispatch, IDS["dispatch"]).state == "failed_permanent"
            assert session.get(ClaimHold, IDS["hold"]).starts_on == date(2026, 11, 25)
            assert session.get(Debtor, IDS["debtor"]).name == "Bakkerij Janssens BV"
            contacts = session.scalars(select(DebtorContact).where(DebtorContact.debtor_id == IDS["debtor"])).all()
            assert [(c.value, c.validity, c.validity_changed_at) for c in contacts] == [("boekhouding@janssens.be", "bounced", T0)]
            assert session.scalar(select(AuditEvent.action)) == "claim.created"

        with TestClient(create_app(Settings(database_url=empty_url), database=database)) as client:
            headers = {"Authorization": f"Bearer {API_KEY}"}
            body = client.get(f"/v1/claims/{IDS['claim']}", headers=headers).json()
            assert (body["number"], body["status"], body["total_amount"], body["amount_open"]) == ("F2026-0001", "partially_paid", "107.21", "57.21")
            assert body["structured_communication"] == "+++010/8068/17183+++"
            assert [p["amount"] for p in body["payments"]] == ["50.00"]
            assert [d["number"] for d in body["documents"]] == ["INV000001"]
            assert [(d["channel"], d["state"]) for d in body["dispatches"]] == [("email", "failed_permanent")]
            assert client.get(f"/v1/documents/{IDS['document']}", headers=headers).content == UBL
            debtor = client.get(f"/v1/debtors/{IDS['debtor']}", headers=headers).json()
            assert debtor["name"] == "Bakkerij Janssens BV"
            dunning = client.get(f"/v1/claims/{IDS['claim2']}/dunning", headers=headers, params={"as_of": "2026-12-10"}).json()
            assert [(h["kind"], h["reason"]) for h in dunning["holds"]] == [("dispute", "wrong meter")]
            listed = client.get("/v1/claims", headers=headers).json()["items"]
            assert sorted(item["number"] for item in listed) == ["F2026-0001", "F2026-0002"]
            events = client.get("/v1/events", headers=headers).json()["items"]
            assert [(e["type"], e["claim_id"], e["data"]) for e in events] == [("payment.recorded", str(IDS["claim"]), {"amount": "50.00", "status": "partially_paid"})]
            # The API still writes on the upgraded database: a payment closes the claim.
            paid = client.post(f"/v1/claims/{IDS['claim']}/payments", headers=headers, json={"amount": "57.21", "paid_on": "2026-12-01", "external_id": "BANK-2"})
            assert paid.status_code == 201, paid.text
            assert client.get(f"/v1/claims/{IDS['claim']}", headers=headers).json()["status"] == "paid"
            # The admin user written at 0003 signs in.
            page = client.get("/admin/signin")
            token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
            signed = client.post("/admin/signin", data={"email": "fin@gent.be", "password": PASSWORD, "csrf_token": token}, follow_redirects=False)
            assert signed.status_code == 303
            assert "F2026-0001" in client.get(f"/admin/claims/{IDS['claim']}").text
    finally:
        database.dispose()


def test_downgrade_to_base_and_upgrade_again_on_an_empty_database(empty_url):
    upgrade(empty_url)
    engine = create_engine(_engine_url(empty_url))
    tables_at_head = set(inspect(engine).get_table_names())
    assert {"claim", "audit_event", "event", "webhook_endpoint", "admin_user", "alembic_version"} <= tables_at_head
    downgrade(empty_url, "base")
    engine.dispose()
    engine = create_engine(_engine_url(empty_url))
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:  # the append-only trigger function went with its table
            assert connection.execute(text("SELECT count(*) FROM pg_proc WHERE proname = 'audit_event_append_only'")).scalar() == 0
    engine.dispose()
    upgrade(empty_url)
    engine = create_engine(_engine_url(empty_url))
    assert set(inspect(engine).get_table_names()) == tables_at_head
    engine.dispose()
