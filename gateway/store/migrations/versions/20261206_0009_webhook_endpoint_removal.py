"""webhook_endpoint.updated_at and removed_at: endpoints are disabled, enabled and removed, never deleted

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 04:00:00.000000

A removed endpoint keeps its row: its webhook_delivery and webhook_attempt rows (one per try) are
the record of what was sent where, and they point at it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable: existing endpoints read as "never changed, not removed"; SQLite adds the columns in place.
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.add_column(sa.Column('updated_at', gateway.store.types.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('removed_at', gateway.store.types.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_endpoint', schema=None) as batch_op:
        batch_op.drop_column('removed_at')
        batch_op.drop_column('updated_at')
