"""A district's campaign: create, refresh and publish/finalise a rating campaign of N
communities, timing each step and counting its SQL statements and its longest transaction
(on SQLite every transaction here holds the write lock from BEGIN IMMEDIATE to COMMIT).

    .venv/bin/python bench/campaign.py [--communities 2000] [--database-url URL] [--json]

Without --database-url it builds a temporary SQLite database migrated to head; a given
database must be empty and migrated (its data are left behind). Each community has two grids
and a secretary; steps are called as the API calls them (service functions, one commit):

- create:   `create_period` over every community (scorecards, criteria, first recompute);
- refresh:  the hourly `refresh_live` job in self-evaluation (full recompute, drift check);
- publish:  leaving audit (every scorecard audited in full, figures frozen);
- finalise: leaving the appeal phase (quotas, final results, problem lists).

Targets: each step ≤ 10 s at 2,000 communities, statements independent of N where
possible, no transaction longer than 100 ms in the refresh job.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy import event

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from backend.app import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.orgs.models import Org  # noqa: E402
from backend.orgs.service import create_org, create_orgs  # noqa: E402
from backend.people.actors import load_actor  # noqa: E402
from backend.people.service import add_membership, create_person  # noqa: E402
from backend.rating import live, service  # noqa: E402
from backend.rating.models import RatingPeriod  # noqa: E402


class Meter:
    """Statements and transactions on one engine while `measure` runs."""

    def __init__(self, engine: sa.Engine):
        self.statements = 0
        self.longest = 0.0
        self.transactions = 0
        self._began: float | None = None
        event.listen(engine, "before_cursor_execute", self._statement)
        event.listen(engine, "begin", self._begin)
        event.listen(engine, "commit", self._end)
        event.listen(engine, "rollback", self._end)

    def _statement(self, *args) -> None:
        self.statements += 1

    def _begin(self, conn) -> None:
        self._began = time.perf_counter()

    def _end(self, conn) -> None:
        if self._began is not None:
            self.longest = max(self.longest, time.perf_counter() - self._began)
            self.transactions += 1
            self._began = None

    @contextmanager
    def measure(self, name: str, results: dict):
        self.statements, self.longest, self.transactions = 0, 0.0, 0
        started = time.perf_counter()
        if self._began is not None:   # a transaction already open counts from here
            self._began = started
        yield
        results[name] = {"seconds": round(time.perf_counter() - started, 3), "statements": self.statements,
                         "transactions": self.transactions, "longest_transaction_ms": round(self.longest * 1000, 1)}


def build(communities: int) -> tuple[int, list[int]]:
    """A street with `communities` communities of two grids each, its officer; (officer id, org ids)."""
    street = create_org("东湖街道", "street", None)
    made = create_orgs([(f"社区{i:04d}", "community", street) for i in range(communities)])
    create_orgs([(f"第{g}网格", "grid", c) for c in made for g in (1, 2)])
    officer = create_person(name="周海", username="officer", password="bench-password-1")
    add_membership(officer, street, "street_officer")
    db.session.commit()
    return officer.id, [o.id for o in made]


def run(url: str, communities: int) -> dict:
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000",
                      "LEDGER_ANCHOR_PATH": str(Path(tempfile.gettempdir()) / "bench-campaign-anchors.jsonl")})
    results: dict = {}
    with app.app_context():
        upgrade()
        officer_id, org_ids = build(communities)
        meter = Meter(db.engine)
        officer = load_actor(officer_id)
        with meter.measure("create", results):
            period = service.create_period(officer, name="2026 年度星级党组织创评", year=date.today().year,
                                           rubric_code="wuhua-2019", org_ids=org_ids)
            db.session.commit()
        period_id = period.id
        service.advance(load_actor(officer_id), db.session.get(RatingPeriod, period_id), "self_evaluation")
        db.session.commit()
        with meter.measure("refresh", results):
            live.refresh_live()
            db.session.commit()
        for phase in ("review", "audit"):
            service.advance(load_actor(officer_id), db.session.get(RatingPeriod, period_id), phase)
            db.session.commit()
        with meter.measure("publish", results):
            service.advance(load_actor(officer_id), db.session.get(RatingPeriod, period_id), "appeal")
            db.session.commit()
        period = db.session.get(RatingPeriod, period_id)
        period.appeal_deadline = date.today() - timedelta(days=1)
        db.session.commit()
        with meter.measure("finalise", results):
            service.advance(load_actor(officer_id), db.session.get(RatingPeriod, period_id), "final")
            db.session.commit()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Org).where(Org.kind == "community")) \
            == communities
        db.engine.dispose()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--communities", type=int, default=2000)
    parser.add_argument("--database-url")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/campaign.db"
        results = run(url, args.communities)
    backend = url.split(":", 1)[0].split("+", 1)[0]
    if args.json:
        print(json.dumps({"communities": args.communities, "database": backend, **results}))
        return 0
    print(f"campaign of {args.communities:,} communities on {backend}")
    print(f"{'step':<10} {'seconds':>8} {'statements':>11} {'per org':>8} {'transactions':>13} {'longest tx ms':>14}")
    for name, r in results.items():
        print(f"{name:<10} {r['seconds']:>8.2f} {r['statements']:>11,} {r['statements'] / args.communities:>8.1f}"
              f" {r['transactions']:>13,} {r['longest_transaction_ms']:>14,.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
