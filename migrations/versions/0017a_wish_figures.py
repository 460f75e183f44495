"""Running wish figures for the star rating (per grid and year), counted from the wishes already there

Each wish keeps the share it adds (`tallied`) and whether some figure of it still moves with
time (`figures_open`). The rules below are those of backend/wishes/figures.py as of this
revision, so that an upgraded database holds what the application would have counted.

Revision ID: 0017a
Revises: 0016a
"""
from collections import Counter
from datetime import timedelta, timezone
from zoneinfo import ZoneInfo

from alembic import op
import sqlalchemy as sa
from flask import current_app


revision = '0017a'
down_revision = '0016a'
branch_labels = None
depends_on = None

WISHES = sa.table('wishes', *[sa.column(name, sa.DateTime) for name in (
    'created_at', 'first_claimed_at', 'fulfilled_at', 'due_at', 'rejection_upheld_at')],
    sa.column('id', sa.Integer), sa.column('grid_id', sa.Integer), sa.column('status', sa.String),
    sa.column('rating', sa.Integer), sa.column('auto_confirmed', sa.Boolean), sa.column('tallied', sa.String),
    sa.column('figures_open', sa.Boolean))
FIGURES = sa.table('wish_figures', *[sa.column(name, sa.Integer) for name in (
    'grid_id', 'year', 'counted', 'rejected', 'confirmed', 'auto_confirmed', 'ratings', 'rating_sum', 'decided',
    'on_time')])
CLAIM_TIMES = sa.table('wish_claim_times', *[sa.column(name, sa.Integer) for name in (
    'grid_id', 'year', 'tenths', 'wishes')])
COUNTERS = ('counted', 'rejected', 'confirmed', 'auto_confirmed', 'ratings', 'rating_sum', 'decided', 'on_time')
TENTH = timedelta(minutes=6)


def _share(w, zone):
    """(grid, year, counters, tenths) a wish adds, or None; and whether it is open."""
    if w.status == 'cancelled' or w.rejection_upheld_at is not None:
        return None, False
    confirmed, rejected = w.status == 'confirmed', w.status == 'rejected'
    rated = confirmed and w.rating is not None
    fulfilled = not rejected and w.fulfilled_at is not None
    tenths = (w.first_claimed_at - w.created_at) // TENTH if w.first_claimed_at is not None else None
    year = w.created_at.replace(tzinfo=timezone.utc).astimezone(zone).year
    counters = (1, int(rejected), int(confirmed), int(confirmed and bool(w.auto_confirmed)), int(rated),
                w.rating if rated else 0, int(rejected or fulfilled), int(fulfilled and w.fulfilled_at <= w.due_at))
    is_open = w.first_claimed_at is None or w.status == 'pending_review' or (not rejected and w.fulfilled_at is None)
    return (w.grid_id, year, counters, tenths), is_open


def _backfill(bind):
    zone = ZoneInfo(current_app.config['TIMEZONE'])
    figures, claims, marks = {}, Counter(), []
    for w in bind.execute(sa.select(WISHES)).all():
        share, is_open = _share(w, zone)
        if share is None:
            continue
        grid_id, year, counters, tenths = share
        total = figures.setdefault((grid_id, year), [0] * len(COUNTERS))
        figures[(grid_id, year)] = [a + b for a, b in zip(total, counters)]
        if tenths is not None:
            claims[(grid_id, year, tenths)] += 1
        encoded = ':'.join(str(v) for v in (grid_id, year, *counters)) + ':' + ('' if tenths is None else str(tenths))
        marks.append({'wish_id': w.id, 'tallied': encoded, 'figures_open': is_open})
    if figures:
        bind.execute(FIGURES.insert(), [{'grid_id': g, 'year': y, **dict(zip(COUNTERS, values))}
                                        for (g, y), values in figures.items()])
    if claims:
        bind.execute(CLAIM_TIMES.insert(), [{'grid_id': g, 'year': y, 'tenths': t, 'wishes': n}
                                            for (g, y, t), n in claims.items()])
    if marks:
        bind.execute(WISHES.update().where(WISHES.c.id == sa.bindparam('wish_id'))
                     .values(tallied=sa.bindparam('tallied'), figures_open=sa.bindparam('figures_open')), marks)


def upgrade():
    op.create_table('wish_claim_times',
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('tenths', sa.Integer(), nullable=False),
    sa.Column('wishes', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['orgs.id'], name=op.f('fk_wish_claim_times_grid_id_orgs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('grid_id', 'year', 'tenths', name='pk_wish_claim_times'),
    sqlite_with_rowid=False
    )
    op.create_table('wish_figures',
    sa.Column('grid_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('counted', sa.Integer(), nullable=False),
    sa.Column('rejected', sa.Integer(), nullable=False),
    sa.Column('confirmed', sa.Integer(), nullable=False),
    sa.Column('auto_confirmed', sa.Integer(), nullable=False),
    sa.Column('ratings', sa.Integer(), nullable=False),
    sa.Column('rating_sum', sa.Integer(), nullable=False),
    sa.Column('decided', sa.Integer(), nullable=False),
    sa.Column('on_time', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['grid_id'], ['orgs.id'], name=op.f('fk_wish_figures_grid_id_orgs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('grid_id', 'year', name='pk_wish_figures'),
    sqlite_with_rowid=False
    )
    # Plain ALTER TABLE: batch mode would rebuild wishes on SQLite, and dropping the old table
    # would cascade to their timelines.
    op.add_column('wishes', sa.Column('tallied', sa.String(length=80), nullable=True))
    op.add_column('wishes', sa.Column('figures_open', sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_index('ix_wishes_grid_id_figures_open', 'wishes', ['grid_id', 'figures_open'], unique=False)
    _backfill(op.get_bind())



def downgrade():
    op.drop_index('ix_wishes_grid_id_figures_open', table_name='wishes')
    with op.batch_alter_table('wishes', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('figures_open')
        batch_op.drop_column('tallied')

    op.drop_table('wish_figures')
    op.drop_table('wish_claim_times')
