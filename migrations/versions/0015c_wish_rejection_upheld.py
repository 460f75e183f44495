"""A street officer upholds a rejected wish (who and why are on its timeline)

Revision ID: 0015c
Revises: 0015a
"""
from alembic import op
import sqlalchemy as sa


revision = '0015c'
down_revision = '0015a'
branch_labels = None
depends_on = None

# Plain ALTER TABLE on both databases. Batch mode would rebuild wishes on SQLite, and dropping
# the old table would cascade to its timeline; SQLite takes a CHECK only inline with ADD COLUMN.

CHECK = "rejection_upheld_at IS NULL OR status = 'rejected'"


def upgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE wishes ADD COLUMN rejection_upheld_at DATETIME '
                   f'CONSTRAINT ck_wishes_rejection_upheld CHECK ({CHECK})')
    else:
        op.add_column('wishes', sa.Column('rejection_upheld_at', sa.DateTime(), nullable=True))
        op.create_check_constraint(op.f('ck_wishes_rejection_upheld'), 'wishes', CHECK)


def downgrade():
    if op.get_bind().dialect.name != 'sqlite':
        op.drop_constraint(op.f('ck_wishes_rejection_upheld'), 'wishes', type_='check')
    # On SQLite the column's own CHECK goes with it.
    with op.batch_alter_table('wishes', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('rejection_upheld_at')
