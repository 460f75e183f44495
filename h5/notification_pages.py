"""消息: the person's inbox, each message linking to where they act on it."""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for

from backend.core.db import commit
from backend.notifications import service
from h5.views import act_and_return, require_page_actor

bp = Blueprint("notification_pages", __name__, url_prefix="/h5")


@bp.get("/me/messages")
def messages():
    return render_template("messages.html", tab="messages", notes=service.recent(require_page_actor()),
                           title_of=service.title_of)


@bp.get("/me/messages/<int:note_id>")
def open_message(note_id: int):
    """Opening a message marks it read and goes where it points (or back to the list)."""
    note = service.open_note(require_page_actor(), note_id)
    commit()
    return redirect(service.link_of(note) or url_for("notification_pages.messages"))


@bp.post("/me/messages/read")
def read_all():
    actor = require_page_actor()
    return act_and_return(lambda: service.mark_read(actor), "已全部标为已读", url_for("notification_pages.messages"))
