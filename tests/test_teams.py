"""Volunteer teams: who creates and runs them, who joins, and activities and services under a team."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from backend.extensions import db
from backend.teams.models import Team
from tests import factories as f
from tests.test_csrf_session import csrf_from, h5_login

SOON = datetime.now(UTC) + timedelta(days=3)


@pytest.fixture
def world(app, client):
    orgs = f.tree()
    orgs["unit"] = f.org("东湖医院", "unit", orgs["street"])
    orgs["far_street"] = f.org("西湖街道", "street")
    orgs["far_unit"] = f.org("西湖小学", "unit", orgs["far_street"])
    people = {
        "secretary": f.person("李红梅", username="secretary", role="secretary", org=orgs["a"]),
        "secretary_b": f.person("黄丽娟", username="secretary_b", role="secretary", org=orgs["b"]),
        "leader": f.person("王建国", username="leader", role="volunteer", org=orgs["a1"]),
        "volunteer": f.person("刘志刚", username="volunteer", role="volunteer", org=orgs["a2"]),
        "resident": f.person("吴阿姨", username="resident", role="resident", org=orgs["a1"]),
        "outsider": f.person("赵强", username="outsider", role="volunteer", org=orgs["b1"]),
    }
    headers = {name: f.login(client, name) for name in people}
    return orgs, people, headers


def make_team(client, world, **extra):
    orgs, people, headers = world
    body = {"org_id": orgs["a"].id, "name": "红马甲志愿服务队", "leader_id": people["leader"].id,
            "grid_id": orgs["a1"].id, "skills": "理发,陪诊", **extra}
    return client.post("/api/v1/teams", headers=headers["secretary"], json=body)


def test_secretary_creates_team_leader_is_first_member(client, world):
    orgs, people, headers = world
    made = make_team(client, world)
    assert made.status_code == 201, made.get_json()
    team = made.get_json()
    assert team["leader_name"] == "王建国" and team["grid_name"] == "第一网格" and team["member_count"] == 1
    assert team["members"][0]["is_leader"] is True
    assert make_team(client, world).get_json()["error"]["code"] == "duplicate_name"
    listed = client.get(f"/api/v1/teams?org_id={orgs['a'].id}", headers=headers["volunteer"]).get_json()
    assert [t["name"] for t in listed["items"]] == ["红马甲志愿服务队"]
    assert client.get("/api/v1/teams", headers=headers["outsider"]).get_json()["total"] == 0
    assert client.get(f"/api/v1/teams/{team['id']}", headers=headers["outsider"]).status_code == 404


@pytest.mark.parametrize("who, body, status, code", [
    ("volunteer", {}, 403, "forbidden"),
    ("secretary_b", {}, 404, "not_found"),
    ("secretary", {"org_id": "grid"}, 422, "invalid_org"),
    ("secretary", {"grid_id": "b1"}, 422, "invalid_grid"),
    ("secretary", {"leader_id": "outsider"}, 422, "invalid_leader"),
    ("secretary", {"name": "队"}, 422, "validation_error"),
])
def test_team_creation_refusals(client, world, who, body, status, code):
    orgs, people, headers = world
    payload = {"org_id": orgs["a"].id, "name": "红马甲志愿服务队"}
    for key, value in body.items():
        payload[key] = {"grid": orgs["a1"].id, "b1": orgs["b1"].id,
                        "outsider": people["outsider"].id}.get(value, value)
    made = client.post("/api/v1/teams", headers=headers[who], json=payload)
    assert made.status_code == status, made.get_json()
    assert made.get_json()["error"]["code"] == code


def test_join_leave_and_manage_members(client, world):
    orgs, people, headers = world
    team = make_team(client, world).get_json()
    url = f"/api/v1/teams/{team['id']}/members"
    joined = client.post(url, headers=headers["volunteer"], json={"skills": "会理发"})
    assert joined.status_code == 201 and joined.get_json()["member_count"] == 2
    # A volunteer sees the others as 王** and themselves in full; the leader sees full names.
    names = {m["name"] for m in joined.get_json()["members"]}
    assert names == {"王**", "刘志刚"}
    led = client.get(f"/api/v1/teams/{team['id']}", headers=headers["leader"]).get_json()
    assert {m["name"] for m in led["members"]} == {"王建国", "刘志刚"}
    again = client.post(url, headers=headers["volunteer"], json={})
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_member"
    # A resident is not a volunteer; someone of another community does not see the team.
    assert client.post(url, headers=headers["resident"], json={}).status_code == 403
    assert client.post(url, headers=headers["outsider"], json={}).status_code == 404
    # Only managers add someone else; the leader may.
    assert client.post(url, headers=headers["volunteer"], json={"person_id": people["resident"].id}).status_code == 403
    added = client.post(url, headers=headers["leader"], json={"person_id": people["resident"].id})
    assert added.status_code == 201 and added.get_json()["member_count"] == 3
    # Leaving: yourself, or removed by a manager; the leader hands over first.
    assert client.delete(f"{url}/{people['volunteer'].id}", headers=headers["volunteer"]).status_code == 200
    assert client.delete(f"{url}/{people['resident'].id}", headers=headers["volunteer"]).status_code == 403
    assert client.delete(f"{url}/{people['resident'].id}", headers=headers["secretary"]).status_code == 200
    kept = client.delete(f"{url}/{people['leader'].id}", headers=headers["leader"])
    assert kept.status_code == 409 and kept.get_json()["error"]["code"] == "leader_cannot_leave"
    assert client.delete(f"{url}/{people['volunteer'].id}", headers=headers["volunteer"]).status_code == 404


def test_leader_changes_and_disbanding(client, world):
    orgs, people, headers = world
    team = make_team(client, world).get_json()
    url = f"/api/v1/teams/{team['id']}"
    assert client.patch(url, headers=headers["volunteer"], json={"name": "新名字"}).status_code == 403
    moved = client.patch(url, headers=headers["leader"], json={"leader_id": people["volunteer"].id})
    assert moved.status_code == 200 and moved.get_json()["leader_name"] == "刘志刚"
    assert moved.get_json()["member_count"] == 2
    # The old leader no longer manages it.
    assert client.patch(url, headers=headers["leader"], json={"name": "新名字"}).status_code == 403
    gone = client.patch(url, headers=headers["secretary"], json={"is_active": False})
    assert gone.status_code == 200 and gone.get_json()["is_active"] is False
    assert client.get("/api/v1/teams", headers=headers["secretary"]).get_json()["total"] == 0
    closed = client.post(f"{url}/members", headers=headers["resident"], json={})
    assert closed.status_code == 403
    late = client.post(f"{url}/members", headers=headers["secretary"], json={"person_id": people["resident"].id})
    assert late.status_code == 409 and late.get_json()["error"]["code"] == "team_inactive"


def activity_body(orgs, **extra):
    return {"org_id": orgs["a"].id, "title": "敬老院理发", "location": "和平社区敬老院", "capacity": 5,
            "starts_at": SOON.isoformat(), "ends_at": (SOON + timedelta(hours=2)).isoformat(), **extra}


def test_team_leader_organises_under_the_team_with_a_partner_unit(client, world):
    orgs, people, headers = world
    team = make_team(client, world).get_json()
    # Without a team the leader is not an organiser.
    assert client.post("/api/v1/activities", headers=headers["leader"], json=activity_body(orgs)).status_code == 403
    made = client.post("/api/v1/activities", headers=headers["leader"],
                       json=activity_body(orgs, team_id=team["id"], partner_unit_id=orgs["unit"].id))
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["team_name"] == "红马甲志愿服务队" and body["partner_unit_name"] == "东湖医院"
    listed = client.get(f"/api/v1/activities?team_id={team['id']}", headers=headers["volunteer"]).get_json()
    assert [a["id"] for a in listed["items"]] == [body["id"]]
    wrong_org = client.post("/api/v1/activities", headers=headers["leader"],
                            json=activity_body(orgs, org_id=orgs["b"].id, team_id=team["id"]))
    assert wrong_org.get_json()["error"]["code"] == "invalid_team"
    far = client.post("/api/v1/activities", headers=headers["secretary"],
                      json=activity_body(orgs, partner_unit_id=orgs["far_unit"].id))
    assert far.status_code == 422 and far.get_json()["error"]["code"] == "invalid_unit"
    not_unit = client.post("/api/v1/activities", headers=headers["secretary"],
                           json=activity_body(orgs, partner_unit_id=orgs["b"].id))
    assert not_unit.get_json()["error"]["code"] == "invalid_unit"


def test_service_provided_by_a_team_or_a_unit(client, world):
    orgs, people, headers = world
    team = make_team(client, world).get_json()
    body = {"org_id": orgs["a"].id, "name": "老年人理发", "location": "和平社区活动室"}
    by_team = client.post("/api/v1/services", headers=headers["secretary"],
                          json={**body, "provider_team_id": team["id"]})
    assert by_team.status_code == 201 and by_team.get_json()["provider"] == "红马甲志愿服务队"
    by_unit = client.post("/api/v1/services", headers=headers["secretary"],
                          json={**body, "name": "义诊", "provider_unit_id": orgs["unit"].id})
    assert by_unit.status_code == 201 and by_unit.get_json()["provider"] == "东湖医院"
    other = client.post("/api/v1/teams", headers=headers["secretary_b"],
                        json={"org_id": orgs["b"].id, "name": "幸福志愿队"}).get_json()
    wrong = client.post("/api/v1/services", headers=headers["secretary"],
                        json={**body, "name": "修伞", "provider_team_id": other["id"]})
    assert wrong.status_code == 422 and wrong.get_json()["error"]["code"] == "invalid_team"


def test_managers_add_only_people_of_the_community(client, world):
    orgs, people, headers = world
    team = make_team(client, world).get_json()
    far = client.post(f"/api/v1/teams/{team['id']}/members", headers=headers["leader"],
                      json={"person_id": people["outsider"].id})
    assert far.status_code == 422 and far.get_json()["error"]["code"] == "invalid_member"


def test_activities_listed_by_community_date_and_skill(client, world):
    orgs, people, headers = world
    day_one = SOON.replace(hour=2, minute=0, second=0, microsecond=0)   # 10:00 in Shanghai
    plan = [("理发", orgs["a"], day_one, "理发"), ("陪诊", orgs["a"], day_one + timedelta(days=1), "陪诊"),
            ("幸福理发", orgs["b"], day_one, "理发")]
    for title, org, start, skills in plan:
        who = "secretary" if org is orgs["a"] else "secretary_b"
        made = client.post("/api/v1/activities", headers=headers[who], json={
            "org_id": org.id, "title": title, "location": "活动室", "capacity": 3, "skills": skills,
            "starts_at": start.isoformat(), "ends_at": (start + timedelta(hours=1)).isoformat()})
        assert made.status_code == 201, made.get_json()
    officer = f.person("周海", username="officer", role="street_officer", org=orgs["street"])
    officer_headers = f.login(client, officer.username)

    def titles(query):
        return [a["title"] for a in client.get(f"/api/v1/activities?{query}", headers=officer_headers)
                .get_json()["items"]]

    local_day = (day_one + timedelta(hours=8)).date().isoformat()
    assert titles(f"date={local_day}") == ["理发", "幸福理发"]
    assert titles(f"date={local_day}&org_id={orgs['a'].id}") == ["理发"]
    assert titles("skill=陪诊") == ["陪诊"]
    assert client.get("/api/v1/activities?date=tomorrow", headers=officer_headers).status_code == 422
    page = client.get(f"/h5/activities?date={local_day}&org={orgs['b'].id}", headers=officer_headers)
    assert page.status_code == 200


def test_a_leader_who_does_not_exist_is_refused_on_both_faces(client, world):
    """The page used to create the team without a leader; the API said 404. Now both refuse."""
    orgs, people, headers = world
    body = {"org_id": orgs["a"].id, "name": "红马甲志愿服务队", "leader_id": 99999}
    made = client.post("/api/v1/teams", headers=headers["secretary"], json=body)
    assert made.status_code == 404 and made.get_json()["error"]["code"] == "not_found"
    h5_login(client, "secretary")
    token = csrf_from(client.get("/h5/teams/new"))
    page = client.post("/h5/teams/new", data={**{k: str(v) for k, v in body.items()}, "csrf_token": token})
    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert "找不到该人员" in text and 'value="红马甲志愿服务队"' in text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Team)) == 0


def test_the_team_page_names_members_like_the_api_and_shows_you_yourself(client, world):
    """Full names for those who run the team, 张** for the rest, and one's own name in full: the
    same rule on the page and in the API (teams.service.member_name)."""
    orgs, people, headers = world
    team = make_team(client, world).get_json()
    client.post(f"/api/v1/teams/{team['id']}/members", headers=headers["volunteer"], json={})

    def members_seen_by(username):
        phone = client.application.test_client()
        h5_login(phone, username)
        page = phone.get(f"/h5/teams/{team['id']}").get_data(as_text=True)
        return page.split('data-testid="members"')[1].split("</div>\n\n")[0]

    volunteer = members_seen_by("volunteer")
    assert "王**" in volunteer and "刘志刚" in volunteer and "王建国" not in volunteer
    secretary = members_seen_by("secretary")
    assert "王建国" in secretary and "刘志刚" in secretary
