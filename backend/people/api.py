from __future__ import annotations

from flask_smorest import Blueprint

from backend.auth.current import require_actor
from backend.core.db import commit
from backend.core.paging import page_of, paginate
from backend.people import service
from backend.people.schemas import PersonListArgs, PersonSchema

blp = Blueprint("people", __name__, url_prefix="/api/v1/people", description="人员")


@blp.get("")
@blp.arguments(PersonListArgs, location="query")
@blp.response(200, page_of(PersonSchema))
def list_people(args):
    """People in the staff member's organisations (and people they added)."""
    return paginate(service.visible_people(require_actor(), args.get("q")), args["page"], args["per_page"])


@blp.post("")
@blp.arguments(PersonSchema)
@blp.response(201, PersonSchema)
def create_person(args):
    """Add a person; a username and password make a staff login."""
    person = service.create_by(require_actor(), args)
    commit()
    return person


@blp.get("/<int:person_id>")
@blp.response(200, PersonSchema)
def get_person(person_id):
    """One person; 404 when outside the viewer's organisations."""
    return service.person_for(require_actor(), person_id)
