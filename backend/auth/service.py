"""Password sign-in, revocable tokens, and the login rate limits."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from werkzeug.security import check_password_hash, generate_password_hash

from backend.auth.models import AuthToken
from backend.core import limits
from backend.core.db import read_rows
from backend.core.errors import Unauthorized
from backend.core.limits import Limit
from backend.core.permissions import Actor
from backend.extensions import db, utcnow
from backend.orgs.models import Org
from backend.people.actors import actor_of_roles
from backend.people.models import Membership, Person

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


#: Longer than any page address of this site: a longer `next` is a trick, and would make a
#: Location header a proxy refuses.
NEXT_MAX_LENGTH = 2000


def next_path(target: str | None, default: str = "/h5/") -> str:
    """Where to go after signing in (or any redirect a request names): only a path on this
    site, anything else goes to `default`. Every `next` passes here.

    A control character is refused: browsers drop tabs and newlines from URLs, so a slash, a
    tab and "/evil.example" would become the off-site "//evil.example" (and a newline in a
    header is refused by the server). So is a backslash, which browsers read as a slash."""
    if not target or len(target) > NEXT_MAX_LENGTH or not target.startswith("/") or target.startswith("//"):
        return default
    if "\\" in target or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in target):
        return default
    # One leading slash and nothing a browser drops or turns into one: no scheme, no host.
    return target


def _token_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _limits() -> tuple[Limit, Limit, Limit]:
    """(attempts of one client on one account, attempts of one client, failures of one account)."""
    cfg = current_app.config
    window = cfg["LOGIN_FAILURE_WINDOW_MINUTES"] * 60
    return (Limit("login.client_account", cfg["LOGIN_MAX_FAILURES"], window),
            Limit("login.client", cfg["LOGIN_MAX_FAILURES_PER_IP"], window),
            Limit("login.account", 0, window))   # counted, never refused: it sets the back-off


def _backoff(failures: Limit, username: str) -> Limit | None:
    """Many failures for one account from anywhere: one password check per slot, the slot
    doubling with each further failure up to LOGIN_BACKOFF_MAX_SECONDS. A wall would let anyone
    lock the rightful owner out by guessing from many addresses; a slot keeps guessing slow
    and still lets the owner in within the slot."""
    cfg = current_app.config
    extra = limits.count(failures, limits.keyed(username)) - cfg["LOGIN_BACKOFF_AFTER"]
    if extra < 0:
        return None
    return Limit("login.slot", 1, min(2 ** min(extra + 1, 20), cfg["LOGIN_BACKOFF_MAX_SECONDS"]))


#: The answers of the limits, with the wait filled in by backend.core.limits.take.
TOO_MANY_FAILURES = "登录失败次数过多，请 {minutes} 分钟后再试"
BACKING_OFF = "该账号近期登录失败较多，为保护账号，请 {seconds} 秒后再试"


def _admit(username: str, ip: str) -> None:
    """Count this attempt against the client's limits and the account's back-off, or 429."""
    per_account, per_client, failures = _limits()
    limits.take(per_account, limits.keyed(username, ip), TOO_MANY_FAILURES, code="too_many_attempts")
    limits.take(per_client, limits.keyed(ip), TOO_MANY_FAILURES, code="too_many_attempts")
    slot = _backoff(failures, username)
    if slot is not None:
        limits.take(slot, limits.keyed(username), BACKING_OFF, code="too_many_attempts")


def authenticate(username: str, password: str, ip: str) -> Person:
    """Return the active person with this username and password.

    Raises 429 `too_many_attempts` (before the password is checked, so a correct guess then
    still fails) when this client failed too often for this username or for any, or when the
    username is in back-off after failures from many clients; 401 `invalid_credentials`
    otherwise. The caller commits a failure: it feeds the limits.
    """
    username = username.strip().lower()
    _admit(username, ip)
    person = db.session.scalar(sa.select(Person).where(sa.func.lower(Person.username) == username))
    stored = person.password_hash if person and person.password_hash else _dummy_hash()
    valid = check_password_hash(stored, password) and person is not None and person.is_active
    per_account, per_client, failures = _limits()
    if not valid:
        limits.add(failures, limits.keyed(username))
        raise Unauthorized("用户名或密码错误", code="invalid_credentials")
    # A success does not count against the client, and wipes this account's failures.
    limits.clear(per_account, limits.keyed(username, ip))
    limits.give_back(per_client, limits.keyed(ip))
    limits.clear(failures, limits.keyed(username))
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


#: The live token's id beside its person's id, name and whether they are active, with the role and org
#: path of each of their memberships, one row per membership. Built once and read as columns:
#: every signed-in request runs it, and the person is read only by the requests that use more
#: of them than who they are and what they may do.
_LOGIN = (
    sa.select(AuthToken.id.label("token_id"), Person.id.label("person_id"), Person.name, Person.is_active,
              Membership.role, Org.path)
    .select_from(AuthToken)
    .join(Person, Person.id == AuthToken.person_id)
    .outerjoin(Membership, Membership.person_id == Person.id)
    .outerjoin(Org, Org.id == Membership.org_id)
    .where(AuthToken.token_hash == sa.bindparam("token_hash"),
           AuthToken.kind == sa.bindparam("kind"),
           AuthToken.revoked_at.is_(None),
           AuthToken.expires_at > sa.bindparam("now"))
    .order_by(Membership.id)
)


def find_token(secret: str, kind: str) -> tuple[int, Actor | None] | None:
    """The id of the live (unexpired, unrevoked) token for `secret` and its person as an actor
    (None when they are inactive); None when there is no such token. Every signed-in request
    starts here, and one round trip tells who is asking and what they may do. Read afresh on
    every request, so a revoked token or a changed role counts at once."""
    if not secret:
        return None
    rows = read_rows(_LOGIN, {"token_hash": _token_hash(secret), "kind": kind, "now": utcnow()}).all()
    if not rows:
        return None
    first = rows[0]
    actor = (actor_of_roles(first.person_id, first.name, ((row.role, row.path) for row in rows if row.role is not None))
             if first.is_active else None)
    return first.token_id, actor


def revoke(token_id: int) -> None:
    """Logout: the token `token_id` stops working everywhere at once."""
    token = db.session.get(AuthToken, token_id)
    if token is not None and token.revoked_at is None:
        token.revoked_at = utcnow()


def purge_stale(older_than: timedelta = timedelta(days=30)) -> int:
    """Delete tokens expired or revoked more than `older_than` ago; returns rows removed."""
    cutoff = utcnow() - older_than
    return db.session.execute(sa.delete(AuthToken).where(
        sa.or_(AuthToken.expires_at < cutoff, AuthToken.revoked_at < cutoff))).rowcount
