"""python -m jobs — the one scheduler process (APScheduler 3.11, BlockingScheduler).

Takes the leader lock first; a second process waits as a stand-by and takes over when the
first one stops.
"""

from __future__ import annotations

import logging
import signal
import sys
import time
from zoneinfo import ZoneInfo

from apscheduler.schedulers.blocking import BlockingScheduler

from backend.app import create_app
from backend.config import INSTANCE_DIR
from backend.core.heap import settle
from backend.extensions import db
from jobs.lock import LeaderLock
from jobs.registry import JOBS

log = logging.getLogger("jobs")
STANDBY_POLL_SECONDS = 15


def build_scheduler(app) -> BlockingScheduler:
    scheduler = BlockingScheduler(
        timezone=ZoneInfo(app.config["TIMEZONE"]),
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": 300},
    )
    for job in JOBS:
        scheduler.add_job(run_job, job.trigger, args=[app, job], id=job.id, replace_existing=True,
                          **job.trigger_args)
    return scheduler


def run_job(app, job) -> None:
    """One run: app context, the job's service call, one commit (or rollback on error)."""
    with app.app_context():
        try:
            result = job.func()
            db.session.commit()
        except Exception:
            db.session.rollback()
            log.exception("job %s failed", job.id)
            return
    log.info("job %s done: %s", job.id, result)


def main() -> int:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)
    app = create_app()
    settle()
    lock = LeaderLock(app.config["SQLALCHEMY_DATABASE_URI"], INSTANCE_DIR)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while not lock.try_acquire():
            log.info("another scheduler holds the lock; standing by")
            time.sleep(STANDBY_POLL_SECONDS)
        scheduler = build_scheduler(app)
        if JOBS:
            log.info("scheduler started with %d jobs: %s", len(JOBS), ", ".join(j.id for j in JOBS))
        else:
            log.info("scheduler started: no jobs registered yet")
        scheduler.start()
    except (KeyboardInterrupt, SystemExit):
        log.info("scheduler stopped")
    finally:
        lock.release()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
