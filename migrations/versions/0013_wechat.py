"""WeChat sign-in: accounts linked to people, one-time binding codes

Revision ID: 0013
Revises: 0012
"""
from alembic import op
import sqlalchemy as sa


revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('wechat_identities',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('app_kind', sa.String(length=12), nullable=False),
    sa.Column('app_id', sa.String(length=32), nullable=False),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('unionid', sa.String(length=64), nullable=True),
    sa.Column('linked_by', sa.String(length=12), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("app_kind IN ('h5', 'miniprogram')", name=op.f('ck_wechat_identities_app_kind')),
    sa.CheckConstraint("linked_by IN ('first_visit', 'binding', 'unionid')", name=op.f('ck_wechat_identities_linked_by')),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_wechat_identities_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_identities')),
    sa.UniqueConstraint('app_id', 'openid', name='uq_wechat_identities_app_id_openid')
    )
    with op.batch_alter_table('wechat_identities', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_identities_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_wechat_identities_unionid'), ['unionid'], unique=False)

    op.create_table('wechat_binding_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['people.id'], name=op.f('fk_wechat_binding_codes_created_by_id_people'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['person_id'], ['people.id'], name=op.f('fk_wechat_binding_codes_person_id_people'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_wechat_binding_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_wechat_binding_codes_code_hash'))
    )
    with op.batch_alter_table('wechat_binding_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_wechat_binding_codes_person_id'), ['person_id'], unique=False)


def downgrade():
    with op.batch_alter_table('wechat_binding_codes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_binding_codes_person_id'))
    op.drop_table('wechat_binding_codes')
    with op.batch_alter_table('wechat_identities', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_wechat_identities_unionid'))
        batch_op.drop_index(batch_op.f('ix_wechat_identities_person_id'))
    op.drop_table('wechat_identities')
