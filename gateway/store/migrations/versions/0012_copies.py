"""information copies by e-mail, workers' heartbeats, each outlet's last success

Revision ID: 0012_copies
Revises: 0013_routes
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = "0012_copies"
down_revision = "0013_routes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "copy_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("invoice_seq", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("recipient", sa.String(length=320), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.Column("retry_from", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=80), nullable=True),
        sa.Column("lease_until", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("sent_at", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.Column("message_id", sa.String(length=200), nullable=True),
        sa.Column("created_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_copy_deliveries_member_id_members")
        ),
        sa.ForeignKeyConstraint(
            ["invoice_seq"], ["invoices.seq"], name=op.f("fk_copy_deliveries_invoice_seq_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_copy_deliveries")),
    )
    op.create_index(
        op.f("ix_copy_deliveries_invoice_seq"), "copy_deliveries", ["invoice_seq"]
    )
    op.create_index(
        op.f("ix_copy_deliveries_status_next_attempt_at"),
        "copy_deliveries",
        ["status", "next_attempt_at"],
    )
    op.create_table(
        "workers",
        sa.Column("owner", sa.String(length=80), nullable=False),
        sa.Column("host", sa.String(length=200), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("started_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.Column("heartbeat_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("owner", name=op.f("pk_workers")),
    )
    op.create_table(
        "outlet_activity",
        sa.Column("outlet", sa.String(length=60), nullable=False),
        sa.Column("last_success_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.Column("last_invoice_id", sa.String(length=40), nullable=False),
        sa.PrimaryKeyConstraint("outlet", name=op.f("pk_outlet_activity")),
    )


def downgrade() -> None:
    op.drop_table("outlet_activity")
    op.drop_table("workers")
    op.drop_index(op.f("ix_copy_deliveries_status_next_attempt_at"), table_name="copy_deliveries")
    op.drop_index(op.f("ix_copy_deliveries_invoice_seq"), table_name="copy_deliveries")
    op.drop_table("copy_deliveries")
