"""WeChat subscribe messages: what each person allowed; who booked a service when signed in

Revision ID: 0014
Revises: 0013
"""
from alembic import op
import sqlalchemy as sa


revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('wechat_subscriptions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('template_id', sa.String(length=64), nullable=False),
    sa.Column('long_term', sa.Boolean(), nullable=False),
    sa.Column('remaining', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint('remaining >= 0', name=op.f('ck_wechat_subscriptions_remaining')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_wechat_subscriptions_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_subscriptions')),
    sa.UniqueConstraint('person_id', 'template_id', name='uq_wechat_subscriptions_person_id_template_id')
    )
    with op.batch_alter_table('service_bookings', schema=None) as batch_op:
        batch_op.add_column(sa.Column('booked_by_id', sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f('ix_service_bookings_booked_by_id'), ['booked_by_id'], unique=False)
        batch_op.create_foreign_key(batch_op.f('fk_service_bookings_booked_by_id_people'), 'people', ['booked_by_id'], ['id'], ondelete='SET NULL')


def downgrade():
    with op.batch_alter_table('service_bookings', schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f('fk_service_bookings_booked_by_id_people'), type_='foreignkey')
        batch_op.drop_index(batch_op.f('ix_service_bookings_booked_by_id'))
        batch_op.drop_column('booked_by_id')
    op.drop_table('wechat_subscriptions')
