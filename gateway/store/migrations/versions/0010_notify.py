"""per-member event cursors, webhooks and their deliveries, the worker's schedule, digests

Each member's events get their own sequence (``member_seq``), the feed's cursor. Existing
events keep their global ``seq`` as ``member_seq``, so a cursor saved before the upgrade
still points after the same event; new events follow the member's highest number.

Revision ID: 0010_notify
Revises: 0005
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = "0010_notify"
down_revision = "0006_trust"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("events") as batch:
        batch.add_column(sa.Column("member_seq", sa.Integer(), nullable=True))
    op.execute("UPDATE events SET member_seq = seq")
    with op.batch_alter_table("events") as batch:
        batch.alter_column("member_seq", existing_type=sa.Integer(), nullable=False)
        batch.create_unique_constraint(
            op.f("uq_events_member_id_member_seq"), ["member_id", "member_seq"]
        )
    op.create_table(
        "webhooks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("events", sa.JSON(), nullable=False),
        sa.Column("secret_encrypted", sa.Text(), nullable=False),
        sa.Column("created_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_webhooks_member_id_members")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhooks")),
    )
    op.create_index(op.f("ix_webhooks_member_id"), "webhooks", ["member_id"])
    op.create_table(
        "webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("webhook_id", sa.String(length=40), nullable=False),
        sa.Column("event_seq", sa.Integer(), nullable=False),
        sa.Column("invoice_id", sa.String(length=40), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default="0", nullable=False),
        sa.Column("next_attempt_at", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.Column("retry_from", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.Column("lease_owner", sa.String(length=80), nullable=True),
        sa.Column("lease_until", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.Column("delivered_at", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["event_seq"], ["events.seq"], name=op.f("fk_webhook_deliveries_event_seq_events")
        ),
        sa.ForeignKeyConstraint(
            ["webhook_id"],
            ["webhooks.id"],
            name=op.f("fk_webhook_deliveries_webhook_id_webhooks"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_deliveries")),
        sa.UniqueConstraint(
            "webhook_id", "event_seq", name=op.f("uq_webhook_deliveries_webhook_id_event_seq")
        ),
    )
    op.create_index(
        op.f("ix_webhook_deliveries_state_next_attempt_at"),
        "webhook_deliveries",
        ["state", "next_attempt_at"],
    )
    op.create_table(
        "schedule",
        sa.Column("job", sa.String(length=120), nullable=False),
        sa.Column("next_run_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.Column("lease_owner", sa.String(length=80), nullable=True),
        sa.Column("lease_until", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.Column("last_run_at", gateway.store.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("job", name=op.f("pk_schedule")),
    )
    op.create_table(
        "digests",
        sa.Column("member_id", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("last_event_seq", sa.Integer(), nullable=False),
        sa.Column("sent_at", gateway.store.tables.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["member_id"], ["members.id"], name=op.f("fk_digests_member_id_members")
        ),
        sa.PrimaryKeyConstraint("member_id", "kind", name=op.f("pk_digests")),
    )


def downgrade() -> None:
    op.drop_table("digests")
    op.drop_table("schedule")
    op.drop_index(
        op.f("ix_webhook_deliveries_state_next_attempt_at"), table_name="webhook_deliveries"
    )
    op.drop_table("webhook_deliveries")
    op.drop_index(op.f("ix_webhooks_member_id"), table_name="webhooks")
    op.drop_table("webhooks")
    with op.batch_alter_table("events") as batch:
        batch.drop_constraint(op.f("uq_events_member_id_member_seq"), type_="unique")
        batch.drop_column("member_seq")
