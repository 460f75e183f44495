"""台账: the campaign's append-only record. Each entry stores its canonical JSON body as text
and hash = SHA-256(previous hash + body), so changing, removing or reordering any entry
breaks every hash after it. The database refuses UPDATE and DELETE on the table; `verify`
catches whatever gets past that (a dropped trigger, a restored backup), and checks the
anchors written outside the database (`backend.rating.anchors`), which catch a rewrite
with every hash recomputed."""

from __future__ import annotations

import hashlib
import json
from decimal import Decimal

import sqlalchemy as sa

from backend.extensions import db, utcnow
from backend.rating.models import CampaignEntry, RatingPeriod

GENESIS = "0" * 64
#: Each kind of entry, as the export and pages name it.
KIND_LABELS = {
    "period_created": "创评发布", "phase_changed": "阶段变更", "manual_score": "人工评分",
    "self_report": "自评报告", "appeal_filed": "提出申诉", "appeal_decided": "申诉处理",
    "quota_cap": "名额限制定级", "final_result": "最终结果", "meetings_at_start": "创评开始时的组织生活记录",
    "meeting_recorded": "组织生活记录登记", "meeting_confirmed": "街道确认补录记录",
    "meeting_struck": "街道删除不实记录", "meeting_corrected": "组织生活记录更正",
    "criterion_override": "街道核定分数", "criterion_override_removed": "撤销街道核定",
    "quota_exception": "名额例外", "quota_exception_removed": "撤销名额例外", "review_opinion": "街道初评意见",
    "score_drift": "分数自动核对修复",
}


def canonical(data: dict) -> str:
    return json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def digest(prev_hash: str, body: str) -> str:
    return hashlib.sha256(f"{prev_hash}{body}".encode()).hexdigest()


def append(period: RatingPeriod, kind: str, *, org_id: int | None = None, actor_id: int | None = None,
           **data) -> CampaignEntry:
    """Add an entry after the newest one. The period row is locked first, so concurrent
    appends queue up instead of forking the chain.

    The lock is FOR NO KEY UPDATE (PostgreSQL; SQLite locks the whole database), which does
    not conflict with the key-share locks that inserting a row referring to the period takes
    (a score event, this entry): concurrent appenders have usually taken one already, and
    FOR UPDATE would leave each waiting on the other's, a deadlock."""
    _lock(period)
    at = utcnow()
    seq = period.ledger_seq + 1
    body = _body(period, seq, kind, org_id, actor_id, at, data)
    entry = CampaignEntry(period_id=period.id, seq=seq, kind=kind, org_id=org_id, body=body,
                          prev_hash=period.ledger_head, hash=digest(period.ledger_head, body), created_at=at)
    db.session.add(entry)
    period.ledger_seq, period.ledger_head = seq, entry.hash
    db.session.flush()
    return entry


def append_many(period: RatingPeriod, items: list[tuple[str, int | None, int | None, dict]]) -> int:
    """Entries (kind, org id, actor id, data) after the newest one, in the order given: the
    same chain as that many `append`s, in one lock, one insert and one head update, for a step
    that writes an entry per org (a campaign of thousands). The number of entries."""
    if not items:
        return 0
    _lock(period)
    at = utcnow()
    seq, head, rows = period.ledger_seq, period.ledger_head, []
    for kind, org_id, actor_id, data in items:
        seq += 1
        body = _body(period, seq, kind, org_id, actor_id, at, data)
        rows.append({"period_id": period.id, "seq": seq, "kind": kind, "org_id": org_id, "body": body,
                     "prev_hash": head, "hash": digest(head, body), "created_at": at})
        head = rows[-1]["hash"]
    db.session.execute(sa.insert(CampaignEntry), rows)
    period.ledger_seq, period.ledger_head = seq, head
    db.session.flush()
    return len(rows)


def _lock(period: RatingPeriod) -> None:
    db.session.execute(sa.select(RatingPeriod.id).where(RatingPeriod.id == period.id).with_for_update(key_share=True))
    db.session.refresh(period, ["ledger_seq", "ledger_head"])


def _body(period: RatingPeriod, seq: int, kind: str, org_id: int | None, actor_id: int | None, at, data: dict) -> str:
    return canonical({"period_id": period.id, "seq": seq, "kind": kind, "org_id": org_id, "actor_id": actor_id,
                      "at": at.isoformat(), "data": data})


def entries(period: RatingPeriod) -> sa.Select:
    return sa.select(CampaignEntry).where(CampaignEntry.period_id == period.id).order_by(CampaignEntry.seq)


def verify(period: RatingPeriod, anchors: list[dict] = ()) -> dict:
    """Walk the chain from the start; name the first entry that does not hold, and check
    every anchor (a head written outside the database: `seq`, `hash`) against the chain,
    naming the first one it no longer matches."""
    expected_prev, count, first_bad, hashes = GENESIS, 0, None, {}
    for entry in db.session.scalars(entries(period)):
        count += 1
        hashes.setdefault(entry.seq, entry.hash)
        problem = None if first_bad else _problem(entry, expected_prev, count)
        if problem:
            first_bad = {"seq": entry.seq, "id": entry.id, "reason": problem}
        expected_prev = entry.hash
    if first_bad is None and (count != period.ledger_seq or expected_prev != period.ledger_head):
        first_bad = {"seq": count + 1, "id": None, "reason": "台账末尾的记录缺失"}
    checked = [_anchor_check(anchor, hashes) for anchor in anchors]
    bad_anchor = next((a for a in checked if not a["ok"]), None)
    return {"ok": first_bad is None and bad_anchor is None, "entries": count, "head": expected_prev,
            "first_bad": first_bad, "anchors": checked, "first_bad_anchor": bad_anchor}


def _anchor_check(anchor: dict, hashes: dict[int, str]) -> dict:
    seq = anchor["seq"]
    if seq not in hashes:
        reason = f"台账中已没有第 {seq} 条记录（记录被删除）"
    elif hashes[seq] != anchor["hash"]:
        reason = f"第 {seq} 条记录的哈希与存证不符（台账被改写）"
    else:
        reason = None
    return {**anchor, "ok": reason is None, "reason": reason}


def recorded_scores(period: RatingPeriod) -> dict[tuple[int, str], Decimal]:
    """The newest points the ledger holds per org and criterion: manual scores and the
    changes of accepted appeals. An entry that cannot be read is left to `verify`."""
    found = {}
    for entry in db.session.scalars(entries(period).where(CampaignEntry.kind.in_(("manual_score", "appeal_decided")))):
        try:
            data = json.loads(entry.body)["data"]
            changes = [data] if entry.kind == "manual_score" else data.get("changes") or []
            found.update({(entry.org_id, c["criterion"]): Decimal(str(c["new"])) for c in changes})
        except (ValueError, KeyError, TypeError, ArithmeticError):
            continue
    return found


def recorded_overrides(period: RatingPeriod) -> dict[tuple[int, str], Decimal | None]:
    """The street's override per org and criterion as the ledger holds it last (None once
    removed, or replaced by an appeal decision). An entry that cannot be read is left to `verify`."""
    found: dict[tuple[int, str], Decimal | None] = {}
    kinds = ("criterion_override", "criterion_override_removed", "appeal_decided")
    for entry in db.session.scalars(entries(period).where(CampaignEntry.kind.in_(kinds))):
        try:
            data = json.loads(entry.body)["data"]
            if entry.kind == "appeal_decided":
                found.update({(entry.org_id, c["criterion"]): None for c in data.get("changes") or []})
            else:
                value = Decimal(str(data["new"])) if entry.kind == "criterion_override" else None
                found[(entry.org_id, data["criterion"])] = value
        except (ValueError, KeyError, TypeError, ArithmeticError):
            continue
    return found


def _problem(entry: CampaignEntry, expected_prev: str, position: int) -> str | None:
    if entry.seq != position:
        return "序号不连续（记录被删除或插入）"
    if entry.prev_hash != expected_prev:
        return "前一条记录的哈希不符（链条断开）"
    if entry.hash != digest(entry.prev_hash, entry.body):
        return "内容与哈希不符（记录被改动）"
    try:
        body = json.loads(entry.body)
    except ValueError:
        return "内容不是有效的 JSON"
    if (body.get("period_id"), body.get("seq"), body.get("kind"), body.get("org_id")) != \
            (entry.period_id, entry.seq, entry.kind, entry.org_id):
        return "索引列与内容不符（记录被改动）"
    return None


def as_dict(entry: CampaignEntry) -> dict:
    body = json.loads(entry.body)
    return {"id": entry.id, "seq": entry.seq, "kind": entry.kind, "org_id": entry.org_id,
            "actor_id": body.get("actor_id"), "at": body.get("at"), "data": body.get("data"),
            "prev_hash": entry.prev_hash, "hash": entry.hash}
