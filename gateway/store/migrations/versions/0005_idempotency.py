"""idempotency keys claimed before processing

A key is claimed (``state`` "in_progress", a ``claim`` token, ``claimed_until``) and
committed before its request is processed, then completed with the answer: concurrent
requests with the same key see the claim instead of racing to the same invoice.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="done")
        )
        batch.add_column(sa.Column("claim", sa.String(length=40), nullable=True))
        batch.add_column(
            sa.Column("claimed_until", gateway.store.tables.UTCDateTime(), nullable=True)
        )
        batch.alter_column("status_code", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("response", existing_type=sa.JSON(), nullable=True)


def downgrade() -> None:
    # Claims in progress hold no answer to keep.
    op.execute("DELETE FROM idempotency_keys WHERE state <> 'done'")
    with op.batch_alter_table("idempotency_keys") as batch:
        batch.alter_column("response", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("status_code", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("claimed_until")
        batch.drop_column("claim")
        batch.drop_column("state")
