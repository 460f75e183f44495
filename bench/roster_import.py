"""Roster import (名册导入) at 5,000 rows, on SQLite and on PostgreSQL.

A street with ten communities; the workbook fills every sheet: households of the ten
communities, 100 grids with their buildings, a leader and a member for each grid, 2,900 party
members (with ID numbers), 1,740 volunteers and 50 resident units — 5,000 rows. Each run goes
through the API with the test client (upload, checks, JSON answer) and is timed end to end:

- read: openpyxl reading the workbook alone;
- dry run: every row checked against the database, nothing written;
- import: the same, then everything created (about 4,800 people, 4,840 roles) and committed;
- again: the same workbook imported a second time (everything found unchanged).

    .venv/bin/python bench/roster_import.py [ROWS_SCALE]

PostgreSQL: TEST_POSTGRES_URL if set (a server URL without database name), else a throwaway
server started as the tests do (tests/pg.py), which runs with fsync off.
"""

from __future__ import annotations

import io
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402
from openpyxl import Workbook  # noqa: E402

from backend.app import create_app  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.orgs.service import create_org  # noqa: E402
from backend.people.service import add_membership, create_person  # noqa: E402
from backend.rosters.workbook import SHEETS, read  # noqa: E402
from tests.conftest import TEST_CONFIG, create_database  # noqa: E402
from tests.pg import PostgresServer  # noqa: E402

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
COMMUNITIES = [f"社区{i:02d}" for i in range(1, 11)]


def _id_number(serial: int) -> str:
    body = f"110101{19600101 + serial // 1000 * 10000:08d}{serial % 1000:03d}"
    return body + "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]


def build_workbook(scale: int = 1) -> tuple[bytes, int]:
    """The 5,000-row workbook (times `scale`), written in openpyxl's streaming mode."""
    staff = [(c, g, post) for c in COMMUNITIES for g in range(1, 10 * scale + 1) for post in ("网格长", "网格员")]
    rows = {
        "社区": [[c, 1000 + i] for i, c in enumerate(COMMUNITIES)],
        "网格": [[c, f"第{g}网格", f"{g * 2 - 1}-{g * 2}栋"] for c in COMMUNITIES for g in range(1, 10 * scale + 1)],
        "网格员": [[f"网格员{c}{g}{post}", f"139{n:08d}", None, c, f"第{g}网格", post]
                   for n, (c, g, post) in enumerate(staff)],
        "党员": [[f"党员{n}", f"138{n:08d}", _id_number(n), ("在职", "流动", "退休", "其他")[n % 4],
                  "某单位" if n % 4 == 0 else None, COMMUNITIES[n % 10]] for n in range(2900 * scale)],
        "志愿者": [[f"志愿者{n}", f"137{n:08d}", None, COMMUNITIES[n % 10], f"第{n % (10 * scale) + 1}网格"]
                   for n in range(1740 * scale)],
        "驻区单位": [[f"单位{n}", COMMUNITIES[n % 10] if n % 2 else None] for n in range(50 * scale)],
    }
    book = Workbook(write_only=True)
    for spec in SHEETS:
        sheet = book.create_sheet(spec.title)
        sheet.append([c.header for c in spec.columns])
        for row in rows[spec.title]:
            sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), sum(len(r) for r in rows.values())


def _world() -> None:
    street = create_org("东湖街道", "street", None)
    for name in COMMUNITIES:
        create_org(name, "community", street)
    officer = create_person(name="王建国", username="officer", password="bench-password-1")
    add_membership(officer, street, "street_officer")
    db.session.commit()


def _timed(call) -> tuple[float, object]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def run(url: str, data: bytes) -> dict[str, float]:
    """Seconds per step on the database at `url` (migrated here)."""
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": url})
    with app.app_context():
        upgrade()
        _world()
        client = app.test_client()
        token = client.post("/api/v1/auth/login", json={"username": "officer", "password": "bench-password-1"})
        headers = {"Authorization": f"Bearer {token.get_json()['token']}"}

        def post(dry_run: bool):
            response = client.post(f"/api/v1/imports?org_id=1{'&dry_run=1' if dry_run else ''}", headers=headers,
                                   data={"file": (io.BytesIO(data), "roster.xlsx")})
            assert response.status_code == 200, response.get_json()
            body = response.get_json()
            assert body["ok"], body["errors"][:5]
            return body["counts"]

        times = {"read": _timed(lambda: read(data))[0]}
        times["dry run"], _ = _timed(lambda: post(True))
        times["import"], counts = _timed(lambda: post(False))
        times["again"], again = _timed(lambda: post(False))
        assert again["people_created"] == again["memberships_created"] == again["people_updated"] == 0, again
        times["people"], times["roles"] = counts["people_created"], counts["memberships_created"]
        db.session.remove()
        db.engine.dispose()
    return times


def main() -> None:
    scale = int(sys.argv[1]) if len(sys.argv) > 1 else 1
    data, rows = build_workbook(scale)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        results["SQLite"] = run(f"sqlite:///{tmp}/bench.db", data)
    server = None
    base = os.environ.get("TEST_POSTGRES_URL")
    if not base:
        server = PostgresServer()
        reason = server.unavailable_reason()
        base = None if reason else server.start()
        if reason:
            print(f"PostgreSQL skipped: {reason}")
    try:
        if base:
            results["PostgreSQL"] = run(create_database(base.rstrip("/"), "sanwei_bench_rosters"), data)
    finally:
        if server is not None and base:
            server.stop()
    print(f"roster import: {rows:,} rows, workbook {len(data) / 1024:.0f} KB")
    print(f"{'database':<12}{'read':>8}{'dry run':>10}{'import':>10}{'again':>10}{'people':>9}{'roles':>9}")
    for name, t in results.items():
        print(f"{name:<12}{t['read']:>7.2f}s{t['dry run']:>9.2f}s{t['import']:>9.2f}s{t['again']:>9.2f}s"
              f"{t['people']:>9,}{t['roles']:>9,}")


if __name__ == "__main__":
    main()
