"""A page's total is exact whether it is counted or told by a short page."""

from __future__ import annotations

import sqlalchemy as sa

from backend.core.paging import paginate
from backend.orgs.models import Org
from tests import factories as f


def test_total_is_exact_on_every_page(app):
    for n in range(7):
        f.org(f"街道{n}")
    stmt = sa.select(Org).order_by(Org.id)
    names = [f"街道{n}" for n in range(7)]
    for per_page in (3, 7, 10):
        for page in range(1, 5):
            got = paginate(stmt, page, per_page)
            assert got["total"] == 7
            assert [o.name for o in got["items"]] == names[(page - 1) * per_page:page * per_page]
    assert paginate(stmt.where(Org.id < 0), 1, 5) == {"items": [], "total": 0}
