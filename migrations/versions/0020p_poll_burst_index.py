"""The answers of a poll's burst not flagged yet are indexed by network and time: flagging a
burst's new answer no longer reads the answers of the burst flagged before

Revision ID: 0020p
Revises: 0019x
"""
import sqlalchemy as sa
from alembic import op


revision = '0020p'
down_revision = '0019x'
branch_labels = None
depends_on = None


def upgrade():
    op.create_index('ix_poll_responses_ok_network', 'poll_responses', ['poll_id', 'network_hash', 'submitted_at'],
                    unique=False, sqlite_where=sa.text("status = 'ok'"), postgresql_where=sa.text("status = 'ok'"))


def downgrade():
    op.drop_index('ix_poll_responses_ok_network', table_name='poll_responses',
                  sqlite_where=sa.text("status = 'ok'"), postgresql_where=sa.text("status = 'ok'"))
