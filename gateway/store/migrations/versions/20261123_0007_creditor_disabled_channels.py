"""creditor_entity.disabled_channels: consumer channels a creditor entity does not use

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 15:10:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Nullable, read as "none switched off": existing entities keep every channel, and SQLite adds the
    # column in place (a NOT NULL column with a default would make batch mode copy the referenced table).
    with op.batch_alter_table('creditor_entity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('disabled_channels', sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('creditor_entity', schema=None) as batch_op:
        batch_op.drop_column('disabled_channels')
