"""Scheduled jobs as data: stable id, trigger, and the function (which calls a backend service).

Later domains add their jobs here, e.g.
    Job("wishes.release_stale_claims", "interval", {"minutes": 10}, release_stale_claims)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Job:
    id: str
    trigger: str
    trigger_args: dict = field(default_factory=dict)
    func: Callable[[], object] | None = None


JOBS: list[Job] = []
