"""List paging per API.md: ?page=&per_page= (≤ 100) → {"items": [...], "total": N}."""

from __future__ import annotations

from functools import cache

import sqlalchemy as sa
from marshmallow import validate

from backend.core import fields
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


def pageable(stmt: sa.Select) -> sa.Select:
    """`stmt` with its page's bounds left to bind (`paginate` binds them): a list's statement
    built once then runs for every page and person as it is, neither built nor keyed again."""
    return stmt.limit(sa.bindparam("page_limit")).offset(sa.bindparam("page_offset"))


def paginate(stmt: sa.Select, page: int, per_page: int, params: dict | None = None) -> dict:
    """Run `stmt` for one page; `stmt` must already be ordered so pages are stable. The items
    are objects for a statement of one entity, mappings by column name for one of columns.
    `params`: the values of a statement made `pageable`, whose bounds are bound here.

    The total is counted only when the page cannot tell it: a page shorter than `per_page`
    that is the first or holds rows is the end of the list, so its offset plus its rows is
    the total (most lists in a community fit on their first page)."""
    offset = (page - 1) * per_page
    if params is None:
        result = db.session.execute(stmt.limit(per_page).offset(offset))
    else:
        result = db.session.execute(stmt, {**params, "page_limit": per_page, "page_offset": offset})
    # One entity (or column) gives its objects; several columns give rows by name, as schemas read them.
    items = (result.scalars() if len(stmt.column_descriptions) == 1 else result.mappings()).all()
    if len(items) < per_page and (items or page == 1):
        return {"items": items, "total": offset + len(items)}
    whole = stmt.limit(None).offset(None).order_by(None).subquery()
    total = db.session.scalar(sa.select(sa.func.count()).select_from(whole), params)
    return {"items": items, "total": total}
