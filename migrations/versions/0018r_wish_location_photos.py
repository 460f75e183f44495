"""Wishes: 楼栋/门牌 (location) and up to three photos

Revision ID: 0018r
Revises: 0018v
"""
from alembic import op
import sqlalchemy as sa


revision = '0018r'
down_revision = '0018v'
branch_labels = None
depends_on = None


def upgrade():
    # Plain ALTER TABLE: batch mode would rebuild wishes on SQLite and cascade to its timeline.
    op.add_column('wishes', sa.Column('location', sa.String(length=40), nullable=True))
    op.create_table(
        'wish_photos',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('wish_id', sa.Integer(), nullable=False),
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('extension', sa.String(length=8), nullable=False),
        sa.Column('content_type', sa.String(length=40), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['wish_id'], ['wishes.id'], name=op.f('fk_wish_photos_wish_id_wishes'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_wish_photos')),
    )
    op.create_index(op.f('ix_wish_photos_wish_id'), 'wish_photos', ['wish_id'], unique=False)


def downgrade():
    op.drop_index(op.f('ix_wish_photos_wish_id'), table_name='wish_photos')
    op.drop_table('wish_photos')
    with op.batch_alter_table('wishes', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('location')
