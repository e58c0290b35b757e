"""web sessions: the browsers signed in to the web pages, and members' passwords

Revision ID: 0017_web_sessions
Revises: 0016_list_indexes
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0017_web_sessions"
down_revision = "0016_list_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("members") as batch:
        batch.add_column(sa.Column("password_hash", sa.String(200)))
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(40)),
        sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id")),
        sa.Column("role", sa.String(20), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("flash", sa.Text),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("last_seen_at", UTCDateTime, nullable=False),
        sa.Column("expires_at", UTCDateTime, nullable=False),
    )
    op.create_index("ix_web_sessions_expires_at", "web_sessions", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_web_sessions_expires_at", table_name="web_sessions")
    op.drop_table("web_sessions")
    with op.batch_alter_table("members") as batch:
        batch.drop_column("password_hash")
