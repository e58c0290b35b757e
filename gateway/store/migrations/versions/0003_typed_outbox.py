"""typed outbox: the receipt JSON split into columns

Before, ``receipt`` held ``{"state": ...}`` until an outlet took the invoice, then
``{"outlet", "reference", "data"}``, with the core's ``platform_history_applied`` inside the
outlet's ``data``. Each now has its column: ``outlet_state``, ``receipt_data``,
``history_applied`` (``outlet_reference`` already held the reference).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

HISTORY_APPLIED = "platform_history_applied"

invoices = sa.table(
    "invoices",
    sa.column("seq", sa.Integer),
    sa.column("outlet", sa.String),
    sa.column("outlet_reference", sa.String),
    sa.column("receipt", sa.JSON),
    sa.column("outlet_state", sa.JSON),
    sa.column("receipt_data", sa.JSON),
    sa.column("history_applied", sa.Integer),
)


def _rewrite(values: dict, updates: list[dict]) -> None:
    """Write ``updates`` (one per row, keyed by ``b_seq``) in one executemany."""
    if updates:
        op.get_bind().execute(
            invoices.update().where(invoices.c.seq == sa.bindparam("b_seq")).values(**values),
            updates,
        )


def upgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("outlet_state", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("receipt_data", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("history_applied", sa.Integer(), server_default="0", nullable=False)
        )

    updates = []
    rows = op.get_bind().execute(sa.select(invoices.c.seq, invoices.c.receipt))
    for seq, receipt in rows.all():
        if not receipt:
            continue
        data = dict(receipt.get("data") or {})
        applied = data.pop(HISTORY_APPLIED, 0)
        sent = "data" in receipt
        updates.append(
            {
                "b_seq": seq,
                "state": receipt.get("state"),
                "data": data if sent else None,
                "applied": applied,
            }
        )
    _rewrite(
        {
            "outlet_state": sa.bindparam("state", type_=sa.JSON),
            "receipt_data": sa.bindparam("data", type_=sa.JSON),
            "history_applied": sa.bindparam("applied"),
        },
        updates,
    )

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("receipt")


def downgrade() -> None:
    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("receipt", sa.JSON(), nullable=True))

    updates = []
    rows = op.get_bind().execute(
        sa.select(
            invoices.c.seq,
            invoices.c.outlet,
            invoices.c.outlet_reference,
            invoices.c.outlet_state,
            invoices.c.receipt_data,
            invoices.c.history_applied,
        )
    )
    for seq, outlet, reference, state, data, applied in rows.all():
        if data is not None:
            applied_part = {HISTORY_APPLIED: applied} if applied else {}
            receipt = {"outlet": outlet, "reference": reference, "data": {**data, **applied_part}}
        elif state:
            receipt = {"state": state}
        else:
            continue
        updates.append({"b_seq": seq, "receipt": receipt})
    _rewrite({"receipt": sa.bindparam("receipt", type_=sa.JSON)}, updates)

    with op.batch_alter_table("invoices", schema=None) as batch_op:
        batch_op.drop_column("history_applied")
        batch_op.drop_column("receipt_data")
        batch_op.drop_column("outlet_state")
