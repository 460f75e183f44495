"""Polls: who may answer, once; answers stored apart from who gave them; results kept as
running tallies moved in the same transaction as each answer."""

from __future__ import annotations

import ipaddress
import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload

from backend.core import limits
from backend.core.db import add_to_many, conflict_for, get_by
from backend.core.errors import Conflict, Forbidden, Invalid, NotFound, TooManyRequests, Unauthorized
from backend.core.permissions import Actor, authorize, can, load_authorized
from backend.core.timeutil import format_local
from backend.extensions import db, utcnow
from backend.notifications.service import already_told, notify_all
from backend.orgs.models import Org, OrgKind
from backend.orgs.permissions import org_visible_clause
from backend.people.models import Membership, Role
from backend.polls import ballots
from backend.polls.models import (
    AUDIENCE_LABELS,
    Audience,
    Mode,
    Poll,
    PollAnswer,
    PollBallot,
    PollCode,
    PollQuestion,
    PollResponse,
    PollTally,
    QuestionKind,
    ResponseStatus,
)
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrPurpose

Q = QuestionKind
R = ResponseStatus
#: Readable and unambiguous on a printed slip (no 0/O, 1/I/L).
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 8


# --- creating and running a poll --------------------------------------------------------------

def _invalid(field: str, message: str, code: str = "validation_error") -> Invalid:
    return Invalid(message, code=code, fields={field: [message]})


#: Why a secretary may not run a poll that counts (seed 000: 街道党委…组织党员和群众测评).
STREET_RUNS_COUNTED = "计入星级创评的党员测评和群众测评由街道组织；社区可发起不计分的测评（题目不关联评分项）"


@dataclass(frozen=True)
class CampaignFeed:
    """The rating campaign a new poll's mapped questions feed: its id, and the poll items of
    its rubric with the audiences feeding each (None: any audience, for a rubric version
    stored before items named their audience)."""

    period_id: int
    items: dict[str, tuple[str, ...] | None]


#: Which campaign a new poll feeds: (org, period_id asked for) → the campaign or None. The
#: rating module installs it (rating depends on polls, never the reverse); without a rating
#: installed a poll feeds no campaign.
CampaignOf = Callable[[Org, "int | None"], "CampaignFeed | None"]
_campaign_of: CampaignOf = lambda org, period_id: None  # noqa: E731


def feed_campaigns_with(resolver: CampaignOf) -> None:
    """Let the rating module say which campaign a new poll's mapped questions feed."""
    global _campaign_of
    _campaign_of = resolver


def _question(position: int, q: dict) -> PollQuestion:
    """One question as asked, or 422 naming what is wrong with it."""
    where = f"questions.{position - 1}"
    options = q.get("options") or None
    if q["kind"] == Q.choice.value and (not options or len(options) < 2):
        raise _invalid(f"{where}.options", "选择题至少要有两个选项")
    if q["kind"] != Q.choice.value and options:
        raise _invalid(f"{where}.options", "只有选择题有选项")
    if q.get("criterion_code") and (q["kind"] == Q.text.value or q.get("multiple")):
        raise _invalid(f"{where}.criterion_code", "填空题和多选题不能计入评分")
    return PollQuestion(position=position, text=q["text"], kind=q["kind"], options=options,
                        multiple=q.get("multiple", False), required=q.get("required", True),
                        criterion_code=q.get("criterion_code") or None, weight=q.get("weight"))


def _check_item(campaign: CampaignFeed, position: int, code: str, audience: str) -> None:
    """422 unless `code` is a poll item of the campaign's rubric fed by polls of `audience`."""
    field = f"questions.{position - 1}.criterion_code"
    if code not in campaign.items:
        raise _invalid(field, f"{code} 不是本次创评标准中由测评计分的项目", "not_a_poll_item")
    allowed = campaign.items[code]
    if allowed is not None and audience not in allowed:
        feeders = "、".join(AUDIENCE_LABELS[Audience(a)] for a in allowed)
        raise _invalid(field, f"{code} 只由{feeders}计分，{AUDIENCE_LABELS[Audience(audience)]}的答卷不能计入",
                       "wrong_audience")


def _counted_in(org: Org, args: dict, questions: list[PollQuestion], runs_counted: bool) -> int | None:
    """The campaign a poll counts in: only one with questions mapped to criteria counts, run by
    the street, mapping only poll items of the campaign's rubric meant for its audience, and
    the only counted poll of its audience about `org` in that campaign."""
    if not any(q.criterion_code for q in questions):
        if args.get("period_id") is not None:
            raise _invalid("period_id", "没有关联评分项的题目，测评不计入创评", "nothing_counted")
        return None
    campaign = _campaign_of(org, args.get("period_id"))
    if campaign is None:
        return None
    if not runs_counted:
        raise Forbidden(STREET_RUNS_COUNTED, code="counted_poll_by_street")
    for q in questions:
        if q.criterion_code:
            _check_item(campaign, q.position, q.criterion_code, args["audience"])
    earlier = db.session.scalar(sa.select(Poll).where(Poll.org_id == org.id, Poll.period_id == campaign.period_id,
                                                      Poll.audience == args["audience"]))
    if earlier is not None:
        raise Conflict(f"本次创评已有计分的{earlier.audience_label}「{earlier.title}」，每个组织每类测评只计一次",
                       code="counted_poll_exists")
    return campaign.period_id


def create_poll(org: Org, args: dict, created_by_id: int | None = None, *, runs_counted: bool = True) -> Poll:
    """A new poll about `org` with its questions. Questions mapped to criteria make it count in
    the org's campaign (which campaign is the rating's rule); `runs_counted` says whether the
    creator may run such a poll (the street)."""
    modes = set(args.get("modes") or [Mode.account.value])
    if args["audience"] == Audience.party_member.value and Mode.device.value in modes:
        raise _invalid("modes", "党员测评须核实身份，不能用扫码（每台手机一次）方式", "invalid_modes")
    questions = [_question(position, q) for position, q in enumerate(args["questions"], start=1)]
    poll = Poll(org=org, period_id=_counted_in(org, args, questions, runs_counted), title=args["title"],
                description=args.get("description"),
                audience=args["audience"], opens_at=args["opens_at"], closes_at=args["closes_at"],
                allow_account=Mode.account.value in modes, allow_code=Mode.code.value in modes,
                allow_device=Mode.device.value in modes, created_by_id=created_by_id,
                questions=questions)
    try:
        with db.session.begin_nested():
            db.session.add(poll)
    except IntegrityError as exc:
        raise conflict_for(exc) from exc
    return poll


def open_now(poll: Poll, now: datetime | None = None) -> None:
    """Start a scheduled poll at once."""
    now = now or utcnow()
    if poll.state(now) == "closed":
        raise Conflict("测评已结束，不能重新开始", code="poll_closed")
    if poll.state(now) == "scheduled":
        poll.opens_at = now


def close_now(poll: Poll, now: datetime | None = None) -> None:
    """End an open poll at once; later answers get 409 poll_closed."""
    now = now or utcnow()
    if poll.state(now) != "open":
        raise Conflict("只有进行中的测评可以结束", code="poll_not_open")
    poll.closes_at = now


def generate_codes(poll: Poll, count: int, grid: Org | None = None) -> list[PollCode]:
    """`count` one-time codes for printed slips (optionally for one grid)."""
    if not poll.allow_code:
        raise Conflict("本测评未启用一次性测评码", code="mode_not_allowed")
    if grid is not None and not (grid.kind == OrgKind.grid.value and grid.path.startswith(poll.org.path)):
        raise _invalid("grid_id", "网格须属于被测评的组织")
    codes = []
    for _ in range(count):
        code = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        codes.append(PollCode(poll_id=poll.id, code=code, grid_id=grid.id if grid else None))
    db.session.add_all(codes)
    db.session.flush()
    return codes


# --- who is answering -------------------------------------------------------------------------

@dataclass
class Respondent:
    mode: Mode
    #: What answers only once, before hashing ("person:12", "code:ABCD2345", "device:…"): all the
    #: answer came with, whatever its mode; a second answer by any of them is refused.
    keys: tuple[str, ...]
    grid_id: int | None = None


def _grid_of(actor: Actor, org: Org) -> int | None:
    for membership in actor.person.memberships:
        if membership.org and membership.org.kind == OrgKind.grid.value and membership.org.path.startswith(org.path):
            return membership.org_id
    return None


def respondent_for(poll: Poll, *, actor: Actor | None, code: str | None, device: str | None,
                   qr_grid_id: int | None = None) -> Respondent:
    """Pick the strongest mode the poll accepts for what the respondent brought.

    A code wins (it was handed to them); then a signed-in person; then the device. A signed-in
    person is one respondent whatever the mode: their answer also spends the code and the phone
    it came with, so neither answers again for someone else, nor they again by another mode.
    A slip used without signing in spends no phone: a household shares one, each with a slip."""
    person = (f"person:{actor.person_id}",) if actor is not None else ()
    phone = (f"device:{device}",) if poll.allow_device and device else ()
    bound = person + phone if person else ()
    if code:
        if not poll.allow_code:
            raise Conflict("本测评不使用测评码", code="mode_not_allowed")
        found = db.session.scalar(sa.select(PollCode).where(PollCode.poll_id == poll.id,
                                                           PollCode.code == code.strip().upper()))
        if found is None:
            raise _invalid("code", "测评码不正确，请核对纸条上的 8 位码", "invalid_code")
        return Respondent(Mode.code, (f"code:{found.code}",) + bound, found.grid_id)
    if actor is not None and poll.allow_account:
        if poll.audience == Audience.party_member.value:
            # A party member of the evaluated org: the role held on it or below it.
            in_audience = any(role == Role.party_member and path.startswith(poll.org.path)
                              for path, role in actor.scopes)
        else:
            in_audience = actor.is_admin or bool(actor.roles_around(poll.org))
        if not in_audience:
            raise Forbidden("您不在本次测评的对象范围内", code="not_in_audience")
        return Respondent(Mode.account, bound, _grid_of(actor, poll.org))
    if phone:
        return Respondent(Mode.device, phone + person, qr_grid_id)
    if poll.audience == Audience.party_member.value or not poll.allow_device:
        raise Unauthorized("请先登录或使用测评码参加" if poll.allow_code else "请先登录后参加")
    raise _invalid("device", "无法识别本机，请允许浏览器保存信息后重试")


# --- answering --------------------------------------------------------------------------------

def _validate(poll: Poll, answers: list[dict]) -> list[PollAnswer]:
    by_id = {q.id: q for q in poll.questions}
    given: dict[int, list] = {}
    errors: dict[str, list[str]] = {}
    for item in answers:
        qid = item["question_id"]
        if qid not in by_id:
            errors[str(qid)] = ["不是本测评的题目"]
        elif qid in given:
            errors[str(qid)] = ["同一题只能回答一次"]
        else:
            given[qid] = item.get("value")
    rows = []
    for q in poll.questions:
        value = given.get(q.id)
        if value in (None, "", []):
            if q.required:
                errors[str(q.id)] = ["请回答此题"]
            continue
        answered, error = _answer_rows(q, value)
        if error:
            errors[str(q.id)] = [error]
        rows += answered
    if errors:
        raise Invalid("部分题目未按要求作答", fields=errors)
    return rows


def _answer_rows(q: PollQuestion, value) -> tuple[list[PollAnswer], str | None]:
    """The stored rows of one answer, or why it is refused."""
    if q.kind == Q.rating5.value:
        if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 5:
            return [], "请选择 1 到 5 星"
        return [PollAnswer(question_id=q.id, value=value)], None
    if q.kind == Q.choice.value:
        picked = value if isinstance(value, list) else [value]
        if not all(isinstance(v, int) and not isinstance(v, bool) and 0 <= v < len(q.options) for v in picked) \
                or len(set(picked)) != len(picked) or (len(picked) > 1 and not q.multiple):
            return [], "请在选项中选择" if q.multiple else "请选择一项"
        return [PollAnswer(question_id=q.id, value=v) for v in sorted(picked)], None
    if not isinstance(value, str) or len(value.strip()) > 500:
        return [], "请填写 500 字以内的文字"
    return [PollAnswer(question_id=q.id, text=value.strip())], None


def _network(poll: Poll, ip: str | None) -> str | None:
    try:
        address = ipaddress.ip_address(ip or "")
    except ValueError:
        return None
    prefix = 24 if address.version == 4 else 48
    # Keyed like the ballots: with a key in the database every /24 could be tried in seconds.
    return ballots.keyed(ballots.current_key(poll), "net:" + str(ipaddress.ip_network(f"{address}/{prefix}",
                                                                                     strict=False)))


def _tally_keys(answer_rows: list[PollAnswer], grid_id: int | None, mode: str) -> Counter:
    """(question_id, grid_id, key) → +n for one response."""
    grids = [0] + ([grid_id] if grid_id else [])
    moves: Counter = Counter()
    for grid in grids:
        moves[(0, grid, "responses")] += 1
        moves[(0, grid, f"mode:{mode}")] += 1
        for row in answer_rows:
            moves[(row.question_id, grid, "answered" if row.value is None else str(row.value))] += 1
    return moves


def _move_tallies(poll_id: int, moves: Counter, sign: int) -> None:
    """Add (sign ±1) × each move: an upsert per row, atomic on both databases, the rows in key
    order (two answers wait on the same row first, never in a circle)."""
    add_to_many(PollTally, ("poll_id", "question_id", "grid_id", "key"), [
        {"poll_id": poll_id, "question_id": question_id, "grid_id": grid_id, "key": key, "count": sign * n}
        for (question_id, grid_id, key), n in sorted(moves.items())])


#: Open-QR answers one client (address) may send to one poll per hour.
TOO_MANY_ANSWERS = "这台设备提交的答卷太多了，请 {minutes} 分钟后再试（已选的答案会保留）"


def submit(poll: Poll, respondent: Respondent, answers: list[dict], *, ip: str | None = None,
           now: datetime | None = None) -> PollResponse:
    """Accept one answer sheet: 409 poll_closed outside the window, 409 already_answered the
    second time (the ballot's primary key), 429 when one network or one client sends too many
    open-QR answers."""
    cfg = current_app.config
    now = now or utcnow()
    if poll.state(now) != "open":
        message = "测评尚未开始" if poll.state(now) == "scheduled" else "测评已结束"
        raise Conflict(message, code="poll_closed")
    rows = _validate(poll, answers)
    network = _network(poll, ip)
    if respondent.mode == Mode.device and network is not None:
        recent = db.session.scalar(_FROM_NETWORK, {"in_poll": poll.id, "from_network": network,
                                                   "since": now - timedelta(hours=1),
                                                   "cap": cfg["POLL_NETWORK_HOURLY_LIMIT"]})
        if recent >= cfg["POLL_NETWORK_HOURLY_LIMIT"]:
            raise TooManyRequests("同一网络提交过于频繁，请稍后再试", headers={"Retry-After": "600"})
    if respondent.mode == Mode.device and ip:
        limits.take(limits.Limit("poll.client", cfg["POLL_CLIENT_HOURLY_LIMIT"], 3600, coarse=True),
                    limits.keyed(poll.id, ip), TOO_MANY_ANSWERS)
    _cast_ballots(poll, respondent.keys)
    response = PollResponse(poll_id=poll.id, mode=respondent.mode.value, grid_id=respondent.grid_id,
                            network_hash=network, submitted_at=now.replace(second=0, microsecond=0),
                            status=R.ok.value, answers=rows)
    db.session.add(response)
    db.session.flush()
    _move_tallies(poll.id, _tally_keys(rows, respondent.grid_id, respondent.mode.value), +1)
    _flag_burst(poll, network, now)
    return response


def _cast_ballots(poll: Poll, keys: tuple[str, ...]) -> None:
    """One ballot per key, or 409 already_answered if any of them answered before: under an
    earlier key (looked up; no process hashes with those any more), or under the current one
    (the primary key, which holds under any concurrency)."""
    earlier = [ballots.keyed(key, value) for key in ballots.earlier_keys(poll) for value in keys]
    if earlier and db.session.scalar(sa.select(sa.exists().where(
            PollBallot.poll_id == poll.id, PollBallot.respondent_hash.in_(earlier)))):
        code, message = PollBallot.__table__.primary_key.info["conflict"]
        raise Conflict(message, code=code)
    current = ballots.current_key(poll)
    # In one order for everyone: two answers sharing two keys then wait on the same one first
    # instead of each holding one the other needs (a deadlock on PostgreSQL).
    rows = [{"poll_id": poll.id, "respondent_hash": h} for h in sorted({ballots.keyed(current, v) for v in keys})]
    try:
        with db.session.begin_nested():
            db.session.execute(_CAST, rows)
    except IntegrityError as exc:
        raise conflict_for(exc) from exc


#: Of the table, not the model: an ORM statement is annotated afresh on every run (built once:
#: every answer runs it).
_CAST = sa.insert(PollBallot.__table__)
#: The answers to a poll from one network since a time (built once: every open-QR answer
#: counts them), counted up to `cap`: a limit or a burst needs to know no more than whether
#: it is reached, and a count past it would read every answer of a long burst.
_NETWORK_WINDOW = sa.and_(PollResponse.poll_id == sa.bindparam("in_poll"),
                          PollResponse.network_hash == sa.bindparam("from_network"),
                          PollResponse.submitted_at >= sa.bindparam("since"))
_FROM_NETWORK = sa.select(sa.func.count()).select_from(
    sa.select(sa.literal(1)).select_from(PollResponse).where(_NETWORK_WINDOW)
    .limit(sa.bindparam("cap", type_=sa.Integer())).subquery())
#: A burst's answers not flagged yet, flagged. The state is written out, not bound, so that
#: both databases seek them in the index of the answers not flagged (ix_poll_responses_ok_network)
#: rather than read the burst's answers flagged before.
_FLAG_BURST = (sa.update(PollResponse.__table__)
               .where(_NETWORK_WINDOW, PollResponse.__table__.c.status == sa.literal_column(f"'{R.ok.value}'"))
               .values(status=R.flagged.value))


def _flag_burst(poll: Poll, network: str | None, now: datetime) -> None:
    """Many answers from one network in a short time: flag them all for a street officer."""
    cfg = current_app.config
    if network is None:
        return
    since = now.replace(second=0, microsecond=0) - timedelta(minutes=cfg["POLL_BURST_MINUTES"])
    window = {"in_poll": poll.id, "from_network": network, "since": since}
    if db.session.scalar(_FROM_NETWORK, window | {"cap": cfg["POLL_BURST_COUNT"]}) >= cfg["POLL_BURST_COUNT"]:
        db.session.execute(_FLAG_BURST, window)


def review(response: PollResponse, decision: str, reviewer_id: int) -> None:
    """A street officer keeps (accepted) or removes (excluded) a flagged answer; a decision can
    be reversed. Excluding takes the answer out of the tallies in the same transaction."""
    target = R.accepted if decision == "accept" else R.excluded
    sources = [R.flagged.value, R.excluded.value] if target == R.accepted else [R.flagged.value, R.accepted.value]
    before = response.status
    done = db.session.execute(
        sa.update(PollResponse).where(PollResponse.id == response.id, PollResponse.status.in_(sources))
        .values(status=target.value, reviewed_by_id=reviewer_id).execution_options(synchronize_session=False))
    db.session.refresh(response)
    if done.rowcount != 1:
        raise Conflict("只有被标记的答卷可以审核", code="invalid_state")
    moves = _tally_keys(list(response.answers), response.grid_id, response.mode)
    if target == R.excluded:
        _move_tallies(response.poll_id, moves, -1)
    elif before == R.excluded.value:
        _move_tallies(response.poll_id, moves, +1)


# --- results ----------------------------------------------------------------------------------

def stored_tallies(poll: Poll) -> dict[tuple[int, int, str], int]:
    """The running tallies as stored: (question, grid, key) → count."""
    return stored_tallies_of([poll.id])[poll.id]


def stored_tallies_of(poll_ids: list[int]) -> dict[int, dict[tuple[int, int, str], int]]:
    """`stored_tallies` of each of `poll_ids`, with one statement."""
    found: dict[int, dict[tuple[int, int, str], int]] = {poll_id: {} for poll_id in poll_ids}
    for poll_id, q, g, k, c in db.session.execute(
            sa.select(PollTally.poll_id, PollTally.question_id, PollTally.grid_id, PollTally.key, PollTally.count)
            .where(PollTally.poll_id.in_(poll_ids), PollTally.count != 0)):
        found[poll_id][(q, g, k)] = c
    return found


def recompute_tallies(poll: Poll) -> dict[tuple[int, int, str], int]:
    """The tallies from the stored answers (every response not excluded): what the running
    tallies must always equal."""
    return recompute_tallies_of([poll.id])[poll.id]


def recompute_tallies_of(poll_ids: list[int]) -> dict[int, dict[tuple[int, int, str], int]]:
    """`recompute_tallies` of each of `poll_ids`: the responses and their answers read with
    two statements, as plain columns, whatever the number of polls or responses."""
    counted = sa.and_(PollResponse.poll_id.in_(poll_ids), PollResponse.status != R.excluded.value)
    answers: dict[int, list] = {}
    for row in db.session.execute(sa.select(PollAnswer.response_id, PollAnswer.question_id, PollAnswer.value)
                                  .join(PollResponse, PollResponse.id == PollAnswer.response_id).where(counted)):
        answers.setdefault(row.response_id, []).append(row)
    totals: dict[int, Counter] = {poll_id: Counter() for poll_id in poll_ids}
    for response_id, poll_id, grid_id, mode in db.session.execute(
            sa.select(PollResponse.id, PollResponse.poll_id, PollResponse.grid_id, PollResponse.mode).where(counted)):
        totals[poll_id].update(_tally_keys(answers.get(response_id, []), grid_id, mode))
    return {poll_id: {k: v for k, v in total.items() if v} for poll_id, total in totals.items()}


def rebuild_tallies(poll: Poll, counted: dict[tuple[int, int, str], int] | None = None) -> None:
    """Replace the running tallies by a full recompute (repair after a manual data fix);
    `counted`: that recompute, when already made."""
    db.session.execute(sa.delete(PollTally).where(PollTally.poll_id == poll.id))
    _move_tallies(poll.id, Counter(recompute_tallies(poll) if counted is None else counted), +1)


def _question_result(q: PollQuestion, counts: dict[str, int]) -> dict:
    if q.kind == Q.text.value:
        return {"count": counts.get("answered", 0)}
    keys = [str(v) for v in (range(5, 0, -1) if q.kind == Q.rating5.value else range(len(q.options)))]
    distribution = {k: counts.get(k, 0) for k in keys}
    result = {"count": sum(distribution.values()), "distribution": distribution}
    if q.kind == Q.rating5.value:
        n = result["count"]
        result["mean"] = round(sum(int(k) * c for k, c in distribution.items()) / n, 2) if n else None
        result["satisfaction_rate"] = round((distribution["5"] + distribution["4"]) / n, 4) if n else None
    return result


def results(poll: Poll, *, with_texts: bool = False) -> dict:
    """What the tallies say, per question and in total; grids of fewer than POLL_MIN_GROUP
    answers are left out of the breakdown (and counted as suppressed)."""
    min_group = current_app.config["POLL_MIN_GROUP"]
    tallies = stored_tallies(poll)
    by_grid: dict[int, dict[tuple[int, str], int]] = {}
    for (qid, grid, key), count in tallies.items():
        by_grid.setdefault(grid, {})[(qid, key)] = count
    everyone = by_grid.get(0, {})
    statuses = dict(db.session.execute(sa.select(PollResponse.status, sa.func.count()).where(
        PollResponse.poll_id == poll.id).group_by(PollResponse.status)).all())
    grids = {g: counts for g, counts in by_grid.items() if g}
    shown = {g: counts for g, counts in grids.items() if counts.get((0, "responses"), 0) >= min_group}
    names = dict(db.session.execute(sa.select(Org.id, Org.name).where(Org.id.in_(list(shown)))).all()) if shown else {}
    questions = []
    for q in poll.questions:
        item = {"id": q.id, "position": q.position, "text": q.text, "kind": q.kind, "options": q.options,
                "criterion_code": q.criterion_code, "weight": q.weight,
                **_question_result(q, {k: c for (qid, k), c in everyone.items() if qid == q.id})}
        if q.kind != Q.text.value:
            item["by_grid"] = [{"grid_id": g, "grid_name": names.get(g),
                                **_question_result(q, {k: c for (qid, k), c in counts.items() if qid == q.id})}
                               for g, counts in sorted(shown.items())]
        if with_texts and q.kind == Q.text.value:
            item["texts"] = list(db.session.scalars(
                sa.select(PollAnswer.text).join(PollResponse, PollResponse.id == PollAnswer.response_id)
                .where(PollAnswer.question_id == q.id, PollResponse.status != R.excluded.value)
                # Newest first to the minute; within a minute in no particular order (ids are random).
                .order_by(PollResponse.submitted_at.desc(), PollAnswer.id).limit(50)))
        questions.append(item)
    return {
        "poll_id": poll.id,
        "state": poll.state(),
        "respondents": everyone.get((0, "responses"), 0),
        "by_mode": {m.value: everyone.get((0, f"mode:{m.value}"), 0) for m in Mode},
        # One answer per phone is weaker proof than an account or a handed-out code.
        "weaker_modes": [Mode.device.value],
        "flagged": statuses.get(R.flagged.value, 0),
        "accepted_after_review": statuses.get(R.accepted.value, 0),
        "excluded": statuses.get(R.excluded.value, 0),
        "grids_suppressed": len(grids) - len(shown),
        "min_group": min_group,
        "questions": questions,
    }


#: Built once, as the statements below: every answer to a campaign's poll runs them.
_RESPONSES = sa.select(PollTally.poll_id, PollTally.count).where(
    PollTally.poll_id.in_(sa.bindparam("polls", expanding=True)), PollTally.question_id == 0, PollTally.grid_id == 0,
    PollTally.key == "responses")


def respondent_counts(poll_ids: list[int]) -> dict[int, int]:
    """Answers counted per poll, from the running tallies, in one query (for lists)."""
    rows = db.session.execute(_RESPONSES, {"polls": list(poll_ids)})
    return {poll_id: 0 for poll_id in poll_ids} | dict(rows.all())


_CRITERION_TALLIES = (
    sa.select(PollQuestion.id, PollQuestion.poll_id, PollQuestion.kind, PollQuestion.criterion_code,
              PollQuestion.weight, Poll.audience, Poll.org_id, PollTally.key, PollTally.count)
    .join(Poll, Poll.id == PollQuestion.poll_id)
    .outerjoin(PollTally, sa.and_(PollTally.poll_id == PollQuestion.poll_id,
                                  PollTally.question_id == PollQuestion.id, PollTally.grid_id == 0))
    .where(Poll.period_id == sa.bindparam("period_id"), Poll.org_id.in_(sa.bindparam("orgs", expanding=True)),
           PollQuestion.criterion_code.is_not(None),
           PollQuestion.kind.in_([Q.rating5.value, Q.choice.value]), PollQuestion.multiple.is_(False))
    .order_by(PollQuestion.id))


def criterion_tallies_of(period_id: int, org_ids: list[int]) -> dict[int, dict[str, list[dict]]]:
    """For the rating engine: per org of `org_ids`, per criterion code, each mapped question of
    the campaign's polls of that org with its audience, weight, answers and answers in the top
    two levels (for a single choice: the first two options, which a mapped question lists best
    first). One statement for all the orgs, of plain columns."""
    rows = db.session.execute(_CRITERION_TALLIES, {"period_id": period_id, "orgs": list(org_ids)}).all()
    questions: dict[int, tuple] = {}
    counts: dict[int, dict[str, int]] = {}
    for qid, poll_id, kind, code, weight, audience, org_id, key, count in rows:
        questions.setdefault(qid, (poll_id, kind, code, weight, audience, org_id))
        tally = counts.setdefault(qid, {})
        if key is not None:
            tally[key] = count
    found: dict[int, dict[str, list[dict]]] = {org_id: {} for org_id in org_ids}
    for qid, (poll_id, kind, code, weight, audience, org_id) in questions.items():
        tally = counts[qid]
        top = ("5", "4") if kind == Q.rating5.value else ("0", "1")
        found[org_id].setdefault(code, []).append({
            "question_id": qid, "poll_id": poll_id, "audience": audience,
            "weight": 1.0 if weight is None else weight,
            "count": sum(tally.values()), "top_two": sum(tally.get(k, 0) for k in top)})
    return found


_POLL = sa.select(Poll).options(joinedload(Poll.questions)).where(Poll.id == sa.bindparam("ident"))


def get_poll(poll_id: int) -> Poll:
    """The poll with its questions, or 404: polls are public so anyone can answer."""
    poll = get_by(Poll, _POLL, poll_id)
    if poll is None:
        raise NotFound("找不到该测评")
    return poll


# --- the doors: look up, authorise, act (API and pages call these) -----------------------------

def create(actor: Actor | None, args: dict) -> Poll:
    """A new poll about `args["org_id"]`, by one who organises there (its secretary or the
    street); one that counts in a campaign only by the street (403 `counted_poll_by_street`)."""
    org = db.session.get(Org, args["org_id"])
    authorize(actor, "org.organise", org)
    return create_poll(org, args, actor.person_id, runs_counted=can(actor, "poll.run_counted", org))


def managed(actor: Actor | None, poll_id: int, action: str = "poll.manage") -> Poll:
    """The poll, if the actor may `action` it (404 outside their organisations, 403 otherwise;
    a poll that counts in a campaign is run by the street alone, and the 403 says so)."""
    try:
        return load_authorized(actor, Poll, poll_id, action)
    except Forbidden:
        if action == "poll.manage" and db.session.get(Poll, poll_id).period_id is not None:
            raise Forbidden(STREET_RUNS_COUNTED, code="counted_poll_by_street") from None
        raise


def open_by(actor: Actor | None, poll_id: int) -> Poll:
    """Its organiser starts a scheduled poll at once."""
    poll = managed(actor, poll_id)
    open_now(poll)
    return poll


def close_by(actor: Actor | None, poll_id: int) -> Poll:
    """Its organiser ends an open poll at once."""
    poll = managed(actor, poll_id)
    close_now(poll)
    return poll


def visible_polls(actor: Actor | None):
    """Polls of the orgs the person can see, newest first (a statement, for paging)."""
    return (sa.select(Poll).where(Poll.org.has(org_visible_clause(actor)))
            .order_by(Poll.opens_at.desc(), Poll.id.desc()))


def staff_polls(actor: Actor, communities: list[Org], limit: int = 100) -> list[Poll]:
    """The polls of `communities` whose results the actor may read; 403 for one who may
    neither read results nor start a poll there."""
    polls = db.session.scalars(sa.select(Poll).where(Poll.org_id.in_([c.id for c in communities]))
                               .order_by(Poll.opens_at.desc()).limit(limit)).all()
    visible = [p for p in polls if can(actor, "poll.results", p)]
    if not visible and not organised_by(actor, communities):
        raise Forbidden("测评结果仅对社区和街道工作人员开放")
    return visible


def organised_by(actor: Actor, communities: list[Org]) -> list[Org]:
    """Those of `communities` where the actor may start a poll."""
    return [c for c in communities if can(actor, "org.organise", c)]


def counted_by(actor: Actor, communities: list[Org]) -> list[Org]:
    """Those of `communities` where the actor may start a poll that counts in a campaign."""
    return [c for c in communities if can(actor, "poll.run_counted", c)]


def qr_grid(poll: Poll, qr: str | None) -> int | None:
    """The grid a poll poster hangs in, when the scanned code was made for a grid of this poll;
    422 `wrong_code` for a code made for anything else."""
    if not qr:
        return None
    code = qr_service.resolve(qr)
    if code.purpose != QrPurpose.poll.value or code.target_id != poll.id:
        raise _invalid("qr", "这不是本测评的二维码", "wrong_code")
    return code.org_id if code.org.kind == OrgKind.grid.value else None


def has_answered(poll: Poll, *, actor: Actor | None, device: str | None) -> bool:
    """Whether this signed-in person or this phone has answered the poll already, so a repeat
    scan is told before anything is typed. The same ballots `_cast_ballots` checks; a code slip
    is known only once it is typed."""
    values = ([f"person:{actor.person_id}"] if actor is not None else []) + \
        ([f"device:{device}"] if poll.allow_device and device else [])
    if not values:
        return False
    hashes = [ballots.keyed(key, value) for key in (ballots.current_key(poll), *ballots.earlier_keys(poll))
              for value in values]
    return bool(db.session.scalar(sa.select(sa.exists().where(
        PollBallot.poll_id == poll.id, PollBallot.respondent_hash.in_(hashes)))))


def answer(poll_id: int, answers: list[dict], *, actor: Actor | None, code: str | None = None,
           device: str | None = None, qr: str | None = None, ip: str | None = None) -> PollResponse:
    """One answer sheet, from whoever brought what: a one-time code, an account, or a device
    (with the poster's QR naming the grid)."""
    poll = get_poll(poll_id)
    respondent = respondent_for(poll, actor=actor, code=code, device=device, qr_grid_id=qr_grid(poll, qr))
    return submit(poll, respondent, answers, ip=ip)


def results_for(actor: Actor | None, poll_id: int) -> tuple[Poll, dict]:
    """The poll and its results, texts included, for the staff of its org."""
    poll = managed(actor, poll_id, "poll.results")
    return poll, results(poll, with_texts=True)


def flagged_of(actor: Actor | None, poll_id: int, *, only_pending: bool = False, limit: int | None = None):
    """Answers in suspicious bursts (and, unless `only_pending`, those already judged)."""
    poll = managed(actor, poll_id, "poll.results")
    stmt = sa.select(PollResponse).where(PollResponse.poll_id == poll.id)
    stmt = stmt.where(PollResponse.status == R.flagged.value) if only_pending else \
        stmt.where(PollResponse.status != R.ok.value)
    return db.session.scalars(stmt.order_by(PollResponse.submitted_at, PollResponse.id).limit(limit)).all()


def reviewable(actor: Actor | None, response_id: int) -> PollResponse:
    """A flagged answer the actor may judge: a street officer above the evaluated community."""
    return load_authorized(actor, PollResponse, response_id, "poll.review")


def review_by(actor: Actor | None, response_id: int, decision: str) -> PollResponse:
    """A street officer keeps or excludes a flagged answer."""
    response = reviewable(actor, response_id)
    review(response, decision, actor.person_id)
    return response


def codes_for(actor: Actor | None, poll_id: int, count: int,
              grid_id: int | None = None) -> tuple[Poll, Org | None, list[PollCode]]:
    """Its organiser makes `count` one-time codes (optionally for one grid of the poll's org)."""
    poll = managed(actor, poll_id)
    grid = db.session.get(Org, grid_id) if grid_id else None
    return poll, grid, generate_codes(poll, count, grid)


def poster_code(actor: Actor | None, poll_id: int):
    """The open QR code of a poll that accepts answers by account or device (made once)."""
    poll = managed(actor, poll_id)
    if not poll.allow_device and not poll.allow_account:
        raise Forbidden("本测评只接受测评码，请打印测评码纸条")
    return qr_service.ensure_code(QrPurpose.poll.value, poll.id, poll.org, actor.person)


def announce_open(now: datetime | None = None) -> int:
    """Tell the party members of the evaluated org when their poll opens (once per poll); how
    many were told. Mass polls reach residents by the QR poster instead."""
    now = now or utcnow()
    polls = db.session.scalars(sa.select(Poll).where(
        Poll.audience == Audience.party_member.value, Poll.opens_at <= now, Poll.closes_at > now)).all()
    told = 0
    for poll in polls:
        if already_told("poll", poll.id, "poll_opened"):
            continue
        members = db.session.scalars(sa.select(Membership.person_id).distinct().join(Org, Org.id == Membership.org_id)
                                     .where(Membership.role == Role.party_member.value,
                                            Org.path.startswith(poll.org.path))).all()
        notify_all(members, "poll_opened", "poll", poll.id,
                   f"{poll.title}已开始，截止 {format_local(poll.closes_at)}，请抽时间参加")
        told += len(members)
    return told
