"""Python's cyclic garbage collector, set for a long-running process (a web worker, the
scheduler).

By default a collection of the young objects runs every 700 allocations, and now and then a
full one walks the whole heap: in a worker that is the app, its modules and SQLAlchemy's
caches, about 200,000 objects, 60–80 ms a time, landing inside whatever request is running
(and on SQLite, inside a write transaction holding the lock). Once the app is loaded its
objects live as long as the process, so they are moved out of the collector's sight
(`gc.freeze`), and the young generation is collected every YOUNG_THRESHOLD allocations:
most of a request's objects are freed by reference counting before a collection sees them.
Measured on GET /api/v1/activities: 0.21 ms of collection per request before, 0.014 after.
A job's unit, which holds a lock, holds the collector off until it commits
(`collections_after`).
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

YOUNG_THRESHOLD = 10_000


def settle() -> None:
    """Call once the process has loaded everything it keeps (after the app is created)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_THRESHOLD, middle, old)


@contextmanager
def collections_after() -> Iterator[None]:
    """Python's cyclic garbage collection held off for the block (a job's unit, up to its
    commit): a full collection of a job's heap takes 80–120 ms, and one falling inside a
    unit held SQLite's write lock (or PostgreSQL's scorecard locks) three times as long as the
    unit itself. Held off, the collections due run at the first allocation after the block.
    Reference counting still frees everything else in the block."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
