"""Dumping along a plan (backend.core.schemas) gives exactly what marshmallow's own loop gives:

- for every schema the OpenAPI document references, on objects with every attribute missing,
  every attribute None, and a value of each field's kind;
- for the demo data (and what 和平社区's staff add to it, tests/test_authorisation_matrix.py)
  as every JSON GET of the API shows it to the street and a grid leader, and as
  the writes that make it answer;
- for the plain field kinds and nested schemas on generated values: missing, None, unicode,
  edge datetimes.

Equal means the same repr: the same keys in the same order, the same types (1 is not 1.0).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta, timezone
from types import SimpleNamespace

import marshmallow
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from backend.api import api
from backend.app import create_app
from backend.core import fields
from backend.core.schemas import DumpPlan, Schema
from backend.demo import DEMO_PASSWORD
from tests import factories as f
from tests.conftest import TEST_CONFIG
from tests.test_authorisation_matrix import ROUTES, Listing, Target, heping  # noqa: F401  (a fixture)


@pytest.fixture(scope="session", params=["sqlite"])
def database(database):
    """SQLite only: a dump reads the objects the same whichever database filled them."""
    return database


def _unplanned(call, *args, **kwargs):
    """What `call` gives with marshmallow's own loop over the fields, nested schemas included."""
    planned = Schema.__dict__["_serialize"]
    Schema._serialize = marshmallow.Schema._serialize
    try:
        return call(*args, **kwargs)
    finally:
        Schema._serialize = planned


def _outcome(dump, *args, **kwargs):
    try:
        return repr(dump(*args, **kwargs))
    except Exception as error:  # noqa: BLE001  (a Function reading what the object lacks fails alike)
        return f"raises {type(error).__name__}"


@pytest.fixture
def compared(monkeypatch):
    """Every dump of the test compares its plan with marshmallow's loop; the schemas seen."""
    planned = Schema._serialize
    seen: set[str] = set()

    def checked(self, obj, *, many=False):
        result = planned(self, obj, many=many)
        assert repr(result) == repr(_unplanned(marshmallow.Schema._serialize, self, obj, many=many)), \
            type(self).__name__
        seen.add(type(self).__name__)
        return result

    monkeypatch.setattr(Schema, "_serialize", checked)
    return seen


# --- every documented schema ------------------------------------------------------------

def _documented() -> list[type[marshmallow.Schema]]:
    create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": "sqlite://"})
    api.spec.to_dict()  # documents every operation, which fills the plugin's references
    # flask-smorest adds its own pagination header's schema, which no answer of ours dumps.
    return sorted({key[0] for key in api.ma_plugin.converter.refs if key[0].__module__.startswith("backend")},
                  key=lambda c: c.__name__)


def _sample(field: marshmallow.fields.Field, depth: int = 0):
    """A value of `field`'s kind, as an object would hold it."""
    if isinstance(field, marshmallow.fields.Nested):
        if depth > 2:
            return None
        one = _typed(field.schema, depth + 1)
        return [one] if field.many or field.schema.many else one
    if isinstance(field, marshmallow.fields.List):
        return [_sample(field.inner, depth), None]
    if isinstance(field, marshmallow.fields.Dict):
        return {"甲": 1.5, "b": None}
    if isinstance(field, marshmallow.fields.DateTime):
        return datetime(2026, 11, 28, 8, 30, 5, 120, tzinfo=UTC)
    if isinstance(field, marshmallow.fields.Date):
        return date(2026, 2, 28)
    if isinstance(field, marshmallow.fields.Boolean):
        return True
    if isinstance(field, marshmallow.fields.Float | marshmallow.fields.Decimal):
        return 2
    if isinstance(field, marshmallow.fields.Integer):
        return 7.0
    return "和平社区 ✓"


def _typed(schema: marshmallow.Schema, depth: int = 0) -> dict:
    """A dict holding a value of each field's kind under the attribute it is read from."""
    obj: dict = {}
    for name, field in schema.dump_fields.items():
        *parents, leaf = (field.attribute or name).split(".")
        holder = obj
        for parent in parents:
            holder = holder.setdefault(parent, {})
        holder[leaf] = _sample(field, depth)
    return obj


def test_every_documented_schema_is_planned_and_dumps_as_marshmallow():
    documented = _documented()
    assert len(documented) > 50
    for cls in documented:
        assert issubclass(cls, Schema), f"{cls.__name__} does not derive from backend.core.schemas.Schema"
        schema = cls()
        assert DumpPlan.of(schema) is not None, cls.__name__
        for obj in (SimpleNamespace(), {name: None for name in schema.dump_fields}, _typed(schema)):
            assert _outcome(schema.dump, obj) == _outcome(_unplanned, schema.dump, obj), cls.__name__


# --- the demo data through every GET ----------------------------------------------------

#: The ids of the routes open to all, by the name of the route's argument.
OPEN_IDS = {"activity_id": "activity", "item_id": "service", "team_id": "team", "org_id": "heping",
            "poll_id": "poll", "code": None}
#: Not JSON dumped by a schema: files, the document itself, streams, WeChat's redirects.
NOT_DUMPED = re.compile(r"\.(png|svg|xlsx|json)$|/docs$|/stream$|/auth/wechat/")
READERS = ("jiedao", "heping_g1")


def _get_urls(ids: dict) -> list[str]:
    urls = []
    for (method, rule), case in sorted(ROUTES.items()):
        if method != "GET" or NOT_DUMPED.search(rule):
            continue
        if isinstance(case, Target | Listing):
            urls.append(case.url.format(**ids))
        else:
            urls.append(re.sub(r"<(?:int:)?(\w+)>",
                               lambda m: str(ids[OPEN_IDS[m[1]]]) if OPEN_IDS[m[1]] else "wuhua-2019", rule))
    return urls


def test_the_demo_data_dumps_as_marshmallow_through_every_get(compared, client, heping):  # noqa: F811
    written = set(compared)
    answered = 0
    for username in READERS:
        headers = f.login(client, username, DEMO_PASSWORD)
        for url in _get_urls(heping):
            response = client.get(url, headers=headers)
            assert response.status_code < 500, url
            answered += response.status_code < 300 and response.is_json
    assert answered > 70
    # What the writes answered and the reads showed: the schemas of every kind of page.
    assert {"WishSchema", "ActivitySchema", "ScorecardSchema", "CriterionScoreSchema", "MeetingSchema",
            "PollSchema", "PersonSchema", "TeamDetailSchema"} <= compared, sorted(compared)
    assert {"WishSchema", "BookingSchema", "MeetingSchema", "AppealSchema"} <= written, sorted(written)


# --- the plain kinds on generated values ------------------------------------------------

class Child(Schema):
    name = fields.String()
    count = fields.Integer(data_key="数量")


class Plain(Schema):
    text = fields.String(allow_none=True)
    keyed = fields.String(data_key="名称")
    number = fields.Integer(attribute="inner.number")
    ratio = fields.Float()
    flag = fields.Boolean()
    raw = fields.Raw()
    at = fields.AwareDateTime()
    naive = fields.DateTime()
    stamp = fields.DateTime(format="timestamp")
    custom = fields.DateTime(format="%Y年%m月%d日 %H:%M")
    day = fields.Date()
    defaulted = fields.String(dump_default="无")
    counted = fields.Integer(dump_default=lambda: 0)
    mapping = fields.Dict()
    scores = fields.Dict(keys=fields.String(), values=fields.Float())
    tags = fields.List(fields.String())
    numbers = fields.List(fields.Integer(), allow_none=True)
    shown = fields.Function(lambda obj: getattr(obj, "text", None))
    child = fields.Nested(Child, allow_none=True)
    children = fields.List(fields.Nested(Child))


MISSING = object()
texts = st.text(max_size=8) | st.sampled_from(["", "和平社区", "\u2028", "😀", "a\x00b"]) | st.binary(max_size=4)
numbers = st.integers(min_value=-(2 ** 40), max_value=2 ** 40) | st.floats(allow_nan=False, width=32) | st.booleans()
zones = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-12, minutes=-30))])
datetimes = (st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31, 23, 59, 59, 999999))
             | st.datetimes(min_value=datetime(1900, 1, 2), max_value=datetime(2100, 12, 30), timezones=zones)
             | st.sampled_from([datetime(2026, 3, 1, 0, 0, tzinfo=UTC), datetime(2000, 2, 29, 23, 59, 59, 999999)]))
children = st.fixed_dictionaries({}, optional={"name": st.none() | texts, "count": st.none() | numbers}) \
    .map(lambda kept: SimpleNamespace(**kept))
VALUES = {
    "text": texts, "keyed": texts, "number": numbers, "ratio": numbers, "flag": st.booleans() | texts,
    "raw": st.none() | texts | numbers, "at": datetimes, "naive": datetimes, "stamp": datetimes,
    "custom": datetimes, "day": st.dates(min_value=date(1900, 1, 1), max_value=date(2100, 12, 31)) | datetimes,
    "defaulted": texts, "counted": numbers,
    "mapping": st.dictionaries(texts, st.none() | texts | numbers, max_size=3),
    "scores": st.dictionaries(st.text(max_size=3) | st.integers(0, 9), st.none() | numbers, max_size=3),
    "tags": st.lists(st.none() | texts | numbers, max_size=3), "numbers": st.lists(st.none() | numbers, max_size=3),
    "child": children, "children": st.lists(st.none() | children, max_size=3),
}


def _attributes(draw_values: dict) -> dict:
    """Each attribute missing, None or a value; `number` is read through `inner`."""
    attrs = {name: value for name, value in draw_values.items() if value is not MISSING}
    if "number" in attrs:
        attrs["inner"] = SimpleNamespace(number=attrs.pop("number"))
    return attrs


rows = st.fixed_dictionaries({name: st.just(MISSING) | st.none() | values for name, values in VALUES.items()}) \
    .map(_attributes)


@settings(max_examples=40, deadline=None, database=None)
@given(rows=st.lists(rows, min_size=1, max_size=3), as_dict=st.booleans())
def test_plain_kinds_dump_as_marshmallow(rows, as_dict):
    schema = Plain()
    objects = [dict(row) if as_dict else SimpleNamespace(**row) for row in rows]
    assert _outcome(schema.dump, objects, many=True) == _outcome(_unplanned, schema.dump, objects, many=True)
    assert _outcome(schema.dump, objects[0]) == _outcome(_unplanned, schema.dump, objects[0])
