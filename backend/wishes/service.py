"""Rules of micro-wishes. The API, the H5 pages and the scheduler all call these.

Every state change is one conditional UPDATE (`... WHERE id = :id AND status IN (...)`)
checked by rowcount, so two people racing for the same wish cannot both win on either
database; the transition table below is the whole state machine.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased, joinedload

from backend.core import filestore, limits
from backend.core.db import Bound, get_by, read_rows, record_best_effort
from backend.core.errors import Conflict, Forbidden, Invalid, NotFound, Unauthorized
from backend.core.permissions import Actor, Scoped, authorize, can
from backend.core.privacy import mask_name, mask_phone
from backend.core.receipts import receipt_hash
from backend.core.roles import ROLE_LABELS
from backend.core.submissions import Ticket, require_consent, submit_once
from backend.extensions import UTCDateTime, db, utcnow
from backend.hours import service as hours
from backend.notifications.service import already_told, notify, notify_all
from backend.orgs.models import Org, OrgKind
from backend.orgs.subtrees import Subtrees
from backend.people.actors import actor_of, load_actor
from backend.people.models import Membership, Person, Role
from backend.people.service import role_holders
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrPurpose
from backend.wishes import figures
from backend.wishes.models import CLOSED, Wish, WishChannel, WishContactView, WishEvent, WishPhoto, WishStatus
from backend.wishes.permissions import Reach, grids_under, paths_bound, visible_clause, wish_reach

S = WishStatus

#: action → (states it may start from, state it leads to). Anything else is refused.
TRANSITIONS: dict[str, tuple[frozenset[WishStatus], WishStatus]] = {
    "publish": (frozenset({S.pending_review}), S.open),
    "reject": (frozenset({S.pending_review, S.open}), S.rejected),
    "claim": (frozenset({S.open}), S.claimed),
    "assign": (frozenset({S.open}), S.claimed),
    "release": (frozenset({S.claimed}), S.open),
    "claim_expired": (frozenset({S.claimed}), S.open),
    "fulfil": (frozenset({S.claimed}), S.fulfilled),
    "reopen": (frozenset({S.fulfilled}), S.claimed),
    "confirm": (frozenset({S.fulfilled}), S.confirmed),
    "auto_confirmed": (frozenset({S.fulfilled}), S.confirmed),
    "cancel": (frozenset({S.pending_review, S.open, S.claimed}), S.cancelled),
}

SYSTEM = "系统"
RESIDENT = "居民"
#: What the pages say when a note, a reason or a rating is missing (the API's schemas refuse first).
NOTE_MESSAGE = "请填写说明（至少 2 个字）"
REOPEN_MESSAGE = "请写一句还有什么没办好"
RATING_MESSAGE = "请点选 1–5 颗星再提交"


def _require_note(text: str | None, message: str, field: str) -> None:
    """A note the resident or the staff must write: at least 2 characters."""
    if len((text or "").strip()) < 2:
        raise Invalid(message, fields={field: [message]})


# --- receipts: the resident's key to their wish -------------------------------------------

def get_by_receipt(receipt: str) -> Wish:
    """The wish a receipt opens; 404 for anything else (no hint whether it exists)."""
    wish = db.session.scalar(sa.select(Wish).where(Wish.receipt_hash == receipt_hash(receipt)))
    if wish is None:
        raise NotFound("找不到该心愿，请检查回执链接")
    return wish


def get_visible(actor: Actor | None, wish_id: int, receipt: str | None = None) -> Wish:
    """A wish for staff who may see it, or for the holder of its receipt; otherwise 404."""
    if receipt:
        wish = get_by_receipt(receipt)
        if wish.id != wish_id:
            raise NotFound("找不到该心愿")
        return wish
    wish = db.session.get(Wish, wish_id)
    authorize(actor, "wish.view", wish)
    return wish


# --- timeline -----------------------------------------------------------------------------

def actor_label(actor: Actor | None, grid: Scoped) -> str:
    """How an actor appears on the public timeline of a wish of `grid`: role and masked name only."""
    if actor is None:
        return SYSTEM
    roles = actor.roles_over(grid)
    for role in (Role.grid_leader, Role.secretary, Role.grid_member, Role.street_officer, Role.party_member,
                 Role.volunteer):
        if role in roles:
            return f"{ROLE_LABELS[role]} {mask_name(actor.name)}"
    return "管理员" if actor.is_admin else mask_name(actor.name)


def label_for(viewer: Actor | None, person_id: int | None, label: str) -> str:
    """A timeline or claimant label as `viewer` reads it: their own name in full (masking it
    from its owner hides nothing and reads as a stranger), everyone else's as stored."""
    if viewer is None or person_id != viewer.person_id:
        return label
    name = viewer.name
    masked = mask_name(name)
    return label.removesuffix(masked) + name if label.endswith(masked) else label


def _event(wish: Wish, action: str, label: str, actor: Actor | None = None, note: str | None = None) -> None:
    db.session.add(WishEvent(wish_id=wish.id, action=action, actor_label=label,
                             actor_id=actor.person_id if actor else None, note=note))


def _state_conflict(wish: Wish, action: str) -> Conflict:
    if action in ("claim", "assign") and wish.status == S.claimed:
        return Conflict("已被他人认领", code="already_claimed")
    return Conflict(f"心愿当前为“{wish.status_label}”，不能执行此操作", code="invalid_state",
                    fields={"status": [wish.status]})


def _require_state(wish: Wish, action: str) -> None:
    """Refuse early (before other checks) when the wish is not in a state `action` starts from."""
    if WishStatus(wish.status) not in TRANSITIONS[action][0]:
        raise _state_conflict(wish, action)


def _transition(wish: Wish, action: str, *, label: str, actor: Actor | None = None, note: str | None = None,
                only_if=None, **values) -> None:
    """Move `wish` along `action` with one conditional UPDATE; 409 if its state moved on.

    `only_if` adds a condition that must still hold at the moment of the update."""
    sources, target = TRANSITIONS[action]
    now = utcnow()
    if target in CLOSED:
        values.setdefault("closed_at", now)
    result = db.session.execute(
        sa.update(Wish)
        .where(Wish.id == wish.id, Wish.status.in_([s.value for s in sources]),
               only_if if only_if is not None else sa.true())
        .values(status=target.value, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.refresh(wish)
    if result.rowcount != 1:
        raise _state_conflict(wish, action)
    _event(wish, action, label, actor, note)


# --- submitting ---------------------------------------------------------------------------

@dataclass
class Submission:
    """A wish submitted (or found again by its token), with the receipt to follow it."""

    wish: Wish
    receipt: str
    created: bool


#: Anonymous wishes one client (address) may send per hour; the page keeps what was typed.
TOO_MANY_WISHES = "这台设备提交的心愿太多了，请 {minutes} 分钟后再提交（已填写的内容会保留）；急事请直接联系网格员"


#: Where wish photos live in the file store (apart from rating evidence: each deletes its own).
PHOTO_AREA = "wishes"
PHOTOS_ACCEPTED = "照片（JPG、PNG、WebP）"


def _require_category(category: str | None) -> None:
    if category not in current_app.config["WISH_CATEGORIES"]:
        raise Invalid("请选择类别", fields={"category": ["请选择类别"]})


def form_problems(*, category: str | None, consent: bool) -> dict[str, list[str]]:
    """The field errors `submit` would give after the schema's, so that a form shows every
    error at once (the consent among them) instead of one round trip each."""
    problems: dict[str, list[str]] = {}
    for check in (lambda: _require_category(category), lambda: require_consent(consent)):
        try:
            check()
        except Invalid as exc:
            problems |= exc.fields or {}
    return problems


def receive_photos(uploads, field_name: str = "photos") -> list[filestore.Received]:
    """Check the photos sent with a wish (up to WISH_MAX_PHOTOS images); empty file inputs are
    no photos. Nothing is written until the wish is made."""
    cfg = current_app.config
    uploads = [u for u in uploads if u is not None and u.filename]
    if len(uploads) > cfg["WISH_MAX_PHOTOS"]:
        message = f"最多上传 {cfg['WISH_MAX_PHOTOS']} 张照片"
        raise Invalid(message, code="too_many_photos", fields={field_name: [message]})
    return [filestore.receive(u, cfg["WISH_PHOTO_MAX_BYTES"], field_name, accepted=PHOTOS_ACCEPTED,
                              types=filestore.IMAGES, code="photo") for u in uploads]


def _attach_photos(wish: Wish, photos: Sequence[filestore.Received]) -> None:
    for photo in photos:
        db.session.add(WishPhoto(wish_id=wish.id, sha256=photo.sha256, extension=photo.extension,
                                 content_type=photo.content_type, size=len(photo.data)))
        filestore.keep(photo.sha256, photo.extension, photo.data, PHOTO_AREA)


def submit(*, grid: Org, title: str, content: str, category: str, urgency: int = 1, consent: bool,
           contact_name: str | None = None, contact_phone: str | None = None, location: str | None = None,
           photos: Sequence[filestore.Received] = (), submit_token: str | None = None,
           actor: Actor | None = None, channel: str = WishChannel.qr, qr: str | None = None,
           client: str | None = None) -> Submission:
    """A resident's (or a grid leader's, on their behalf) new wish, through the grid's QR code
    `qr` or for the grid.

    The same `submit_token` twice with the same form (a double tap, or two taps racing) returns
    the first wish, not a second one; with anything else, 409 `submit_token_reused`. Without an
    account, `client` (the address) may make WISH_CLIENT_HOURLY_LIMIT new wishes an hour, then
    429 with Retry-After; a replay is not a new wish and is not counted.
    """
    cfg = current_app.config
    if grid.kind != OrgKind.grid.value:
        raise Invalid("请通过网格二维码提交", code="unknown_target", fields={"grid_id": ["找不到该网格"]})
    _require_category(category)

    def build(ticket: Ticket) -> Wish:
        if actor is None and client is not None:
            limits.take(limits.Limit("wish.client", cfg["WISH_CLIENT_HOURLY_LIMIT"], 3600), limits.keyed(client),
                        TOO_MANY_WISHES)
        community = db.session.get(Org, grid.parent_id)
        now = utcnow()
        wish = Wish(grid_id=grid.id, community_id=community.id, title=title.strip(), content=content.strip(),
                    category=category, urgency=urgency, channel=WishChannel(channel).value,
                    status=(S.pending_review if community.wish_moderation else S.open).value,
                    contact_name=(contact_name or "").strip() or None, contact_phone=contact_phone or None,
                    location=(location or "").strip() or None,
                    consent_version=cfg["PRIVACY_NOTICE_VERSION"], consent_at=now,
                    receipt_hash=ticket.receipt_hash, submit_token=ticket.token_hash,
                    submitted_by_id=actor.person_id if actor else None,
                    due_at=now + timedelta(hours=cfg["WISH_DUE_HOURS"][urgency]), created_at=now)
        db.session.add(wish)
        return wish

    form = {"grid": grid.id, "qr": qr, "channel": str(channel), "by": actor.person_id if actor else None,
            "title": title, "content": content, "category": category, "urgency": urgency,
            "contact_name": contact_name, "contact_phone": contact_phone, "location": location,
            "photos": [p.sha256 for p in photos]}
    wish, ticket, created = submit_once(Wish, "wish", consent=consent, submit_token=submit_token, form=form,
                                        build=build)
    if created:
        _attach_photos(wish, photos)
        if channel == WishChannel.staff_proxy and actor is not None:
            _event(wish, "submitted", actor_label(actor, wish.grid), actor, note="代居民提交")
        else:
            _event(wish, "submitted", RESIDENT)
        _tell_grid(wish)
    return Submission(wish, ticket.receipt, created)


#: Who on a grid hears of a wish to take on: its leader and everyone who may claim there.
GRID_CREW = [Role.grid_leader, Role.grid_member, Role.party_member, Role.volunteer]


def _tell_grid(wish: Wish) -> None:
    """A new wish on the board reaches the grid's crew; one awaiting review, its reviewers."""
    if wish.status == S.pending_review:
        reviewers = role_holders([wish.grid_id], [Role.grid_leader]) + role_holders([wish.community_id],
                                                                                   [Role.secretary])
        notify_all(sorted(set(reviewers)), "wish_review", "wish", wish.id,
                   f"{wish.grid.name}有一条心愿待审核：{wish.title}")
        return
    notify_all([p for p in role_holders([wish.grid_id], GRID_CREW) if p != wish.submitted_by_id],
               "wish_new", "wish", wish.id, f"{wish.grid.name}新心愿：{wish.title}")


def _resident_of(wish: Wish) -> int | None:
    """The person who is the resident of a wish: its submitter when they were signed in and
    wrote it for themselves (not a grid leader writing it down for someone)."""
    return wish.submitted_by_id if wish.channel != WishChannel.staff_proxy.value else None


def _tell_resident(wish: Wish, kind: str, message: str) -> None:
    """The resident hears in their inbox (and on WeChat, if they allowed it) when they were
    signed in, and by SMS when they left a number (they consented when submitting)."""
    notify(_resident_of(wish), kind, "resident_wish", wish.id, message, phone=wish.contact_phone)


def _tell_leaders(wish: Wish, kind: str, message: str) -> None:
    notify_all(role_holders([wish.grid_id], [Role.grid_leader]), kind, "wish", wish.id, message)


# --- staff actions ------------------------------------------------------------------------

def claimable_roles_of(actor: Actor, wish: Wish) -> set[Role]:
    """The person's roles over the wish's grid."""
    return actor.roles_over(wish.grid)


def may_claim(actor: Actor | None, wish: Wish) -> bool:
    """Whether the person could take this wish on: the claim rule, and not their own wish."""
    return can(actor, "wish.claim", wish) and wish.submitted_by_id != actor.person_id


def _first_claim(now: datetime):
    """Keep the first claim time across releases (hours-to-claim counts from the first)."""
    return sa.func.coalesce(Wish.first_claimed_at, sa.literal(now, UTCDateTime()))


def claim(actor: Actor, wish: Wish) -> None:
    """Take a wish on. Exactly one claimant wins; at most K active claims per person."""
    authorize(actor, "wish.claim", wish)
    if wish.submitted_by_id == actor.person_id:  # may_claim says the same to the pages
        raise Conflict("不能认领自己提交的心愿", code="own_wish")
    _require_state(wish, "claim")
    limit = current_app.config["WISH_MAX_ACTIVE_CLAIMS"]
    active = db.session.scalar(sa.select(sa.func.count()).where(
        Wish.claimant_id == actor.person_id, Wish.status == S.claimed.value))
    if active >= limit:
        raise Conflict(f"您已有 {active} 个办理中的心愿，请先办结再认领", code="too_many_claims")
    now = utcnow()
    _transition(wish, "claim", label=actor_label(actor, wish.grid), actor=actor, claimant_id=actor.person_id,
                claimed_at=now, last_progress_at=now, first_claimed_at=_first_claim(now))
    _tell_resident(wish, "wish_claimed", f"您的心愿“{wish.title[:12]}”已有人认领，正在办理")


def assign(actor: Actor, wish: Wish, member: Person) -> None:
    """A grid leader hands an open wish to someone who could have claimed it."""
    authorize(actor, "wish.manage", wish)
    _require_state(wish, "assign")
    member_actor = load_actor(member.id)
    if member_actor is None or not can(member_actor, "wish.claim", wish):
        raise Invalid("该成员不能认领本网格的心愿", code="not_eligible", fields={"person_id": ["该成员不能认领"]})
    if wish.submitted_by_id == member.id:
        raise Conflict("不能指派给提交人本人", code="own_wish")
    now = utcnow()
    _transition(wish, "assign", label=actor_label(actor, wish.grid), actor=actor,
                note=f"指派给 {actor_label(member_actor, wish.grid)}", claimant_id=member.id, claimed_at=now,
                last_progress_at=now, first_claimed_at=_first_claim(now))
    notify(member.id, "wish_assigned", "wish", wish.id, f"网格长指派您办理心愿：{wish.title}")
    _tell_resident(wish, "wish_claimed", f"您的心愿“{wish.title[:12]}”已有人认领，正在办理")


def release(actor: Actor, wish: Wish, note: str | None = None) -> None:
    """Give the wish back to the board (the claimant, or a grid leader)."""
    authorize(actor, "wish.view", wish)
    if wish.claimant_id != actor.person_id:
        authorize(actor, "wish.manage", wish)
    _transition(wish, "release", label=actor_label(actor, wish.grid), actor=actor, note=note,
                claimant_id=None, claimed_at=None, last_progress_at=None)
    _tell_leaders(wish, "wish_released", f"心愿“{wish.title}”被退回待认领{('：' + note) if note else ''}")


def fulfil(actor: Actor, wish: Wish, note: str) -> None:
    """The claimant says it is done; the resident confirms next."""
    authorize(actor, "wish.view", wish)
    if wish.status == S.claimed and wish.claimant_id != actor.person_id:
        raise Conflict("只有认领人可以标记办结", code="not_claimant")
    _require_note(note, NOTE_MESSAGE, "note")
    now = utcnow()
    _transition(wish, "fulfil", label=actor_label(actor, wish.grid), actor=actor, note=note,
                only_if=Wish.claimant_id == actor.person_id, fulfilled_at=now, fulfil_note=note,
                last_progress_at=now)
    _tell_resident(wish, "wish_fulfilled", f"您的心愿“{wish.title[:12]}”已办好，请打开回执确认并评价")


def publish(actor: Actor, wish: Wish) -> None:
    """Moderation: a grid leader lets a pending wish onto the board."""
    authorize(actor, "wish.manage", wish)
    _transition(wish, "publish", label=actor_label(actor, wish.grid), actor=actor)
    _tell_grid(wish)


def reject(actor: Actor, wish: Wish, reason: str) -> None:
    """A grid leader turns down content that does not belong, with the reason shown to the resident."""
    authorize(actor, "wish.manage", wish)
    _require_note(reason, NOTE_MESSAGE, "reason")
    _transition(wish, "reject", label=actor_label(actor, wish.grid), actor=actor, note=reason, reject_reason=reason)


def may_uphold_rejection(actor: Actor | None, wish: Wish) -> bool:
    """Whether the person could uphold this rejection now (the page shows the button then)."""
    return wish.status == S.rejected and wish.rejection_upheld_at is None and can(actor, "wish.uphold_rejection", wish)


def uphold_rejection(actor: Actor, wish: Wish, note: str) -> None:
    """A street officer agrees that a rejected wish did not belong, with a note on its timeline:
    only then does it leave the wish rates (S1, S2, O3) of the community that rejected it.
    Once; the community cannot do it for itself."""
    authorize(actor, "wish.uphold_rejection", wish)
    _require_note(note, NOTE_MESSAGE, "note")
    if wish.status != S.rejected:
        raise Conflict("只有未受理的心愿需要街道确认", code="invalid_state", fields={"status": [wish.status]})
    done = db.session.execute(
        sa.update(Wish).where(Wish.id == wish.id, Wish.status == S.rejected.value, Wish.rejection_upheld_at.is_(None))
        .values(rejection_upheld_at=utcnow()).execution_options(synchronize_session=False))
    db.session.refresh(wish)
    if done.rowcount != 1:
        raise Conflict("街道已确认过该心愿不属于微心愿", code="already_upheld")
    _event(wish, "rejection_upheld", actor_label(actor, wish.grid), actor, note)


# --- resident actions (by receipt) ---------------------------------------------------------

def confirm(wish: Wish, rating: int, comment: str | None = None) -> None:
    """The resident confirms the fulfilled wish and rates it 1–5."""
    if rating not in range(1, 6):
        raise Invalid(RATING_MESSAGE, fields={"rating": [RATING_MESSAGE]})
    _transition(wish, "confirm", label=RESIDENT, note=comment, confirmed_at=utcnow(), rating=rating,
                rating_comment=comment)
    _credit_claimant(wish)


def _credit_claimant(wish: Wish) -> None:
    """A confirmed wish earns its claimant WISH_POINTS, debited to the community."""
    hours.post(person_id=wish.claimant_id, org_id=wish.community_id, source_type="wish", source_id=wish.id,
                memo=f"微心愿：{wish.title}", points=current_app.config["WISH_POINTS"])


def reopen(wish: Wish, note: str) -> None:
    """"还没办好": back to the claimant, with the resident's note."""
    _require_note(note, REOPEN_MESSAGE, "note")
    _transition(wish, "reopen", label=RESIDENT, note=note, fulfilled_at=None, last_progress_at=utcnow())
    notify(wish.claimant_id, "wish_reopened", "wish", wish.id, f"居民反馈心愿“{wish.title}”还没办好：{note}")


def cancel(wish: Wish) -> None:
    """The resident withdraws the wish."""
    _transition(wish, "cancel", label=RESIDENT, claimant_id=None)


# --- the submitter, signed in: their own wishes without the receipt -------------------------

def _own_wish_clause(actor: Actor | None):
    """SQL: wishes the person submitted for themselves — not those a grid leader wrote down
    for a resident (staff_proxy), which belong to that resident and their receipt."""
    person_id = actor.person_id if actor is not None else None
    return sa.and_(Wish.submitted_by_id == person_id, Wish.submitted_by_id.is_not(None),
                   Wish.channel != WishChannel.staff_proxy.value)


def my_wishes(actor: Actor, limit: int = 50) -> list[Wish]:
    """我的心愿: the wishes the signed-in person submitted themselves, newest first (each with
    its `status_label`)."""
    return list(db.session.scalars(sa.select(Wish).where(_own_wish_clause(actor))
                                   .order_by(Wish.created_at.desc(), Wish.id.desc()).limit(limit)))


#: What happens next, per state, as the submitter reads it (numbers from the configuration).
NEXT_STEPS = {
    S.pending_review: "社区审核后发布，通常 {WISH_REVIEW_HOURS} 小时内",
    S.open: "网格长通常 {WISH_ESCALATE_UNCLAIMED_HOURS} 小时内认领",
    S.claimed: "认领人会联系您，约好时间上门办理",
    S.fulfilled: "已办好，请您确认并打分（{WISH_AUTO_CONFIRM_DAYS} 天后自动确认）",
    S.confirmed: "已完成，感谢您的评价",
    S.rejected: "社区未受理，点开看原因",
    S.cancelled: "您已撤回这个心愿",
}


def next_step(wish: Wish) -> str:
    """The expected next step of a wish, for its submitter's list (我的心愿)."""
    return NEXT_STEPS[WishStatus(wish.status)].format(**current_app.config)


def awaits_submitter(wish: Wish) -> bool:
    """Whether the wish waits for its submitter (待您确认): fulfilled, to confirm and rate."""
    return wish.status == S.fulfilled


#: Receipts one phone may ask about at once (it keeps its 30 latest).
MAX_RECEIPTS = 30


def by_receipts(receipts: list[str]) -> list[tuple[str, Wish]]:
    """The wishes these receipts open, in the order given; unknown receipts are left out (no
    hint whether they ever existed)."""
    receipts = list(dict.fromkeys(receipts))[:MAX_RECEIPTS]
    hashes = {receipt_hash(r): r for r in receipts}
    found = {w.receipt_hash: w for w in db.session.scalars(sa.select(Wish).where(Wish.receipt_hash.in_(hashes)))}
    return [(r, found[h]) for h, r in hashes.items() if h in found]


def my_wish(actor: Actor | None, wish_id: int) -> Wish:
    """One of the person's own wishes, opened without its receipt (the server keeps only the
    receipt's hash); 404 for anyone else's, as for an unknown receipt."""
    wish = db.session.scalar(sa.select(Wish).where(Wish.id == wish_id, _own_wish_clause(actor)))
    if wish is None:
        raise NotFound("找不到该心愿")
    return wish


def confirm_mine(actor: Actor, wish_id: int, rating: int, comment: str | None = None) -> Wish:
    """The submitter, signed in, confirms and rates their fulfilled wish (as with the receipt)."""
    wish = my_wish(actor, wish_id)
    confirm(wish, rating, comment)
    return wish


def reopen_mine(actor: Actor, wish_id: int, note: str) -> Wish:
    """The submitter, signed in, says their wish is not done yet (as with the receipt)."""
    wish = my_wish(actor, wish_id)
    reopen(wish, note)
    return wish


def cancel_mine(actor: Actor, wish_id: int) -> Wish:
    """The submitter, signed in, withdraws their wish (as with the receipt)."""
    wish = my_wish(actor, wish_id)
    cancel(wish)
    return wish


# --- contact details ------------------------------------------------------------------------

def sees_full_contact(actor: Actor | None, wish: Wish) -> bool:
    """Whether the person may see the resident's full contact details (the claimant, the grid leader)."""
    return can(actor, "wish.contact", wish)


def log_contact_view(actor: Actor, wish: Wish, what: str = "contact") -> None:
    """Record one full view of the contact details or a photo (who, which wish, what, when),
    after the read that showed them: a busy database loses the record, not the read."""
    view = {"wish_id": wish.id, "person_id": actor.person_id, "what": what}
    record_best_effort(lambda: db.session.add(WishContactView(**view)))


def photo_for(actor: Actor | None, wish_id: int, photo_id: int) -> tuple[WishPhoto, Path]:
    """A wish's photo and where its file is, for those who see the contact details (the
    claimant, the grid leader): 404 for those who do not see the wish, 403 for the rest.
    Each view is recorded as a contact view is."""
    wish = db.session.get(Wish, wish_id)
    authorize(actor, "wish.contact", wish)
    photo = db.session.scalar(sa.select(WishPhoto).where(WishPhoto.id == photo_id, WishPhoto.wish_id == wish.id))
    if photo is None:
        raise NotFound("照片已删除")
    log_contact_view(actor, wish, "photo")
    return photo, filestore.path_for(photo.sha256, photo.extension, PHOTO_AREA)


def sweep_orphan_photos() -> int:
    """Photo files no wish holds: written just before a commit that then failed, or left by a
    process that died in between. Files of the last day are left alone, since a transaction
    may be about to commit them."""
    return filestore.sweep_orphans(PHOTO_AREA, lambda hashes: set(db.session.scalars(
        sa.select(WishPhoto.sha256).where(WishPhoto.sha256.in_(hashes)))))


@dataclass(frozen=True)
class Contact:
    """A resident's contact details as one viewer may see them."""

    name: str | None
    phone: str | None
    masked: bool


def contact_for(actor: Actor | None, wish: Wish, *, receipt_holder: bool = False) -> Contact:
    """The wish's contact details for this viewer: in full to the holder of the receipt and to
    those the contact rule names, masked for everyone else (`masked_contact`). Every full view
    by staff is recorded (PIPL), after the request's answer is made."""
    if receipt_holder:
        return Contact(wish.contact_name, wish.contact_phone, masked=False)
    if not sees_full_contact(actor, wish):
        return masked_contact(wish.contact_name, wish.contact_phone)
    if wish.contact_name or wish.contact_phone:
        log_contact_view(actor, wish)
    return Contact(wish.contact_name, wish.contact_phone, masked=False)


def masked_contact(name: str | None, phone: str | None) -> Contact:
    """A resident's contact details as those who may not see them read them (王**, 139****5678).

    A list shows them so to everyone: staff see them in full by opening the one wish they act
    on, which is then recorded, so a list reveals no phone number, records no view and takes
    no write lock."""
    return Contact(mask_name(name) if name else None, mask_phone(phone), masked=True)


# --- lists ----------------------------------------------------------------------------------

def board(actor: Actor, *, statuses: Sequence[str] = (), grid: Org | None = None, mine: bool = False) -> Bound:
    """Wishes the actor may see, in one of `statuses` (any when none), under `grid`, held by
    the actor (`mine`): most urgent first, then oldest."""
    reach, values = wish_reach(actor)
    values |= {f"board_status_{i}": status for i, status in enumerate(statuses)}
    if mine:
        values["board_claimant"] = actor.person_id
    if grid is not None:
        values |= paths_bound("board_grid", [grid.path])
    return Bound(_board(reach, len(statuses), grid is not None, mine), values)


@lru_cache(maxsize=256)
def _board(reach: Reach, statuses: int, grid: bool, mine: bool) -> sa.Select:
    """The statement of `board` of one shape, its values bound."""
    stmt = sa.select(Wish).where(visible_clause(reach))
    if mine:
        stmt = stmt.where(Wish.claimant_id == sa.bindparam("board_claimant"))
    if statuses == 1:
        stmt = stmt.where(Wish.status == sa.bindparam("board_status_0"))
    elif statuses:
        stmt = stmt.where(Wish.status.in_([sa.bindparam(f"board_status_{i}") for i in range(statuses)]))
    if grid:
        stmt = stmt.where(grids_under("board_grid", 1))
    return stmt.order_by(Wish.urgency.desc(), Wish.created_at, Wish.id)


#: What a row of the task board page shows: the wish's own columns and its grid's name.
_TASK_ROW = (Wish.id, Wish.urgency, Wish.title, Wish.category, Wish.status, Wish.due_at, Wish.closed_at,
             Org.name.label("grid_name"))


def task_rows(wishes: Bound, limit: int, offset: int = 0) -> list[sa.Row]:
    """`limit` wishes of `wishes` (a board or the rejections, as built above) from the
    `offset`th, as rows of what the task board page shows, the grid's name joined: a page builds
    no Wish or Org objects and reads no grid one by one."""
    return read_rows(_task_rows(wishes.stmt),
                     {**wishes.params, "task_limit": limit, "task_offset": offset}).all()


@lru_cache(maxsize=256)
def _task_rows(stmt: sa.Select) -> sa.Select:
    return (stmt.with_only_columns(*_TASK_ROW).join(Org, Org.id == Wish.grid_id)
            .limit(sa.bindparam("task_limit", type_=sa.Integer()))
            .offset(sa.bindparam("task_offset", type_=sa.Integer())))


_Grid = aliased(Org, name="grid")
_Community = aliased(Org, name="community")
#: What a wish of a list shows: the answer's own columns, its grid's name and path (roles over
#: it label the claimant) and its community's name. Contact details are masked in a list, so
#: neither the door nor the photos are read.
_LISTED = (Wish.id, Wish.title, Wish.content, Wish.category, Wish.urgency, Wish.status, Wish.channel, Wish.grid_id,
           Wish.community_id, Wish.fulfil_note, Wish.rating, Wish.rating_comment, Wish.auto_confirmed,
           Wish.reject_reason, Wish.rejection_upheld_at, Wish.created_at, Wish.due_at, Wish.fulfilled_at,
           Wish.confirmed_at, Wish.claimant_id, Wish.contact_name, Wish.contact_phone,
           _Grid.name.label("grid_name"), _Grid.path.label("grid_path"), _Community.name.label("community_name"))


def listed(wishes: Bound) -> Bound:
    """The wishes of `wishes` (a board or the rejections, as built above) as rows of what a list
    shows, their grid and community joined: a page builds no Wish or Org objects."""
    return Bound(_listed(wishes.stmt), wishes.params)


@lru_cache(maxsize=256)
def _listed(stmt: sa.Select) -> sa.Select:
    return (stmt.with_only_columns(*_LISTED).join(_Grid, _Grid.id == Wish.grid_id)
            .join(_Community, _Community.id == Wish.community_id))


#: The timelines of some wishes, each in order.
_EVENTS = (sa.select(WishEvent.wish_id, WishEvent.action, WishEvent.actor_id, WishEvent.actor_label, WishEvent.note,
                     WishEvent.at)
           .where(WishEvent.wish_id.in_(sa.bindparam("wish_ids", expanding=True)))
           .order_by(WishEvent.wish_id, WishEvent.id))


def events_of(wish_ids: Sequence[int]) -> dict[int, list[sa.Row]]:
    """The timelines of the wishes `wish_ids` (a listed page), read with one statement."""
    timelines: dict[int, list[sa.Row]] = {wish_id: [] for wish_id in wish_ids}
    if wish_ids:
        for event in read_rows(_EVENTS, {"wish_ids": list(wish_ids)}):
            timelines[event.wish_id].append(event)
    return timelines


@dataclass(frozen=True)
class BoardCounts:
    """The figures on a board holder's home: what waits for someone, what the person holds."""

    #: Waiting for review or for someone to claim it (the board's 待认领 tab).
    waiting: int
    #: Claimed by the person and not yet confirmed (the 我认领的 tab).
    mine: int


def board_counts(actor: Actor) -> BoardCounts:
    """The 待认领 and 我认领的 counts of the task board, in one aggregate query over the wishes
    the person sees (the same rows the board's tabs list)."""
    mine = sa.and_(Wish.claimant_id == actor.person_id,
                   Wish.status.in_([S.claimed.value, S.fulfilled.value]))
    reach, values = wish_reach(actor)
    waiting, held = db.session.execute(
        sa.select(sa.func.count().filter(Wish.status.in_([S.open.value, S.pending_review.value])),
                  sa.func.count().filter(mine)).where(visible_clause(reach)), values).one()
    return BoardCounts(waiting=waiting, mine=held)


def assignable_members(wish: Wish) -> list[Person]:
    """People who could claim this wish (for the grid leader's assign list)."""
    community = wish.community
    people = db.session.scalars(
        sa.select(Person).join(Membership).join(Org, Org.id == Membership.org_id)
        .where(Org.path.startswith(community.path), Person.is_active.is_(True),
               Membership.role.in_([r.value for r in (Role.party_member, Role.volunteer, Role.grid_leader,
                                                        Role.grid_member, Role.secretary)]))
        .distinct().order_by(Person.name)).all()
    return [p for p in people if p.id != wish.submitted_by_id and can(actor_of(p.id), "wish.claim", wish)]


# --- the doors: look up, authorise, act (API and pages call these) -----------------------------

def grid_of_code(code: str) -> Org:
    """The grid a wish QR code was printed for: 404 `unknown_code` for a code made for
    anything else, 410 for a revoked one."""
    qr = qr_service.resolve(code)
    if qr.purpose != QrPurpose.wish.value:
        raise NotFound("该二维码不能用于提交心愿", code="unknown_code")
    # With its community, which the wish is filed under too.
    return get_by(Org, _GRID_OF_CODE, qr.target_id)


_GRID_OF_CODE = sa.select(Org).options(joinedload(Org.parent)).where(Org.id == sa.bindparam("ident"))


def submission_target(actor: Actor | None, *, qr: str | None = None, grid_id: int | None = None) -> tuple[Org, str]:
    """Where a new wish goes and by which channel: a grid's wish code (no account needed), or
    a grid the signed-in person sees — written down for a resident when the person is one of
    the grid's staff who may do that, otherwise their own."""
    if qr is not None:
        return grid_of_code(qr), WishChannel.qr.value
    if actor is None:
        raise Unauthorized()
    grid = db.session.get(Org, grid_id)
    authorize(actor, "org.view", grid)
    proxy = can(actor, "org.wishes.submit_for_resident", grid)
    return grid, (WishChannel.staff_proxy if proxy else WishChannel.api).value


def proxy_grid(actor: Actor | None, grid_id: int) -> Org:
    """A grid whose staff member writes a wish down for a resident; 404 for anyone else."""
    grid = db.session.get(Org, grid_id)
    authorize(actor, "org.view", grid)
    if not can(actor, "org.wishes.submit_for_resident", grid):
        raise NotFound("找不到该网格")
    return grid


def board_for(actor: Actor, *, status: str | None = None, grid_id: int | None = None,
              mine: bool = False) -> Bound:
    """The person's task board, narrowed to a grid (or community, street) they see, as rows
    of what a list shows (`listed`)."""
    grid = None
    if grid_id is not None:
        grid = db.session.get(Org, grid_id)
        authorize(actor, "org.view", grid)
    return listed(board(actor, statuses=(status,) if status else (), grid=grid, mine=mine))


def rejections_for(actor: Actor) -> Bound:
    """Rejected wishes the street has not upheld, under the street officer's orgs (nobody
    else's list: the rejecting community cannot excuse itself), newest first."""
    if not can(actor, "wishes.rejections"):
        raise Forbidden("只有街道工作人员可以确认未受理的心愿")
    if actor.is_admin:
        return Bound(_rejections(None), {})
    streets = actor.paths_with({Role.street_officer})
    return Bound(_rejections(len(streets)), paths_bound("street", streets))


@lru_cache(maxsize=16)
def _rejections(streets: int | None) -> sa.Select:
    """The statement of `rejections_for` under so many streets (None: all), their paths bound."""
    under = sa.true() if streets is None else grids_under("street", streets)
    return (sa.select(Wish).where(under, Wish.status == S.rejected.value, Wish.rejection_upheld_at.is_(None))
            .order_by(Wish.closed_at.desc(), Wish.id.desc()))


def assign_by(actor: Actor, wish: Wish, person_id: int) -> None:
    """A grid leader hands an open wish to the person `person_id`."""
    member = db.session.get(Person, person_id)
    if member is None:
        raise NotFound("找不到该成员")
    assign(actor, wish, member)


def assign_choices(actor: Actor, wish: Wish) -> list[Person]:
    """Whom the person may hand this wish to: nobody unless they manage it and it is open."""
    if wish.status != S.open or not can(actor, "wish.manage", wish):
        return []
    return assignable_members(wish)


# --- rules the scheduler runs ---------------------------------------------------------------

def release_stale_claims(now: datetime | None = None) -> int:
    """Claims with no progress for WISH_CLAIM_STALE_HOURS go back to the board."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=current_app.config["WISH_CLAIM_STALE_HOURS"])
    stale = db.session.scalars(sa.select(Wish).where(Wish.status == S.claimed.value,
                                                      Wish.last_progress_at < cutoff)).all()
    done = 0
    for wish in stale:
        claimant = wish.claimant_id
        try:
            _transition(wish, "claim_expired", label=SYSTEM, note="认领后长时间无进展，已退回待认领",
                        claimant_id=None, claimed_at=None, last_progress_at=None)
        except Conflict:
            continue
        notify(claimant, "wish_claim_expired", "wish", wish.id, f"心愿“{wish.title}”长时间无进展，已退回")
        _tell_leaders(wish, "wish_released", f"心愿“{wish.title}”认领后长时间无进展，已退回待认领")
        done += 1
    return done


def escalate(now: datetime | None = None) -> int:
    """Wishes unclaimed for WISH_ESCALATE_UNCLAIMED_HOURS, or past their due time, alert the
    community secretaries once."""
    now = now or utcnow()
    cutoff = now - timedelta(hours=current_app.config["WISH_ESCALATE_UNCLAIMED_HOURS"])
    late = db.session.scalars(sa.select(Wish).where(
        Wish.escalated_at.is_(None),
        sa.or_(sa.and_(Wish.status.in_([S.open.value, S.pending_review.value]), Wish.created_at < cutoff),
               Wish.overdue_clause(now, current_app.config["WISH_REVIEW_HOURS"])))).all()
    for wish in late:
        claimed = db.session.execute(sa.update(Wish).where(Wish.id == wish.id, Wish.escalated_at.is_(None))
                                     .values(escalated_at=now).execution_options(synchronize_session=False))
        if claimed.rowcount != 1:
            continue
        reason = "已超过办理期限" if wish.due_at < now else "长时间无人认领"
        _event(wish, "escalated", SYSTEM, note=f"{reason}，已提醒社区书记")
        notify_all(role_holders([wish.community_id], [Role.secretary]), "wish_escalated", "wish", wish.id,
                   f"{wish.grid.name}的心愿“{wish.title}”{reason}")
    return len(late)


def remind_to_confirm(now: datetime | None = None) -> int:
    """A day before a fulfilled wish is confirmed automatically, remind the resident (once)."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["WISH_AUTO_CONFIRM_DAYS"] - 1)
    waiting = db.session.scalars(sa.select(Wish).where(
        Wish.status == S.fulfilled.value, Wish.fulfilled_at < cutoff,
        Wish.contact_phone.is_not(None) | (Wish.submitted_by_id.is_not(None)
                                           & (Wish.channel != WishChannel.staff_proxy.value)))).all()
    told = 0
    for wish in waiting:
        if not already_told("resident_wish", wish.id, "wish_confirm_reminder"):
            _tell_resident(wish, "wish_confirm_reminder", f"您的心愿“{wish.title[:12]}”明天将自动确认，如未办好请反馈")
            told += 1
    return told


def auto_confirm(now: datetime | None = None) -> int:
    """Fulfilled wishes the resident leaves unanswered for WISH_AUTO_CONFIRM_DAYS are confirmed
    without a rating."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["WISH_AUTO_CONFIRM_DAYS"])
    waiting = db.session.scalars(sa.select(Wish).where(Wish.status == S.fulfilled.value,
                                                        Wish.fulfilled_at < cutoff)).all()
    done = 0
    for wish in waiting:
        try:
            _transition(wish, "auto_confirmed", label=SYSTEM, note="居民未在期限内确认，系统自动确认",
                        confirmed_at=now, auto_confirmed=True)
        except Conflict:
            continue
        _credit_claimant(wish)
        done += 1
    return done


def _erase_photos(wish: Wish) -> None:
    """A wish's photos go with its contact details: the rows, and each file no other wish holds."""
    photos = list(wish.photos)
    wish.photos.clear()
    db.session.flush()
    for photo in photos:
        if not db.session.scalar(sa.select(sa.func.count()).select_from(WishPhoto)
                                 .where(WishPhoto.sha256 == photo.sha256)):
            filestore.path_for(photo.sha256, photo.extension, PHOTO_AREA).unlink(missing_ok=True)


def erase_contacts(now: datetime | None = None) -> int:
    """Contact details are erased WISH_CONTACT_RETENTION_DAYS after a wish closes."""
    now = now or utcnow()
    cutoff = now - timedelta(days=current_app.config["WISH_CONTACT_RETENTION_DAYS"])
    due = db.session.scalars(sa.select(Wish).where(
        Wish.closed_at < cutoff, Wish.contact_erased_at.is_(None))).all()
    for wish in due:
        wish.contact_name = None
        wish.contact_phone = None
        wish.location = None
        wish.contact_erased_at = now
        _erase_photos(wish)
        _event(wish, "contact_erased", SYSTEM, note="联系方式、门牌和照片已按规定删除")
    return len(due)


# --- numbers for the star rating ------------------------------------------------------------

def _hours(start: datetime | None, end: datetime | None) -> float | None:
    return None if start is None or end is None else (end - start).total_seconds() / 3600


def wish_stats(org: Org, start: datetime, end: datetime, now: datetime | None = None) -> dict:
    """Figures for wishes submitted in [start, end) in `org`'s subtree (grid, community, street).

    Every wish counts except those the resident withdrew and rejections the street upheld: a
    rejected or still unreviewed wish counts against the rates like any wish not done. This is
    the full count from every wish; the star rating's live scores read the same figures from
    the running ones (`backend.wishes.figures`), and the nightly check compares the two."""
    rows = db.session.scalars(sa.select(Wish).where(
        Wish.grid.has(Org.path.startswith(org.path)), Wish.created_at >= start, Wish.created_at < end)).all()
    return _wish_figures(org.id, rows, start, end, now or utcnow())


def wish_stats_of(trees: Subtrees, start: datetime, end: datetime, now: datetime) -> dict[int, dict]:
    """`wish_stats` of each org of `trees` (their subtrees), the wishes of all of them read
    with one statement."""
    rows: dict[int, list[Wish]] = {org_id: [] for org_id in trees.orgs}
    for wish in db.session.scalars(sa.select(Wish).where(Wish.grid_id.in_(trees.ids), Wish.created_at >= start,
                                                         Wish.created_at < end).order_by(Wish.id)):
        for top in trees.tops[wish.grid_id]:
            rows[top].append(wish)
    return {org_id: _wish_figures(org_id, wishes, start, end, now) for org_id, wishes in rows.items()}


def _wish_figures(org_id: int, rows: Sequence[Wish], start: datetime, end: datetime, now: datetime) -> dict:
    review_hours = current_app.config["WISH_REVIEW_HOURS"]
    counted = [w for w in rows if figures.is_counted(w)]
    fulfilled = [w for w in counted if w.fulfilled_at is not None or w.status == S.confirmed]
    confirmed = [w for w in counted if w.status == S.confirmed]
    auto_confirmed = sum(1 for w in confirmed if w.auto_confirmed)
    ratings = [w.rating for w in confirmed if w.rating is not None]
    review = timedelta(hours=review_hours)
    to_claim = Counter(t for w in counted if (t := figures.claim_tenths(w, now, review)) is not None)
    to_fulfil = [h for w in fulfilled if (h := _hours(w.created_at, w.fulfilled_at)) is not None]
    timeliness = [t for w in counted if (t := figures.on_time(w, now, review_hours)) is not None]
    return {
        "org_id": org_id,
        "from": start,
        "to": end,
        "submitted": len(rows),
        "counted": len(counted),
        "rejected": sum(1 for w in counted if w.status == S.rejected),
        "rejections_upheld": sum(1 for w in rows if w.rejection_upheld_at is not None),
        "unreviewed_overdue": sum(1 for w in counted if w.status == S.pending_review and w.is_late(now, review_hours)),
        "fulfilled": len(fulfilled),
        "confirmed": len(confirmed),
        "auto_confirmed": auto_confirmed,
        "confirmed_credit": len(confirmed) - (1 - figures.AUTO_CONFIRMED_CREDIT) * auto_confirmed,
        "fulfilment_rate": round(len(fulfilled) / len(counted), 4) if counted else None,
        "median_hours_to_claim": figures.median_hours(to_claim),
        "median_hours_to_fulfil": round(statistics.median(to_fulfil), 2) if to_fulfil else None,
        "mean_rating": round(statistics.fmean(ratings), 2) if ratings else None,
        "ratings": len(ratings),
        "overdue": sum(1 for w in counted if w.status != S.rejected and w.is_late(now, review_hours)),
        "decided": len(timeliness),
        "closed_on_time": sum(timeliness),
    }


def recent_fulfilled(org: Org, limit: int = 10) -> list[Wish]:
    """Recently fulfilled wishes of a community, for its public page (no personal data shown)."""
    return list(db.session.scalars(
        sa.select(Wish).where(Wish.community_id == org.id, Wish.status.in_([S.fulfilled.value, S.confirmed.value]))
        .order_by(Wish.fulfilled_at.desc()).limit(limit)))
