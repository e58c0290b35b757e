"""print batches: each member's paper invoices of a day, fetched and confirmed

Revision ID: 0011_print_batches
Revises: 0012_copies
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = "0011_print_batches"
down_revision = "0012_copies"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "print_batches",
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("created_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.Column("fetched_at", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.Column("pages", sa.Integer(), nullable=True),
        sa.Column("confirmed_at", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_print_batches_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", "day", name=op.f("pk_print_batches")),
    )
    op.create_table(
        "print_batch_items",
        sa.Column("invoice_seq", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("added_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.Column("fetched_at", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.Column("confirmed_at", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["invoice_seq"],
            ["invoices.seq"],
            name=op.f("fk_print_batch_items_invoice_seq_invoices"),
        ),
        sa.ForeignKeyConstraint(
            ["member_id", "day"],
            ["print_batches.member_id", "print_batches.day"],
            name=op.f("fk_print_batch_items_member_id_print_batches"),
        ),
        sa.PrimaryKeyConstraint("invoice_seq", name=op.f("pk_print_batch_items")),
    )
    with op.batch_alter_table("print_batch_items", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_print_batch_items_member_id_day"), ["member_id", "day"], unique=False
        )


def downgrade() -> None:
    op.drop_table("print_batch_items")
    op.drop_table("print_batches")
