"""Rate limits: how many times a key (a client, an account) did something in its current window.

One row per (bucket, key) holds a count and when its window ends; the window starts at the
key's first hit after the last one ended, so it is a full window for everyone (no clock edge
to double a limit across). Taking one more is a single upsert that starts a new window or
counts one more below the limit, so concurrent requests never pass it together on either
database (PostgreSQL re-checks the condition on the locked row; SQLite writes one transaction
at a time). The count lives in the request's transaction: a refused or failed request counts
nothing. Rows whose window has ended mean nothing and are purged by a job, so the table holds
one row per key active within its window. Keys are keyed hashes: no address or name is stored.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from backend.core.db import dialect_insert
from backend.core.errors import TooManyRequests
from backend.extensions import UTCDateTime, db, utcnow


class RateCount(db.Model):
    """How often one key did one thing in its current window."""

    __tablename__ = "rate_counts"

    #: What is counted, e.g. "wish.client" or "login.account".
    bucket: Mapped[str] = mapped_column(sa.String(40), primary_key=True)
    #: Keyed hash (HMAC-SHA256 hex) of who is counted.
    key: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    #: When the window ends; after it the count means nothing and the next hit starts afresh.
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    #: How many in the window so far.
    count: Mapped[int] = mapped_column(default=0)


@dataclass(frozen=True)
class Limit:
    """At most `most` per window of `seconds` for one key; `most` 0: counted, never refused.
    `coarse`: the window starts at the whole minute of its first hit, so the row tells no more
    of when than the minute (anonymous poll answers keep only the minute of their own time)."""

    bucket: str
    most: int
    seconds: int
    coarse: bool = False


def keyed(*parts: object) -> str:
    """A key for the table: nothing stored can be turned back into an address or a name."""
    # Domain-separated from the session signatures that also use SECRET_KEY.
    secret = hmac.new(current_app.config["SECRET_KEY"].encode(), b"sanwei rate-limit key", hashlib.sha256).digest()
    return hmac.new(secret, "\x1f".join(str(p) for p in parts).encode(), hashlib.sha256).hexdigest()


def _row(limit: Limit, key: str):
    return sa.and_(RateCount.bucket == limit.bucket, RateCount.key == key)


def _upsert(limit: Limit, key: str, ceiling: bool) -> int | None:
    """Count one more (a new window when the last has ended); with `ceiling`, only below the
    limit. Returns the new count, or None when the ceiling held it back."""
    now = utcnow()
    start = now.replace(second=0, microsecond=0) if limit.coarse else now
    return db.session.execute(_counting(db.session.get_bind().dialect.name, ceiling), {
        "bucket": limit.bucket, "key": key, "ends_at": start + timedelta(seconds=limit.seconds), "now": now,
        "most": limit.most}).scalar()


@functools.cache
def _counting(dialect_name: str, ceiling: bool):
    """The statement of `_upsert`, built once per database and kind: every limited request runs
    it. Of the table, not the model: an ORM statement is annotated afresh on every run."""
    table = RateCount.__table__
    stmt = dialect_insert(dialect_name)(table).values(
        bucket=sa.bindparam("bucket"), key=sa.bindparam("key"), count=1, ends_at=sa.bindparam("ends_at"))
    ended = table.c.ends_at <= sa.bindparam("now")
    stmt = stmt.on_conflict_do_update(
        index_elements=["bucket", "key"],
        set_={"count": sa.case((ended, stmt.excluded.count), else_=table.c.count + 1),
              "ends_at": sa.case((ended, stmt.excluded.ends_at), else_=table.c.ends_at)},
        where=sa.or_(ended, table.c.count < sa.bindparam("most")) if ceiling else None)
    return stmt.returning(table.c.count)


def retry_after(limit: Limit, key: str) -> int:
    """Seconds until `key`'s window ends (at least 1)."""
    ends_at = db.session.scalar(sa.select(RateCount.ends_at).where(_row(limit, key)))
    return max(1, math.ceil((ends_at - utcnow()).total_seconds())) if ends_at else 1


def take(limit: Limit, key: str, message: str, *, code: str = "too_many_requests") -> None:
    """Count one more for `key`, or raise 429 when its window is full: with Retry-After, and
    `{minutes}` or `{seconds}` in `message` filled in with the wait (rounded up)."""
    if limit.most <= 0 or _upsert(limit, key, ceiling=True) is not None:
        return
    wait = retry_after(limit, key)
    raise TooManyRequests(message.format(minutes=math.ceil(wait / 60), seconds=wait), code=code,
                          headers={"Retry-After": str(wait)})


def add(limit: Limit, key: str) -> None:
    """Count one more without a ceiling: for what is known only afterwards (a wrong password)."""
    _upsert(limit, key, ceiling=False)


def count(limit: Limit, key: str) -> int:
    """How many `key` has in its current window."""
    return db.session.scalar(sa.select(RateCount.count).where(_row(limit, key), RateCount.ends_at > utcnow())) or 0


def give_back(limit: Limit, key: str) -> None:
    """Undo one `take` (it turned out not to count)."""
    db.session.execute(sa.update(RateCount).where(_row(limit, key), RateCount.count > 0)
                       .values(count=RateCount.count - 1))


def clear(limit: Limit, key: str) -> None:
    """Forget `key`'s count (a success wipes the slate)."""
    db.session.execute(sa.delete(RateCount).where(_row(limit, key)))


def purge_ended() -> int:
    """Delete the rows whose window has ended; returns how many."""
    return db.session.execute(sa.delete(RateCount).where(RateCount.ends_at <= utcnow())).rowcount
