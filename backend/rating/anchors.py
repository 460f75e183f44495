"""Anchors (存证): each day every campaign's ledger head — its sequence and hash — is written
outside the database: appended as one JSON line to LEDGER_ANCHOR_PATH and/or POSTed to
LEDGER_ANCHOR_URL (a server the street keeps, not whoever holds the database). Each head
hashes every entry before it, so whoever copies, restores or edits the database cannot
rewrite the ledger — not even with every hash recomputed — without an anchor no longer
matching; `verified` names the first one.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta
from pathlib import Path

import requests
import sqlalchemy as sa
from flask import current_app

from backend.core.timeutil import local_zone
from backend.extensions import db, utcnow
from backend.notifications.service import already_told, notify_all
from backend.people.service import admins
from backend.rating import ledger
from backend.rating.models import Phase, RatingPeriod

#: A final campaign's ledger no longer grows: its head is anchored for this many more days.
FINAL_DAYS = 30
_http = requests.Session()


def read(path: str | None = None) -> tuple[list[dict], int]:
    """The anchors in the anchor file (or in `path`, a copy kept elsewhere), each with its
    line number, and how many lines could not be read."""
    path = current_app.config["LEDGER_ANCHOR_PATH"] if path is None else path
    if not path or not os.path.exists(path):
        return [], 0
    anchors, unreadable = [], 0
    with open(path, encoding="utf-8") as f:
        for number, text in enumerate(f, 1):
            if not text.strip():
                continue
            anchor = _parse(text)
            if anchor is None:
                unreadable += 1
            else:
                anchors.append({"line": number, **anchor})
    return anchors, unreadable


def _parse(text: str) -> dict | None:
    try:
        data = json.loads(text)
        return {"at": str(data["at"]), "period_id": int(data["period_id"]), "seq": int(data["seq"]),
                "hash": str(data["hash"])}
    except (ValueError, KeyError, TypeError):
        return None


def verified(period: RatingPeriod, path: str | None = None) -> dict:
    """The campaign's ledger walked and checked against each of its anchors in the anchor
    file (or in `path`): `ok`, the first bad entry, every anchor with whether the chain
    still has that hash at that sequence, the first that does not."""
    anchors, unreadable = read(path)
    result = ledger.verify(period, [a for a in anchors if a["period_id"] == period.id])
    return {**result, "anchors_unreadable": unreadable}


def campaigns(period_id: int | None = None) -> list[RatingPeriod]:
    """Every campaign, or the one asked for (operator commands)."""
    query = sa.select(RatingPeriod).order_by(RatingPeriod.id)
    if period_id is not None:
        query = query.where(RatingPeriod.id == period_id)
    return list(db.session.scalars(query))


def anchor_ledgers(now: datetime | None = None) -> dict:
    """The daily anchoring: each campaign's ledger is walked and checked against its anchors;
    if it holds, its head is anchored (file and/or URL); if not, nothing is anchored over it
    and the admins are told (once per campaign). What was done, for the job's log."""
    now = now or utcnow()
    cfg = current_app.config
    anchors, _ = read()
    lines = []
    for period in _to_anchor(now):
        # Appends wait while the chain is read, so the head anchored is the head walked.
        db.session.execute(sa.select(RatingPeriod.id).where(RatingPeriod.id == period.id)
                           .with_for_update(read=True))
        db.session.refresh(period)
        result = ledger.verify(period, [a for a in anchors if a["period_id"] == period.id])
        if not result["ok"]:
            _alert(period, result)
        elif result["entries"]:
            lines.append({"at": now.astimezone(local_zone()).isoformat(timespec="seconds"), "period_id": period.id,
                          "seq": result["entries"], "hash": result["head"]})
    # The alerts are kept and the locks let go before anything leaves the process: a slow
    # anchor URL holds up no one.
    db.session.commit()
    return {"anchored": len(lines), "file": _append(cfg["LEDGER_ANCHOR_PATH"], lines),
            "url": _post(cfg["LEDGER_ANCHOR_URL"], lines)}


def _to_anchor(now: datetime) -> list[RatingPeriod]:
    return list(db.session.scalars(sa.select(RatingPeriod).where(sa.or_(
        RatingPeriod.phase != Phase.final.value, RatingPeriod.finalised_at >= now - timedelta(days=FINAL_DAYS)))
        .order_by(RatingPeriod.id)))


def _alert(period: RatingPeriod, result: dict) -> None:
    bad, anchor = result["first_bad"], result["first_bad_anchor"]
    reason = (f"第 {bad['seq']} 条：{bad['reason']}" if bad else
              f"与 {anchor['at'][:16].replace('T', ' ')} 的存证不符：{anchor['reason']}")
    current_app.logger.error("ledger of campaign %s does not hold, not anchored: %s", period.id, reason)
    if already_told("period", period.id, "ledger_mismatch"):
        return
    notify_all(admins(), "ledger_mismatch", "period", period.id,
               f"{period.name}的台账校验未通过（{reason}），已停止存证，请核查")


def _append(path: str, lines: list[dict]) -> bool | None:
    """One JSON line per anchor, at the end of the file (append mode, synced to disk)."""
    if not path or not lines:
        return None
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a", encoding="utf-8") as f:
            f.writelines(json.dumps(line, ensure_ascii=False, sort_keys=True) + "\n" for line in lines)
            f.flush()
            os.fsync(f.fileno())
    except OSError as exc:
        current_app.logger.error("ledger anchors not written to %s: %s", path, exc)
        return False
    return True


def _post(url: str, lines: list[dict]) -> bool | None:
    """POST {"anchors": [...]}; a failure is logged and left to tomorrow's run, whose heads
    cover today's entries too (each head hashes every entry before it)."""
    if not url or not lines:
        return None
    try:
        response = _http.post(url, json={"anchors": lines}, timeout=current_app.config["LEDGER_ANCHOR_TIMEOUT"])
        response.raise_for_status()
    except requests.RequestException as exc:
        status = exc.response.status_code if exc.response is not None else type(exc).__name__
        current_app.logger.error("ledger anchor URL refused the anchors (%s); tried again tomorrow", status)
        return False
    return True
