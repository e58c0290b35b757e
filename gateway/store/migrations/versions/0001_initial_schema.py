"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-26
"""

from alembic import op
import sqlalchemy as sa
import gateway.store.tables


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('members',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('siret', sa.String(length=14), nullable=True),
    sa.Column('email', sa.String(length=320), nullable=True),
    sa.Column('settings_encrypted', sa.Text(), nullable=True),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_members'))
    )
    op.create_table('api_keys',
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('member_id', sa.String(length=40), nullable=True),
    sa.Column('role', sa.String(length=20), nullable=False),
    sa.Column('key_hash', sa.String(length=64), nullable=False),
    sa.Column('prefix', sa.String(length=16), nullable=False),
    sa.Column('label', sa.String(length=100), nullable=True),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('expires_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.Column('revoked_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_api_keys_member_id_members')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_api_keys')),
    sa.UniqueConstraint('key_hash', name=op.f('uq_api_keys_key_hash'))
    )
    op.create_table('customers',
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('siret', sa.String(length=14), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('copies', sa.JSON(), nullable=False),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('updated_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_customers_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', 'siret', name=op.f('pk_customers'))
    )
    op.create_table('events',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('invoice_id', sa.String(length=40), nullable=True),
    sa.Column('type', sa.String(length=60), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_events_member_id_members')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_events'))
    )
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_events_member_id_seq'), ['member_id', 'seq'], unique=False)

    op.create_table('idempotency_keys',
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=200), nullable=False),
    sa.Column('request_hash', sa.String(length=64), nullable=False),
    sa.Column('status_code', sa.Integer(), nullable=False),
    sa.Column('response', sa.JSON(), nullable=False),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_idempotency_keys_member_id_members')),
    sa.PrimaryKeyConstraint('member_id', 'key', name=op.f('pk_idempotency_keys'))
    )
    op.create_table('invoices',
    sa.Column('seq', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('id', sa.String(length=40), nullable=False),
    sa.Column('member_id', sa.String(length=40), nullable=False),
    sa.Column('number', sa.String(length=100), nullable=False),
    sa.Column('type', sa.String(length=30), nullable=False),
    sa.Column('buyer_siret', sa.String(length=14), nullable=True),
    sa.Column('status', sa.String(length=60), nullable=False),
    sa.Column('channel', sa.String(length=20), nullable=False),
    sa.Column('outlet', sa.String(length=60), nullable=False),
    sa.Column('source_format', sa.String(length=40), nullable=False),
    sa.Column('data', sa.JSON(), nullable=False),
    sa.Column('warnings', sa.JSON(), nullable=False),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('updated_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('next_attempt_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.Column('lease_owner', sa.String(length=80), nullable=True),
    sa.Column('lease_until', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.Column('outlet_reference', sa.String(length=200), nullable=True),
    sa.Column('receipt', sa.JSON(), nullable=True),
    sa.Column('next_poll_at', gateway.store.tables.UTCDateTime(), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['members.id'], name=op.f('fk_invoices_member_id_members')),
    sa.PrimaryKeyConstraint('seq', name=op.f('pk_invoices')),
    sa.UniqueConstraint('id', name=op.f('uq_invoices_id')),
    sa.UniqueConstraint('member_id', 'number', name=op.f('uq_invoices_member_id_number'))
    )
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoices_member_id_seq'), ['member_id', 'seq'], unique=False)
        batch_op.create_index(batch_op.f('ix_invoices_status_next_attempt_at'), ['status', 'next_attempt_at'], unique=False)

    op.create_table('documents',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('invoice_seq', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('media_type', sa.String(length=100), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['invoice_seq'], ['invoices.seq'], name=op.f('fk_documents_invoice_seq_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_documents')),
    sa.UniqueConstraint('invoice_seq', 'name', name=op.f('uq_documents_invoice_seq_name'))
    )
    op.create_table('invoice_history',
    sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
    sa.Column('invoice_seq', sa.Integer(), nullable=False),
    sa.Column('status', sa.String(length=60), nullable=False),
    sa.Column('at', gateway.store.tables.UTCDateTime(), nullable=False),
    sa.Column('comment', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['invoice_seq'], ['invoices.seq'], name=op.f('fk_invoice_history_invoice_seq_invoices')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_invoice_history'))
    )
    with op.batch_alter_table('invoice_history', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_invoice_history_invoice_seq'), ['invoice_seq'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('invoice_history', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoice_history_invoice_seq'))

    op.drop_table('invoice_history')
    op.drop_table('documents')
    with op.batch_alter_table('invoices', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_invoices_status_next_attempt_at'))
        batch_op.drop_index(batch_op.f('ix_invoices_member_id_seq'))

    op.drop_table('invoices')
    op.drop_table('idempotency_keys')
    with op.batch_alter_table('events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_events_member_id_seq'))

    op.drop_table('events')
    op.drop_table('customers')
    op.drop_table('api_keys')
    op.drop_table('members')
