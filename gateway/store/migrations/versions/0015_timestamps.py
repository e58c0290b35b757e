"""timestamps: each checkpoint's RFC 3161 time-stamp token, when an authority gave one

Revision ID: 0015_timestamps
Revises: 0014_archive
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = "0015_timestamps"
down_revision = "0014_archive"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timestamp_token", sa.LargeBinary(), nullable=True))
        batch_op.add_column(
            sa.Column("timestamped_at", gateway.store.tables.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("checkpoints", schema=None) as batch_op:
        batch_op.drop_column("timestamped_at")
        batch_op.drop_column("timestamp_token")
