"""list indexes: the listings by status, and what needs the bookseller, read in page order

``(member_id, status, seq)`` serves ``GET /v1/invoices?status=``, newest first. The
needs-action listing gets a partial index of just its rows, in its order (updated_at,
seq); it replaces ``(member_id, status, updated_at)``, which made it sort them all.

Revision ID: 0016_list_indexes
Revises: 0015_timestamps
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_list_indexes"
down_revision = "0015_timestamps"
branch_labels = None
depends_on = None

#: As gateway.store.tables.NEEDS_ACTION was when this revision was written.
NEEDS_ACTION = sa.text(
    "status IN ('A_RECYCLER', 'SUSPENDUE', 'REJETEE', 'EN_ERREUR', 'A_DEPOSER', 'A_IMPRIMER') "
    "AND action IS NULL AND credited_at IS NULL"
)


def upgrade() -> None:
    op.create_index("ix_invoices_member_id_status_seq", "invoices", ["member_id", "status", "seq"])
    op.create_index(
        "ix_invoices_needing_action",
        "invoices",
        ["member_id", "updated_at", "seq"],
        sqlite_where=NEEDS_ACTION,
        postgresql_where=NEEDS_ACTION,
    )
    op.drop_index("ix_invoices_member_id_status_updated_at", table_name="invoices")


def downgrade() -> None:
    op.create_index(
        "ix_invoices_member_id_status_updated_at",
        "invoices",
        ["member_id", "status", "updated_at"],
    )
    op.drop_index("ix_invoices_needing_action", table_name="invoices")
    op.drop_index("ix_invoices_member_id_status_seq", table_name="invoices")
