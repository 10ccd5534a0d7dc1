"""The audit log's append-only guarantee against the gateway's own credentials (PostgreSQL).

The triggers (tests/security/test_audit.py) stop UPDATE, DELETE and TRUNCATE, but the owner of a
table may disable its triggers. Here the least-privilege setup of gateway/store/roles.py is built
for real: an owner role (no superuser) creates the database and runs the migrations, `gateway db
grant-app-role` grants a separate login role, and the gateway runs as that role: claim intake over
HTTP, a debtor change, the worker issuing the letter. Then, connected as that role, every way of
changing the log is refused by PostgreSQL: UPDATE, DELETE, TRUNCATE, disabling or dropping the
trigger, replacing its function, replica mode, taking ownership, granting itself UPDATE. The same
statements as the owner show why the second role is needed.
"""

from __future__ import annotations

import json
import os
import uuid

import psycopg
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from gateway.app import create_app
from gateway.channels.registry import ProviderRegistry
from gateway.cli import main as gateway_cli
from gateway.config import Settings, get_settings
from gateway.store.base import Base
from gateway.store.migrate import upgrade
from gateway.store.models import AuditEvent, Document
from gateway.store.session import Database
from gateway.workers.run import Worker
from tests.conftest import POSTGRES_ADMIN_URL, admin_or_skip
from tests.factories import bearer, consumer_claim, seed_creditors

pytestmark = pytest.mark.postgres


def _admin(statement: str, url: str = POSTGRES_ADMIN_URL) -> None:
    with psycopg.connect(url, autocommit=True, connect_timeout=5) as connection:
        connection.execute(statement)


class Setup:
    def __init__(self) -> None:
        suffix = f"{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.owner, self.app, self.database = f"gw_owner_{suffix}", f"gw_app_{suffix}", f"gateway_roles_{suffix}"
        base = POSTGRES_ADMIN_URL.rsplit("/", 1)[0].replace("postgres@", "{user}@")
        self.owner_url = base.format(user=self.owner) + f"/{self.database}"
        self.app_url = base.format(user=self.app) + f"/{self.database}"


@pytest.fixture
def roles(tmp_path):
    """A database created by and migrated as a non-superuser owner; an app role that exists but holds nothing yet."""
    setup = Setup()
    admin_or_skip(f"CREATE ROLE {setup.owner} LOGIN", f"CREATE ROLE {setup.app} LOGIN", f"CREATE DATABASE {setup.database} OWNER {setup.owner}")
    try:
        upgrade(setup.owner_url)  # the migrations, as the owner (no superuser)
        yield setup
    finally:
        _admin(f"DROP DATABASE IF EXISTS {setup.database} WITH (FORCE)")
        for role in (setup.app, setup.owner):
            _admin(f"DROP ROLE IF EXISTS {role}")


def grant(url: str, role: str):
    os.environ["GATEWAY_DATABASE_URL"] = url
    get_settings.cache_clear()
    try:
        return CliRunner().invoke(gateway_cli, ["db", "grant-app-role", role])
    finally:
        del os.environ["GATEWAY_DATABASE_URL"]
        get_settings.cache_clear()


def audit_rows(url: str) -> list[tuple]:
    with psycopg.connect(url, autocommit=True) as connection:
        return connection.execute("SELECT id, at, actor, entity_type, entity_id, action, data::text FROM audit_event ORDER BY id").fetchall()


def test_the_gateway_runs_as_a_role_that_cannot_change_the_audit_log(roles, tmp_path):
    granted = grant(roles.owner_url, roles.app)
    tables = len(Base.metadata.sorted_tables)
    assert granted.exit_code == 0, granted.output
    assert granted.output.splitlines() == [
        f"{roles.app}: audit_event: SELECT, INSERT only (no UPDATE, DELETE, TRUNCATE; owner {roles.owner})",
        f"{roles.app}: SELECT, INSERT, UPDATE, DELETE on {tables - 1} other tables; owns none; not a superuser",
    ]

    # The gateway's normal writes, all as the app role: creditors and a key, claim intake over HTTP,
    # a debtor's contacts changed, the worker routing the claim and issuing its letter.
    database = Database(roles.app_url)
    settings = Settings(database_url=roles.app_url, standards_dir=tmp_path / "no-standards", print_drop_dir=tmp_path / "print")
    try:
        keys = seed_creditors(database)
        with TestClient(create_app(settings, database=database)) as client:
            created = client.post("/v1/claims", content=json.dumps(consumer_claim("ROLE-1")), headers={**bearer(keys.municipality_key), "Content-Type": "application/json"})
            assert created.status_code == 201, created.text
            debtor_id = client.get(f"/v1/claims/{created.json()['id']}", headers=bearer(keys.municipality_key)).json()["debtor"]["id"]
            patched = client.patch(f"/v1/debtors/{debtor_id}", headers={**bearer(keys.municipality_key), "Content-Type": "application/json"},
                                   content=json.dumps({"contacts": [{"kind": "email", "value": "an@example.be"}]}))
            assert patched.status_code == 200, patched.text
        assert Worker(database, settings, name="role-test", providers=ProviderRegistry()).drain() >= 1
        with database.session_scope() as session:
            actions = list(session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)))
            assert session.scalar(select(func.count()).select_from(Document)) == 1  # the consumer's letter
    finally:
        database.dispose()
    assert actions == ["debtor.created", "contact.added", "consent.recorded", "claim.created", "contact.removed", "contact.added", "claim.routed", "document.issued"]
    before = audit_rows(roles.owner_url)
    first = before[0][0]

    refused = {
        f"UPDATE audit_event SET actor = 'someone else' WHERE id = {first}": "permission denied for table audit_event",
        f"DELETE FROM audit_event WHERE id = {first}": "permission denied for table audit_event",
        "DELETE FROM audit_event": "permission denied for table audit_event",
        "TRUNCATE audit_event": "permission denied for table audit_event",
        "ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only": "must be owner of table audit_event",
        "ALTER TABLE audit_event DISABLE TRIGGER ALL": "must be owner of table audit_event",
        "DROP TRIGGER audit_event_append_only ON audit_event": "must be owner of relation audit_event",
        "ALTER TABLE audit_event OWNER TO CURRENT_USER": "must be owner of table audit_event",
        "CREATE OR REPLACE FUNCTION audit_event_append_only() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ LANGUAGE plpgsql":
            "permission denied for schema public",  # no CREATE on the schema (PostgreSQL 15+); with it: "must be owner of function"
        "SET session_replication_role = replica": "permission denied to set parameter \"session_replication_role\"",
        "DROP TABLE audit_event": "must be owner of table audit_event",
    }
    with psycopg.connect(roles.app_url, autocommit=True) as connection:
        assert connection.execute("SELECT current_user").fetchone()[0] == roles.app
        for statement, message in refused.items():
            with pytest.raises(psycopg.errors.InsufficientPrivilege) as caught:
                connection.execute(statement)
            assert str(caught.value).splitlines()[0] == message, statement
        # Granting itself UPDATE is not an error in PostgreSQL, only a warning: it gains nothing.
        connection.execute(f"GRANT UPDATE, DELETE, TRUNCATE ON audit_event TO {roles.app}")
        assert connection.execute("SELECT has_table_privilege('audit_event', 'UPDATE') OR has_table_privilege('audit_event', 'TRUNCATE')").fetchone()[0] is False
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute(f"UPDATE audit_event SET actor = 'someone else' WHERE id = {first}")
    assert audit_rows(roles.owner_url) == before

    # Why the second role: the owner can switch the trigger off and rewrite history (rolled back here).
    with psycopg.connect(roles.owner_url) as connection:
        connection.execute("ALTER TABLE audit_event DISABLE TRIGGER audit_event_append_only")
        assert connection.execute(f"UPDATE audit_event SET actor = 'someone else' WHERE id = {first}").rowcount == 1
        connection.rollback()
    assert audit_rows(roles.owner_url) == before


def test_the_grant_is_idempotent_and_covers_a_table_added_by_a_later_migration(roles):
    assert grant(roles.owner_url, roles.app).exit_code == 0
    _admin("CREATE TABLE later_feature (id integer PRIMARY KEY)", roles.owner_url)  # as a new migration would, as the owner
    again = grant(roles.owner_url, roles.app)
    assert again.exit_code == 0, again.output
    assert f"on {len(Base.metadata.sorted_tables)} other tables" in again.output  # one more than before
    with psycopg.connect(roles.app_url, autocommit=True) as connection:
        connection.execute("INSERT INTO later_feature VALUES (1)")
        connection.execute("UPDATE later_feature SET id = 2")
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            connection.execute("TRUNCATE later_feature")


@pytest.mark.parametrize("case", ["owner", "superuser", "unknown", "bad-name", "member-of-owner", "public-update", "sqlite"])
def test_the_grant_refuses_a_role_that_could_change_the_log(roles, case, tmp_path):
    role, url = roles.app, roles.owner_url
    if case == "owner":
        role = roles.owner
    elif case == "superuser":
        role = "postgres"
    elif case == "unknown":
        role = "gw_nobody_here"
    elif case == "bad-name":
        role = "App-Role; DROP TABLE audit_event"
    elif case == "member-of-owner":
        _admin(f"GRANT {roles.owner} TO {roles.app}")
    elif case == "public-update":
        _admin("GRANT UPDATE ON audit_event TO PUBLIC", roles.owner_url)
    elif case == "sqlite":
        url = f"sqlite:///{tmp_path / 'gateway.sqlite'}"
    expected = {
        "owner": ("role.owner", f"{role} owns tables of the gateway: an owner can disable the audit triggers; migrate as another role and grant this one"),
        "superuser": ("role.superuser", "postgres is a superuser: it could disable the audit triggers; the gateway needs a role without SUPERUSER"),
        "unknown": ("role.unknown", "no role 'gw_nobody_here': create it first, e.g. CREATE ROLE gw_nobody_here LOGIN PASSWORD '...'"),
        "bad-name": ("role.name", "a role name is lower-case letters, digits and _ (at most 63, not starting with a digit), got 'App-Role; DROP TABLE audit_event'"),
        "member-of-owner": ("role.member_of_owner", f"{role} is a member of {roles.owner}, which owns the tables: it would inherit the owner's rights over the triggers"),
        "public-update": ("role.still_privileged", f"{role} still holds SELECT, INSERT, UPDATE on audit_event (through PUBLIC or another role it belongs to); revoke that grant"),
        "sqlite": ("db.postgresql_only", "roles and grants exist on PostgreSQL only; the embedded SQLite store has no users"),
    }[case]
    result = grant(url, role)
    field = "database_url" if case == "sqlite" else "role"
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == f"{field}: {expected[0]}: {expected[1]}"
    assert result.stderr.splitlines()[1] == f"Error: nothing granted: {expected[1]}"
    if case == "public-update":  # the whole grant ran in one transaction: nothing of it stayed
        with psycopg.connect(roles.owner_url, autocommit=True) as connection:
            assert connection.execute(f"SELECT has_table_privilege('{roles.app}', 'claim', 'SELECT')").fetchone()[0] is False
