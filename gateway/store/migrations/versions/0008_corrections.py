"""corrections: links between invoices, the credit-note sequence, numbers a refusal frees

``reached_buyer_at`` is filled from the history already kept (the first buyer status of
each invoice). The unique number becomes a partial index: an invoice replaced by a later
one of the same number (status REMPLACEE) no longer holds it.

Revision ID: 0008_corrections
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = "0008_corrections"
down_revision = "0009_retries"
branch_labels = None
depends_on = None

#: As gateway.lifecycle.BUYER_STATUSES was when this revision was written.
BUYER_STATUSES = (
    "MISE_A_DISPOSITION",
    "COMPLETEE",
    "SERVICE_FAIT",
    "MANDATEE",
    "MISE_A_DISPOSITION_COMPTABLE",
    "COMPTABILISEE",
    "MISE_EN_PAIEMENT",
    "A_RECYCLER",
    "SUSPENDUE",
    "REJETEE",
    "IMPRIMEE",
)
LIVE = sa.text("status <> 'REMPLACEE'")

invoices = sa.table(
    "invoices",
    sa.column("seq", sa.Integer),
    sa.column("reached_buyer_at", gateway.store.tables.UTCDateTime()),
)
history = sa.table(
    "invoice_history",
    sa.column("invoice_seq", sa.Integer),
    sa.column("status", sa.String),
    sa.column("at", gateway.store.tables.UTCDateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("reached_buyer_at", gateway.store.tables.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("credited_at", gateway.store.tables.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("version", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.drop_constraint("uq_invoices_member_id_number", type_="unique")
    op.create_index(
        "uq_invoices_member_id_number",
        "invoices",
        ["member_id", "number"],
        unique=True,
        sqlite_where=LIVE,
        postgresql_where=LIVE,
    )
    first = (
        sa.select(sa.func.min(history.c.at))
        .where(history.c.invoice_seq == invoices.c.seq)
        .where(history.c.status.in_(BUYER_STATUSES))
        .scalar_subquery()
    )
    op.execute(invoices.update().values(reached_buyer_at=first))
    op.create_table(
        "invoice_links",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source_seq", sa.Integer(), nullable=False),
        sa.Column("target_seq", sa.Integer(), nullable=False),
        sa.Column("rel", sa.String(length=30), nullable=False),
        sa.Column("created_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["source_seq"], ["invoices.seq"], name=op.f("fk_invoice_links_source_seq_invoices")
        ),
        sa.ForeignKeyConstraint(
            ["target_seq"], ["invoices.seq"], name=op.f("fk_invoice_links_target_seq_invoices")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoice_links")),
    )
    with op.batch_alter_table("invoice_links", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_invoice_links_source_seq"), ["source_seq"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_invoice_links_target_seq"), ["target_seq"], unique=False
        )
    op.create_table(
        "credit_note_sequences",
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("period", sa.String(length=10), nullable=False),
        sa.Column("last", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_credit_note_sequences_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", "period", name=op.f("pk_credit_note_sequences")),
    )


def downgrade() -> None:
    # Two rows of one number (one replaced) cannot go back under a plain unique constraint,
    # and dropping an archived invoice is not a migration's call.
    replaced = op.get_bind().execute(
        sa.text("SELECT count(*) FROM invoices WHERE status = 'REMPLACEE'")
    )
    if replaced.scalar():
        raise RuntimeError("invoices replaced under the same number exist: cannot downgrade")
    op.drop_table("credit_note_sequences")
    op.drop_table("invoice_links")
    op.drop_index("uq_invoices_member_id_number", table_name="invoices")
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.create_unique_constraint(
            "uq_invoices_member_id_number", ["member_id", "number"]
        )
        batch_op.drop_column("version")
        batch_op.drop_column("credited_at")
        batch_op.drop_column("reached_buyer_at")
