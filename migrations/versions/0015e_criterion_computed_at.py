"""Criterion scores keep the time their poll or metric value was computed as of (the drift check)

Revision ID: 0015e
Revises: 0014
"""
from alembic import op
import sqlalchemy as sa


revision = '0015e'
down_revision = '0015c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('criterion_scores', schema=None) as batch_op:
        batch_op.add_column(sa.Column('computed_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('criterion_scores', schema=None) as batch_op:
        batch_op.drop_column('computed_at')
