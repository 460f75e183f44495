"""Rate limits as counters per (bucket, key) with the end of the key's window; login failures move there. Submit tokens are kept as keyed hashes

Revision ID: 0016b
Revises: 0015c
"""
from alembic import op
import sqlalchemy as sa


revision = '0016b'
down_revision = '0015d'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('rate_counts',
    sa.Column('bucket', sa.String(length=40), nullable=False),
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('ends_at', sa.DateTime(), nullable=False),
    sa.Column('count', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('bucket', 'key', name=op.f('pk_rate_counts'))
    )
    # Recent failures are forgotten: the new limits start counting from the upgrade.
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.drop_index('ix_login_failures_username_at')
        batch_op.drop_index('ix_login_failures_ip_at')
    op.drop_table('login_failures')
    # Submit tokens are now stored as keyed hashes. The plain ones are let go rather than
    # hashed here (the key comes from the app's SECRET_KEY): a token only matters for the
    # seconds of a double tap, and a booking keeps a unique value no hash can equal.
    op.execute("UPDATE wishes SET submit_token = NULL")
    op.execute("UPDATE service_bookings SET submit_token = 'retired-' || id")


def downgrade():
    op.create_table('login_failures',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('username', sa.String(length=50), nullable=False),
    sa.Column('ip', sa.String(length=45), nullable=False),
    sa.Column('at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_login_failures'))
    )
    with op.batch_alter_table('login_failures', schema=None) as batch_op:
        batch_op.create_index('ix_login_failures_ip_at', ['ip', 'at'], unique=False)
        batch_op.create_index('ix_login_failures_username_at', ['username', 'at'], unique=False)
    op.drop_table('rate_counts')
