"""routes: the route each invoice took, and its number of lines (what its costs depend on)

Invoices accepted before this revision have no recorded route (their channel and outlet
stay); their number of lines is counted from their data.

Revision ID: 0013_routes
Revises: 0008_corrections
Create Date: 2026-12-02
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_routes"
down_revision = "0008_corrections"
branch_labels = None
depends_on = None

#: The length of the canonical data's ``lines`` array, in each dialect's JSON functions.
LINE_COUNT = {
    "sqlite": "COALESCE(json_array_length(data, '$.lines'), 0)",
    "postgresql": "COALESCE(json_array_length(data->'lines'), 0)",
}


def upgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("line_count", sa.Integer(), nullable=True))
    dialect = op.get_bind().dialect.name
    op.execute(sa.text(f"UPDATE invoices SET line_count = {LINE_COUNT[dialect]}"))


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("line_count")
        batch_op.drop_column("route")
