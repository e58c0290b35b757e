"""corrective actions carried out by the worker; what needs the bookseller, indexed

An action asked for (recycle, complete) is kept on the invoice's row until the worker
carries it out: ``action``, its parameters ``action_data``, its attempts and when it is
due. ``GET /v1/invoices?needs_action=true`` reads the member's invoices by status, oldest
change first.

Revision ID: 0007_actions
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = "0007_actions"
down_revision = "0010_notify"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.add_column(sa.Column("action", sa.String(length=20), nullable=True))
        batch.add_column(sa.Column("action_data", sa.JSON(), nullable=True))
        batch.add_column(
            sa.Column("action_attempts", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(
            sa.Column("action_due_at", gateway.store.tables.UTCDateTime(), nullable=True)
        )
        batch.create_index(
            "ix_invoices_member_id_status_updated_at", ["member_id", "status", "updated_at"]
        )
        batch.create_index("ix_invoices_action_due_at", ["action_due_at"])


def downgrade() -> None:
    with op.batch_alter_table("invoices") as batch:
        batch.drop_index("ix_invoices_action_due_at")
        batch.drop_index("ix_invoices_member_id_status_updated_at")
        batch.drop_column("action_due_at")
        batch.drop_column("action_attempts")
        batch.drop_column("action_data")
        batch.drop_column("action")
