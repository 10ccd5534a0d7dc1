"""audit_event append-only against TRUNCATE on PostgreSQL, and against UPDATE / DELETE on SQLite

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 15:45:00.000000

0001's row trigger stops UPDATE and DELETE on PostgreSQL, but row triggers do not fire on
TRUNCATE: a statement trigger closes that. SQLite (the embedded default) had only the ORM guard;
triggers there refuse UPDATE and DELETE in raw SQL too (SQLite has no TRUNCATE: a DELETE without
WHERE fires the trigger like any other).
"""

from __future__ import annotations

from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"
        )
        return
    for action in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_event_no_{action.lower()} BEFORE {action} ON audit_event "
            "BEGIN SELECT RAISE(ABORT, 'audit_event is append-only'); END"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
        return
    for action in ("update", "delete"):
        op.execute(f"DROP TRIGGER IF EXISTS audit_event_no_{action}")
