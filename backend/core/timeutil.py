"""Display times in the deployment's zone (Asia/Shanghai by default); store them in UTC."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from flask import current_app


@lru_cache(maxsize=8)
def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_zone() -> ZoneInfo:
    return _zone(current_app.config["TIMEZONE"])


def format_local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored UTC time as the deployment's wall-clock time, for pages."""
    return "" if value is None else value.astimezone(local_zone()).strftime(fmt)
