"""Live boards: a community's scorecard moving as answers and confirmed wishes arrive, and
the street's campaign against the quotas. Each page renders its board; h5/static/live.js
listens to the score stream and fetches the board again (`?part=1`) after each change."""

from __future__ import annotations

from flask import Blueprint, make_response, render_template, request, url_for

from backend.rating import dashboard, service
from h5.views import require_page_actor

bp = Blueprint("live_pages", __name__, url_prefix="/h5/rating")


def _fresh(response):
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/<int:period_id>/orgs/<int:org_id>/live")
def scorecard_live(period_id: int, org_id: int):
    card = service.scorecard_for(require_page_actor(), period_id, org_id)
    summary = dashboard.summary(card)
    if request.args.get("part"):
        return _fresh(_part("_live_card.html", s=summary, card=card))
    return render_template(
        "rating_live.html", tab="home", card=card, s=summary,
        stream_url=url_for("rating.stream_scorecard", period_id=period_id, org_id=org_id),
        events_url=url_for("rating.events", period_id=period_id, org_id=org_id),
        part_url=url_for("live_pages.scorecard_live", period_id=period_id, org_id=org_id, part=1))


@bp.get("/<int:period_id>/live")
def campaign_live(period_id: int):
    period = service.period_for(require_page_actor(), period_id, "period.manage")
    summary = dashboard.campaign_summary(period)
    if request.args.get("part"):
        return _fresh(_part("_live_campaign.html", c=summary, period=period))
    last = service.last_event_id(period)
    return render_template("rating_period_live.html", tab="home", period=period, c=summary, last=last,
                           stream_url=url_for("rating.stream_period", period_id=period_id),
                           part_url=url_for("live_pages.campaign_live", period_id=period_id, part=1))


def _part(template: str, **context):
    """Just the board, for live.js to swap in."""
    return make_response(render_template(template, **context))
