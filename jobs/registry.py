"""Scheduled jobs as data: a stable id, a trigger, and a function that calls a backend service.

The runner gives each call an app context and commits once it returns (rolls back if it
raises), so job functions stay thin and every rule lives in a service.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from backend.activities import service as activities
from backend.auth.service import purge_stale
from backend.bookings import service as bookings
from backend.core.limits import purge_ended
from backend.notifications import service as notifications
from backend.polls import service as polls
from backend.polls import storage as poll_storage
from backend.rating import anchors, evidence, live, watch
from backend.rating import service as rating
from backend.services import service as services
from backend.wechat.service import purge_binding_codes
from backend.wishes import service as wishes


@dataclass(frozen=True)
class Job:
    id: str
    func: Callable[[], object]
    trigger: str
    trigger_args: dict = field(default_factory=dict)


JOBS: list[Job] = [
    # Expired or revoked tokens carry no meaning after 30 days.
    Job("auth.purge_stale", purge_stale, "cron", {"hour": 3, "minute": 30}),
    # Rate-limit windows that have ended: the table keeps only the current ones.
    Job("limits.purge_ended", purge_ended, "interval", {"minutes": 15}),
    Job("wechat.purge_binding_codes", purge_binding_codes, "cron", {"hour": 3, "minute": 35}),
    # Micro-wish rules (their N are settings; see the README).
    Job("wishes.release_stale_claims", wishes.release_stale_claims, "interval", {"minutes": 10}),
    Job("wishes.escalate", wishes.escalate, "interval", {"minutes": 10}),
    Job("wishes.remind_to_confirm", wishes.remind_to_confirm, "interval", {"hours": 1}),
    Job("wishes.auto_confirm", wishes.auto_confirm, "interval", {"hours": 1}),
    Job("wishes.erase_contacts", wishes.erase_contacts, "cron", {"hour": 3, "minute": 45}),
    # Booking engine: confirmed bookings nobody checked in for become no-shows once the slot ends.
    # Open attendances are closed (and credited) at the activity's end, before no-shows are marked.
    Job("activities.auto_check_out", activities.auto_check_out, "interval", {"minutes": 15}),
    Job("bookings.mark_no_shows", bookings.mark_no_shows, "interval", {"minutes": 15}),
    # Scores that move with time alone (a quarter ends, a wish falls overdue); writes recompute at once.
    Job("rating.refresh_live", live.refresh_live, "interval", {"hours": 1}),
    # Notifications leave by SMS / WeChat after their change committed; retries back off.
    Job("notifications.deliver", notifications.deliver_due, "interval", {"minutes": 1}),
    # Reminders and announcements that time alone brings (each is written once).
    Job("bookings.remind_upcoming", bookings.remind_upcoming, "interval", {"minutes": 5}),
    Job("services.remind_upcoming", services.remind_upcoming, "interval", {"minutes": 5}),
    Job("polls.announce_open", polls.announce_open, "interval", {"minutes": 5}),
    # What the storage keeps of the order answers came in is rewritten away: a copy of the
    # database shows that order for at most the last hour's answers.
    Job("polls.forget_write_order", poll_storage.forget_write_order, "interval", {"hours": 1}),
    Job("rating.remind_appeal_deadlines", rating.remind_appeal_deadlines, "cron", {"hour": 9, "minute": 0}),
    # Watching the watchers: every live scorecard against a full recompute (drift is ledgered,
    # told to the admins and repaired), then each ledger's head anchored outside the database.
    Job("rating.check_scores", watch.check_scores, "cron", {"hour": 2, "minute": 30}),
    Job("rating.anchor_ledgers", anchors.anchor_ledgers, "cron", {"hour": 2, "minute": 50}),
    # Evidence uploads no score took up (the score was refused or never sent).
    Job("rating.sweep_evidence", evidence.sweep_unused, "cron", {"hour": 4, "minute": 10}),
    # Files written just before a commit that failed, or by a process that died before it.
    Job("rating.sweep_orphan_evidence", evidence.sweep_orphan_files, "cron", {"hour": 4, "minute": 15}),
    Job("wishes.sweep_orphan_photos", wishes.sweep_orphan_photos, "cron", {"hour": 4, "minute": 20}),
]
