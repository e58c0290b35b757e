"""inbound invoices: suppliers' invoices received through the platform, the member's
answers (an outbox), and the receive cursors

Revision ID: 0019_inbound_invoices
Revises: 0018_archive_verifications
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from gateway.store.tables import UTCDateTime

revision = "0019_inbound_invoices"
down_revision = "0018_archive_verifications"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "inbound_invoices",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("id", sa.String(40), nullable=False, unique=True),
        sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), nullable=False),
        sa.Column("outlet", sa.String(60), nullable=False),
        sa.Column("reference", sa.String(200), nullable=False),
        sa.Column("received_at", UTCDateTime, nullable=False),
        sa.Column("sender_name", sa.String(200)),
        sa.Column("sender_siren", sa.String(9)),
        sa.Column("sender_siret", sa.String(14)),
        sa.Column("sender_vat_id", sa.String(40)),
        sa.Column("number", sa.String(100)),
        sa.Column("issue_date", sa.String(10)),
        sa.Column("due_date", sa.String(10)),
        sa.Column("type", sa.String(30)),
        sa.Column("currency", sa.String(3)),
        sa.Column("totals", sa.JSON),
        sa.Column("data", sa.JSON),
        sa.Column("problems", sa.JSON, nullable=False),
        sa.Column("format", sa.String(40)),
        sa.Column("filename", sa.String(200), nullable=False),
        sa.Column("media_type", sa.String(100), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("sha256", sa.String(64), nullable=False),
        sa.Column("platform_data", sa.JSON, nullable=False),
        sa.Column("status", sa.String(3)),
        sa.Column("status_at", UTCDateTime),
        sa.Column("created_at", UTCDateTime, nullable=False),
        sa.Column("retention_until", UTCDateTime, nullable=False),
        sa.UniqueConstraint(
            "member_id",
            "outlet",
            "reference",
            name="uq_inbound_invoices_member_id_outlet_reference",
        ),
    )
    op.create_index(
        "ix_inbound_invoices_member_id_seq", "inbound_invoices", ["member_id", "seq"]
    )
    op.create_table(
        "inbound_answers",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column(
            "inbound_seq", sa.Integer, sa.ForeignKey("inbound_invoices.seq"), nullable=False
        ),
        sa.Column("status", sa.String(3), nullable=False),
        sa.Column("reason", sa.String(40)),
        sa.Column("comment", sa.Text),
        sa.Column("amount", sa.String(20)),
        sa.Column("at", UTCDateTime, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False, server_default="0"),
        sa.Column("next_attempt_at", UTCDateTime),
        sa.Column("lease_owner", sa.String(80)),
        sa.Column("lease_until", UTCDateTime),
        sa.Column("last_error", sa.Text),
        sa.Column("sent_at", UTCDateTime),
        sa.Column("message_reference", sa.String(200)),
    )
    op.create_index("ix_inbound_answers_inbound_seq", "inbound_answers", ["inbound_seq"])
    op.create_index(
        "ix_inbound_answers_state_next_attempt_at",
        "inbound_answers",
        ["state", "next_attempt_at"],
    )
    op.create_table(
        "inbound_cursors",
        sa.Column("member_id", sa.String(40), sa.ForeignKey("members.id"), primary_key=True),
        sa.Column("outlet", sa.String(60), primary_key=True),
        sa.Column("state", sa.JSON, nullable=False),
        sa.Column("pulled_at", UTCDateTime),
        sa.Column("requested_at", UTCDateTime),
        sa.Column("last_error", sa.Text),
    )


def downgrade() -> None:
    op.drop_table("inbound_cursors")
    op.drop_table("inbound_answers")
    op.drop_table("inbound_invoices")
