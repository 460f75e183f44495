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


def to_local(value: datetime | None) -> datetime | None:
    return None if value is None else value.astimezone(local_zone())


def format_local(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    return "" if value is None else to_local(value).strftime(fmt)
