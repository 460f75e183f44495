"""Running wish and service figures for the star rating (per grid or org and year), counted from the rows already there

Each wish keeps the share it adds (`tallied`) and whether some figure of it still moves with
time (`figures_open`); each service booking the share it adds. The rules below are those of
backend/wishes/figures.py and backend/services/figures.py as of this revision, so that an
upgraded database holds what the application would have counted.

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
SERVICE_BOOKINGS = sa.table('service_bookings', sa.column('id', sa.Integer), sa.column('booking_id', sa.Integer),
                            sa.column('delivered_at', sa.DateTime), sa.column('rated_at', sa.DateTime),
                            sa.column('tallied', sa.String))
BOOKINGS = sa.table('bookings', sa.column('id', sa.Integer), sa.column('slot_id', sa.Integer),
                    sa.column('rating', sa.Integer))
SLOTS = sa.table('slots', sa.column('id', sa.Integer), sa.column('org_id', sa.Integer),
                 sa.column('starts_at', sa.DateTime))
SERVICE_SLOTS = sa.table('service_slots', sa.column('id', sa.Integer), sa.column('slot_id', sa.Integer))
SERVICE_FIGURES = sa.table('service_figures', *[sa.column(name, sa.Integer) for name in (
    'org_id', 'year', 'delivered', 'ratings', 'rating_sum')])
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
    year = _year(w.created_at, zone)
    counters = (1, int(rejected), int(confirmed), int(confirmed and bool(w.auto_confirmed)), int(rated),
                w.rating if rated else 0, int(rejected or fulfilled), int(fulfilled and w.fulfilled_at <= w.due_at))
    is_open = w.first_claimed_at is None or w.status == 'pending_review' or (not rejected and w.fulfilled_at is None)
    return (w.grid_id, year, counters, tenths), is_open


def _backfill(bind, zone):
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
    op.create_table('service_figures',
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('delivered', sa.Integer(), nullable=False),
    sa.Column('ratings', sa.Integer(), nullable=False),
    sa.Column('rating_sum', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['orgs.id'], name=op.f('fk_service_figures_org_id_orgs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('org_id', 'year', name='pk_service_figures'),
    sqlite_with_rowid=False
    )
    op.add_column('service_bookings', sa.Column('tallied', sa.String(length=60), nullable=True))
    zone = ZoneInfo(current_app.config['TIMEZONE'])
    _backfill(op.get_bind(), zone)
    _backfill_services(op.get_bind(), zone)



def _year(moment, zone):
    return moment.replace(tzinfo=timezone.utc).astimezone(zone).year


def _backfill_services(bind, zone):
    """A delivery counts in its year from the start of the service's time (and a rating given
    for it, in the year it was given)."""
    figures, marks = {}, []
    rows = bind.execute(
        sa.select(SERVICE_BOOKINGS.c.id, SERVICE_BOOKINGS.c.delivered_at, SERVICE_BOOKINGS.c.rated_at,
                  BOOKINGS.c.rating, SLOTS.c.org_id, SLOTS.c.starts_at, SERVICE_SLOTS.c.id.label('service_slot_id'))
        .select_from(SERVICE_BOOKINGS.join(BOOKINGS, BOOKINGS.c.id == SERVICE_BOOKINGS.c.booking_id)
                     .join(SLOTS, SLOTS.c.id == BOOKINGS.c.slot_id)
                     .outerjoin(SERVICE_SLOTS, SERVICE_SLOTS.c.slot_id == SLOTS.c.id))).all()
    for r in rows:
        if r.delivered_at is None or r.delivered_at < r.starts_at:
            continue
        delivered_in = _year(r.delivered_at, zone) if r.service_slot_id is not None else None
        rated = r.rated_at is not None and r.rating is not None
        if delivered_in is None and not rated:
            continue
        rated_in = _year(r.rated_at, zone) if rated else None
        if delivered_in is not None:
            figures.setdefault((r.org_id, delivered_in), Counter())['delivered'] += 1
        if rated:
            figures.setdefault((r.org_id, rated_in), Counter()).update({'ratings': 1, 'rating_sum': r.rating})
        share = (r.org_id, delivered_in, rated_in, r.rating if rated else 0)
        marks.append({'record_id': r.id, 'tallied': ':'.join('' if v is None else str(v) for v in share)})
    if figures:
        bind.execute(SERVICE_FIGURES.insert(), [
            {'org_id': o, 'year': y, 'delivered': c['delivered'], 'ratings': c['ratings'], 'rating_sum': c['rating_sum']}
            for (o, y), c in figures.items()])
    if marks:
        bind.execute(SERVICE_BOOKINGS.update().where(SERVICE_BOOKINGS.c.id == sa.bindparam('record_id'))
                     .values(tallied=sa.bindparam('tallied')), marks)


def downgrade():
    with op.batch_alter_table('service_bookings', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('tallied')
    op.drop_table('service_figures')
    op.drop_index('ix_wishes_grid_id_figures_open', table_name='wishes')
    with op.batch_alter_table('wishes', schema=None, recreate='never') as batch_op:
        batch_op.drop_column('figures_open')
        batch_op.drop_column('tallied')

    op.drop_table('wish_figures')
    op.drop_table('wish_claim_times')
