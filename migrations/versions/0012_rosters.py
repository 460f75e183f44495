"""roster import: orgs.households and .buildings; people.is_retired, .id_number_hash, phone index

Revision ID: 0012
Revises: 0011
"""
from alembic import op
import sqlalchemy as sa


revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

# Plain ALTER TABLE on both databases. Batch mode would rebuild orgs and people on SQLite to add
# a constraint, dropping tables that every other table references; SQLite takes a CHECK only
# inline with ADD COLUMN, and a unique index instead of a unique constraint.


def upgrade():
    if op.get_bind().dialect.name == 'sqlite':
        op.execute('ALTER TABLE orgs ADD COLUMN households INTEGER '
                   'CONSTRAINT ck_orgs_households CHECK (households IS NULL OR households >= 0)')
    else:
        op.add_column('orgs', sa.Column('households', sa.Integer(), nullable=True))
        op.create_check_constraint(op.f('ck_orgs_households'), 'orgs', 'households IS NULL OR households >= 0')
    with op.batch_alter_table('orgs', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('buildings', sa.String(length=500), nullable=True))
    with op.batch_alter_table('people', schema=None, recreate='never') as batch_op:
        batch_op.add_column(sa.Column('id_number_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('is_retired', sa.Boolean(), server_default='0', nullable=False))
        batch_op.create_index('ix_people_phone', ['phone'], unique=False)
        batch_op.create_index('uq_people_id_number_hash', ['id_number_hash'], unique=True)


def downgrade():
    with op.batch_alter_table('people', schema=None, recreate='never') as batch_op:
        batch_op.drop_index('uq_people_id_number_hash')
        batch_op.drop_index('ix_people_phone')
        batch_op.drop_column('is_retired')
        batch_op.drop_column('id_number_hash')
    with op.batch_alter_table('orgs', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('buildings')
        batch_op.drop_column('households')
