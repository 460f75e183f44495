"""The permission rule, end to end: scope by org subtree, 404 outside it, 403 inside it."""

from __future__ import annotations

import pytest

from backend.core.errors import Forbidden, NotFound
from backend.core.permissions import authorize, can
from backend.extensions import db
from backend.orgs.models import Org
from backend.people.actors import load_actor
from backend.qrcodes.service import create_code
from tests import factories as f


@pytest.fixture
def world(app, client):
    """Street with communities A, B (two grids each), a second street, and one person per role."""
    orgs = f.tree()
    orgs["other"] = f.org("西湖街道", "street")
    orgs["other_c"] = f.org("远方社区", "community", orgs["other"])
    people = {
        "admin": f.person("管理员", username="admin", role="admin"),
        "officer": f.person("王建国", username="officer", role="street_officer", org=orgs["street"]),
        "sec_a": f.person("李红梅", username="sec_a", role="secretary", org=orgs["a"]),
        "sec_b": f.person("黄丽娟", username="sec_b", role="secretary", org=orgs["b"]),
        "leader_a1": f.person("张建华", username="leader_a1", role="grid_leader", org=orgs["a1"]),
        "member_a": f.person("陈淑芬", username="member_a", role="party_member", org=orgs["a"]),
        "resident_b1": f.person("马春花", role="resident", org=orgs["b1"], phone="13800002031"),
        "resident_a2": f.person("冯玉珍", role="resident", org=orgs["a2"]),
    }
    qr_b = create_code("wish", orgs["b1"].id, orgs["b1"], None)
    db.session.commit()
    ids = {k: v.id for k, v in orgs.items()} | {k: v.id for k, v in people.items()} | {"qr_b": qr_b.id}
    return ids


def get(client, username, url):
    return client.get(url, headers=f.login(client, username))


@pytest.mark.parametrize("url", [
    "/api/v1/orgs/{b}",
    "/api/v1/orgs/{b}/members",
    "/api/v1/orgs/{b1}",
    "/api/v1/orgs/{b1}/members",
    "/api/v1/people/{resident_b1}",
    "/api/v1/qrcodes/{qr_b}",
    "/api/v1/qrcodes/{qr_b}.png",
])
def test_secretary_of_a_gets_404_on_community_b(client, world, url):
    response = get(client, "sec_a", url.format(**world))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"


def test_secretary_sees_own_community_grids_and_members(client, world):
    headers = f.login(client, "sec_a")
    assert client.get(f"/api/v1/orgs/{world['a']}/members", headers=headers).status_code == 200
    members = client.get(f"/api/v1/orgs/{world['a2']}/members", headers=headers).get_json()
    assert [m["person"]["name"] for m in members["items"]] == ["冯玉珍"]
    visible = {o["id"] for o in client.get("/api/v1/orgs?per_page=100", headers=headers).get_json()["items"]}
    assert {world["street"], world["a"], world["a1"], world["a2"]} <= visible
    assert not visible & {world["b"], world["b1"], world["b2"], world["other"], world["other_c"]}


def test_secretary_can_see_the_street_above_but_not_its_members(client, world):
    headers = f.login(client, "sec_a")
    assert client.get(f"/api/v1/orgs/{world['street']}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/orgs/{world['street']}/members", headers=headers).status_code == 403


def test_street_officer_sees_their_street_only(client, world):
    headers = f.login(client, "officer")
    for key in ("a", "b", "b1"):
        assert client.get(f"/api/v1/orgs/{world[key]}/members", headers=headers).status_code == 200
    assert client.get(f"/api/v1/people/{world['resident_b1']}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/orgs/{world['other_c']}", headers=headers).status_code == 404


def test_admin_sees_everything(client, world):
    headers = f.login(client, "admin")
    for key in ("other_c", "b1", "a"):
        assert client.get(f"/api/v1/orgs/{world[key]}/members", headers=headers).status_code == 200
    assert client.get("/api/v1/orgs", headers=headers).get_json()["total"] == 9


def test_grid_leader_sees_own_grid_not_the_sibling(client, world):
    headers = f.login(client, "leader_a1")
    assert client.get(f"/api/v1/orgs/{world['a1']}/members", headers=headers).status_code == 200
    assert client.get(f"/api/v1/orgs/{world['a2']}/members", headers=headers).status_code == 404
    assert client.get(f"/api/v1/people/{world['resident_a2']}", headers=headers).status_code == 404


def test_party_member_reads_me_and_own_org_but_not_people(client, world):
    headers = f.login(client, "member_a")
    assert client.get("/api/v1/me", headers=headers).get_json()["memberships"][0]["role"] == "party_member"
    assert client.get(f"/api/v1/orgs/{world['a']}", headers=headers).status_code == 200
    assert client.get(f"/api/v1/orgs/{world['a']}/members", headers=headers).status_code == 403
    assert client.get("/api/v1/people", headers=headers).status_code == 403
    assert client.post("/api/v1/people", json={"name": "某人"}, headers=headers).status_code == 403


@pytest.mark.parametrize(("username", "role", "status"), [
    ("sec_a", "secretary", 403),
    ("sec_a", "street_officer", 403),
    ("sec_a", "grid_leader", 201),
    ("leader_a1", "grid_leader", 403),
    ("leader_a1", "grid_member", 201),
    ("officer", "grid_leader", 201),
])
def test_managers_grant_only_roles_below_their_own(client, world, username, role, status):
    org = world["a1"]
    headers = f.login(client, username)
    person = client.post("/api/v1/people", json={"name": "新成员"}, headers=headers).get_json()["id"]
    response = client.post(f"/api/v1/orgs/{org}/members", json={"person_id": person, "role": role}, headers=headers)
    assert response.status_code == status, response.get_json()


def test_cannot_add_a_person_one_cannot_see(client, world):
    headers = f.login(client, "sec_a")
    response = client.post(f"/api/v1/orgs/{world['a1']}/members",
                           json={"person_id": world["resident_b1"], "role": "resident"}, headers=headers)
    assert response.status_code == 404


def test_org_creation_rules(client, world):
    officer = f.login(client, "officer")
    secretary = f.login(client, "sec_a")
    created = client.post("/api/v1/orgs", json={"name": "第三网格", "kind": "grid", "parent_id": world["a"]},
                          headers=officer)
    assert created.status_code == 201
    assert created.get_json()["kind_label"] == "网格"
    assert client.post("/api/v1/orgs", json={"name": "第四网格", "kind": "grid", "parent_id": world["a"]},
                       headers=secretary).status_code == 403
    under_grid = client.post("/api/v1/orgs", json={"name": "x", "kind": "grid", "parent_id": world["a1"]},
                             headers=officer)
    assert under_grid.status_code == 422
    assert under_grid.get_json()["error"]["code"] == "invalid_parent"
    again = client.post("/api/v1/orgs", json={"name": "第三网格", "kind": "grid", "parent_id": world["a"]},
                        headers=officer)
    assert again.status_code == 409
    assert again.get_json()["error"]["code"] == "duplicate_name"
    assert client.post("/api/v1/orgs", json={"name": "新街道", "kind": "street"}, headers=officer).status_code == 403
    assert client.post("/api/v1/orgs", json={"name": "y", "kind": "grid", "parent_id": world["other_c"]},
                       headers=officer).status_code == 404


def test_deny_by_default(app, world):

    admin = load_actor(world["admin"])
    org = db.session.get(Org, world["a"])
    assert can(admin, "org.view", org)
    assert not can(admin, "org.delete_everything", org)  # unknown action
    assert not can(None, "org.view", org)
    assert not can(admin, "qrcode.revoke", org)  # wrong object type for the action
    with pytest.raises(NotFound):
        authorize(load_actor(world["sec_b"]), "org.members.view", db.session.get(Org, world["a1"]))
    with pytest.raises(Forbidden):
        authorize(load_actor(world["member_a"]), "org.members.view", org)
