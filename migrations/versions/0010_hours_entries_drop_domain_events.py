"""volunteer hours book named for what it is; the unread domain events outbox goes

The hours-and-points entries move to `hours_entries` (every constraint and index named for
the new table, which a plain rename would not do on SQLite); `domain_events`, which nothing
read, is dropped: the rating watches poll answers like every other row.

Revision ID: 0010
Revises: 0009
"""
from alembic import op
import sqlalchemy as sa


revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None

COLUMNS = "id, txn_id, account_kind, account_id, unit, amount, source_type, source_id, memo, created_at"


def _entries_table(name):
    op.create_table(name,
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('txn_id', sa.String(length=32), nullable=False),
    sa.Column('account_kind', sa.String(length=8), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('unit', sa.String(length=8), nullable=False),
    sa.Column('amount', sa.Integer(), nullable=False),
    sa.Column('source_type', sa.String(length=12), nullable=False),
    sa.Column('source_id', sa.Integer(), nullable=False),
    sa.Column('memo', sa.String(length=100), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("account_kind IN ('person', 'org')", name=op.f(f'ck_{name}_account_kind')),
    sa.CheckConstraint("unit IN ('minutes', 'points')", name=op.f(f'ck_{name}_unit')),
    sa.CheckConstraint('amount <> 0', name=op.f(f'ck_{name}_amount')),
    sa.PrimaryKeyConstraint('id', name=op.f(f'pk_{name}')),
    sa.UniqueConstraint('source_type', 'source_id', 'unit', 'account_kind', name=f'uq_{name}_source')
    )
    with op.batch_alter_table(name, schema=None) as batch_op:
        batch_op.create_index(f'ix_{name}_account', ['account_kind', 'account_id', 'unit'], unique=False)
        batch_op.create_index(batch_op.f(f'ix_{name}_txn_id'), ['txn_id'], unique=False)


def _move_entries(old, new):
    _entries_table(new)
    op.execute(f"INSERT INTO {new} ({COLUMNS}) SELECT {COLUMNS} FROM {old}")
    if op.get_bind().dialect.name == "postgresql":
        op.execute(f"SELECT setval(pg_get_serial_sequence('{new}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {new}")
    op.drop_table(old)


def upgrade():
    _move_entries('ledger_entries', 'hours_entries')
    with op.batch_alter_table('domain_events', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_domain_events_org_id'))
        batch_op.drop_index('ix_domain_events_kind_id')
    op.drop_table('domain_events')


def downgrade():
    op.create_table('domain_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=40), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=True),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_domain_events_org_id_orgs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_domain_events'))
    )
    with op.batch_alter_table('domain_events', schema=None) as batch_op:
        batch_op.create_index('ix_domain_events_kind_id', ['kind', 'id'], unique=False)
        batch_op.create_index(batch_op.f('ix_domain_events_org_id'), ['org_id'], unique=False)
    _move_entries('hours_entries', 'ledger_entries')
