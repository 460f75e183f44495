"""The project's marshmallow Schema: the same schemas, dumped along a plan.

marshmallow's dump asks every field of every row to serialise itself: a field looks its
value up through three layers of accessors and formats it through two more, which made the
dump about a sixth of a list's CPU. Here each schema class (with the fields its instance dumps,
after `only`, `exclude` and `load_only`) is compiled once into a plan: for the plain kinds —
String, Integer, Float, Boolean, Raw, Date/DateTime, Dict and List of those, Function — the
plan reads the attribute and formats it itself, as marshmallow would; a Nested field (or a
List of one) hands what it read to its schema's dump; any other field (Pluck, Method,
Decimal, a field that overrides how it reads or formats) is asked to serialise itself as
before. Only the loop over the fields is replaced (`_serialize`):
`pre_dump`/`post_dump` hooks, `many` and nested schemas go through marshmallow's own `dump`.
The schemas stay the one description of the API (flask-smorest documents them unchanged);
tests/test_dump_plan.py holds the output equal to marshmallow's for every documented schema.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from typing import Any

import marshmallow
import sqlalchemy as sa
from marshmallow import fields as ma
from marshmallow.utils import ensure_text_type, missing

#: A step of a plan: (field instance, object, whether the object is read by key) → value or missing.
Step = Callable[[ma.Field, Any, bool], Any]


class Schema(marshmallow.Schema):
    """Every schema of the project derives from this one (tests/test_architecture.py)."""

    def _serialize(self, obj: Any, *, many: bool = False):
        try:
            plan = self.__dict__["_dump_plan"]
        except KeyError:
            plan = self.__dict__["_dump_plan"] = DumpPlan.of(self)
        if plan is None:
            return super()._serialize(obj, many=many)
        if many and obj is not None:
            return [plan.row(self, item) for item in obj]
        return plan.row(self, obj)


class DumpPlan:
    """What to do for each dumped field of one schema class, in marshmallow's order."""

    def __init__(self, steps: list[tuple[str, Step]], dict_class: type[dict]):
        self.steps = steps
        self.dict_class = dict_class

    @classmethod
    def of(cls, schema: marshmallow.Schema) -> DumpPlan | None:
        """The plan of `schema`'s class and dumped fields, compiled on first use; None when the
        schema reads attributes its own way (then marshmallow's loop is used)."""
        # Kept on the schema class, so a class made on the fly takes its plans with it.
        plans = type(schema).__dict__.get("_dump_plans")
        if plans is None:
            plans = type(schema)._dump_plans = {}
        key = tuple(schema.dump_fields)
        if key not in plans:
            plans[key] = cls._compile(schema)
        return plans[key]

    @classmethod
    def _compile(cls, schema: marshmallow.Schema) -> DumpPlan | None:
        if type(schema).get_attribute is not marshmallow.Schema.get_attribute:
            return None
        steps = []
        for name, field in schema.dump_fields.items():
            key = field.data_key if field.data_key is not None else name
            steps.append((key, _step(name, field)))
        return cls(steps, schema.dict_class)

    def row(self, schema: marshmallow.Schema, obj: Any) -> dict:
        """One object dumped: what marshmallow's `Schema._serialize` gives for it."""
        ret = self.dict_class()
        # marshmallow reads by key whatever has __getitem__ (a dict), by attribute otherwise;
        # asked once per object rather than once per field.
        # A row of columns has __getitem__ by position only, so marshmallow reads it by attribute.
        keyed = hasattr(obj, "__getitem__") and not isinstance(obj, sa.Row)
        for (key, step), field in zip(self.steps, schema.dump_fields.values(), strict=True):
            value = step(field, obj, keyed)
            if value is not missing:
                ret[key] = value
        return ret


def _read(obj: Any, key: str) -> Any:
    """marshmallow.utils' reading of one key: by key first when the object has __getitem__,
    by attribute otherwise or when the key is not there; `missing` when neither has it."""
    if not hasattr(obj, "__getitem__"):
        return getattr(obj, key, missing)
    try:
        return obj[key]
    except (KeyError, IndexError, TypeError, AttributeError):
        return getattr(obj, key, missing)


def _own(field: ma.Field, base: type[ma.Field], method: str) -> bool:
    """Whether `field`'s class does `method` as `base` does (no subclass changed it)."""
    return getattr(type(field), method) is getattr(base, method)


def _reads_plainly(field: ma.Field) -> bool:
    return _own(field, ma.Field, "serialize") and _own(field, ma.Field, "get_value")


def _format(field: ma.Field) -> Callable[[Any], Any] | None:
    """How the plan formats a value of `field` that is neither missing nor None (identity
    when it returns `_same`), or None when the field must format it itself."""
    if isinstance(field, ma.String) and _own(field, ma.String, "_serialize"):
        return _text
    if isinstance(field, (ma.Integer, ma.Float)) and _own(field, ma.Number, "_serialize") \
            and _own(field, ma.Number, "_format_num") and not field.as_string:
        return field.num_type
    if type(field) in (ma.Boolean, ma.Raw):
        return _same
    temporal = ma.DateTime if isinstance(field, ma.DateTime) else ma.Date
    if isinstance(field, temporal) and _own(field, temporal, "_serialize"):
        data_format = field.format or field.DEFAULT_FORMAT
        return field.SERIALIZATION_FUNCS.get(data_format) or operator.methodcaller("strftime", data_format)
    if isinstance(field, ma.Dict) and _own(field, ma.Mapping, "_serialize"):
        return _mapping(field)
    if isinstance(field, ma.List) and _own(field, ma.List, "_serialize"):
        inner = _format(field.inner)
        if inner is None:
            return None
        return (lambda value: [None if each is None else inner(each) for each in value]) if inner is not _same \
            else list
    return None


def _text(value: Any) -> str:
    return value if type(value) is str else ensure_text_type(value)


def _same(value: Any) -> Any:
    return value


def _mapping(field: ma.Dict) -> Callable[[dict], dict] | None:
    if not field.key_field and not field.value_field:
        return field.mapping_type
    keys = _format(field.key_field) if field.key_field else _same
    values = _format(field.value_field) if field.value_field else _same
    if keys is None or values is None:
        return None
    mapping_type = field.mapping_type

    def dump(value: dict) -> dict:
        result = mapping_type()
        for k, v in value.items():
            result[None if k is None else keys(k)] = None if v is None else values(v)
        return result
    return dump


def _step(name: str, field: ma.Field) -> Step:
    if isinstance(field, ma.Function) and _own(field, ma.Function, "_serialize") and _reads_plainly(field):
        return lambda field, obj, keyed: field.serialize_func(obj)
    attr = name if field.attribute is None else field.attribute
    if _reads_plainly(field) and _nests(field):
        return _nested_step(_plain_step(attr, field.dump_default, _same), isinstance(field, ma.List))
    convert = _format(field) if _reads_plainly(field) else None
    if convert is None:
        return lambda field, obj, keyed: field.serialize(name, obj, accessor=field.parent.get_attribute)
    return _plain_step(attr, field.dump_default, convert)


def _nests(field: ma.Field) -> bool:
    """A Nested field, or a List of one, that dumps its schema as marshmallow's own does."""
    if isinstance(field, ma.List) and _own(field, ma.List, "_serialize"):
        field = field.inner
    return isinstance(field, ma.Nested) and _own(field, ma.Nested, "_serialize")


def _nested_step(read: Step, listed: bool) -> Step:
    """The nested schema's own dump (its hooks, its plan) of the value read, without the
    field's layers of lookup; a list's items one by one, as List and Nested do."""
    def step(field: ma.Field, obj: Any, keyed: bool) -> Any:
        value = read(field, obj, keyed)
        if value is missing or (listed and value is None):
            return value
        nested = field.inner if listed else field
        schema = nested.schema
        many = schema.many or nested.many
        if listed:
            return [None if each is None else schema.dump(each, many=many) for each in value]
        return None if value is None else schema.dump(value, many=many)
    return step


def _plain_step(attr: str, default: Any, convert: Callable[[Any], Any]) -> Step:
    """Read `attr` (dotted: through the objects it names), fall back to `default` when it is
    missing, format what is neither missing nor None with `convert`."""
    path = attr.split(".")

    def absent() -> Any:
        # marshmallow's dump_default, when the object has no such attribute.
        return default() if callable(default) else default

    if len(path) > 1:
        first, rest = path[0], path[1:]

        def step(field: ma.Field, obj: Any, keyed: bool) -> Any:
            obj = _read(obj, first) if keyed else getattr(obj, first, missing)
            for part in rest:
                obj = _read(obj, part)
            value = absent() if obj is missing else obj
            return value if value is None or value is missing or convert is _same else convert(value)
    elif convert is _text:
        # The commonest kind, its formatting inlined.
        def step(field: ma.Field, obj: Any, keyed: bool) -> Any:
            value = _read(obj, attr) if keyed else getattr(obj, attr, missing)
            if type(value) is str or value is None:
                return value
            if value is missing:
                value = absent()
                if value is None or value is missing:
                    return value
            return ensure_text_type(value)
    else:
        def step(field: ma.Field, obj: Any, keyed: bool) -> Any:
            value = _read(obj, attr) if keyed else getattr(obj, attr, missing)
            if value is missing:
                value = absent()
            return value if value is None or value is missing or convert is _same else convert(value)
    return step
