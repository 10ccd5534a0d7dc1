"""payment_request: the outbox row guarding Bancontact payment creation (not idempotent there)

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 11:17:30.944192
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('payment_request',
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.Column('creditor_id', sa.Uuid(), nullable=False),
    sa.Column('active_claim_id', sa.Uuid(), nullable=True),
    sa.Column('provider', sa.String(length=32), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('amount', gateway.store.types.ExactDecimal(places=2, precision=18), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('reference', sa.String(length=35), nullable=False),
    sa.Column('description', sa.String(length=140), nullable=False),
    sa.Column('payment_id', sa.String(length=64), nullable=True),
    sa.Column('provider_status', sa.String(length=40), nullable=True),
    sa.Column('deeplink', sa.String(length=2048), nullable=True),
    sa.Column('qrcode_url', sa.String(length=2048), nullable=True),
    sa.Column('expires_at', gateway.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('updated_at', gateway.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gateway.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_payment_request_claim_id_claim')),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditor_entity.id'], name=op.f('fk_payment_request_creditor_id_creditor_entity')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_request')),
    sa.UniqueConstraint('active_claim_id', name=op.f('uq_payment_request_active_claim_id')),
    sa.UniqueConstraint('payment_id', name=op.f('uq_payment_request_payment_id'))
    )
    with op.batch_alter_table('payment_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_request_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_request_state'), ['state'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('payment_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_request_state'))
        batch_op.drop_index(batch_op.f('ix_payment_request_claim_id'))

    op.drop_table('payment_request')
