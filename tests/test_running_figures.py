"""Running wish and service figures: what the live rating reads after any sequence of writes
(by the services, by raw UPDATEs, with time passing) is what a full count of the rows gives;
the nightly check finds a running figure edited by hand and repairs it; an upgraded database
starts with the figures of the wishes it holds."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask_migrate import upgrade
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from backend.app import create_app
from backend.bookings.models import Booking, Slot
from backend.core.errors import DomainError
from backend.extensions import db, utcnow
from backend.people.actors import load_actor
from backend.rating import service as rating
from backend.rating import watch
from backend.services import figures as service_figures
from backend.services import service as services
from backend.services.models import ServiceBooking
from backend.stats.service import service_figures as counted_services
from backend.wishes import figures
from backend.wishes import service as wishes
from backend.wishes.models import Wish, WishClaimTime, WishFigures
from tests import factories as f
from tests.conftest import TEST_CONFIG, create_database

#: What the star rating reads of the wish figures.
KEYS = ("counted", "rejected", "unreviewed_overdue", "confirmed", "auto_confirmed", "confirmed_credit",
        "median_hours_to_claim", "mean_rating", "ratings", "decided", "closed_on_time")


@pytest.fixture
def town(app):
    orgs = f.tree()
    people = {
        "officer": f.person("周海", username="officer", role="street_officer", org=orgs["street"]),
        "secretary": f.person("李红梅", username="secretary", role="secretary", org=orgs["a"]),
        "sec_b": f.person("黄丽娟", username="sec_b", role="secretary", org=orgs["b"]),
        "leader": f.person("张建华", username="leader", role="grid_leader", org=orgs["a1"]),
        "leader2": f.person("王秀英", username="leader2", role="grid_leader", org=orgs["a2"]),
        "leader_b": f.person("林建军", username="leader_b", role="grid_leader", org=orgs["b1"]),
    }
    for name in ("leader", "leader2"):
        f.person(role="volunteer", org=orgs["a1" if name == "leader" else "a2"])
    return orgs, people


def full(org, year: int, now) -> dict:
    """The full count, as the nightly check makes it: figures stop at the end of the year."""
    start, end = figures._year_bounds(year)
    counted = wishes.wish_stats(org, start, end, min(now, end))
    return {k: counted[k] for k in KEYS}


def running(orgs: list, year: int, now) -> dict:
    """The running figures, as the live rating reads them."""
    until = min(now, figures._year_bounds(year)[1])
    return {org_id: {k: v[k] for k in KEYS} for org_id, v in figures.read(orgs, year, until).items()}


def assert_agree(orgs: dict) -> None:
    """For every org and each year wishes may fall in, now and later, running = full count."""
    now = utcnow()
    every = [orgs[k] for k in ("street", "a", "b", "a1", "a2", "b1")]
    for year in (figures.year_of(now) - 1, figures.year_of(now)):
        for later in (timedelta(0), timedelta(hours=30), timedelta(days=3), timedelta(days=40)):
            at = now + later
            assert running(every, year, at) == {org.id: full(org, year, at) for org in every}, (year, later)
        start, end = figures._year_bounds(year)
        assert service_figures.read(every, year) == {org.id: counted_services(org, start, end) for org in every}
    assert figures.recount() == []
    assert service_figures.recount() == []


def _submit(grid, tag: str) -> Wish:
    return wishes.submit(grid=grid, title=f"心愿{tag}", content="三单元二楼楼道灯不亮", category="生活帮扶",
                         consent=True, submit_token=f"figures-{tag}").wish


def test_a_submission_moves_the_figures_of_its_grid_and_year(town):
    orgs, _ = town
    _submit(orgs["a1"], "one")
    db.session.commit()
    year = figures.year_of(utcnow())
    stored = db.session.execute(sa.select(WishFigures.grid_id, WishFigures.year, WishFigures.counted)).all()
    assert [tuple(row) for row in stored] == [(orgs["a1"].id, figures.year_of(utcnow()), 1)]
    assert running([orgs["a"]], year, utcnow())[orgs["a"].id]["counted"] == 1
    assert_agree(orgs)


def test_a_raw_update_is_caught(town):
    """A change made by a statement the services do not know (a hand in a script) moves the
    figures all the same: the statement's WHERE clause names the wishes it touches."""
    orgs, people = town
    wish = _submit(orgs["a1"], "raw")
    db.session.commit()
    claimed_at = wish.created_at + timedelta(hours=5)
    db.session.execute(sa.update(Wish).where(Wish.title == "心愿raw").values(
        status="confirmed", claimant_id=people["leader"].id, first_claimed_at=claimed_at,
        fulfilled_at=claimed_at + timedelta(hours=1), rating=4))
    db.session.commit()
    got = running([orgs["a"]], figures.year_of(utcnow()), utcnow())[orgs["a"].id]
    assert (got["confirmed"], got["ratings"], got["mean_rating"], got["median_hours_to_claim"]) == (1, 1, 4, 5)
    wish = db.session.get(Wish, wish.id)
    wish.status = "cancelled"           # through the session: the flush
    db.session.commit()
    assert running([orgs["a"]], figures.year_of(utcnow()), utcnow())[orgs["a"].id]["counted"] == 0
    assert_agree(orgs)


def test_a_bulk_delete_takes_the_shares_with_it(town):
    orgs, _ = town
    for tag in ("d1", "d2"):
        _submit(orgs["a2"], tag)
    db.session.commit()
    db.session.execute(sa.delete(Wish).where(Wish.title == "心愿d1"))
    db.session.commit()
    assert running([orgs["a2"]], figures.year_of(utcnow()), utcnow())[orgs["a2"].id]["counted"] == 1
    assert_agree(orgs)


def test_the_nightly_check_finds_a_figure_edited_by_hand_and_repairs_it(town):
    orgs, people = town
    period = rating.create_period(load_actor(people["officer"].id), name="核查测试", year=date.today().year,
                                  rubric_code="wuhua-2019", org_ids=[orgs["a"].id])
    wish = _submit(orgs["a1"], "night")
    db.session.commit()
    wishes.claim(load_actor(people["leader"].id), wish)
    db.session.commit()
    db.session.execute(sa.update(WishFigures).where(WishFigures.grid_id == orgs["a1"].id)
                       .values(counted=WishFigures.counted + 5))
    db.session.execute(sa.update(WishClaimTime).values(wishes=WishClaimTime.wishes + 2))
    db.session.commit()
    assert running([orgs["a"]], period.year, utcnow())[orgs["a"].id]["counted"] == 6   # what a hand did
    assert watch.check_scores() == 1
    db.session.commit()
    assert running([orgs["a"]], period.year, utcnow())[orgs["a"].id]["counted"] == 1
    assert watch.check_scores() == 0
    assert_agree(orgs)


def test_a_write_reads_no_closed_wish(town):
    """The live recompute of a wish submission under a campaign reads the running figures and
    the open wishes only: the closed wishes of the year behind it are not loaded."""
    orgs, people = town
    rating.create_period(load_actor(people["officer"].id), name="历史测试", year=date.today().year,
                         rubric_code="wuhua-2019", org_ids=[orgs["a"].id])
    for n in range(30):
        wish = _submit(orgs["a1"], f"closed{n}")
        db.session.flush()
        db.session.execute(sa.update(Wish).where(Wish.id == wish.id).values(
            status="confirmed", claimant_id=people["leader"].id, first_claimed_at=wish.created_at + timedelta(hours=n),
            fulfilled_at=wish.created_at + timedelta(hours=n + 1), rating=1 + n % 5))
    db.session.commit()
    for obj in [o for o in db.session if isinstance(o, Wish)]:
        db.session.expunge(obj)
    loaded = []

    def seen(target, context):
        loaded.append(target.id)

    sa.event.listen(Wish, "load", seen)
    try:
        _submit(orgs["a1"], "fresh")
        db.session.commit()
    finally:
        sa.event.remove(Wish, "load", seen)
    assert len(loaded) <= 1
    card_values = running([orgs["a"]], figures.year_of(utcnow()), utcnow())[orgs["a"].id]
    assert card_values["confirmed"] == 30 and card_values["counted"] == 31
    assert_agree(orgs)


# --- any sequence of writes, time passing: running = full count ------------------------------------

_RUN = itertools.count()
OPS = st.lists(st.tuples(st.sampled_from(["wish", "wish_b", "moderate", "publish", "claim", "release", "fulfil",
                                          "reopen", "confirm", "auto_confirm", "reject", "uphold", "cancel",
                                          "expire", "age", "raw", "service", "service_b", "service_early",
                                          "service_raw"]),
                         st.integers(0, 4)), max_size=14)
#: Everything a wish records about when things happened, moved back together as time passes.
_TIMES = ("created_at", "due_at", "claimed_at", "first_claimed_at", "last_progress_at", "fulfilled_at", "closed_at",
          "confirmed_at", "rejection_upheld_at")


@pytest.mark.slow
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate])
@given(ops=OPS)
@example(ops=[("wish", 0), ("claim", 0), ("fulfil", 0), ("confirm", 3), ("wish", 0), ("reject", 1), ("uphold", 1),
              ("wish", 0), ("reject", 2), ("age", 2)])
@example(ops=[("service", 3), ("service_b", 2), ("service", 0), ("service_raw", 4), ("service_early", 0),
              ("service", 1)])
@example(ops=[("moderate", 0), ("wish", 0), ("age", 0), ("publish", 0), ("claim", 0), ("release", 0), ("claim", 0),
              ("fulfil", 0), ("reopen", 0), ("fulfil", 0), ("auto_confirm", 0), ("wish_b", 0), ("cancel", 1),
              ("raw", 1)])
def test_running_figures_equal_a_full_count(app, town, ops):
    orgs, people = town
    orgs["a"].wish_moderation = False
    db.session.commit()
    actors = {name: load_actor(people[name].id) for name in ("leader", "leader2", "leader_b", "officer")}
    items = {org: services.create_item(load_actor(people[secretary].id), {
        "org_id": orgs[org].id, "name": f"理发{next(_RUN)}", "category": "理发", "location": "活动室"})
        for org, secretary in (("a", "secretary"), ("b", "sec_b"))}
    db.session.commit()
    made, run = [], next(_RUN)
    for n, (op, pick) in enumerate(ops):
        try:
            if op.startswith("service"):
                _service(op, pick, items)
                db.session.commit()
                continue
            _operate(op, pick, f"{run}-{n}", made, orgs, actors)
        except DomainError:
            db.session.rollback()   # a refused operation (a wrong state) changes nothing
            continue
        db.session.commit()
    assert_agree(orgs)


def _service(op, pick, items):
    """A booking delivered once its time began and rated 1..4 (or left unrated); a service whose
    start is moved after its delivery by hand (the delivery no longer counts); a rating changed by hand."""
    if op == "service_raw":
        db.session.execute(sa.update(Booking).where(Booking.rating.is_not(None)).values(rating=1 + pick))
        return
    if op == "service_early":
        db.session.execute(sa.update(Slot).where(Slot.id == sa.select(sa.func.max(Booking.slot_id)).join(
            ServiceBooking, ServiceBooking.booking_id == Booking.id).scalar_subquery())
            .values(starts_at=utcnow() + timedelta(hours=1), ends_at=utcnow() + timedelta(hours=2)))
        return
    item = items["b" if op == "service_b" else "a"]
    soon = utcnow() + timedelta(days=1)
    service_slot = services.add_slot(item, starts_at=soon, ends_at=soon + timedelta(hours=1), capacity=1)
    record = services.book(service_slot, contact_name="吴阿姨", consent=True).service_booking
    service_slot.slot.starts_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    services.complete(record)
    if pick:
        services.rate(record, pick, None)


def _operate(op, pick, tag, made, orgs, actors):
    target = made[pick % len(made)] if made else None
    if op in ("wish", "wish_b"):
        grid = orgs["b1"] if op == "wish_b" else orgs[("a1", "a2")[pick % 2]]
        made.append(_submit(grid, tag))
    elif op == "moderate":
        orgs["a"].wish_moderation = not orgs["a"].wish_moderation
    elif target is not None:
        db.session.refresh(target)
        _on_wish(op, pick, target, actors)


def _leader_of(wish: Wish, actors):
    if wish.community.name != "和平社区":
        return actors["leader_b"]
    return actors["leader" if wish.grid.name == "第一网格" else "leader2"]


def _on_wish(op, pick, target, actors):
    leader = _leader_of(target, actors)
    if op == "publish":
        wishes.publish(leader, target)
    elif op == "claim":
        wishes.claim(leader, target)
    elif op == "release":
        wishes.release(leader, target)
    elif op == "fulfil":
        wishes.fulfil(leader, target, "完成")
    elif op == "reopen":
        wishes.reopen(target, "还没好")
    elif op == "confirm":
        wishes.confirm(target, 1 + pick)
    elif op == "auto_confirm":
        wishes.auto_confirm(utcnow() + timedelta(days=8))
    elif op == "reject":
        wishes.reject(leader, target, "不属于微心愿")
    elif op == "uphold":
        wishes.uphold_rejection(actors["officer"], target, "确实不属于")
    elif op == "cancel":
        wishes.cancel(target)
    elif op == "expire":
        wishes.release_stale_claims(utcnow() + timedelta(days=30))
    else:
        _by_hand(op, pick, target)


def _by_hand(op, pick, target):
    if op == "age":
        # 1 to 5 days and a few minutes pass for this wish: no service sees it.
        back = timedelta(days=1 + pick, minutes=7 * pick)
        db.session.execute(sa.update(Wish).where(Wish.id == target.id).values(
            {name: getattr(target, name) - back for name in _TIMES if getattr(target, name)}))
    elif op == "raw":
        db.session.execute(sa.update(Wish).where(Wish.id == target.id, Wish.status != "cancelled")
                           .values(rating=1 + pick))


# --- the upgrade ------------------------------------------------------------------------------------

def _old_services(orgs, now) -> None:
    """Service bookings as the previous revision stores them: two delivered and rated, one
    delivered before its time began (it counts for nothing), one not delivered."""
    tables = db.metadata.tables
    item = db.session.execute(tables["service_items"].insert().values(
        org_id=orgs["a"].id, name="理发", category="理发", location="活动室")).inserted_primary_key[0]
    for n, (delivered, rating_) in enumerate([(1, 5), (2, 3), (-1, 4), (None, None)]):
        starts = now - timedelta(days=3 + n)
        slot = db.session.execute(tables["slots"].insert().values(
            org_id=orgs["a"].id, starts_at=starts, ends_at=starts + timedelta(hours=1), capacity=1)
        ).inserted_primary_key[0]
        db.session.execute(tables["service_slots"].insert().values(service_item_id=item, slot_id=slot))
        booking = db.session.execute(tables["bookings"].insert().values(
            slot_id=slot, status="attended" if delivered else "confirmed", rating=rating_)).inserted_primary_key[0]
        at = starts + timedelta(hours=delivered) if delivered else None
        db.session.execute(tables["service_bookings"].insert().values(
            booking_id=booking, receipt_hash=f"{n:064d}", submit_token=f"{n:064d}", contact_name="吴阿姨",
            consent_version="v1", delivered_at=at, rated_at=at + timedelta(hours=1) if at else None))


def test_the_upgrade_counts_the_wishes_already_there(database, tmp_path):
    backend, template = database
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'upgrade.db'}"
    else:
        url = create_database(template.rsplit("/", 1)[0], "sanwei_wish_figures_upgrade")
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade(revision="0016a")
        orgs = f.tree()
        claimant = f.person("张建华")
        now = utcnow()
        table = sa.table("wishes", *[sa.column(c) for c in (
            "grid_id", "community_id", "title", "content", "category", "urgency", "status", "channel",
            "consent_version", "consent_at", "receipt_hash", "due_at", "created_at", "auto_confirmed",
            "first_claimed_at", "fulfilled_at", "rating", "rejection_upheld_at", "claimant_id")])
        plain = lambda t: t.replace(tzinfo=None)  # noqa: E731  (the raw table stores UTC without zone)
        rows = []
        for i, (status, claimed, fulfilled, rating_, upheld) in enumerate([
                ("confirmed", 2, 10, 5, None), ("confirmed", 4, 300, None, None), ("rejected", None, None, None, None),
                ("rejected", None, None, None, 5), ("open", None, None, None, None), ("cancelled", 1, None, None, None),
                ("pending_review", None, None, None, None), ("claimed", 7, None, None, None)]):
            created = now - timedelta(days=5, hours=i)
            rows.append({"grid_id": orgs["a1"].id if i % 2 else orgs["b1"].id,
                         "community_id": orgs["a"].id if i % 2 else orgs["b"].id, "title": f"旧心愿{i}",
                         "content": "内容", "category": "生活帮扶", "urgency": 1, "status": status, "channel": "qr",
                         "consent_version": "v1", "consent_at": plain(created), "receipt_hash": f"{i:064d}",
                         "due_at": plain(created + timedelta(hours=72)), "created_at": plain(created),
                         "auto_confirmed": status == "confirmed" and rating_ is None,
                         "first_claimed_at": plain(created + timedelta(hours=claimed)) if claimed else None,
                         "fulfilled_at": plain(created + timedelta(hours=fulfilled)) if fulfilled else None,
                         "rating": rating_, "claimant_id": claimant.id if status == "claimed" else None,
                         "rejection_upheld_at": plain(created + timedelta(hours=upheld)) if upheld else None})
        db.session.execute(table.insert(), rows)
        _old_services(orgs, now)
        db.session.commit()
        upgrade()
        assert figures.recount() == []
        assert service_figures.recount() == []
        start, end = figures._year_bounds(figures.year_of(now))
        assert service_figures.read(every := [orgs["street"], orgs["a"]], figures.year_of(now)) == {
            org.id: counted_services(org, start, end) for org in every}
        assert service_figures.read([orgs["a"]], figures.year_of(now))[orgs["a"].id]["ratings"] == 2
        every = [orgs["street"], orgs["a"], orgs["b"]]
        year = figures.year_of(now)
        assert running(every, year, now) == {org.id: full(org, year, now) for org in every}
        assert running([orgs["street"]], year, now)[orgs["street"].id]["counted"] == 6
        db.session.remove()
        db.engine.dispose()


@settings(max_examples=200, deadline=None)
@given(settled=st.dictionaries(st.integers(0, 900), st.integers(1, 5), max_size=8),
       waits=st.lists(st.integers(0, 400), max_size=8), floor=st.integers(1, 600))
def test_the_waiting_count_stands_in_for_the_waiting_times_only_below_the_median(settled, waits, floor):
    """When the median lies below the review window whatever the waiting times are, counting
    them at the window gives the median their exact values give (no database: pure figures)."""
    histogram = Counter(settled)
    if not figures._median_below(histogram, floor, len(waits)):
        return
    exact = histogram + Counter(floor + w for w in waits)
    stand_in = histogram + Counter({floor: len(waits)}) if waits else histogram
    assert figures.median_hours(stand_in) == figures.median_hours(exact)
