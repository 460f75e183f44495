"""A campaign's scorecards computed in batches (`backend.rating.metrics.Batch`): the same
results as each scorecard computed alone, on the demo data and on random worlds whose orgs
nest (a street, its communities and grids in one batch), on both databases; and a batch
costs the same statements for 3 communities as for 30, and so does its thorough audit, which
finds and repairs the drift each scorecard audited alone finds."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from backend.demo import load_demo
from backend.double_reports.models import DoubleReport
from backend.extensions import db
from backend.orgs.models import Org
from backend.orgs.service import create_orgs
from backend.people.actors import load_actor
from backend.people.service import add_membership, create_person
from backend.polls import service as polls
from backend.polls.models import Poll, PollTally
from backend.rating import engine, metrics, rubrics, service, watch
from backend.rating.metrics import Batch
from backend.rating.models import CriterionScore, Meeting, Scorecard
from backend.services.models import ServiceFigures
from backend.teams.models import Team
from backend.wishes import service as wishes
from backend.wishes.models import Wish, WishClaimTime, WishFigures
from tests import factories as f
from tests.test_statement_counts import counted

NOW = datetime.now(UTC)


def _same_figures(orgs: list[Org], year: int) -> None:
    """Every figure set read for all `orgs` together equals each org's read alone, counted
    from the running figures and in full."""
    for full in (False, True):
        together = Batch(orgs, year, NOW, full)
        for name in metrics._SETS:
            assert together.stats(name) == {org.id: Batch([org], year, NOW, full).stats(name)[org.id]
                                            for org in orgs}, (name, full)


def _same_scores(cards: list[Scorecard]) -> None:
    for full in (False, True):
        batches = engine.batches(cards, NOW, full=full)
        for card in cards:
            assert engine.compute(card, batch=batches[card.id]) == engine.compute(card, now=NOW, full=full)


def test_a_batch_computes_what_each_scorecard_alone_computes_on_the_demo_data(app):
    load_demo()
    db.session.commit()
    _same_figures(list(db.session.scalars(sa.select(Org).order_by(Org.id))), date.today().year)
    _same_scores(list(db.session.scalars(sa.select(Scorecard).order_by(Scorecard.id))))


WORLD = st.lists(st.tuples(st.sampled_from(["meeting", "team", "member", "report", "wish"]),
                           st.integers(0, 6), st.integers(0, 11)), max_size=8)
KINDS = ["joint", "theme_day", "committee", "group", "general", "lecture"]


@settings(max_examples=2, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=WORLD)
def test_a_batch_computes_what_each_scorecard_alone_computes_on_random_worlds(app, ops):
    """Orgs of a street, its communities and grids, with meetings, teams, party members (by
    home, role and report) and wishes drawn at random: every figure set of every org read
    together equals each read alone, and so does every scorecard of a campaign."""
    street = db.session.scalar(sa.select(Org).where(Org.kind == "street"))
    if street is None:
        street = f.org("东湖街道", "street")
        communities = create_orgs([(f"社区{i}", "community", street) for i in range(3)])
        create_orgs([(f"第{g}网格", "grid", c) for c in communities for g in (1, 2)])
        officer = f.person("周海", username="officer", role="street_officer", org=street)
        service.create_period(load_actor(officer.id), name="批量核算", year=NOW.year, rubric_code="wuhua-2019",
                              org_ids=[c.id for c in communities])
        db.session.commit()
    orgs = list(db.session.scalars(sa.select(Org).order_by(Org.id)))
    grids = [o for o in orgs if o.kind == "grid"]
    communities = [o for o in orgs if o.kind == "community"]
    for n, (op, which, month) in enumerate(ops):
        org = orgs[which % len(orgs)]
        if op == "meeting":
            db.session.add(Meeting(org_id=org.id, kind=KINDS[which % len(KINDS)], held_on=date(NOW.year, month + 1, 1),
                                   topic="会议", attendance=5, status="counted" if month % 4 else "struck"))
        elif op == "team":
            grid = grids[month % len(grids)]
            db.session.add(Team(org_id=grid.parent_id, grid_id=grid.id if month % 2 else None, name=f"服务队{n}",
                                is_active=bool(month % 3)))
        elif op == "member":
            person = create_person(name=f"党员{n}", is_party_member=True, is_in_service=bool(month % 2),
                                   home_community_id=communities[which % len(communities)].id)
            add_membership(person, grids[month % len(grids)], "party_member" if month % 3 else "grid_leader")
        elif op == "report":
            person = create_person(name=f"在职党员{n}", is_party_member=True, is_in_service=True)
            db.session.add(DoubleReport(person_id=person.id, community_id=communities[which % len(communities)].id,
                                        year=NOW.year, work_unit="区医院",
                                        status=["pending", "confirmed", "rejected"][month % 3]))
        else:
            wishes.submit(grid=grids[which % len(grids)], title=f"心愿{n}", content="内容内容", category="生活帮扶",
                          consent=True, submit_token=f"batch-{n}-{which}-{month}")
        db.session.flush()
    _same_figures(orgs, NOW.year)
    _same_scores(list(db.session.scalars(sa.select(Scorecard).order_by(Scorecard.id))))
    db.session.rollback()


def test_a_batch_costs_the_same_statements_for_3_and_30_communities(app):
    """A campaign created (every scorecard's first figures), and a batch locked, audited,
    computed and written (the unit of the hourly refresh), and so audited with the nightly
    check's recounts (publication's unit): no statement per scorecard."""
    rubrics.ensure("wuhua-2019")   # the rubric's first use stores it
    created, audited = [], []
    for n in (3, 30):
        street = f.org(f"街道{n}", "street")
        communities = create_orgs([(f"社区{n}-{i}", "community", street) for i in range(n)])
        create_orgs([(f"第{g}网格", "grid", c) for c in communities for g in (1, 2)])
        officer = load_actor(f.person(f"周{n}", username=f"officer{n}", role="street_officer", org=street).id)
        org_ids = [c.id for c in communities]
        with counted() as seen:
            period = service.create_period(officer, name=f"创评{n}", year=NOW.year, rubric_code="wuhua-2019",
                                           org_ids=org_ids)
            db.session.flush()
        created.append(len(seen))
        db.session.commit()
        ids = list(db.session.scalars(sa.select(Scorecard.id).where(Scorecard.period_id == period.id)))
        for thorough in (False, True):
            with counted() as seen:
                watch.audit_many(engine.lock_many(ids), cause="定时核算", now=NOW, thorough=thorough,
                                 recorded=watch.RecordedCache())
                db.session.flush()
            audited.append(len(seen))
            db.session.commit()
    assert (created[0], audited[:2]) == (created[1], audited[2:])


def _hand_edited_world() -> list[int]:
    """A street's three communities in two campaigns, with wishes, and running wish, service
    and poll figures edited by hand in several communities; the live scorecards' ids."""
    street = f.org("西湖街道", "street")
    communities = create_orgs([(f"湖{i}社区", "community", street) for i in range(3)])
    grids = create_orgs([(f"第{g}网格", "grid", c) for c in communities for g in (1, 2)])
    officer = load_actor(f.person("周海", username="officer", role="street_officer", org=street).id)
    periods = [service.create_period(officer, name=name, year=year, rubric_code="wuhua-2019",
                                     org_ids=[c.id for c in communities])
               for name, year in (("今年创评", NOW.year), ("去年创评", NOW.year - 1))]
    for n, grid in enumerate(grids):
        wishes.submit(grid=grid, title=f"心愿{n}", content="内容内容", category="生活帮扶", consent=True,
                      submit_token=f"hand-{n}")
    for n, community in enumerate(communities[::2]):
        poll = polls.create_poll(community, {
            "title": "测评", "audience": "mass", "modes": ["device"], "opens_at": NOW - timedelta(hours=1),
            "closes_at": NOW + timedelta(days=1),
            "questions": [{"text": "满意度", "kind": "rating5", "criterion_code": "S5"}]})
        db.session.flush()
        polls.answer(poll.id, [{"question_id": poll.questions[0].id, "value": 5}], actor=None,
                     device=f"phone-000000000{n}")
    db.session.flush()
    db.session.execute(sa.update(WishFigures).where(WishFigures.grid_id.in_([grids[0].id, grids[3].id]))
                       .values(counted=WishFigures.counted + 2))
    db.session.execute(sa.update(Wish).where(Wish.grid_id == grids[5].id).values(tallied=None))
    db.session.add_all([ServiceFigures(org_id=communities[1].id, year=NOW.year, delivered=4, ratings=0, rating_sum=0),
                        ServiceFigures(org_id=grids[4].id, year=NOW.year, delivered=0, ratings=1, rating_sum=5)])
    poll_ids = db.session.scalars(sa.select(Poll.id).where(Poll.org_id == communities[2].id)).all()
    db.session.execute(sa.update(PollTally).where(PollTally.poll_id.in_(poll_ids), PollTally.key == "5")
                       .values(count=PollTally.count + 40))
    db.session.commit()
    return list(db.session.scalars(sa.select(Scorecard.id).where(Scorecard.period_id.in_([p.id for p in periods]))
                                   .order_by(Scorecard.id)))


def _state() -> tuple:
    """The running figures and the scores, as rows."""
    tables = (WishFigures, WishClaimTime, ServiceFigures, PollTally)
    return tuple(sorted(tuple(row) for row in db.session.execute(sa.select(*table.__table__.c)))
                 for table in tables) + (
        sorted(db.session.execute(sa.select(Wish.id, Wish.tallied, Wish.figures_open)).all()),
        sorted(db.session.execute(sa.select(CriterionScore.scorecard_id, CriterionScore.code, CriterionScore.points,
                                            CriterionScore.computed_points)).all()),
        sorted(db.session.execute(sa.select(Scorecard.id, Scorecard.total, Scorecard.stars)).all()))


def test_a_batch_thorough_audit_finds_and_repairs_what_each_scorecard_audited_alone_does(app):
    """The nightly check's recounts of a batch (poll tallies, wish and service figures of the
    subtrees) find the drift each scorecard audited after the other finds — each difference
    with the first scorecard whose org holds it — and leave the same figures and scores."""
    ids = _hand_edited_world()
    audited = {}
    for together in (False, True):
        if together:
            found = watch.audit_many(engine.lock_many(ids), cause="夜间核查", now=NOW, thorough=True,
                                     recorded=watch.RecordedCache())
        else:
            found = [watch.audit(db.session.get(Scorecard, card_id), cause="夜间核查", now=NOW, thorough=True)
                     for card_id in ids]
        db.session.flush()
        audited[together] = ([[d.as_dict() for d in drift] for drift, _ in found],
                             [sorted((e.criterion, e.old, e.new, e.cause) for e in events) for _, events in found],
                             _state())
        db.session.rollback()
    assert audited[True] == audited[False]
    drifted = [drift for drift in audited[True][0] if drift]
    assert {d["what"].split(".")[0] for drift in drifted for d in drift} >= {"wish_figures", "service_figures",
                                                                             "poll_tallies"}
    assert len(drifted) >= 3
