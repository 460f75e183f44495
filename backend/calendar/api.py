from __future__ import annotations

from flask import Blueprint, Response
from flask_smorest import Blueprint as ApiBlueprint

from backend.auth.current import require_actor
from backend.calendar import service
from backend.core import fields
from backend.core.db import begin_write, commit
from backend.core.schemas import Schema

blp = ApiBlueprint("calendar", __name__, url_prefix="/api/v1", description="日历订阅")
#: The feed itself: fetched by calendar apps, which cannot sign in.
bp = Blueprint("calendar_feed", __name__)


class FeedSchema(Schema):
    url = fields.String(metadata={"description": "https address of the feed; keep it secret"})
    webcal_url = fields.String(metadata={"description": "the same as webcal://, which phones open as a subscription"})


@blp.post("/me/calendar-feed")
@blp.response(201, FeedSchema)
def issue():
    """A secret address of my confirmed activities for a phone calendar; replaces any older one.
    The address is shown once (only its hash is kept)."""
    actor = require_actor()
    token = service.issue(actor.person)
    commit()
    url = service.feed_url(token)
    return {"url": url, "webcal_url": "webcal://" + url.split("://", 1)[1]}


@blp.delete("/me/calendar-feed")
@blp.response(204)
def revoke():
    """Stop the address working (a lost phone, a shared link)."""
    service.revoke(require_actor().person)
    commit()


@bp.get("/cal/<token>.ics")
def feed(token: str):
    begin_write()
    person = service.owner_of(token)
    body = service.render(person)
    commit()
    return Response(body, content_type="text/calendar; charset=utf-8", headers={
        "Content-Disposition": 'inline; filename="sanwei.ics"',
        "Cache-Control": "private, max-age=300",
        "Referrer-Policy": "no-referrer",
        "X-Robots-Tag": "noindex",
    })
