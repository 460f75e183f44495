"""Slots are indexed by their end: the lists of what is still to come start from the slots not
yet ended, however many have gone before

Revision ID: 0019x
Revises: 0019w
"""
from alembic import op


revision = '0019x'
down_revision = '0019w'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_slots_ends_at', 'slots', ['ends_at'], unique=False)


def downgrade():
    op.drop_index('ix_slots_ends_at', table_name='slots')
