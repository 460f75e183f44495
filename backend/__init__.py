"""Sanwei (三微): micro-wishes, micro-power and micro-services for urban communities."""

from __future__ import annotations

from flask import Flask

from backend.config import load_config


def create_app(config: dict | None = None) -> Flask:
    """Application factory: settings from the environment, overridden by `config` (tests)."""
    from backend.core import messages

    messages.install()
    app = Flask(
        __name__,
        static_folder="../h5/static",
        static_url_path="/static",
        template_folder="../h5/templates",
    )
    app.config.update(load_config())
    if config:
        app.config.update(config)

    register_extensions(app)
    register_blueprints(app)
    register_hooks(app)
    from backend.cli import register_cli
    register_cli(app)
    return app


def register_extensions(app: Flask) -> None:
    from backend import models  # noqa: F401  (all tables on the metadata)
    from backend.api import api
    from backend.extensions import compress, db, migrate

    db.init_app(app)
    migrate.init_app(app, db, directory=str(app.config.get("MIGRATIONS_DIR", _migrations_dir())))
    compress.init_app(app)
    api.init_app(app)
    from backend.rating import live
    live.install()


def _migrations_dir():
    from backend.config import ROOT
    return ROOT / "migrations"


def register_blueprints(app: Flask) -> None:
    from backend.activities.api import blp as activities_blp
    from backend.api import api
    from backend.auth.api import blp as auth_blp
    from backend.calendar.api import blp as calendar_blp
    from backend.calendar.api import bp as calendar_feed_bp
    from backend.double_reports.api import blp as double_reports_blp
    from backend.orgs.api import blp as orgs_blp
    from backend.people.api import blp as people_blp
    from backend.polls.api import blp as polls_blp
    from backend.qrcodes.api import blp as qrcodes_blp
    from backend.qrcodes.public import bp as qr_public_bp
    from backend.rating.api import blp as rating_blp
    from backend.services.api import blp as services_blp
    from backend.stats.api import blp as stats_blp
    from backend.teams.api import blp as teams_blp
    from backend.wishes.api import blp as wishes_blp
    from h5.activity_pages import bp as activity_pages_bp
    from h5.live_pages import bp as live_pages_bp
    from h5.poll_pages import bp as poll_pages_bp
    from h5.rating_pages import bp as rating_pages_bp
    from h5.service_pages import bp as service_pages_bp
    from h5.team_pages import bp as team_pages_bp
    from h5.vendor import bp as vendor_bp
    from h5.views import bp as h5_bp
    from h5.wish_pages import bp as wish_pages_bp

    for blp in (auth_blp, people_blp, orgs_blp, qrcodes_blp, wishes_blp, activities_blp, services_blp,
                teams_blp, double_reports_blp, stats_blp, calendar_blp, polls_blp, rating_blp):
        api.register_blueprint(blp)
    app.register_blueprint(h5_bp)
    app.register_blueprint(wish_pages_bp)
    app.register_blueprint(activity_pages_bp)
    app.register_blueprint(service_pages_bp)
    app.register_blueprint(team_pages_bp)
    app.register_blueprint(poll_pages_bp)
    app.register_blueprint(rating_pages_bp)
    app.register_blueprint(live_pages_bp)
    app.register_blueprint(qr_public_bp)
    app.register_blueprint(calendar_feed_bp)
    app.register_blueprint(vendor_bp)


def register_hooks(app: Flask) -> None:
    from flask import g, redirect, request, url_for

    from backend.core.auth import check_csrf, csrf_token, current_actor
    from backend.core.errors import register_error_handlers
    from backend.core.permissions import has_board
    from backend.core.privacy import mask_name, mask_phone
    from backend.core.timeutil import format_local
    from backend.core.uploads import widen_limit
    from backend.extensions import write_intent
    from backend.qrcodes.purposes import register_builtin_purposes

    register_error_handlers(app)

    @app.before_request
    def _start_request():
        write_intent.set(request.method not in {"GET", "HEAD", "OPTIONS"})
        # Who is asking is worked out afresh for every request, even in a reused app context.
        for key in ("actor", "auth_token", "auth_via", "actors_by_id"):
            g.pop(key, None)

    app.before_request(widen_limit)
    app.before_request(check_csrf)

    @app.teardown_request
    def _end_request(exc):
        # Work outside requests (CLI, jobs, a test's own code) may write: back to the default.
        write_intent.set(True)

    @app.get("/")
    def _root():
        return redirect(url_for("h5.home"))

    @app.after_request
    def _security_headers(response):
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("X-Frame-Options", "DENY")
        return response

    register_builtin_purposes()
    app.jinja_env.globals.update(csrf_token=csrf_token, current_actor=current_actor, mask_phone=mask_phone,
                                mask_name=mask_name, has_board=has_board)
    app.jinja_env.filters["local"] = format_local
