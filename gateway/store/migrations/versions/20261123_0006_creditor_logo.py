"""creditor_entity.logo, logo_media_type: the entity's logo (SVG or PNG) printed on its letters

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 14:50:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Stored in the row, not as a URL: a letter is rendered without fetching anything.
    with op.batch_alter_table('creditor_entity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('logo', sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column('logo_media_type', sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('creditor_entity', schema=None) as batch_op:
        batch_op.drop_column('logo_media_type')
        batch_op.drop_column('logo')
