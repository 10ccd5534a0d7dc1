"""dunning tables: recorded steps (unique dedup key), holds, payment plans with instalment OGMs,
escalation lists, policy assignments

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 10:51:17.227502

Reviewed by hand after autogenerate: only new tables, no change to existing ones; the downgrade
drops them in reverse dependency order.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import gateway.store.types


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dunning_policy_assignment',
    sa.Column('creditor_id', sa.Uuid(), nullable=False),
    sa.Column('claim_type', sa.String(length=32), nullable=False),
    sa.Column('fiscal', sa.Boolean(), nullable=False),
    sa.Column('policy_id', sa.String(length=64), nullable=False),
    sa.Column('assigned_by', sa.String(length=200), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gateway.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditor_entity.id'], name=op.f('fk_dunning_policy_assignment_creditor_id_creditor_entity')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dunning_policy_assignment')),
    sa.UniqueConstraint('creditor_id', 'claim_type', 'fiscal', name=op.f('uq_dunning_policy_assignment_creditor_id_claim_type_fiscal'))
    )
    with op.batch_alter_table('dunning_policy_assignment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dunning_policy_assignment_creditor_id'), ['creditor_id'], unique=False)

    op.create_table('payment_plan',
    sa.Column('creditor_id', sa.Uuid(), nullable=False),
    sa.Column('debtor_id', sa.Uuid(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('total', gateway.store.types.ExactDecimal(places=2, precision=18), nullable=False),
    sa.Column('months', sa.Integer(), nullable=False),
    sa.Column('first_due_date', sa.Date(), nullable=False),
    sa.Column('granted_on', sa.Date(), nullable=False),
    sa.Column('granted_by', sa.String(length=200), nullable=False),
    sa.Column('waived_rules', sa.JSON(), nullable=False),
    sa.Column('exception_by', sa.String(length=200), nullable=True),
    sa.Column('exception_reason', sa.String(length=1000), nullable=True),
    sa.Column('confirmed_on', sa.Date(), nullable=True),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('updated_at', gateway.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gateway.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditor_entity.id'], name=op.f('fk_payment_plan_creditor_id_creditor_entity')),
    sa.ForeignKeyConstraint(['debtor_id'], ['debtor.id'], name=op.f('fk_payment_plan_debtor_id_debtor')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_plan'))
    )
    with op.batch_alter_table('payment_plan', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_plan_creditor_id'), ['creditor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_plan_debtor_id'), ['debtor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_payment_plan_status'), ['status'], unique=False)

    op.create_table('claim_hold',
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('author', sa.String(length=200), nullable=False),
    sa.Column('starts_on', sa.Date(), nullable=False),
    sa.Column('ends_on', sa.Date(), nullable=True),
    sa.Column('ended_by', sa.String(length=200), nullable=True),
    sa.Column('ended_at', gateway.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gateway.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_claim_hold_claim_id_claim')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claim_hold'))
    )
    with op.batch_alter_table('claim_hold', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claim_hold_claim_id'), ['claim_id'], unique=False)

    op.create_table('payment_plan_claim',
    sa.Column('plan_id', sa.Uuid(), nullable=False),
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_payment_plan_claim_claim_id_claim')),
    sa.ForeignKeyConstraint(['plan_id'], ['payment_plan.id'], name=op.f('fk_payment_plan_claim_plan_id_payment_plan')),
    sa.PrimaryKeyConstraint('plan_id', 'claim_id', name=op.f('pk_payment_plan_claim'))
    )
    with op.batch_alter_table('payment_plan_claim', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_plan_claim_claim_id'), ['claim_id'], unique=False)

    op.create_table('payment_plan_instalment',
    sa.Column('plan_id', sa.Uuid(), nullable=False),
    sa.Column('number', sa.Integer(), nullable=False),
    sa.Column('due_date', sa.Date(), nullable=False),
    sa.Column('amount', gateway.store.types.ExactDecimal(places=2, precision=18), nullable=False),
    sa.Column('structured_communication', sa.String(length=12), nullable=False),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gateway.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['plan_id'], ['payment_plan.id'], name=op.f('fk_payment_plan_instalment_plan_id_payment_plan')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_payment_plan_instalment')),
    sa.UniqueConstraint('plan_id', 'number', name=op.f('uq_payment_plan_instalment_plan_id_number')),
    sa.UniqueConstraint('structured_communication', name=op.f('uq_payment_plan_instalment_structured_communication'))
    )
    with op.batch_alter_table('payment_plan_instalment', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payment_plan_instalment_plan_id'), ['plan_id'], unique=False)

    op.create_table('dunning_step',
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.Column('step', sa.Integer(), nullable=True),
    sa.Column('step_key', sa.String(length=64), nullable=True),
    sa.Column('policy', sa.String(length=100), nullable=False),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('decided_on', sa.Date(), nullable=False),
    sa.Column('dedup_key', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('fee', gateway.store.types.ExactDecimal(places=2, precision=18), nullable=False),
    sa.Column('interest', gateway.store.types.ExactDecimal(places=2, precision=18), nullable=True),
    sa.Column('lump_sum', gateway.store.types.ExactDecimal(places=2, precision=18), nullable=True),
    sa.Column('amount_open', gateway.store.types.ExactDecimal(places=2, precision=18), nullable=False),
    sa.Column('new_due_date', sa.Date(), nullable=True),
    sa.Column('channel_requirement', sa.String(length=16), nullable=True),
    sa.Column('template', sa.String(length=100), nullable=True),
    sa.Column('rule_set_version', sa.String(length=64), nullable=False),
    sa.Column('rate_version', sa.String(length=64), nullable=True),
    sa.Column('amounts', sa.JSON(), nullable=False),
    sa.Column('detail', sa.Text(), nullable=True),
    sa.Column('document_id', sa.Uuid(), nullable=True),
    sa.Column('dispatch_id', sa.Uuid(), nullable=True),
    sa.Column('channel', sa.String(length=32), nullable=True),
    sa.Column('sent_at', gateway.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('delivered_at', gateway.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('registered', sa.Boolean(), nullable=False),
    sa.Column('proof_reference', sa.String(length=200), nullable=True),
    sa.Column('stated_due_date', sa.Date(), nullable=True),
    sa.Column('updated_at', gateway.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gateway.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_dunning_step_claim_id_claim')),
    sa.ForeignKeyConstraint(['dispatch_id'], ['dispatch.id'], name=op.f('fk_dunning_step_dispatch_id_dispatch')),
    sa.ForeignKeyConstraint(['document_id'], ['document.id'], name=op.f('fk_dunning_step_document_id_document')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_dunning_step')),
    sa.UniqueConstraint('dedup_key', name=op.f('uq_dunning_step_dedup_key'))
    )
    with op.batch_alter_table('dunning_step', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dunning_step_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_dunning_step_status'), ['status'], unique=False)

    op.create_table('escalation_entry',
    sa.Column('claim_id', sa.Uuid(), nullable=False),
    sa.Column('creditor_id', sa.Uuid(), nullable=False),
    sa.Column('dunning_step_id', sa.Uuid(), nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('approving_body', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('amount_open', gateway.store.types.ExactDecimal(places=2, precision=18), nullable=False),
    sa.Column('evidence', sa.JSON(), nullable=False),
    sa.Column('approved_by', sa.String(length=200), nullable=True),
    sa.Column('approved_at', gateway.store.types.UTCDateTime(timezone=True), nullable=True),
    sa.Column('id', sa.Uuid(), nullable=False),
    sa.Column('created_at', gateway.store.types.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['claim_id'], ['claim.id'], name=op.f('fk_escalation_entry_claim_id_claim')),
    sa.ForeignKeyConstraint(['creditor_id'], ['creditor_entity.id'], name=op.f('fk_escalation_entry_creditor_id_creditor_entity')),
    sa.ForeignKeyConstraint(['dunning_step_id'], ['dunning_step.id'], name=op.f('fk_escalation_entry_dunning_step_id_dunning_step')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_escalation_entry')),
    sa.UniqueConstraint('claim_id', 'kind', name=op.f('uq_escalation_entry_claim_id_kind'))
    )
    with op.batch_alter_table('escalation_entry', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_escalation_entry_claim_id'), ['claim_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalation_entry_creditor_id'), ['creditor_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalation_entry_kind'), ['kind'], unique=False)
        batch_op.create_index(batch_op.f('ix_escalation_entry_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('escalation_entry', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_escalation_entry_status'))
        batch_op.drop_index(batch_op.f('ix_escalation_entry_kind'))
        batch_op.drop_index(batch_op.f('ix_escalation_entry_creditor_id'))
        batch_op.drop_index(batch_op.f('ix_escalation_entry_claim_id'))

    op.drop_table('escalation_entry')
    with op.batch_alter_table('dunning_step', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dunning_step_status'))
        batch_op.drop_index(batch_op.f('ix_dunning_step_claim_id'))

    op.drop_table('dunning_step')
    with op.batch_alter_table('payment_plan_instalment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_plan_instalment_plan_id'))

    op.drop_table('payment_plan_instalment')
    with op.batch_alter_table('payment_plan_claim', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_plan_claim_claim_id'))

    op.drop_table('payment_plan_claim')
    with op.batch_alter_table('claim_hold', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claim_hold_claim_id'))

    op.drop_table('claim_hold')
    with op.batch_alter_table('payment_plan', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_payment_plan_status'))
        batch_op.drop_index(batch_op.f('ix_payment_plan_debtor_id'))
        batch_op.drop_index(batch_op.f('ix_payment_plan_creditor_id'))

    op.drop_table('payment_plan')
    with op.batch_alter_table('dunning_policy_assignment', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dunning_policy_assignment_creditor_id'))

    op.drop_table('dunning_policy_assignment')
