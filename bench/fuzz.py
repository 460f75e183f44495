"""The longer schemathesis run: every operation of the OpenAPI document, unauthenticated, as
admin and as a party member, against the app served on loopback with the demo data on a
temporary SQLite database. The suite runs the same checks with a few derandomised examples
per operation (tests/test_api_fuzz.py); this draws many more, at random, with schemathesis'
coverage phase (boundary values, wrong types, missing fields) before its fuzzing.

    .venv/bin/python bench/fuzz.py [--examples 50] [--max-time 600] [--roles anonymous,admin,party_member]

Prints one row per role: test cases, 5xx answers, schema violations (an answer the document
does not describe), invalid data accepted, other failures, seconds. Exit status 1 on any failure;
schemathesis' full report for each role is kept in the temporary directory it names.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from flask_migrate import upgrade  # noqa: E402
from werkzeug.serving import make_server  # noqa: E402

from backend.app import create_app  # noqa: E402
from backend.demo import DEMO_PASSWORD, load_demo  # noqa: E402
from backend.extensions import db  # noqa: E402

ROLES = {"anonymous": None, "admin": "admin", "party_member": "heping_dy1"}
CHECKS = ("not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,"
          "response_schema_conformance,negative_data_rejection")
#: schemathesis' failure codes, by what they mean here.
KINDS = {"ST101": "5xx", "ST108": "schema", "ST105": "schema", "ST103": "schema", "ST104": "schema",
         "ST201": "accepted"}


def serve(workdir: Path) -> str:
    """The app with demo data on loopback, from a daemon thread; returns its base URL."""
    # Tens of thousands of request lines would bury the table.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    url = f"sqlite:///{workdir / 'fuzz.db'}"
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": "fuzz", "EVIDENCE_DIR": str(workdir / "evidence"),
                      "PASSWORD_HASH_METHOD": "pbkdf2:sha256:1000", "STREAM_MAX_SECONDS": 1,
                      "STREAM_HEARTBEAT_SECONDS": 1, "LOGIN_MAX_FAILURES_PER_IP": 10 ** 6})
    with app.app_context():
        upgrade()
        load_demo()
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}"


def token(base: str, username: str) -> str:
    request = urllib.request.Request(f"{base}/api/v1/auth/login", method="POST",
                                     data=json.dumps({"username": username, "password": DEMO_PASSWORD}).encode(),
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.load(response)["token"]


def run(base: str, role: str, username: str | None, args, report: Path) -> dict:
    command = [str(ROOT / ".venv" / "bin" / "st"), "run", f"{base}/api/v1/openapi.json", "--checks", CHECKS,
               "--max-examples", str(args.examples), "--max-time", str(args.max_time), "--workers", "2",
               "--phases", "examples,coverage,fuzzing", "--suppress-health-check", "all", "--continue-on-failure",
               "--request-timeout", "30", "--no-color"]
    if username:
        # Signing out would revoke the token every other request of the run carries.
        command += ["-H", f"Authorization: Bearer {token(base, username)}", "--exclude-path", "/api/v1/auth/logout"]
    started = time.monotonic()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    seconds = time.monotonic() - started
    report.write_text(done.stdout + done.stderr)
    found = re.search(r"(\d+) generated", done.stdout)
    counts = {"role": role, "cases": int(found.group(1)) if found else 0, "5xx": 0, "schema": 0, "accepted": 0,
              "other": 0, "seconds": round(seconds)}
    for code, number in re.findall(r"(ST\d+) [^:\n]+: (\d+)", done.stdout):
        counts[KINDS.get(code, "other")] += int(number)
    # Operations schemathesis could not test at all (a document it cannot read) count as failures.
    counts["other"] += sum(int(n) for n in re.findall(r"🚫 [^:\n]*Error[^:\n]*: (\d+)", done.stdout))
    return counts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=50, help="examples per operation and phase")
    parser.add_argument("--max-time", type=int, default=600, help="seconds at most per role")
    parser.add_argument("--roles", default=",".join(ROLES))
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="sanwei-fuzz-"))
    base = serve(workdir)
    rows = [run(base, role, ROLES[role], args, workdir / f"{role}.txt") for role in args.roles.split(",")]
    print(f"schemathesis, {args.examples} examples per operation, at most {args.max_time} s per role; "
          f"reports in {workdir}")
    print(f"{'role':<14}{'cases':>8}{'5xx':>6}{'schema':>8}{'accepted':>10}{'other':>7}{'seconds':>9}")
    for row in rows:
        print(f"{row['role']:<14}{row['cases']:>8,}{row['5xx']:>6}{row['schema']:>8}{row['accepted']:>10}"
              f"{row['other']:>7}{row['seconds']:>9}")
    return 1 if any(row[k] for row in rows for k in ("5xx", "schema", "accepted", "other")) else 0


if __name__ == "__main__":
    sys.exit(main())
