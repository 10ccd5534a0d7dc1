"""payment_request.document_id: the invoice or reminder a Bancontact payment request was made for

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 04:00:00.000000

One payment request per claim or reminder (issue 5): the outbox row names the document it asks
payment for, so a reminder gets a request of its own (the claim's earlier one is superseded) and
the stable pay link printed on that document finds it. Nullable: requests made from the personal
page, and every row from before, name no document.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('payment_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('document_id', sa.Uuid(), nullable=True))
        batch_op.create_index(batch_op.f('ix_payment_request_document_id'), ['document_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_payment_request_document_id_document'), 'document', ['document_id'], ['id'])


def downgrade() -> None:
    with op.batch_alter_table('payment_request', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payment_request_document_id_document'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_payment_request_document_id'))
        batch_op.drop_column('document_id')
