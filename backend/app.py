"""The application factory: the one place that knows every domain and both faces (JSON API
and H5 pages) and wires them together. Nothing imports this module but the entry points
(wsgi, the scheduler, tests), so importing a domain never loads the whole application."""

from __future__ import annotations

from flask import Flask, g, redirect, request, url_for
from sqlalchemy.exc import IntegrityError, OperationalError

from backend import models  # noqa: F401  (every table on the metadata)
from backend.activities import permissions as activity_rules
from backend.activities.api import blp as activities_blp
from backend.activities.models import Activity
from backend.api import api
from backend.auth.api import blp as auth_blp
from backend.auth.current import check_csrf, csrf_token, current_actor
from backend.calendar.api import blp as calendar_blp
from backend.calendar.api import bp as calendar_feed_bp
from backend.cli import register_cli
from backend.config import ROOT, load_config
from backend.core.db import database_unavailable, end_reading, forget_loaded, integrity_error, write_best_effort
from backend.core.errors import register_error_handlers
from backend.core.headers import csp_nonce, security_headers
from backend.core.input import IdConverter, refuse_bad_characters
from backend.core.logpaths import mark_log_path
from backend.core.permissions import can
from backend.core.privacy import mask_name, mask_phone
from backend.core.proxies import TrustedProxies
from backend.core.statements import install as count_statements
from backend.core.timeutil import format_local
from backend.core.uploads import widen_limit
from backend.double_reports import permissions as double_report_rules
from backend.double_reports.api import blp as double_reports_blp
from backend.extensions import (
    compress,
    db,
    engine_options,
    migrate,
    note_changes,
    sqlite_durability,
    sqlite_writer_queue,
    write_intent,
)
from backend.notifications import permissions as notification_rules
from backend.notifications import service as notification_service
from backend.notifications.api import blp as notifications_blp
from backend.orgs import permissions as org_rules
from backend.orgs.api import blp as orgs_blp
from backend.orgs.models import Org, OrgKind
from backend.people import permissions as people_rules
from backend.people.api import blp as people_blp
from backend.polls import permissions as poll_rules
from backend.polls.api import blp as polls_blp
from backend.polls.models import Poll
from backend.qrcodes import permissions as qrcode_rules
from backend.qrcodes.api import blp as qrcodes_blp
from backend.qrcodes.models import QrPurpose
from backend.qrcodes.public import bp as qr_public_bp
from backend.qrcodes.service import PurposeHandler, register_purpose
from backend.rating import live, stream
from backend.rating import permissions as rating_rules
from backend.rating.api import blp as rating_blp
from backend.rosters import permissions as roster_rules
from backend.rosters.api import blp as rosters_blp
from backend.services import figures as service_figures
from backend.services import permissions as service_rules
from backend.services.api import blp as services_blp
from backend.services.models import ServiceItem
from backend.stats.api import blp as stats_blp
from backend.teams import permissions as team_rules
from backend.teams.api import blp as teams_blp
from backend.wechat import permissions as wechat_rules
from backend.wechat import subscriptions as wechat_subscriptions
from backend.wechat.api import blp as wechat_blp
from backend.wechat.api import web_blp as wechat_web_blp
from backend.wishes import figures as wish_figures
from backend.wishes import permissions as wish_rules
from backend.wishes.api import blp as wishes_blp
from h5.activity_pages import bp as activity_pages_bp
from h5.live_pages import bp as live_pages_bp
from h5.notification_pages import bp as notification_pages_bp
from h5.poll_pages import bp as poll_pages_bp
from h5.rating_pages import bp as rating_pages_bp
from h5.roster_pages import bp as roster_pages_bp
from h5.service_pages import bp as service_pages_bp
from h5.team_pages import bp as team_pages_bp
from h5.vendor import bp as vendor_bp
from h5.views import bp as h5_bp
from h5.wechat_pages import bp as wechat_pages_bp
from h5.wish_pages import bp as wish_pages_bp

#: Each domain's permission rules, registered with backend.core.permissions when imported.
PERMISSION_RULES = (activity_rules, double_report_rules, notification_rules, org_rules, people_rules, poll_rules,
                    qrcode_rules, rating_rules, roster_rules, service_rules, team_rules, wechat_rules, wish_rules)
API_BLUEPRINTS = (auth_blp, people_blp, orgs_blp, qrcodes_blp, wishes_blp, activities_blp, services_blp,
                  teams_blp, double_reports_blp, stats_blp, calendar_blp, polls_blp, rating_blp, notifications_blp,
                  rosters_blp, wechat_web_blp, wechat_blp)
PAGE_BLUEPRINTS = (h5_bp, wish_pages_bp, activity_pages_bp, service_pages_bp, team_pages_bp, poll_pages_bp,
                   rating_pages_bp, live_pages_bp, notification_pages_bp, roster_pages_bp, wechat_pages_bp,
                   qr_public_bp, calendar_feed_bp, vendor_bp)


def create_app(config: dict | None = None) -> Flask:
    """Application factory: settings from the environment, overridden by `config` (tests)."""
    app = Flask(
        "backend",
        static_folder=str(ROOT / "h5" / "static"),
        static_url_path="/static",
        template_folder=str(ROOT / "h5" / "templates"),
    )
    app.config.update(load_config())
    if config:
        # A base URL given here is as good as one set in the environment.
        app.config.update({"PUBLIC_BASE_URL_SET": app.config["PUBLIC_BASE_URL_SET"] or "PUBLIC_BASE_URL" in config,
                           **config})
    # Every <int:…> of every route, declared after this, is bounded by the database's INTEGER.
    app.url_map.converters["int"] = IdConverter

    register_extensions(app)
    register_blueprints(app)
    register_hooks(app)
    register_cli(app)
    if app.config["TRUSTED_PROXY_HOPS"]:
        app.wsgi_app = TrustedProxies(app.wsgi_app, app.config["TRUSTED_PROXY_HOPS"], app.config["FORWARDED_ALLOW_IPS"])
    return app


def register_extensions(app: Flask) -> None:
    """Database, migrations, compression, the API, the live rating's session hooks, and WeChat
    as a notification channel."""
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    db.init_app(app)
    with app.app_context():
        sqlite_durability(db.engine, app.config["SQLITE_SYNCHRONOUS"])
        sqlite_writer_queue(db.engine, app.config["DB_LOCK_TIMEOUT_SECONDS"])
        note_changes(db.engine)
        if app.config["STATEMENT_COUNT_HEADER"]:
            count_statements(app, db.engine)
    migrate.init_app(app, db, directory=str(app.config.get("MIGRATIONS_DIR", ROOT / "migrations")))
    compress.init_app(app)
    api.init_app(app)
    wish_figures.install()
    service_figures.install()
    live.install()
    stream.install()
    wechat_subscriptions.install()


def register_blueprints(app: Flask) -> None:
    """The JSON API under /api/v1 and the H5 pages."""
    for blp in API_BLUEPRINTS:
        api.register_blueprint(blp)
    for bp in PAGE_BLUEPRINTS:
        app.register_blueprint(bp)


def register_hooks(app: Flask) -> None:
    """Errors, per-request state, security headers, QR purposes and template helpers."""
    register_error_handlers(app)
    app.register_error_handler(IntegrityError, integrity_error)
    app.register_error_handler(OperationalError, database_unavailable)
    app.before_request(mark_log_path)

    @app.before_request
    def _start_request():
        write_intent.set(request.method not in {"GET", "HEAD", "OPTIONS"})
        # Who is asking is worked out afresh for every request, even in a reused app context.
        for key in ("actor", "auth_token", "auth_via", "actors_by_id"):
            g.pop(key, None)

    app.before_request(widen_limit)
    app.before_request(refuse_bad_characters)
    app.before_request(check_csrf)
    app.after_request(write_best_effort)
    app.after_request(security_headers)

    app.teardown_request(forget_loaded)
    app.teardown_request(end_reading)

    @app.teardown_request
    def _end_request(exc):
        # Work outside requests (CLI, jobs, a test's own code) may write: back to the default.
        write_intent.set(True)

    @app.get("/")
    def _root():
        return redirect(url_for("h5.home"))

    register_qr_purposes()
    app.jinja_env.globals.update(csrf_token=csrf_token, csp_nonce=csp_nonce, current_actor=current_actor,
                                mask_phone=mask_phone,
                                mask_name=mask_name, can=can,
                                unread_count=notification_service.unread_count)
    app.jinja_env.filters["local"] = format_local


def _owner_org(model: type):
    """target id → the org owning that row of `model`, or None when there is no such row."""
    def owner(target_id: int) -> Org | None:
        found = db.session.get(model, target_id)
        return found.org if found is not None else None
    return owner


def _grid(target_id: int) -> Org | None:
    org = db.session.get(Org, target_id)
    return org if org is not None and org.kind == OrgKind.grid.value else None


def register_qr_purposes() -> None:
    """What each kind of QR code points at and which page its scan opens: the QR platform
    knows no domain, the domains' targets are wired to it here."""
    register_purpose(QrPurpose.wish, PurposeHandler(
        owner_org=_grid, landing_url=lambda qr: url_for("wish_pages.new", qr=qr.code), target_label="网格"))
    register_purpose(QrPurpose.checkin, PurposeHandler(
        owner_org=_owner_org(Activity), target_label="活动",
        landing_url=lambda qr: url_for("activity_pages.checkin", activity_id=qr.target_id, qr=qr.code)))
    register_purpose(QrPurpose.service, PurposeHandler(
        owner_org=_owner_org(ServiceItem), target_label="服务",
        landing_url=lambda qr: url_for("service_pages.service_page", item_id=qr.target_id)))
    register_purpose(QrPurpose.poll, PurposeHandler(
        owner_org=_owner_org(Poll), target_label="测评",
        landing_url=lambda qr: url_for("poll_pages.answer", poll_id=qr.target_id, qr=qr.code)))
