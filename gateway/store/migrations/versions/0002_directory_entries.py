"""directory cache

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "directory_entries",
        sa.Column("siret", sa.String(length=14), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("checked_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("siret", name=op.f("pk_directory_entries")),
    )


def downgrade() -> None:
    op.drop_table("directory_entries")
