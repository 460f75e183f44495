"""First-visit weight of the H5 pages, as a cheap phone would download them.

Serves the app with demo data on a temporary SQLite database, fetches each page and every
stylesheet and script it references with `Accept-Encoding: gzip, br`, and prints bytes as
stored and as sent. Budget: about 60 KB on the wire for a first visit.

    .venv/bin/python bench/page_weight.py
"""

from __future__ import annotations

import re
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask_migrate import upgrade  # noqa: E402

from backend import create_app  # noqa: E402
from backend.demo import DEMO_PASSWORD, load_demo  # noqa: E402
from backend.extensions import db  # noqa: E402

BUDGET = 60 * 1024
ASSET = re.compile(r'<(?:link[^>]+href|script[^>]+src)="(/[^"]+\.(?:css|js))"')
HEADERS = {"Accept-Encoding": "gzip, br", "User-Agent": "bench MicroMessenger/8.0.50"}


def fetch(client, path):
    response = client.get(path, headers=HEADERS)
    assert response.status_code == 200, (path, response.status_code)
    wire = response.get_data()
    encoding = response.headers.get("Content-Encoding", "identity")
    raw = len(wire)
    if encoding == "gzip":
        import gzip
        raw = len(gzip.decompress(wire))
    elif encoding == "br":
        import brotli
        raw = len(brotli.decompress(wire))
    return raw, len(wire), encoding, response


def measure(client, label, path):
    rows = []
    raw, wire, encoding, response = fetch(client, path)
    rows.append((path, raw, wire, encoding))
    for asset in ASSET.findall(response.get_data(as_text=True) if encoding == "identity" else
                               _text(response, encoding)):
        rows.append((asset, *fetch(client, asset)[:3]))
    total = sum(r[2] for r in rows)
    print(f"\n{label}: {path}")
    print(f"{'resource':<36} {'raw bytes':>10} {'on wire':>10}  encoding")
    for name, raw, wire, encoding in rows:
        print(f"{name:<36} {raw:>10,} {wire:>10,}  {encoding}")
    verdict = "within" if total <= BUDGET else "OVER"
    print(f"{'total':<36} {sum(r[1] for r in rows):>10,} {total:>10,}  {verdict} the {BUDGET // 1024} KB budget")
    return total


def _text(response, encoding):
    data = response.get_data()
    if encoding == "gzip":
        import gzip
        return gzip.decompress(data).decode()
    import brotli
    return brotli.decompress(data).decode()


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp}/bench.db", "SECRET_KEY": "bench",
                          "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000"})
        with app.app_context():
            upgrade()
            load_demo()
            db.session.commit()
        client = app.test_client()
        totals = [measure(client, "anonymous home", "/h5/"), measure(client, "login page", "/h5/login")]
        page = client.get("/h5/login").get_data(as_text=True)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        client.post("/h5/login", data={"username": "heping", "password": DEMO_PASSWORD, "csrf_token": token})
        totals.append(measure(client, "secretary home (logged in)", "/h5/"))
        with app.app_context():
            db.engine.dispose()
    return 0 if max(totals) <= BUDGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
