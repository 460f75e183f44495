"""Leader lock so exactly one scheduler runs: a PostgreSQL advisory lock held on a dedicated
connection, or an flock on a file next to the SQLite database."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import sqlalchemy as sa

#: Arbitrary but fixed: identifies the scheduler lock among advisory locks.
ADVISORY_KEY = 0x53414E574549


class LeaderLock:
    def __init__(self, database_url: str, lock_dir: Path):
        self.database_url = database_url
        self.lock_dir = lock_dir
        self._conn = None
        self._fd = None

    def try_acquire(self) -> bool:
        if self.database_url.startswith("postgresql"):
            if self._conn is None:
                self._conn = sa.create_engine(self.database_url, poolclass=sa.pool.NullPool).connect()
            got = self._conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": ADVISORY_KEY}).scalar()
            self._conn.commit()
            return bool(got)
        self.lock_dir.mkdir(parents=True, exist_ok=True)
        if self._fd is None:
            self._fd = os.open(self.lock_dir / "scheduler.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
