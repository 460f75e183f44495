"""List paging per API.md: ?page=&per_page= (≤ 100) → {"items": [...], "total": N}."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache, lru_cache

import sqlalchemy as sa
from marshmallow import validate

from backend.core import fields
from backend.core.db import Bound, read_rows
from backend.core.schemas import Schema
from backend.extensions import db


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=20, validate=validate.Range(min=1, max=100))


@cache
def page_of(item_schema: type[Schema]) -> type[Schema]:
    """The response schema of a page of `item_schema` (one class per item schema, for OpenAPI)."""
    name = item_schema.__name__.removesuffix("Schema") + "PageSchema"
    return type(name, (Schema,), {
        "items": fields.List(fields.Nested(item_schema), required=True),
        "total": fields.Integer(required=True),
    })


def paginate(stmt: sa.Select, page: int, per_page: int) -> dict:
    """Run `stmt` for one page; `stmt` must already be ordered so pages are stable.

    The total is counted only when the page cannot tell it: a page shorter than `per_page`
    that is the first or holds rows is the end of the list, so its offset plus its rows is
    the total (most lists in a community fit on their first page)."""
    offset = (page - 1) * per_page
    items = db.session.scalars(stmt.limit(per_page).offset(offset)).all()
    return _page(items, page, per_page, offset, lambda: db.session.scalar(
        sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery())))


def paginate_rows(listing: Bound, page: int, per_page: int) -> dict:
    """`paginate` of a statement built once (`Bound`), the page as rows of its columns
    (`read_rows`): the statements of a page and of the count are built once for it too."""
    paged, counted = _paged(listing.stmt)
    offset = (page - 1) * per_page
    items = read_rows(paged, {**listing.params, "page_limit": per_page, "page_offset": offset}).all()
    return _page(items, page, per_page, offset, lambda: read_rows(counted, listing.params).scalar_one())


@lru_cache(maxsize=256)
def _paged(stmt: sa.Select) -> tuple[sa.Select, sa.Select]:
    return (stmt.limit(sa.bindparam("page_limit", type_=sa.Integer()))
            .offset(sa.bindparam("page_offset", type_=sa.Integer())),
            sa.select(sa.func.count()).select_from(stmt.order_by(None).subquery()))


def _page(items: Sequence, page: int, per_page: int, offset: int, count: Callable[[], int]) -> dict:
    if len(items) < per_page and (items or page == 1):
        return {"items": items, "total": offset + len(items)}
    return {"items": items, "total": count()}
