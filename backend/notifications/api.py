from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.paging import paginate
from backend.notifications import service
from backend.notifications.schemas import DeliverySchema, InboxArgs, InboxSchema, MarkReadSchema

blp = Blueprint("notifications", __name__, url_prefix="/api/v1", description="我的消息")


@blp.get("/me/notifications")
@blp.arguments(InboxArgs, location="query")
@blp.response(200, InboxSchema)
def inbox(args):
    """The signed-in person's messages, unread first, with the unread count."""
    actor = require_actor()
    page = paginate(service.inbox(actor, args["unread"]), args["page"], args["per_page"])
    return {**page, "unread": service.unread_count(actor)}


@blp.post("/me/notifications/read")
@blp.arguments(MarkReadSchema)
@blp.response(200)
def mark_read(args):
    """Mark `ids` (or `all`) of one's own messages read."""
    actor = require_actor()
    changed = service.mark_read(actor, None if args.get("all") else args["ids"])
    commit()
    return {"marked": changed, "unread": service.unread_count(actor)}


@blp.get("/admin/notification-deliveries")
@blp.response(200, DeliverySchema(many=True))
def dead_letters():
    """SMS and WeChat messages given up on (refused, or out of retries), newest first: admins."""
    return service.dead_letters(require_actor())
