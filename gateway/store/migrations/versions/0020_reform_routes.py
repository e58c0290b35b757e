"""reform directory entries: the 2026 reform's directory (annuaire) cached as Chorus Pro's is

Revision ID: 0020_reform_routes
Revises: 0018_archive_verifications
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0020_reform_routes"
down_revision = "0019_inbound_invoices"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reform_directory_entries",
        sa.Column("siret", sa.String(length=14), nullable=False),
        sa.Column("data", sa.JSON(), nullable=True),
        sa.Column("checked_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("siret", name=op.f("pk_reform_directory_entries")),
    )


def downgrade() -> None:
    op.drop_table("reform_directory_entries")
