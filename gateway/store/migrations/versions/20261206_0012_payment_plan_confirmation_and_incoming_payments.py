"""payment_plan confirmation (confirm_by, source, who) and incoming_payment (payments matched by OGM)

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-24 09:00:00.000000

Issue 6: a payment plan records the debtor's confirmation and lapses when it is not confirmed in
time; an incoming transfer is matched by its structured reference (claim, instalment or fee OGM)
and booked from one `incoming_payment` row, linked from the `payment` rows it creates.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.store.types

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('incoming_payment',
    sa.Column('creditor_id', sa.Uuid(), nullable=False),
    sa.Column('reference', sa.String(length=12), nullable=False),
    sa.Column('amount', gateway.store.types.ExactDecimal(places=2, precision=18), nullable=False),
    sa.Column('paid_on', sa.Date(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('external_id', sa.String(length=100), nullable=True),
    sa.Column('matched', sa.String(length=16), nullable=False),
    sa.Column('claim_id', sa.Uuid(), nullable=True),
    sa.Column('plan_id', sa.Uuid(), nullable=True),
    sa.Column('instalment_id', sa.Uuid(), nullable=True),
    sa.Column('document_id', sa.Uuid(), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gateway.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_incoming_payment_claim_id_claim')),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditor_entity.id'], name=op.f('fk_incoming_payment_creditor_id_creditor_entity')),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], name=op.f('fk_incoming_payment_document_id_document')),
    sa.ForeignKeyConstraint(['instalment_id'], ['payment_plan_instalment.id'], name=op.f('fk_incoming_payment_instalment_id_payment_plan_instalment')),
    sa.ForeignKeyConstraint(['plan_id'], ['payment_plan.id'], name=op.f('fk_incoming_payment_plan_id_payment_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_incoming_payment')),
    sa.UniqueConstraint('source', 'external_id', name=op.f('uq_incoming_payment_source_external_id'))
    )
    with op.batch_alter_table('incoming_payment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_incoming_payment_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_incoming_payment_creditor_id'), ['creditor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_incoming_payment_plan_id'), ['plan_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_incoming_payment_reference'), ['reference'], unique=False)

    # nullable: existing payments were booked per claim, not from a matched transfer
    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('incoming_payment_id', sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column('instalment_id', sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(batch_op.f('fk_payment_incoming_payment_id_incoming_payment'), 'incoming_payment', ['incoming_payment_id'], ['id'])
        batch_op.create_foreign_key(batch_op.f('fk_payment_instalment_id_payment_plan_instalment'), 'payment_plan_instalment', ['instalment_id'], ['id'])

    with op.batch_alter_table('payment_plan', schema=None) as batch_op:
        batch_op.add_column(sa.Column('confirm_by', sa.Date(), nullable=True))
        batch_op.add_column(sa.Column('confirmation_source', sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column('confirmed_by', sa.String(length=200), nullable=True))



def downgrade() -> None:
    with op.batch_alter_table('payment_plan', schema=None) as batch_op:
        batch_op.drop_column('confirmed_by')
        batch_op.drop_column('confirmation_source')
        batch_op.drop_column('confirm_by')

    with op.batch_alter_table('payment', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_payment_instalment_id_payment_plan_instalment'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('fk_payment_incoming_payment_id_incoming_payment'), type_='foreignkey')
        batch_op.drop_column('instalment_id')
        batch_op.drop_column('incoming_payment_id')

    with op.batch_alter_table('incoming_payment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_incoming_payment_reference'))
        batch_op.drop_index(batch_op.f('ix_incoming_payment_plan_id'))
        batch_op.drop_index(batch_op.f('ix_incoming_payment_creditor_id'))
        batch_op.drop_index(batch_op.f('ix_incoming_payment_claim_id'))

    op.drop_table('incoming_payment')
