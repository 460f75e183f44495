"""Score events as Server-Sent Events. The database is the bus: whichever process wrote an
answer, every process reads the new score events, so a dashboard served by one process sees
what another wrote.

One reader thread per process (the hub) reads new events and hands them to the open streams
of that process, so a hundred open dashboards cost one query per wake, not a hundred. The
hub reads when woken and at the latest every STREAM_POLL_SECONDS:

- in this process, a commit that wrote score events wakes it right after the commit;
- on PostgreSQL, that transaction also sends NOTIFY (delivered on commit), and a listener
  connection in each process wakes its hub, so a write in another process arrives as fast;
  while the listener is connected the poll is only the fallback (STREAM_NOTIFY_POLL_SECONDS);
- on SQLite there is no NOTIFY: a watcher asks SQLite every STREAM_SQLITE_WATCH_SECONDS
  whether another connection committed (`PRAGMA data_version`, which reads no table and
  takes no lock), and wakes the hub when one did.

PostgreSQL may commit a lower id after a higher one: the hub reads from the lowest id it has
not accounted for and remembers what it has already sent, so a late commit is still
delivered; a gap still open after GAP_SECONDS is a rolled-back id.
"""

from __future__ import annotations

import json
import queue
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import psycopg
import sqlalchemy as sa
from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from backend.core.db import hook_sessions
from backend.extensions import db, write_intent
from backend.rating.models import ScoreEvent
from backend.rating.schemas import ScoreEventSchema

#: A missing id older than this was rolled back (sequence values are never reused).
GAP_SECONDS = 10.0
#: Events replayed on (re)connection at most; a client further behind reloads the page.
REPLAY_LIMIT = 500
#: The PostgreSQL channel a commit with score events notifies.
CHANNEL = "sanwei_score_events"
#: How long the listener waits on its connection before looking whether the hub still runs,
#: and waits before connecting again after losing it.
LISTEN_SECONDS = 1.0
#: Session flag: this transaction wrote score events (wake the hub once it commits).
_WROTE = "score_events_written"

_schema = ScoreEventSchema()


def payload(event: ScoreEvent) -> dict:
    return {**_schema.dump(event), "org_id": event.org_id, "period_id": event.period_id}


def format_event(data: dict) -> str:
    return f"id: {data['id']}\nevent: score\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


@dataclass(eq=False)
class Subscription:
    period_id: int
    org_id: int | None
    #: Who listens: one person may hold only so many of the process's streams.
    person_id: int
    inbox: queue.Queue = field(default_factory=lambda: queue.Queue(maxsize=1000))
    #: The client stopped reading long enough to fill the inbox: its stream is closed, and
    #: the browser reconnects with Last-Event-ID and replays what it missed.
    overflowed: bool = False

    def wants(self, data: dict) -> bool:
        return data["period_id"] == self.period_id and self.org_id in (None, data["org_id"])


class Hub:
    def __init__(self, app: Flask):
        self.app = app
        self.lock = threading.Lock()
        self.subscriptions: set[Subscription] = set()
        self.thread: threading.Thread | None = None
        self.low = 0                       # every id ≤ low is accounted for
        self.sent: set[int] = set()        # ids > low already dispatched
        self.gaps: dict[int, float] = {}   # missing id → when first noticed
        #: Set by a commit that wrote score events (this process) or by NOTIFY (any process).
        self.wake = threading.Event()
        #: Whether the NOTIFY listener is connected: the poll is then only the fallback.
        self.listening = False

    def subscribe(self, period_id: int, org_id: int | None, person_id: int, most: int,
                  most_per_person: int) -> Subscription:
        sub = Subscription(period_id, org_id, person_id)
        with self.lock:
            if sum(1 for other in self.subscriptions if other.person_id == person_id) >= most_per_person:
                raise PersonBusy()
            if len(self.subscriptions) >= most:
                raise Busy()
            if self.thread is None or not self.thread.is_alive():
                with self.app.app_context():
                    self.low = db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(ScoreEvent.id), 0)))
                    url = db.engine.url
                    db.session.remove()
                self.sent, self.gaps = set(), {}
                self.thread = threading.Thread(target=self._run, name="score-hub", daemon=True)
                self.subscriptions.add(sub)
                self.thread.start()
                self._start_watch(url)
            else:
                self.subscriptions.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self.lock:
            self.subscriptions.discard(sub)

    def _run(self) -> None:
        write_intent.set(False)   # reads only: on SQLite a deferred transaction, not the write lock
        while True:
            with self.lock:
                if not self.subscriptions:
                    self.thread = None
                    return
            # Cleared before reading: a wake during the read makes the next wait return at once.
            self.wake.clear()
            try:
                self.poll()
            except Exception:  # a database hiccup must not end every open stream
                self.app.logger.exception("score hub poll failed")
            self.wake.wait(self.app.config["STREAM_NOTIFY_POLL_SECONDS" if self.listening else "STREAM_POLL_SECONDS"])

    def _start_watch(self, url: sa.URL) -> None:
        """The thread that wakes the hub when another process commits: NOTIFY on PostgreSQL,
        the data version of an SQLite file (an in-memory database has no other process)."""
        if url.get_backend_name() == "postgresql":
            target, arg = self._listen, url.set(drivername="postgresql").render_as_string(hide_password=False)
        elif url.database and url.database != ":memory:":
            target, arg = self._watch_sqlite, url.database
        else:
            return
        threading.Thread(target=target, args=(self.thread, arg), name="score-hub-watch", daemon=True).start()

    def _watch_sqlite(self, hub_thread: threading.Thread, path: str) -> None:
        """SQLite: `PRAGMA data_version` changes when another connection commits; it costs a
        look at the WAL index, so asking every few milliseconds is cheaper than one read of
        the events table. A commit of anything (not only score events) wakes the hub, whose
        read then finds nothing new, which is cheap too."""
        interval = self.app.config["STREAM_SQLITE_WATCH_SECONDS"]
        try:
            conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, check_same_thread=False)
        except sqlite3.Error:
            self.app.logger.warning("score hub cannot watch %s; polling", path)
            return
        try:
            seen = conn.execute("PRAGMA data_version").fetchone()[0]
            self.listening = True
            while hub_thread.is_alive():
                time.sleep(interval)
                version = conn.execute("PRAGMA data_version").fetchone()[0]
                if version != seen:
                    seen = version
                    self.wake.set()
        except sqlite3.Error:
            self.app.logger.warning("score hub stopped watching %s; polling", path)
        finally:
            self.listening = False
            conn.close()

    def _listen(self, hub_thread: threading.Thread, conninfo: str) -> None:
        """PostgreSQL: LISTEN on a connection of its own and wake the hub on each notification,
        for as long as `hub_thread` runs; a lost connection is opened again (the poll covers
        the time in between, at its short interval)."""
        while hub_thread.is_alive():
            try:
                with psycopg.connect(conninfo, autocommit=True, connect_timeout=5) as conn:
                    conn.execute(f"LISTEN {CHANNEL}")
                    self.listening = True
                    self.wake.set()   # anything committed while not listening is read now
                    while hub_thread.is_alive():
                        for _ in conn.notifies(timeout=LISTEN_SECONDS):
                            self.wake.set()
            except psycopg.Error:
                self.app.logger.warning("score hub lost its NOTIFY listener; polling until it is back")
                time.sleep(LISTEN_SECONDS)
            finally:
                self.listening = False
                self.wake.set()

    def poll(self) -> None:
        with self.app.app_context():
            rows = db.session.scalars(sa.select(ScoreEvent).where(ScoreEvent.id > self.low)
                                      .order_by(ScoreEvent.id).limit(REPLAY_LIMIT)).all()
            fresh = [payload(e) for e in rows if e.id not in self.sent]
            db.session.remove()
        now = time.monotonic()
        seen = self.sent | {d["id"] for d in fresh}
        top = max(seen, default=self.low)
        for missing in set(range(self.low + 1, top)) - seen:
            self.gaps.setdefault(missing, now)
        with self.lock:
            targets = list(self.subscriptions)
        for data in fresh:
            for sub in targets:
                if sub.wants(data) and not sub.overflowed:
                    try:
                        sub.inbox.put_nowait(data)
                    except queue.Full:
                        sub.overflowed = True
        self.sent = seen
        # Advance over ids that arrived or whose gap has been open too long.
        while self.low + 1 in self.sent or now - self.gaps.get(self.low + 1, now) > GAP_SECONDS:
            self.low += 1
            self.sent.discard(self.low)
            self.gaps.pop(self.low, None)


_HUBS = threading.Lock()


def hub(app: Flask) -> Hub:
    with _HUBS:
        return app.extensions.setdefault("score_hub", Hub(app))


def _after_flush(session: Session, flush_context) -> None:
    """A flush that inserted score events: `wrote`."""
    if not session.info.get(_WROTE) and any(isinstance(obj, ScoreEvent) for obj in session.new):
        wrote(session)


def wrote(session: Session) -> None:
    """Score events were inserted: note it, and on PostgreSQL notify in the same transaction
    (delivered when it commits, dropped if it rolls back; one per transaction)."""
    if session.info.get(_WROTE):
        return
    session.info[_WROTE] = True
    connection = session.connection()
    if connection.dialect.name == "postgresql":
        connection.exec_driver_sql(f"NOTIFY {CHANNEL}")


def _after_commit(session: Session) -> None:
    """Wake this app's hub, if it runs: nothing here can fail the request that committed."""
    if session.info.pop(_WROTE, False) and has_app_context():
        found = current_app.extensions.get("score_hub")
        if found is not None:
            found.wake.set()


def _forget(session: Session, *args) -> None:
    session.info.pop(_WROTE, None)


def install() -> None:
    """Hook the sessions (once per process)."""
    hook_sessions(after_flush=_after_flush, after_commit=_after_commit, after_rollback=_forget)


def replay(period_id: int, org_id: int | None, after: int) -> list[dict]:
    stmt = sa.select(ScoreEvent).where(ScoreEvent.period_id == period_id, ScoreEvent.id > after)
    if org_id is not None:
        stmt = stmt.where(ScoreEvent.org_id == org_id)
    return [payload(e) for e in db.session.scalars(stmt.order_by(ScoreEvent.id).limit(REPLAY_LIMIT))]


class Busy(Exception):
    """This process already serves STREAM_MAX_OPEN streams."""


class PersonBusy(Exception):
    """This person already holds STREAM_MAX_PER_PERSON of this process's streams: one person
    (a script, a dozen tabs) must not take every slot from everyone else."""


def events(app: Flask, period_id: int, org_id: int | None, after: int,
           person_id: int) -> tuple[Iterator[str], Callable[[], None]]:
    """The stream body and what to call when the response closes.

    The body: what was missed since `after`, then each new event as it commits, a comment
    every STREAM_HEARTBEAT_SECONDS so proxies and phones keep the line open, and an end after
    STREAM_MAX_SECONDS — each open stream holds a server thread, so a phone that vanished
    without closing must not hold it for long; a live browser reconnects with Last-Event-ID
    and loses nothing. Subscribing comes before the replay so nothing committed in between
    is lost; an event in both is sent once."""
    the_hub = hub(app)
    sub = the_hub.subscribe(period_id, org_id, person_id, app.config["STREAM_MAX_OPEN"],
                            app.config["STREAM_MAX_PER_PERSON"])
    try:
        backlog = replay(period_id, org_id, after)
    except Exception:
        the_hub.unsubscribe(sub)
        raise
    db.session.remove()   # an open stream must not hold a database connection
    heartbeat = app.config["STREAM_HEARTBEAT_SECONDS"]
    ends = time.monotonic() + app.config["STREAM_MAX_SECONDS"]

    def generate() -> Iterator[str]:
        sent = set()
        try:
            yield f"retry: {app.config['STREAM_RETRY_MS']}\n: connected\n\n"
            for data in backlog:
                sent.add(data["id"])
                yield format_event(data)
            while time.monotonic() < ends:
                try:
                    data = sub.inbox.get(timeout=heartbeat)
                except queue.Empty:
                    if sub.overflowed:
                        return
                    yield ": ping\n\n"
                    continue
                if data["id"] not in sent and data["id"] > after:
                    sent.add(data["id"])
                    yield format_event(data)
        finally:
            the_hub.unsubscribe(sub)

    # A response closed before its body starts (HEAD, a client gone at once) never runs the
    # generator's finally; this runs either way, and a second unsubscribe is harmless.
    return generate(), lambda: the_hub.unsubscribe(sub)
