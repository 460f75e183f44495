"""The order answers came in, as the database's storage keeps it, and forgetting it.

The rows say nothing of that order: answers have random ids and minutes only, ballots and
tallies no id at all and on SQLite no rowid. The storage does say it. SQLite puts each new row
on top of its page and keeps recent commits page by page in the -wal file; PostgreSQL appends
rows to the heap (a plain SELECT returns them in that order) and stamps each with the id of the
transaction that wrote it (`xmin`, readable by any SELECT) — one id for an answer and its
ballots. A copy of the database can so put recent answers in order and, for whoever also holds
the ballot key, pair each with its ballot.

`forget_write_order` rewrites the rows of every poll that may have taken answers since its
last rewrite, in one transaction and in key order: afterwards they share one transaction id and
sit in an order that says nothing (random ids, keyed hashes), SQLite zeroes what it deletes
(secure_delete) and empties its -wal file. The scheduler runs it every hour, so a copy shows
the order of at most the last hour's answers — to the minute, their own column says as much.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from backend.extensions import db, utcnow
from backend.polls.models import Poll, PollAnswer, PollBallot, PollResponse, PollTally


def _rows_of(poll_ids: list[int]) -> dict[sa.Table, sa.ColumnElement[bool]]:
    """Where the rows of these polls are, table by table in the order they go back (parents
    first)."""
    responses, answers = PollResponse.__table__, PollAnswer.__table__
    ballots, tallies = PollBallot.__table__, PollTally.__table__
    return {responses: responses.c.poll_id.in_(poll_ids),
            answers: answers.c.response_id.in_(sa.select(responses.c.id).where(responses.c.poll_id.in_(poll_ids))),
            ballots: ballots.c.poll_id.in_(poll_ids), tallies: tallies.c.poll_id.in_(poll_ids)}


def _rewrite(poll_ids: list[int]) -> None:
    """Read the rows of these polls, delete them (answers before their responses) and write them
    back, each table in key order."""
    where = _rows_of(poll_ids)
    kept = {table: [dict(row) for row in db.session.execute(
        sa.select(table).where(clause).order_by(*table.primary_key.columns)).mappings()]
        for table, clause in where.items()}
    for table in reversed(where):   # children first
        db.session.execute(sa.delete(table).where(where[table]))
    for table, rows in kept.items():
        if rows:
            db.session.execute(sa.insert(table), rows)


def forget_write_order(now: datetime | None = None) -> int:
    """Rewrite the stored answers, ballots and tallies of every poll open since its last rewrite
    (see the module docstring), and drop the own secret of those that have closed. Commits, then
    on SQLite empties the -wal file; how many polls were rewritten."""
    now = now or utcnow()
    polls = db.session.scalars(sa.select(Poll).where(
        Poll.opens_at <= now, sa.or_(Poll.rewritten_at.is_(None), Poll.rewritten_at < Poll.closes_at))
        .order_by(Poll.id)).all()
    if not polls:
        return 0
    sqlite = db.engine.dialect.name == "sqlite"
    if sqlite:
        # Deleted rows are zeroed, or their old copies would stay readable in the file's free space.
        db.session.execute(sa.text("PRAGMA secure_delete = ON"))
    else:
        # Answers wait until the rewrite commits (reads go on); an answer written between the copy
        # and the delete would be lost. Taken in the order an answer writes these tables.
        db.session.execute(sa.text(
            "LOCK TABLE poll_ballots, poll_responses, poll_answers, poll_tallies IN EXCLUSIVE MODE"))
    _rewrite([poll.id for poll in polls])
    for poll in polls:
        poll.rewritten_at = now
        if poll.closes_at <= now:
            poll.legacy_secret = None
    db.session.commit()
    if sqlite:
        # Outside any transaction: a checkpoint copies the -wal file into the database and cuts it
        # to nothing, and with it the page images of each answer's commit.
        with db.engine.connect() as conn:
            conn.connection.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return len(polls)
