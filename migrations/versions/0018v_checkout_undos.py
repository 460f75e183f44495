"""Activities: an organiser may undo a mistaken check-out; each undo is kept with who, when
and the credit it reversed

Revision ID: 0018v
Revises: 0017a
"""
from alembic import op
import sqlalchemy as sa


revision = '0018v'
down_revision = '0017a'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('checkout_undos',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('booking_id', sa.Integer(), nullable=False),
    sa.Column('checked_out_at', sa.DateTime(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('points', sa.Integer(), nullable=False),
    sa.Column('undone_by_id', sa.Integer(), nullable=True),
    sa.Column('reason', sa.String(length=200), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['booking_id'], ['bookings.id'], name=op.f('fk_checkout_undos_booking_id_bookings'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['undone_by_id'], ['people.id'], name=op.f('fk_checkout_undos_undone_by_id_people'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_checkout_undos'))
    )
    with op.batch_alter_table('checkout_undos', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_checkout_undos_booking_id'), ['booking_id'], unique=False)



def downgrade():
    with op.batch_alter_table('checkout_undos', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_checkout_undos_booking_id'))

    op.drop_table('checkout_undos')
