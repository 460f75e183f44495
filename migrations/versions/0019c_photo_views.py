"""Wish contact views also record photo views (what was seen)

Revision ID: 0019c
Revises: 0018r
"""
from alembic import op
import sqlalchemy as sa


revision = '0019c'
down_revision = '0018r'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('wish_contact_views', sa.Column('what', sa.String(length=10), server_default='contact',
                                                  nullable=False))


def downgrade():
    with op.batch_alter_table('wish_contact_views') as batch:
        batch.drop_column('what')
