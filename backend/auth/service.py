"""Password sign-in, revocable tokens, and the login rate limit."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from backend.auth.models import AuthToken, LoginFailure
from backend.core.errors import TooManyRequests, Unauthorized
from backend.extensions import db, utcnow
from backend.people.models import Person

#: Checked against when the username is unknown, so both cases cost the same time.
_DUMMY_HASHES: dict[str, str] = {}


def hash_password(password: str) -> str:
    """Hash with the configured method (scrypt in production; tests may pick a cheaper one)."""
    return generate_password_hash(password, method=current_app.config["PASSWORD_HASH_METHOD"])


def _dummy_hash() -> str:
    method = current_app.config["PASSWORD_HASH_METHOD"]
    if method not in _DUMMY_HASHES:
        _DUMMY_HASHES[method] = generate_password_hash(secrets.token_hex(8), method=method)
    return _DUMMY_HASHES[method]


def next_path(target: str | None, default: str = "/h5/") -> str:
    """Where to go after signing in: only a path on this site, anything else goes to `default`.

    A control character is refused too: browsers drop tabs and newlines from URLs, so a slash,
    a tab and "/evil.example" would become the off-site "//evil.example"."""
    if (not target or not target.startswith("/") or target.startswith("//") or "\\" in target
            or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target)):
        return default
    return target


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _check_rate_limit(username: str, ip: str) -> None:
    cfg = current_app.config
    window = timedelta(minutes=cfg["LOGIN_FAILURE_WINDOW_MINUTES"])
    since = utcnow() - window
    by_user = db.session.scalar(sa.select(sa.func.count()).where(
        LoginFailure.username == username, LoginFailure.at > since))
    by_ip = db.session.scalar(sa.select(sa.func.count()).where(
        LoginFailure.ip == ip, LoginFailure.at > since))
    if by_user >= cfg["LOGIN_MAX_FAILURES"] or by_ip >= cfg["LOGIN_MAX_FAILURES_PER_IP"]:
        raise TooManyRequests(
            f"登录失败次数过多，请 {cfg['LOGIN_FAILURE_WINDOW_MINUTES']} 分钟后再试",
            code="too_many_attempts",
            headers={"Retry-After": str(int(window.total_seconds()))},
        )


def authenticate(username: str, password: str, ip: str) -> Person:
    """Return the active person with this username and password.

    Raises 429 `too_many_attempts` after repeated failures for the username or the address
    (checked before the password, so a correct guess during lock-out still fails), and
    401 `invalid_credentials` otherwise. Each failure is recorded and committed by the caller.
    """
    username = username.strip().lower()
    _check_rate_limit(username, ip)
    person = db.session.scalar(sa.select(Person).where(sa.func.lower(Person.username) == username))
    stored = person.password_hash if person and person.password_hash else _dummy_hash()
    valid = check_password_hash(stored, password) and person is not None and person.is_active
    if not valid:
        db.session.add(LoginFailure(username=username, ip=ip))
        raise Unauthorized("用户名或密码错误", code="invalid_credentials")
    db.session.execute(sa.delete(LoginFailure).where(LoginFailure.username == username))
    return person


def issue_token(person: Person, kind: str = "bearer") -> tuple[str, AuthToken]:
    """Create a token; the returned secret is the only copy and is not stored."""
    secret = secrets.token_urlsafe(32)
    hours = current_app.config["TOKEN_TTL_HOURS" if kind == "bearer" else "SESSION_TTL_HOURS"]
    token = AuthToken(token_hash=_token_hash(secret), kind=kind, person_id=person.id,
                      expires_at=utcnow() + timedelta(hours=hours))
    db.session.add(token)
    db.session.flush()
    return secret, token


def find_token(secret: str, kind: str) -> AuthToken | None:
    """The live (unexpired, unrevoked) token for `secret`, or None."""
    if not secret:
        return None
    return db.session.scalar(sa.select(AuthToken).where(
        AuthToken.token_hash == _token_hash(secret),
        AuthToken.kind == kind,
        AuthToken.revoked_at.is_(None),
        AuthToken.expires_at > utcnow(),
    ))


def revoke(token: AuthToken) -> None:
    """Logout: the token stops working everywhere at once."""
    if token.revoked_at is None:
        token.revoked_at = utcnow()


def purge_stale(older_than: timedelta = timedelta(days=30)) -> int:
    """Delete expired or revoked tokens and old login failures; returns rows removed."""
    cutoff = utcnow() - older_than
    removed = db.session.execute(sa.delete(AuthToken).where(
        sa.or_(AuthToken.expires_at < cutoff, AuthToken.revoked_at < cutoff))).rowcount
    removed += db.session.execute(sa.delete(LoginFailure).where(LoginFailure.at < cutoff)).rowcount
    return removed
