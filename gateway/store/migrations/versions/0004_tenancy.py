"""tenancy: one member per SIRET, when each key was last used

Two members holding the same SIRET could submit invoices in each other's name; the
migration stops, naming them, rather than choose which one keeps it.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

import gateway.store.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

members = sa.table("members", sa.column("id", sa.String), sa.column("siret", sa.String))


def upgrade() -> None:
    shared = op.get_bind().execute(
        sa.select(members.c.siret, sa.func.count())
        .where(members.c.siret.is_not(None))
        .group_by(members.c.siret)
        .having(sa.func.count() > 1)
    )
    taken = [siret for siret, _ in shared]
    if taken:
        raise RuntimeError(
            f"several members hold the SIRET(s) {', '.join(taken)}: give each its own first"
        )
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.create_unique_constraint(batch_op.f("uq_members_siret"), ["siret"])
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_used_at", gateway.store.tables.UTCDateTime(), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("api_keys", schema=None) as batch_op:
        batch_op.drop_column("last_used_at")
    with op.batch_alter_table("members", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_members_siret"), type_="unique")
