"""Counted polls: one per audience per org per campaign

Revision ID: 0015a
Revises: 0014
"""
from alembic import op


revision = '0015a'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade():
    # Until now every poll of a campaign fed its scores. Where an org has several of one
    # audience in one campaign, the first made keeps counting and the later ones count nowhere.
    op.execute(
        "UPDATE polls SET period_id = NULL WHERE id IN ("
        " SELECT later.id FROM polls AS later WHERE later.period_id IS NOT NULL AND EXISTS ("
        "  SELECT 1 FROM polls AS earlier WHERE earlier.org_id = later.org_id AND earlier.period_id = later.period_id"
        "  AND earlier.audience = later.audience AND earlier.id < later.id))")
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.create_unique_constraint('uq_polls_org_id_period_id_audience', ['org_id', 'period_id', 'audience'])


def downgrade():
    with op.batch_alter_table('polls', schema=None) as batch_op:
        batch_op.drop_constraint('uq_polls_org_id_period_id_audience', type_='unique')
