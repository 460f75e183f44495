"""The open wishes' index also orders by state and creation time, so the live counts of a
grid's workload seek past its rejections and count those from the index alone

Revision ID: 0019w
Revises: 0019c
"""
from alembic import op


revision = '0019w'
down_revision = '0019c'
branch_labels = None
depends_on = None


def upgrade():
    op.drop_index('ix_wishes_grid_id_figures_open', table_name='wishes')
    op.create_index('ix_wishes_grid_id_figures_open', 'wishes', ['grid_id', 'figures_open', 'status', 'created_at'],
                    unique=False)


def downgrade():
    op.drop_index('ix_wishes_grid_id_figures_open', table_name='wishes')
    op.create_index('ix_wishes_grid_id_figures_open', 'wishes', ['grid_id', 'figures_open'], unique=False)
