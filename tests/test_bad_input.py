"""Bad input is a 4xx with the error envelope (a Chinese error page on H5 pages), never a
500, on both databases: ids beyond the database's INTEGER in any route, a page beyond any
offset, dates Python cannot move into UTC, JSON nested too deep, lone surrogates, control
characters, numbers too large for a column, and numbers or booleans sent as strings in JSON."""

from __future__ import annotations

import json
import re

import pytest
import sqlalchemy as sa

from backend.demo import DEMO_PASSWORD, load_demo
from backend.extensions import db
from backend.orgs.models import Org
from backend.rating.models import Problem, RatingPeriod
from backend.services.models import ServiceItem
from tests import factories as f
from tests.test_api_errors import envelope

TOO_LARGE = (2 ** 31, 2 ** 63, 2 ** 64)


@pytest.fixture
def demo(app, client):
    """The demo data: ids of 和平社区, its first grid, its service and the campaign; admin's headers."""
    load_demo()
    db.session.commit()
    heping = db.session.scalar(sa.select(Org.id).where(Org.name == "和平社区"))
    return {"heping": heping,
            "grid": db.session.scalar(sa.select(Org.id).where(Org.parent_id == heping).order_by(Org.id).limit(1)),
            "service": db.session.scalar(sa.select(ServiceItem.id).where(ServiceItem.org_id == heping)),
            "period": db.session.scalar(sa.select(RatingPeriod.id)),
            "admin": f.login(client, "admin", DEMO_PASSWORD), "secretary": f.login(client, "heping", DEMO_PASSWORD)}


def _id_routes(app):
    """(method, path, largest id) for every route with an <int:…> argument, that argument set
    to `{}` (poll answers have random ids up to 2^53: their route's bound is higher)."""
    for rule in app.url_map.iter_rules():
        ints = {name: converter.max for name, converter in rule._converters.items()
                if type(converter).__name__ == "IdConverter"}
        if not ints:
            continue
        path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", lambda m, ints=ints: "{}" if m.group(1) in ints else "x", rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield method, path, max(ints.values())


@pytest.mark.parametrize("number", TOO_LARGE)
def test_an_id_beyond_the_database_is_not_found_on_every_route(app, client, demo, number):
    routes = list(_id_routes(app))
    assert len(routes) >= 89
    for method, path, largest in routes:
        url = path.replace("{}", str(max(number, largest + 1)))
        response = client.open(url, method=method, headers=demo["admin"])
        # 405 where another route of the same path takes other methods (werkzeug tells the
        # methods it would have taken before it tries the id).
        assert response.status_code in (404, 405), (method, url, response.status_code)
        if url.startswith("/api/"):
            envelope(response, response.status_code)
        else:
            assert response.mimetype == "text/html" and "data-error-code" in response.get_data(as_text=True)


def test_a_page_beyond_any_offset(client, demo):
    for url in ("/api/v1/orgs?page=9223372036854775807", "/api/v1/people?page=2147483648",
                "/api/v1/wishes?per_page=9223372036854775807"):
        envelope(client.get(url, headers=demo["admin"]), 422, "validation_error")
    assert client.get("/api/v1/orgs?page=2147483647", headers=demo["admin"]).get_json()["items"] == []


FAR_PAST, FAR_FUTURE = "0001-01-01T00:00:00+00:00", "9999-12-31T20:00:00-12:00"


@pytest.mark.parametrize(("method", "url", "body", "field"), [
    ("POST", "/api/v1/activities", {"org_id": "{heping}", "title": "义诊", "location": "活动室", "capacity": 5,
                                    "starts_at": FAR_PAST, "ends_at": "2027-01-01T10:00:00+08:00"}, "starts_at"),
    ("POST", "/api/v1/services/{service}/slots", {"starts_at": "2027-01-01T09:00:00+08:00", "ends_at": FAR_FUTURE,
                                                  "capacity": 3}, "ends_at"),
    ("POST", "/api/v1/polls", {"org_id": "{heping}", "title": "测评", "audience": "mass", "opens_at": FAR_PAST,
                               "closes_at": FAR_FUTURE, "questions": [{"text": "满意度", "kind": "rating5"}]},
     "opens_at"),
    ("POST", "/api/v1/orgs/{heping}/meetings", {"kind": "joint", "held_on": "0001-01-01", "topic": "联席会议",
                                                "attendance": 9}, "held_on"),
    ("POST", "/api/v1/periods/{period}/scorecards/{heping}/problems", {
        "problem": "功能型党小组未建立", "measure": "按楼栋建立", "owner": "李书记", "deadline": "9999-12-31"},
     "deadline"),
    ("GET", "/api/v1/orgs/{heping}/micro-stats?from=0001-01-01", None, "from"),
    ("GET", "/api/v1/orgs/{heping}/wish-stats?to=9999-12-31", None, "to"),
    ("GET", "/api/v1/orgs/{heping}/leaderboard?from=0001-01-01&to=9999-12-31", None, "from"),
])
def test_dates_beyond_what_a_datetime_holds_are_refused(client, demo, method, url, body, field):
    url = url.format(**demo)
    if body:
        body = json.loads(json.dumps(body).replace('"{heping}"', str(demo["heping"])))
    error = envelope(client.open(url, method=method, json=body, headers=demo["secretary"]), 422, "validation_error")
    assert field in error["fields"]


def test_a_date_beyond_what_a_datetime_holds_on_a_page(client, demo):
    page = client.post("/h5/login", data={"username": "heping", "password": DEMO_PASSWORD, "csrf_token": _csrf(
        client.get("/h5/login"))})
    assert page.status_code == 302
    token = _csrf(client.get("/h5/activities/new"))
    refused = client.post("/h5/activities/new", data={
        "csrf_token": token, "org_id": str(demo["heping"]), "title": "义诊活动", "location": "活动室", "capacity": "5",
        "day": "0001-01-01", "start": "09:00", "end": "11:00"})
    assert refused.status_code == 422
    assert "日期须在 1900 年至 2100 年之间" in refused.get_data(as_text=True)


def _csrf(response) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', response.get_data(as_text=True)).group(1)


def test_json_nested_too_deep(client, demo):
    body = '{"name": ' + "[" * 1000 + "]" * 1000 + ', "kind": "grid"}'
    envelope(client.post("/api/v1/orgs", data=body, content_type="application/json", headers=demo["admin"]),
             400, "malformed_json")
    body = '{"name": ' + "[" * 100_000 + "]" * 100_000 + "}"
    envelope(client.post("/api/v1/orgs", data=body, content_type="application/json", headers=demo["admin"]),
             400, "malformed_json")


@pytest.mark.parametrize("text", ["\\ud800", "\\udfff 孤立的代理项", "a\\u0000b", "制表\\u0001符"])
def test_text_a_database_cannot_hold_is_refused_in_json(client, demo, text):
    body = f'{{"name": "{text}", "kind": "grid", "parent_id": {demo["heping"]}}}'
    envelope(client.post("/api/v1/orgs", data=body, content_type="application/json", headers=demo["admin"]),
             400, "invalid_character")
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Org).where(Org.name.contains("b"))) == 0


def test_nul_in_a_query_or_a_form_is_refused(client, demo):
    envelope(client.get("/api/v1/wishes?status=open%00", headers=demo["admin"]), 400, "invalid_character")
    envelope(client.get("/api/v1/rubrics/wuhua%00", headers=demo["admin"]), 400, "invalid_character")
    page = client.post("/h5/login", data={"username": "heping\x00", "password": "x", "csrf_token": "y"})
    assert page.status_code == 400 and page.mimetype == "text/html"
    assert "提交的内容含有无法保存的控制字符" in page.get_data(as_text=True)
    assert client.get("/h5/w/r/abc%00def").status_code == 400


def test_numbers_beyond_a_column_are_refused(client, demo):
    error = envelope(client.post("/api/v1/qrcodes", json={"purpose": "wish", "target_id": 2 ** 40},
                                 headers=demo["admin"]), 422, "validation_error")
    assert error["fields"] == {"target_id": ["数值超出范围"]}
    envelope(client.get(f"/api/v1/wishes?grid_id={2 ** 40}", headers=demo["admin"]), 422, "validation_error")
    envelope(client.post("/api/v1/periods", headers=demo["admin"], json={
        "name": "某次创评", "year": 2026, "rubric_code": "wuhua-2019", "org_ids": [2 ** 63]}), 422, "validation_error")


def test_numbers_beyond_a_column_in_a_page_form(client, demo):
    token = _csrf(client.get(f"/h5/services/{demo['service']}"))
    booked = client.post(f"/h5/services/{demo['service']}/book", data={
        "csrf_token": token, "slot_id": str(2 ** 40), "contact_name": "吴阿姨", "consent": "on"})
    assert booked.status_code in (404, 422), booked.status_code
    assert client.get(f"/h5/rosters?org_id={2 ** 70}").status_code in (200, 302)


def test_json_numbers_and_booleans_are_not_strings(client, demo):
    team = client.post("/api/v1/teams", headers=demo["secretary"], json={"org_id": demo["heping"], "name": "夜巡队"})
    assert team.status_code == 201, team.get_json()
    url = f"/api/v1/teams/{team.get_json()['id']}"
    error = envelope(client.patch(url, headers=demo["secretary"], json={"is_active": "false"}), 422,
                     "validation_error")
    assert error["fields"] == {"is_active": ["应为 true 或 false"]}
    error = envelope(client.post("/api/v1/polls", headers=demo["secretary"], json={
        "org_id": demo["heping"], "title": "测评", "audience": "mass", "opens_at": "2027-01-01T00:00:00+08:00",
        "closes_at": "2027-01-02T00:00:00+08:00",
        "questions": [{"text": "满意度", "kind": "rating5", "weight": "1", "required": 1}]}), 422)
    assert error["fields"] == {"questions": {"0": {"weight": ["应为数字"], "required": ["应为 true 或 false"]}}}
    assert client.patch(url, headers=demo["secretary"], json={"is_active": False}).status_code == 200
    # Query strings carry everything as text, and still say true and 1.
    assert client.get("/api/v1/me/notifications?unread=true", headers=demo["secretary"]).status_code == 200


def test_an_export_holds_text_written_before_control_characters_were_refused(client, demo):
    card = f"/api/v1/periods/{demo['period']}/scorecards/{demo['heping']}/problems"
    made = client.post(card, headers=demo["secretary"], json={
        "problem": "功能型党小组未建立", "measure": "按楼栋建立", "owner": "李书记", "deadline": "2027-03-31"})
    assert made.status_code == 201, made.get_json()
    db.session.execute(sa.update(Problem).values(problem="旧数据\x01\x1f含控制字符"))
    db.session.commit()
    exported = client.get(f"/api/v1/periods/{demo['period']}/export.xlsx", headers=f.login(client, "jiedao",
                                                                                             DEMO_PASSWORD))
    assert exported.status_code == 200 and exported.data[:2] == b"PK"
