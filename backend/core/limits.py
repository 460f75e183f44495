"""Rate limits: how many times a key (a client, an account) did something in the current window.

One row per (bucket, key, window) holds a count; a window is a fixed stretch of time aligned
to the clock (a 1-hour window runs from the full hour), so a key can at most double its limit
across a window's edge. Taking one more is a single upsert whose update only happens below the
limit, so concurrent requests never pass it together on either database (PostgreSQL re-checks
the condition on the locked row; SQLite writes one transaction at a time). The count lives in
the request's transaction: a refused or failed request counts nothing. Rows of windows that
have ended mean nothing and are purged by a job, so the table holds only the current windows.
Keys are keyed hashes (the client's address never reaches the table).
"""

from __future__ import annotations

import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.errors import TooManyRequests
from backend.extensions import UTCDateTime, db, utcnow


class RateCount(db.Model):
    """How often one key did one thing in one window."""

    __tablename__ = "rate_counts"

    #: What is counted, e.g. "wish.client" or "login.account".
    bucket: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    #: Keyed hash (HMAC-SHA256 hex) of who is counted.
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    #: When the window ends; the row means nothing after it.
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    #: How many in the window so far.
    count: Mapped[int] = mapped_column(default=0)


@dataclass(frozen=True)
class Limit:
    """At most `most` per `seconds` for one key; `most` 0 turns the limit off."""

    bucket: str
    most: int
    seconds: int


def keyed(*parts: object) -> str:
    """A key for the table: nothing stored can be turned back into an address or a name."""
    # Domain-separated from the session signatures that also use SECRET_KEY.
    secret = hmac.new(current_app.config["SECRET_KEY"].encode(), b"sanwei rate-limit key", hashlib.sha256).digest()
    return hmac.new(secret, "\x1f".join(str(p) for p in parts).encode(), hashlib.sha256).hexdigest()


def _window_end(seconds: int, now: datetime) -> datetime:
    epoch = int(now.timestamp())
    return datetime.fromtimestamp(epoch - epoch % seconds + seconds, UTC)


def retry_after(limit: Limit) -> int:
    """Seconds until the current window of `limit` ends (at least 1)."""
    now = utcnow()
    return max(1, math.ceil((_window_end(limit.seconds, now) - now).total_seconds()))


def refusal(limit: Limit, message: str, code: str = "too_many_requests") -> TooManyRequests:
    """The 429 for `limit`; `{minutes}` or `{seconds}` in `message` become the wait (rounded up)."""
    wait = retry_after(limit)
    return TooManyRequests(message.format(minutes=math.ceil(wait / 60), seconds=wait), code=code,
                           headers={"Retry-After": str(wait)})


def _upsert(limit: Limit, key: str, where=None) -> int | None:
    """The new count, or None when `where` held the row back."""
    dialect = postgresql if db.session.get_bind().dialect.name == "postgresql" else sqlite
    stmt = dialect.insert(RateCount).values(bucket=limit.bucket, key=key, ends_at=_window_end(limit.seconds, utcnow()),
                                            count=1)
    stmt = stmt.on_conflict_do_update(index_elements=["bucket", "key", "ends_at"],
                                      set_={"count": RateCount.count + 1}, where=where)
    return db.session.execute(stmt.returning(RateCount.count)).scalar()


def take(limit: Limit, key: str, message: str, *, code: str = "too_many_requests") -> None:
    """Count one more for `key`, or raise 429 (with Retry-After) when the window is full."""
    if limit.most > 0 and _upsert(limit, key, where=RateCount.count < limit.most) is None:
        raise refusal(limit, message, code)


def add(limit: Limit, key: str) -> None:
    """Count one more without a ceiling: for what is known only afterwards (a wrong password)."""
    _upsert(limit, key)


def _current(limit: Limit, key: str):
    return sa.and_(RateCount.bucket == limit.bucket, RateCount.key == key,
                   RateCount.ends_at == _window_end(limit.seconds, utcnow()))


def count(limit: Limit, key: str) -> int:
    """How many `key` has in the current window."""
    return db.session.scalar(sa.select(RateCount.count).where(_current(limit, key))) or 0


def give_back(limit: Limit, key: str) -> None:
    """Undo one `take` of this window (it turned out not to count)."""
    db.session.execute(sa.update(RateCount).where(_current(limit, key), RateCount.count > 0)
                       .values(count=RateCount.count - 1))


def clear(limit: Limit, key: str) -> None:
    """Forget `key`'s count in `limit` (a success wipes the slate)."""
    db.session.execute(sa.delete(RateCount).where(RateCount.bucket == limit.bucket, RateCount.key == key))


def purge_ended() -> int:
    """Delete the rows of windows that have ended; returns how many."""
    return db.session.execute(sa.delete(RateCount).where(RateCount.ends_at <= utcnow())).rowcount
