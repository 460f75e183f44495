"""What a write costs as history grows: a wish submitted (POST /api/v1/wishes through a grid's
QR code, no account) and a wish claimed (POST /api/v1/wishes/<id>/claim) in a community with
30 earlier wishes this year and in one with 10,000, both under a live rating campaign.

The app runs in-process (Flask test client) on the demo data; the earlier wishes are written
straight into the table, most of them closed (confirmed, rejected, withdrawn) and a fixed
working set of 20 still waiting, as a community's history looks after a few years. Prints the
median time and the statements of each request per size, and the ratio large / small.
Target: the write at 10,000 costs at most 1.3 × the write at 30.

    .venv/bin/python bench/history.py [--database-url URL] [--json] [--repeat N] [--large N]

Without --database-url a temporary SQLite database is made and migrated to head; a URL names an
empty database, which is migrated and given the demo data. With --json the last line of
stdout is one JSON object of the figures.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import sqlalchemy as sa  # noqa: E402
from flask_migrate import upgrade  # noqa: E402

from backend.app import create_app  # noqa: E402
from backend.core.timeutil import local_zone  # noqa: E402
from backend.demo import DEMO_PASSWORD, load_demo  # noqa: E402
from backend.extensions import db, utcnow  # noqa: E402
from backend.orgs.models import Org  # noqa: E402
from backend.qrcodes.models import QrCode, QrPurpose  # noqa: E402
from backend.wishes import figures  # noqa: E402
from backend.wishes.models import Wish  # noqa: E402

SMALL = 30
WAITING = 20
#: (community, its first grid's leader) for the small and the large history.
PLACES = {"small": ("和平社区", "heping_g1"), "large": ("幸福社区", "xingfu_g1")}
WISH = {"title": "楼道灯坏了", "content": "三单元二楼楼道灯不亮，晚上老人上下楼不方便", "category": "生活帮扶",
        "consent": True}


def _history_rows(grid: Org, count: int, now: datetime) -> list[dict]:
    """`count` earlier wishes of `grid` spread over this year so far: the last WAITING still
    waiting (unreviewed, open, in hand), the rest closed the ways wishes close."""
    start = datetime(now.astimezone(local_zone()).year, 1, 1, tzinfo=local_zone())
    span = (now - timedelta(days=2) - start) / max(count, 1)
    rows = []
    for i in range(count):
        created = start + span * i
        row = {"grid_id": grid.id, "community_id": grid.parent_id, "title": f"往年心愿{i}", "content": "历史数据",
               "category": "生活帮扶", "urgency": 1 + i % 3, "channel": "qr", "consent_version": "bench",
               "consent_at": created, "receipt_hash": secrets.token_hex(32), "due_at": created + timedelta(hours=72),
               "created_at": created, "auto_confirmed": False,
               **dict.fromkeys(("first_claimed_at", "claimed_at", "fulfilled_at", "confirmed_at", "closed_at",
                                "rating", "rejection_upheld_at"))}
        claimed = created + timedelta(minutes=37 * (i % 97) + 5)
        kind = "waiting" if i >= count - WAITING else ("confirmed", "confirmed", "confirmed", "confirmed",
                                                       "confirmed", "confirmed", "rejected", "cancelled",
                                                       "auto", "upheld")[i % 10]
        if kind == "waiting":
            row["status"] = ("pending_review", "open", "open")[i % 3]
        elif kind in ("confirmed", "auto"):
            row.update(status="confirmed", first_claimed_at=claimed, claimed_at=claimed,
                       fulfilled_at=claimed + timedelta(hours=5 + i % 90), confirmed_at=claimed + timedelta(hours=99),
                       closed_at=claimed + timedelta(hours=99), rating=None if kind == "auto" else 1 + i % 5,
                       auto_confirmed=kind == "auto")
        else:
            row.update(status={"rejected": "rejected", "upheld": "rejected", "cancelled": "cancelled"}[kind],
                       closed_at=created + timedelta(hours=3),
                       rejection_upheld_at=created + timedelta(hours=9) if kind == "upheld" else None)
        rows.append(row)
    return rows


def _prepare(app, large: int) -> dict:
    """Demo data, the earlier wishes, and for each place its wish QR code and grid leader."""
    places = {}
    with app.app_context():
        upgrade()
        load_demo()
        db.session.commit()
        now = utcnow()
        for size, (community, leader) in PLACES.items():
            org = db.session.scalar(sa.select(Org).where(Org.name == community))
            grid = db.session.scalar(sa.select(Org).where(Org.parent_id == org.id).order_by(Org.id))
            rows = _history_rows(grid, SMALL if size == "small" else large, now)
            for chunk in range(0, len(rows), 1000):
                db.session.execute(sa.insert(Wish.__table__), rows[chunk:chunk + 1000])
            code = db.session.scalar(sa.select(QrCode.code).where(QrCode.purpose == QrPurpose.wish.value,
                                                                  QrCode.target_id == grid.id))
            places[size] = {"qr": code, "leader": leader, "grid_id": grid.id, "earlier": len(rows)}
        # Rows written straight into the table, as an upgrade finds them: counted once, like the migration does.
        figures.rebuild()
        db.session.commit()
    return places


class Statements:
    """Statements sent to the database while `counting` is on."""

    def __init__(self, engine):
        self.count = 0
        self.counting = False
        sa.event.listen(engine, "before_cursor_execute", self._seen)

    def _seen(self, *args) -> None:
        self.count += self.counting


def _timed(statements: Statements, send) -> tuple[float, int]:
    statements.count, statements.counting = 0, True
    started = time.perf_counter()
    response = send()
    elapsed = (time.perf_counter() - started) * 1000
    statements.counting = False
    assert response.status_code in (200, 201), (response.status_code, response.get_data(as_text=True)[:300])
    return elapsed, statements.count


def _login(client, username: str) -> dict:
    response = client.post("/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD})
    assert response.status_code == 200, response.get_json()
    return {"Authorization": f"Bearer {response.get_json()['token']}"}


def measure(app, places: dict, repeat: int) -> dict:
    """Median ms and statements of each write per size, the sizes interleaved."""
    client = app.test_client()
    with app.app_context():
        statements = Statements(db.engine)
    tokens = {size: _login(client, place["leader"]) for size, place in places.items()}
    samples = {(size, what): [] for size in places for what in ("submit", "claim")}
    for _ in range(repeat):
        for size, place in places.items():
            body = {**WISH, "qr": place["qr"], "submit_token": secrets.token_urlsafe(16)}
            ms, n = _timed(statements, lambda body=body: client.post("/api/v1/wishes", json=body))
            samples[(size, "submit")].append((ms, n))
            with app.app_context():
                wish_id = db.session.scalar(sa.select(Wish.id).where(Wish.grid_id == place["grid_id"],
                                                                     Wish.status == "open").order_by(Wish.id.desc()))
            ms, n = _timed(statements, lambda w=wish_id, s=size: client.post(f"/api/v1/wishes/{w}/claim",
                                                                            headers=tokens[s]))
            samples[(size, "claim")].append((ms, n))
    result = {}
    for (size, what), values in samples.items():
        result[f"{what}_{size}_ms"] = round(statistics.median(v[0] for v in values), 2)
        result[f"{what}_{size}_statements"] = statistics.median(v[1] for v in values)
    for what in ("submit", "claim"):
        result[f"{what}_ratio"] = round(result[f"{what}_large_ms"] / result[f"{what}_small_ms"], 2)
    result |= {"earlier_small": places["small"]["earlier"], "earlier_large": places["large"]["earlier"],
               "repeat": repeat}
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url")
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--large", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.database_url or f"sqlite:///{tmp}/history.db"
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "bench",
                          "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "WISH_CLIENT_HOURLY_LIMIT": 1_000_000,
                          "WISH_MAX_ACTIVE_CLAIMS": 1_000_000})
        places = _prepare(app, args.large)
        figures_ = measure(app, places, args.repeat)
        with app.app_context():
            db.engine.dispose()
    figures_["database"] = sa.engine.make_url(url).get_backend_name()
    print(f"\nwrite cost against history ({figures_['database']}, median of {args.repeat})")
    print(f"{'write':<8} {'earlier':>8} {'ms':>9} {'statements':>11}")
    for what in ("submit", "claim"):
        for size in ("small", "large"):
            print(f"{what:<8} {figures_['earlier_' + size]:>8,} {figures_[f'{what}_{size}_ms']:>9.1f} "
                  f"{figures_[f'{what}_{size}_statements']:>11g}")
        print(f"{what:<8} {'ratio':>8} {figures_[what + '_ratio']:>9.2f}  (target ≤ 1.3)")
    if args.json:
        print(json.dumps(figures_))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
