"""Least privilege on PostgreSQL: the role the gateway runs as cannot rewrite the audit log.

The triggers of migrations 0001 and 0008 refuse UPDATE, DELETE and TRUNCATE of `audit_event`,
but a table's owner (or a superuser) may `ALTER TABLE audit_event DISABLE TRIGGER ...`, drop the
trigger, or `SET session_replication_role = replica` (no ordinary trigger fires). So the
guarantee needs two roles:

- the **owner** runs `gateway migrate` and owns every table (the role of the migration URL);
- the **gateway's role** (`gateway serve`, `gateway worker`, the API's GATEWAY_DATABASE_URL) owns
  nothing, is no superuser and no member of the owner, and holds SELECT, INSERT, UPDATE, DELETE
  on the gateway's tables except `audit_event`, where it holds SELECT and INSERT only: the
  privilege check refuses UPDATE / DELETE / TRUNCATE before any trigger runs, and only an owner
  may disable or drop a trigger.

`grant_app_role` (CLI: `gateway db grant-app-role ROLE`, run as the owner after every migration:
a new table needs its grant) checks the role, grants exactly that, and then reads back from
PostgreSQL what the role can do, refusing to report success if it could still change the log.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import Connection, text

from gateway.errors import InvalidInput

APPEND_ONLY_TABLES = ("audit_event",)
READ_ONLY_TABLES = ("alembic_version",)  # the schema version belongs to the owner's migrations
ROLE_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}")
FORBIDDEN_ON_APPEND_ONLY = ("UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")


@dataclass(frozen=True)
class AppRole:
    """What PostgreSQL says the role can do once granted (read back, not assumed)."""

    role: str
    owner: str
    writable_tables: int  # SELECT, INSERT, UPDATE and DELETE
    append_only: dict[str, tuple[str, ...]]  # table -> the privileges the role holds on it


def _refuse(rule: str, message: str) -> InvalidInput:
    return InvalidInput.single("role", rule, message)


def grant_app_role(connection: Connection, role: str) -> AppRole:
    """Grant `role` the gateway's least privileges in the current schema; raises `InvalidInput`."""
    if connection.dialect.name != "postgresql":
        raise InvalidInput.single("database_url", "db.postgresql_only", "roles and grants exist on PostgreSQL only; the embedded SQLite store has no users")
    if not ROLE_NAME.fullmatch(role):
        raise _refuse("role.name", f"a role name is lower-case letters, digits and _ (at most 63, not starting with a digit), got {role!r}")
    found = connection.execute(text("SELECT rolsuper, rolbypassrls FROM pg_roles WHERE rolname = :role"), {"role": role}).first()
    if found is None:
        raise _refuse("role.unknown", f"no role {role!r}: create it first, e.g. CREATE ROLE {role} LOGIN PASSWORD '...'")
    if found.rolsuper:
        raise _refuse("role.superuser", f"{role} is a superuser: it could disable the audit triggers; the gateway needs a role without SUPERUSER")
    owners = set(connection.scalars(text("SELECT DISTINCT tableowner FROM pg_tables WHERE schemaname = current_schema()")))
    if not owners:
        raise _refuse("role.no_schema", "the schema has no tables: run `gateway migrate` (as the owner) first")
    if role in owners:
        raise _refuse("role.owner", f"{role} owns tables of the gateway: an owner can disable the audit triggers; migrate as another role and grant this one")
    for owner in sorted(owners):
        if connection.scalar(text("SELECT pg_has_role(:role, :owner, 'MEMBER')"), {"role": role, "owner": owner}):
            raise _refuse("role.member_of_owner", f"{role} is a member of {owner}, which owns the tables: it would inherit the owner's rights over the triggers")
    quoted = connection.dialect.identifier_preparer.quote(role)
    statements = [
        f"GRANT USAGE ON SCHEMA {_schema(connection)} TO {quoted}",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {_schema(connection)} TO {quoted}",
        # Whatever an earlier hand-made grant gave: never TRUNCATE, REFERENCES or TRIGGER anywhere.
        f"REVOKE TRUNCATE, REFERENCES, TRIGGER ON ALL TABLES IN SCHEMA {_schema(connection)} FROM {quoted}",
        f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA {_schema(connection)} TO {quoted}",
    ]
    for table in APPEND_ONLY_TABLES + READ_ONLY_TABLES:
        statements.append(f"REVOKE ALL ON {table} FROM {quoted}")
        statements.append(f"GRANT {'SELECT, INSERT' if table in APPEND_ONLY_TABLES else 'SELECT'} ON {table} TO {quoted}")
    for statement in statements:
        connection.exec_driver_sql(statement)
    return _read_back(connection, role, owners)


def _schema(connection: Connection) -> str:
    return connection.dialect.identifier_preparer.quote(connection.scalar(text("SELECT current_schema()")))


def _read_back(connection: Connection, role: str, owners: set[str]) -> AppRole:
    # has_table_privilege counts grants to PUBLIC and to roles this one belongs to: what it can really do.
    append_only: dict[str, tuple[str, ...]] = {}
    for table in APPEND_ONLY_TABLES:
        held = tuple(
            privilege for privilege in ("SELECT", "INSERT", *FORBIDDEN_ON_APPEND_ONLY)
            if connection.scalar(text("SELECT has_table_privilege(:role, :table, :privilege)"), {"role": role, "table": table, "privilege": privilege})
        )
        if any(privilege in held for privilege in FORBIDDEN_ON_APPEND_ONLY):
            raise _refuse("role.still_privileged", f"{role} still holds {', '.join(held)} on {table} (through PUBLIC or another role it belongs to); revoke that grant")
        append_only[table] = held
    # (has_table_privilege with a list of privileges is true when any one is held: ask one by one.)
    writable = connection.scalar(text(
        "SELECT count(*) FROM pg_tables t WHERE t.schemaname = current_schema() AND "
        + " AND ".join(f"has_table_privilege(:role, format('%I.%I', t.schemaname, t.tablename), '{p}')" for p in ("SELECT", "INSERT", "UPDATE", "DELETE"))
    ), {"role": role})
    return AppRole(role=role, owner=", ".join(sorted(owners)), writable_tables=writable, append_only=append_only)
