"""archive verifications: each run of `archive verify`, for the admin's page

Revision ID: 0018_archive_verifications
Revises: 0017_web_sessions
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0018_archive_verifications"
down_revision = "0017_web_sessions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "archive_verifications",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("clean", sa.Boolean, nullable=False),
        sa.Column("verdict", sa.Text, nullable=False),
        sa.Column("report", sa.JSON, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("archive_verifications")
