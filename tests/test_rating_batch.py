"""A campaign's scorecards computed in batches (`backend.rating.metrics.Batch`): the same
results as each scorecard computed alone, on the demo data and on random worlds whose orgs
nest (a street, its communities and grids in one batch), on both databases; and a batch
costs the same statements for 3 communities as for 30."""

from __future__ import annotations

from datetime import UTC, date, datetime

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
from backend.rating import engine, metrics, rubrics, service, watch
from backend.rating.metrics import Batch
from backend.rating.models import Meeting, Scorecard
from backend.teams.models import Team
from backend.wishes import service as wishes
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
    computed and written (the unit of the hourly refresh): no statement per scorecard."""
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
        with counted() as seen:
            watch.audit_many(engine.lock_many(ids), cause="定时核算", now=NOW, thorough=False,
                             recorded=watch.RecordedCache())
            db.session.flush()
        audited.append(len(seen))
        db.session.commit()
    assert (created[0], audited[0]) == (created[1], audited[1])
