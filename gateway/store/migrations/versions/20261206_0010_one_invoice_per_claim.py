"""One invoice per claim: a partial unique index on document(claim_id) where kind = 'invoice'

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 05:00:00.000000

Two tries of one claim.issue job (a slow worker whose lease expired and the try that replaced
it) could both issue an invoice; claim.issue now checks under the claim's row lock, and this
index makes the database refuse a second invoice whatever the code does. A database that
already holds a claim with two invoices is not changed: the upgrade stops and names them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

WHERE = sa.text("kind = 'invoice'")


def upgrade() -> None:
    doubles = op.get_bind().execute(sa.text(
        "SELECT claim_id, count(*) FROM document WHERE kind = 'invoice' GROUP BY claim_id HAVING count(*) > 1"
    )).all()
    if doubles:
        listed = ", ".join(f"{claim_id} ({count} invoices)" for claim_id, count in doubles[:20])
        raise RuntimeError(
            f"{len(doubles)} claim(s) have more than one invoice: {listed}. Credit the extra invoice (it stays on record) and "
            "move it out of kind 'invoice' with the finance department's approval before upgrading; nothing was changed."
        )
    op.create_index('uq_document_one_invoice_per_claim', 'document', ['claim_id'], unique=True, postgresql_where=WHERE, sqlite_where=WHERE)


def downgrade() -> None:
    op.drop_index('uq_document_one_invoice_per_claim', table_name='document')
