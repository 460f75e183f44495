"""名册导入: the officer downloads the template, uploads the filled-in workbook, sees every row
error of the check in a table, then imports. Rules live in backend.rosters.service."""

from __future__ import annotations

from io import BytesIO

from flask import Blueprint, current_app, render_template, request, send_file

from backend.core.db import commit
from backend.core.errors import DomainError, Forbidden
from backend.core.input import db_int
from backend.core.uploads import accepts_upload
from backend.extensions import db
from backend.qrcodes import service as qr_service
from backend.rosters import service
from backend.rosters.service import RosterRejected
from h5.views import require_page_actor

bp = Blueprint("roster_pages", __name__, url_prefix="/h5/rosters")

#: Errors shown in the table; the rest are counted (the API lists them all).
SHOWN_ERRORS = 200


def _page(actor, chosen: int | None, report=None, error: str | None = None, status: int = 200):
    orgs = service.importable_orgs(actor)
    if not orgs:
        raise Forbidden("只有街道工作人员和社区书记可以导入名册")
    chosen = chosen if any(o.id == chosen for o in orgs) else orgs[0].id
    return render_template("roster_import.html", tab="home", orgs=orgs, chosen=chosen, report=report, error=error,
                           shown=SHOWN_ERRORS,
                           max_mb=current_app.config["ROSTER_MAX_BYTES"] // (1024 * 1024)), status


@bp.get("")
def index():
    return _page(require_page_actor(), request.args.get("org_id", type=db_int))


@bp.get("/template.xlsx")
def template():
    return send_file(BytesIO(service.template_for(require_page_actor())), as_attachment=True,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     download_name="名册导入模板.xlsx")


def _run(dry_run: bool):
    actor = require_page_actor()
    org_id = request.form.get("org_id", type=db_int)
    if org_id is None:
        return _page(actor, None, error="请选择导入到哪个组织", status=422)
    try:
        report = service.import_roster(actor, org_id, request.files.get("file"), dry_run=dry_run)
    except RosterRejected as exc:
        db.session.rollback()
        return _page(actor, org_id, report=exc.report, status=exc.status)
    except DomainError as exc:
        db.session.rollback()
        if exc.status in (403, 404):
            raise
        return _page(actor, org_id, error=exc.message, status=exc.status)
    commit()
    if dry_run:
        return _page(actor, org_id, report=report)
    staff_ids = list(dict.fromkeys(member.person.id for member in report.staff))
    return render_template("roster_done.html", tab="home", report=report, staff_ids=staff_ids,
                           binding_codes=service.binding_codes_available())


@bp.post("/check")
@accepts_upload("ROSTER_MAX_BYTES")
def check():
    return _run(dry_run=True)


@bp.post("/import")
@accepts_upload("ROSTER_MAX_BYTES")
def run_import():
    return _run(dry_run=False)


@bp.post("/binding-codes")
def binding_codes():
    """The printable sheet: one WeChat binding QR code per imported grid staff member."""
    actor = require_page_actor()
    slips, refused = service.binding_sheet(actor, request.form.getlist("person_id", type=db_int))
    commit()
    return render_template("roster_binding_codes.html", slips=slips, refused=len(refused),
                           svgs=[qr_service.url_svg(slip.url) for slip in slips])
