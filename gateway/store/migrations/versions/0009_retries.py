"""retries: how long an invoice waits for its platform, platform times with their offset

``invoices.waiting_since``: when the invoice started waiting for its platform
(``EN_ATTENTE_PLATEFORME``), so that the wait is capped by a duration, not by attempts.
``invoice_history.platform_at``: a platform step's time as the platform gave it.

Revision ID: 0009_retries
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = "0009_retries"
down_revision = "0007_actions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(
            sa.Column("waiting_since", gateway.store.tables.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("invoice_history") as batch:
        batch.add_column(sa.Column("platform_at", sa.String(length=40), nullable=True))


def downgrade() -> None:
    # Without the status, a waiting invoice is one the older worker retries.
    op.execute("UPDATE invoices SET status = 'EN_ERREUR' WHERE status = 'EN_ATTENTE_PLATEFORME'")
    with op.batch_alter_table("invoice_history") as batch:
        batch.drop_column("platform_at")
    with op.batch_alter_table("invoices") as batch:
        batch.drop_column("waiting_since")
