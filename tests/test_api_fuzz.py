"""Schemathesis against the OpenAPI document, in the suite: every operation, unauthenticated,
as admin and as a party member, on SQLite with the demo data. Valid and invalid requests
(schemathesis' positive and negative modes) must never give a 5xx, every answer must match
the document (status, content type, headers, body), and invalid data must be refused.

Bounded so `make test` stays short: MAX_EXAMPLES per operation and role, drawn the same way
on every run (derandomised), and no test spends more than TIME_CAP_SECONDS. The longer,
randomised run is bench/fuzz.py.
"""

from __future__ import annotations

import shutil
import time

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from backend.app import create_app
from backend.auth.service import issue_token
from backend.demo import load_demo
from backend.extensions import db
from backend.people.models import Person
from tests.conftest import TEST_CONFIG

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 3
TIME_CAP_SECONDS = 20
#: Who asks: nobody, the platform admin, and a party member of 和平社区 (demo accounts).
ROLES = {"anonymous": None, "admin": "admin", "party_member": "heping_dy1"}
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_headers_conformance,
          response_schema_conformance, negative_data_rejection]
LOGOUT = ("POST", "/api/v1/auth/logout")
#: Uncompressed answers: the WSGI transport hands schemathesis the bytes as sent.
PLAIN = {"Accept-Encoding": "identity"}

# The document needs no database: it is read once, from an app on an empty in-memory one.
DOCUMENT = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": "sqlite://"}).test_client().get(
    "/api/v1/openapi.json").get_json()
schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(
    {"generation": {"mode": "all", "database": "none"}}))


@pytest.fixture(scope="session", params=["sqlite"])
def database(database):
    """SQLite only: every rule the fuzzing reaches is tested on both databases elsewhere."""
    return database


@pytest.fixture(scope="module")
def fuzzed(database, tmp_path_factory):
    """(app, person ids by role): the demo data on a copy of the migrated SQLite database,
    shared by this module's tests (what one operation makes, the next may find)."""
    _, template = database
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.db"
    shutil.copy(template, path)
    # Score streams end after a second, so a fuzzed stream is one short answer.
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": f"sqlite:///{path}", "STREAM_MAX_SECONDS": 1,
                      "STREAM_HEARTBEAT_SECONDS": 1})
    with app.app_context():
        load_demo()
        db.session.commit()
        people = {role: db.session.scalar(db.select(Person.id).where(Person.username == username))
                  for role, username in ROLES.items() if username}
        db.session.remove()
    yield app, people
    with app.app_context():
        db.engine.dispose()


def _headers(app, person_id: int | None) -> dict:
    """A fresh bearer token each time: POST /auth/logout revokes the one it is sent with."""
    if person_id is None:
        return dict(PLAIN)
    with app.app_context():
        secret, _ = issue_token(db.session.get(Person, person_id))
        db.session.commit()
        db.session.remove()
    return {"Authorization": f"Bearer {secret}", **PLAIN}


@pytest.fixture
def started():
    return time.monotonic()


@pytest.fixture(scope="module")
def tokens(fuzzed):
    app, people = fuzzed
    return {role: _headers(app, people.get(role)) for role in ROLES}


@schema.parametrize()
@pytest.mark.parametrize("role", ROLES)
@settings(max_examples=MAX_EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_every_operation(case, role, fuzzed, tokens, started):
    if time.monotonic() - started > TIME_CAP_SECONDS:
        return
    app, people = fuzzed
    headers = _headers(app, people.get(role)) if (case.method.upper(), case.path) == LOGOUT else tokens[role]
    response = case.call(app=app, headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)
