"""What a request may carry, checked once at the edge for both faces, so bad input is a 4xx
and never reaches a query or a template.

- ids in paths: every `<int:…>` of every route is an IdConverter, bounded by the database's
  INTEGER, so an id no row can have is simply not found (404);
- text: no control character but tab and line breaks anywhere (PostgreSQL's text cannot hold
  NUL, an Excel export none of them) and, in JSON, no lone UTF-16 surrogate (not Unicode, so
  not encodable as UTF-8 for either database);
- JSON bodies: nested at most MAX_JSON_DEPTH deep, and booleans and numbers are JSON's own,
  never a string that looks like one. Query strings and forms still carry numbers as text.
"""

from __future__ import annotations

import json
import re

from flask import Request, request
from marshmallow import Schema, ValidationError
from marshmallow import fields as ma_fields
from webargs.core import missing
from webargs.flaskparser import is_json_request
from werkzeug.routing import IntegerConverter

from backend.core.errors import DomainError
from backend.core.fields import INT_MAX, INT_MIN

#: Deeper than any body this API takes (a poll with questions with options is 4).
MAX_JSON_DEPTH = 32
_BAD_CHARACTER = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff]")


class BadCharacter(DomainError):
    status, code, message = 400, "invalid_character", "提交的内容含有无法保存的控制字符"


class MalformedJson(DomainError):
    status, code, message = 400, "malformed_json", "JSON 格式不正确"


class IdConverter(IntegerConverter):
    """`<int:…>` in every route: at most the database's largest INTEGER."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = INT_MAX,
                 signed: bool = False):
        super().__init__(map, fixed_digits, min, max, signed)


def db_int(value: str) -> int:
    """`type=` for a form or query getter: an integer the database can hold, else ValueError
    (the getter then answers its default, as for any text that is not a number)."""
    number = int(value)
    if not INT_MIN <= number <= INT_MAX:
        raise ValueError(f"{value} is out of range")
    return number


def refuse_bad_characters() -> None:
    """before_request: the path, query string and form fields hold no control character."""
    texts = [request.path, *request.args.keys(), *request.args.values()]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        texts += [*request.form.keys(), *request.form.values()]
    if any(_BAD_CHARACTER.search(text) for text in texts):
        raise BadCharacter()


def load_json(req: Request, schema: Schema):
    """The webargs loader of JSON bodies (see the module docstring)."""
    if not is_json_request(req):
        return missing
    try:
        data = json.loads(req.get_data(cache=True).decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedJson() from exc
    except RecursionError as exc:
        raise MalformedJson("JSON 嵌套过深") from exc
    _check_text_and_depth(data)
    errors = _type_errors(schema, data)
    if errors:
        raise ValidationError(errors)
    return data


def _check_text_and_depth(data) -> None:
    stack = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise MalformedJson("JSON 嵌套过深")
        if isinstance(value, str) and _BAD_CHARACTER.search(value):
            raise BadCharacter()
        if isinstance(value, dict):
            stack += [(key, depth) for key in value]
            stack += [(item, depth + 1) for item in value.values()]
        elif isinstance(value, list):
            stack += [(item, depth + 1) for item in value]


def _type_errors(schema: Schema, data) -> dict:
    """Field errors for values of the wrong JSON type: "true" for a boolean, "5" for a number."""
    if not isinstance(data, dict):
        return {}
    errors = {}
    for name, field in schema.load_fields.items():
        key = field.data_key or name
        if key in data:
            problem = _field_type_errors(field, data[key])
            if problem:
                errors[key] = problem
    return errors


def _field_type_errors(field: ma_fields.Field, value):
    if value is None:
        return None
    if isinstance(field, ma_fields.Boolean) and not isinstance(value, bool):
        return [field.error_messages["invalid"]]
    if isinstance(field, ma_fields.Number) and (isinstance(value, str | bool) or (
            isinstance(field, ma_fields.Integer) and isinstance(value, float) and not value.is_integer())):
        return [field.error_messages["invalid"]]
    if isinstance(field, ma_fields.Nested):
        if isinstance(value, list):
            return {i: e for i, item in enumerate(value) if (e := _type_errors(field.schema, item))}
        return _type_errors(field.schema, value)
    if isinstance(field, ma_fields.List) and isinstance(value, list):
        return {i: e for i, item in enumerate(value) if (e := _field_type_errors(field.inner, item))}
    return None
