"""First-visit weight of the H5 pages, as a cheap phone would download them.

Serves the app with demo data on a temporary SQLite database, fetches each page and every
stylesheet and script it references, and prints bytes as stored and as sent. "on wire" is
what a client sending `Accept-Encoding: gzip, br` gets (WeChat over HTTPS); "no br" is what
a browser gets over plain HTTP, where it offers only `gzip, deflate`.
Budget: about 60 KB on the wire for a first visit.

    .venv/bin/python bench/page_weight.py

Exit status 1 if a page is over budget, a text resource is sent uncompressed, or an asset
does not revalidate with a 304.
"""

from __future__ import annotations

import gzip
import re
import sys
import tempfile
import zlib
from pathlib import Path

import brotli
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from backend.app import create_app  # noqa: E402
from backend.demo import DEMO_PASSWORD, load_demo  # noqa: E402
from backend.extensions import db  # noqa: E402
from backend.orgs.models import Org  # noqa: E402
from backend.qrcodes.models import QrCode  # noqa: E402

BUDGET = 60 * 1024
ASSET = re.compile(r'<(?:link[^>]+href|script[^>]+src)="(/[^"?#]+\.(?:css|js)(?:\?[^"]*)?)"')
UA = "Mozilla/5.0 (iPhone) MicroMessenger/8.0.50(0x1800323d) NetType/WIFI Language/zh_CN"
DECODE = {"identity": lambda b: b, "gzip": gzip.decompress, "br": brotli.decompress, "deflate": zlib.decompress}


def fetch(client, path: str, accept: str) -> tuple[bytes, int, str]:
    """(decoded body, bytes on the wire, Content-Encoding) for one GET."""
    response = client.get(path, headers={"Accept-Encoding": accept, "User-Agent": UA})
    assert response.status_code == 200, (path, response.status_code)
    wire = response.get_data()
    encoding = response.headers.get("Content-Encoding", "identity")
    if encoding != "identity" and "Accept-Encoding" not in response.headers.get("Vary", ""):
        raise SystemExit(f"{path}: compressed without Vary: Accept-Encoding (caches would mix them up)")
    return DECODE[encoding](wire), len(wire), encoding


def measure(client, label: str, path: str, min_size: int) -> tuple[int, list[str]]:
    """Print one page's table; return its bytes on the wire and any resource sent uncompressed."""
    html, _, _ = fetch(client, path, "gzip, br")
    rows, problems = [], []
    for name in [path, *ASSET.findall(html.decode())]:
        body, wire, encoding = fetch(client, name, "gzip, br")
        _, http_wire, http_encoding = fetch(client, name, "gzip, deflate")
        rows.append((name, len(body), wire, http_wire, f"{encoding} / {http_encoding}"))
        if "identity" in (encoding, http_encoding) and len(body) >= min_size:
            problems.append(name)
    print(f"\n{label}: {path}")
    print(f"{'resource':<32} {'raw bytes':>10} {'on wire':>9} {'no br':>9}  encoding")
    for name, raw, wire, http_wire, encoding in rows:
        print(f"{name:<32} {raw:>10,} {wire:>9,} {http_wire:>9,}  {encoding}")
    total = sum(r[2] for r in rows)
    verdict = "within" if total <= BUDGET else "OVER"
    print(f"{'total':<32} {sum(r[1] for r in rows):>10,} {total:>9,} {sum(r[3] for r in rows):>9,}"
          f"  {total / 1024:.1f} KB: {verdict} the {BUDGET // 1024} KB budget")
    return total, problems


def revalidates(client, path: str) -> bool:
    """A repeat visit after the cache expired: does the asset come back as 304, not again in full?"""
    headers = {"Accept-Encoding": "gzip, br", "User-Agent": UA}
    first = client.get(path, headers=headers)
    again = client.get(path, headers={**headers, "If-None-Match": first.headers.get("ETag", "")})
    return again.status_code == 304


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "SECRET_KEY": "bench",
                          "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
        with app.app_context():
            upgrade()
            load_demo()
            db.session.commit()
            wish_code = db.session.scalar(sa.select(QrCode.code).where(QrCode.purpose == "wish").limit(1))
            community = db.session.scalar(sa.select(Org.id).where(Org.kind == "community").limit(1))
        client = app.test_client()
        min_size = app.config["COMPRESS_MIN_SIZE"]
        results = [measure(client, "anonymous home", "/h5/", min_size),
                   measure(client, "login page", "/h5/login", min_size),
                   measure(client, "wish form (QR landing)", f"/h5/w/new?qr={wish_code}", min_size),
                   measure(client, "my wishes (anonymous)", "/h5/w/mine", min_size),
                   measure(client, "community services", f"/h5/c/{community}/services", min_size),
                   measure(client, "community wishes", f"/h5/c/{community}/wishes", min_size),
                   measure(client, "service page (resident)", "/h5/services/1", min_size)]
        # Inside WeChat, with WeChat configured, public pages also load wechat.js for the share card.
        app.config.update(WECHAT_APP_ID="wxbench", WECHAT_APP_SECRET="bench")
        results.append(measure(client, "community wishes, WeChat configured", f"/h5/c/{community}/wishes", min_size))
        app.config.update(WECHAT_APP_ID="", WECHAT_APP_SECRET="")
        page = client.get("/h5/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        login = client.post("/h5/login", data={"username": "heping", "password": DEMO_PASSWORD, "csrf_token": token})
        assert login.status_code == 302, login.status_code
        results.append(measure(client, "secretary home (logged in)", "/h5/", min_size))
        for name, path in [("activities", "/h5/activities"), ("new activity form", "/h5/activities/new"),
                           ("activity page", "/h5/activities/1"), ("my hours", "/h5/me/hours"),
                           ("service page", "/h5/services/1"),
                           ("teams", "/h5/teams"), ("team page", "/h5/teams/1"),
                           ("leaderboard", "/h5/orgs/2/leaderboard"), ("my bookings", "/h5/me/bookings"),
                           ("rating scorecard", "/h5/rating/1/orgs/2"),
                           ("manual criterion form", "/h5/rating/1/orgs/2/criteria/G4"),
                           ("poll criterion page", "/h5/rating/1/orgs/2/criteria/S5"),
                           ("meetings record", "/h5/rating/orgs/2/meetings"),
                           ("live scorecard board", "/h5/rating/1/orgs/2/live")]:
            results.append(measure(client, name, path, min_size))
        assets = ASSET.findall(client.get("/h5/").get_data(as_text=True))
        stale = [a for a in assets if not revalidates(client, a)]
        verdict = "sent in full again: " + ", ".join(stale) if stale else "all 304"
        print(f"\nrepeat visit (If-None-Match): {verdict}")
        with app.app_context():
            db.engine.dispose()
    uncompressed = sorted({name for _, names in results for name in names})
    if uncompressed:
        print(f"\nsent uncompressed: {', '.join(uncompressed)}")
    return 0 if max(total for total, _ in results) <= BUDGET and not uncompressed and not stale else 1


if __name__ == "__main__":
    raise SystemExit(main())
