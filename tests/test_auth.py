"""Staff login, bearer tokens, revocation and the login rate limit."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from backend.auth.models import AuthToken
from backend.core.limits import RateCount
from backend.extensions import db, utcnow
from tests import factories as f


def test_login_returns_token_and_user(client, app):
    orgs = f.tree()
    f.person("李红梅", username="heping", role="secretary", org=orgs["a"])
    response = client.post("/api/v1/auth/login", json={"username": "heping", "password": f.PASSWORD})
    assert response.status_code == 200
    body = response.get_json()
    assert len(body["token"]) >= 40
    assert body["user"]["name"] == "李红梅"
    assert body["user"]["memberships"][0]["role"] == "secretary"
    assert body["user"]["memberships"][0]["org_name"] == "和平社区"
    # only a hash of the token is stored
    stored = db.session.scalars(sa.select(AuthToken.token_hash)).all()
    assert body["token"] not in stored


def test_username_is_case_insensitive(client, app):
    f.person(username="heping")
    assert client.post("/api/v1/auth/login", json={"username": "HePing", "password": f.PASSWORD}).status_code == 200


def test_wrong_password_is_401_with_stable_code(client, app):
    f.person(username="heping")
    response = client.post("/api/v1/auth/login", json={"username": "heping", "password": "nope-nope"})
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_credentials"
    unknown = client.post("/api/v1/auth/login", json={"username": "ghost", "password": "nope-nope"})
    assert unknown.status_code == 401
    assert unknown.get_json()["error"] == response.get_json()["error"]  # no user enumeration


def test_repeated_failures_are_rate_limited_even_with_the_right_password(client, app):
    f.person(username="heping")
    limit = app.config["LOGIN_MAX_FAILURES"]
    for _ in range(limit):
        assert client.post("/api/v1/auth/login", json={"username": "heping", "password": "x"}).status_code == 401
    response = client.post("/api/v1/auth/login", json={"username": "heping", "password": f.PASSWORD})
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "too_many_attempts"
    assert int(response.headers["Retry-After"]) > 0


def test_rate_limit_window_expires(client, app):
    f.person(username="heping")
    for _ in range(app.config["LOGIN_MAX_FAILURES"]):
        client.post("/api/v1/auth/login", json={"username": "heping", "password": "x"})
    # The window ends (its counts stay behind until the purge job).
    db.session.execute(sa.update(RateCount).values(ends_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert client.post("/api/v1/auth/login", json={"username": "heping", "password": f.PASSWORD}).status_code == 200


def test_me_requires_a_valid_token(client, app):
    assert client.get("/api/v1/me").status_code == 401
    bad = client.get("/api/v1/me", headers={"Authorization": "Bearer not-a-token"})
    assert bad.status_code == 401
    assert bad.get_json()["error"]["code"] == "invalid_token"


def test_logout_revokes_the_token(client, app):
    f.person(username="heping")
    headers = f.login(client, "heping")
    assert client.get("/api/v1/me", headers=headers).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=headers).status_code == 204
    assert client.get("/api/v1/me", headers=headers).status_code == 401
    # another login is unaffected by the first one's logout
    other = f.login(client, "heping")
    assert client.get("/api/v1/me", headers=other).status_code == 200


def test_expired_token_is_refused(client, app):
    f.person(username="heping")
    headers = f.login(client, "heping")
    db.session.execute(sa.update(AuthToken).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    assert client.get("/api/v1/me", headers=headers).status_code == 401


def test_deactivated_person_cannot_log_in(client, app):
    p = f.person(username="heping")
    p.is_active = False
    db.session.commit()
    assert client.post("/api/v1/auth/login", json={"username": "heping", "password": f.PASSWORD}).status_code == 401
