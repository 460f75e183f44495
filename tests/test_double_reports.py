"""Double reporting (双报到): once a year, confirmed by the community, then a volunteer there."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
import requests
import sqlalchemy as sa

from backend.auth.service import issue_token
from backend.double_reports.models import DoubleReport
from backend.extensions import db
from backend.orgs.service import create_org
from backend.people.models import Membership, Person
from backend.people.service import add_membership, create_person
from tests import factories as f
from tests.live import serve
from tests.test_csrf_session import csrf_from, h5_login

YEAR = datetime.now(ZoneInfo("Asia/Shanghai")).year


@pytest.fixture
def world(app, client):
    orgs = f.tree()
    orgs["unit"] = f.org("东湖医院", "unit", orgs["street"])
    people = {
        "member": f.person("陈志远", username="member", role="party_member", org=orgs["unit"]),
        "resident": f.person("吴阿姨", username="resident", role="resident", org=orgs["a1"]),
        "secretary": f.person("李红梅", username="secretary", role="secretary", org=orgs["a"]),
        "secretary_b": f.person("黄丽娟", username="secretary_b", role="secretary", org=orgs["b"]),
        "grid_member": f.person("孙丽", username="grid_member", role="grid_member", org=orgs["a1"]),
        "officer": f.person("周海", username="officer", role="street_officer", org=orgs["street"]),
    }
    headers = {name: f.login(client, name) for name in people}
    return orgs, people, headers


def report(client, headers, community_id, **extra):
    return client.post("/api/v1/double-reports", headers=headers,
                       json={"community_id": community_id, "work_unit": "东湖医院", "offer": "义诊", **extra})


def test_report_confirm_and_appear_as_volunteer(client, world):
    orgs, people, headers = world
    options = client.get("/api/v1/double-reports/communities", headers=headers["member"]).get_json()
    assert {c["name"] for c in options} == {"和平社区", "幸福社区"}
    made = report(client, headers["member"], orgs["a"].id)
    assert made.status_code == 201, made.get_json()
    body = made.get_json()
    assert body["status"] == "pending" and body["year"] == YEAR and body["status_label"] == "待社区确认"
    again = report(client, headers["member"], orgs["b"].id)
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "already_reported"

    listed = client.get(f"/api/v1/double-reports?org_id={orgs['a'].id}&status=pending",
                        headers=headers["secretary"]).get_json()
    assert [r["person_name"] for r in listed["items"]] == ["陈志远"]
    assert client.get(f"/api/v1/double-reports?org_id={orgs['a'].id}",
                      headers=headers["secretary_b"]).status_code == 404
    assert client.get(f"/api/v1/double-reports?org_id={orgs['a'].id}",
                      headers=headers["resident"]).status_code == 403
    url = f"/api/v1/double-reports/{body['id']}"
    assert client.post(f"{url}/confirm", headers=headers["secretary_b"]).status_code == 404
    # Grid staff do not handle reports; the member sees their own report but cannot confirm it.
    assert client.post(f"{url}/confirm", headers=headers["grid_member"]).status_code == 404
    assert client.post(f"{url}/confirm", headers=headers["member"]).status_code == 403
    done = client.post(f"{url}/confirm", headers=headers["secretary"])
    assert done.status_code == 200 and done.get_json()["status"] == "confirmed"
    twice = client.post(f"{url}/reject", headers=headers["secretary"], json={"reason": "重复"})
    assert twice.status_code == 409 and twice.get_json()["error"]["code"] == "already_decided"

    member = db.session.get(Person, people["member"].id)
    db.session.refresh(member)
    assert member.is_in_service and member.work_unit == "东湖医院" and member.home_community_id == orgs["a"].id
    roles = {(m.org_id, m.role) for m in member.memberships}
    assert (orgs["a"].id, "volunteer") in roles
    # Now a volunteer of 和平社区: the community's volunteers list shows them.
    volunteers = client.get(f"/api/v1/orgs/{orgs['a'].id}/members?role=volunteer",
                            headers=headers["secretary"]).get_json()
    assert "陈志远" in {m["person"]["name"] for m in volunteers["items"]}
    mine = client.get("/api/v1/double-reports", headers=headers["member"]).get_json()
    assert [r["status"] for r in mine["items"]] == ["confirmed"]


def test_rejected_report_can_be_made_again(client, world):
    orgs, people, headers = world
    first = report(client, headers["member"], orgs["b"].id).get_json()
    rejected = client.post(f"/api/v1/double-reports/{first['id']}/reject", headers=headers["officer"],
                           json={"reason": "不在本社区居住"})
    assert rejected.status_code == 200 and rejected.get_json()["reason"] == "不在本社区居住"
    assert report(client, headers["member"], orgs["a"].id).status_code == 201
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Membership).where(
        Membership.person_id == people["member"].id, Membership.role == "volunteer")) == 0


@pytest.mark.parametrize("who, target, extra, status, code", [
    ("resident", "a", {}, 403, "not_party_member"),
    ("member", "a1", {}, 422, "invalid_org"),
    ("member", "a", {"year": YEAR - 1}, 422, "invalid_year"),
    ("member", "a", {"work_unit": ""}, 422, "validation_error"),
    ("member", None, {}, 404, "not_found"),
])
def test_report_refusals(client, world, who, target, extra, status, code):
    orgs, people, headers = world
    made = report(client, headers[who], orgs[target].id if target else 99999, **extra)
    assert made.status_code == status, made.get_json()
    assert made.get_json()["error"]["code"] == code


@pytest.mark.slow
def test_ten_simultaneous_reports_store_one(db_url):
    with serve(db_url) as (base_url, app):
        with app.app_context():
            street = create_org("东湖街道", "street", None)
            community = create_org("和平社区", "community", street)
            member = create_person(name="陈志远")
            add_membership(member, community, "party_member")
            token = issue_token(member)[0]
            db.session.commit()
            community_id = community.id
            db.session.remove()

        barrier = threading.Barrier(10)
        answers: list[int] = []

        def send() -> None:
            with requests.Session() as http:
                barrier.wait(timeout=30)
                response = http.post(f"{base_url}/api/v1/double-reports", timeout=60,
                                     headers={"Authorization": f"Bearer {token}"},
                                     json={"community_id": community_id, "work_unit": "东湖医院"})
            answers.append(response.status_code)

        threads = [threading.Thread(target=send) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert Counter(answers) == Counter({201: 1, 409: 9})
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(DoubleReport)) == 1
            db.session.remove()


def test_report_form_keeps_what_was_typed(client, world):
    orgs, people, headers = world
    h5_login(client, "member")
    token = csrf_from(client.get("/h5/me/double-report"))
    refused = client.post("/h5/me/double-report", data={"csrf_token": token, "community_id": "",
                                                        "work_unit": "东湖医院", "offer": "义诊"})
    assert refused.status_code == 422
    page = refused.get_data(as_text=True)
    assert "此项必填" in page and 'value="东湖医院"' in page and 'value="义诊"' in page
    done = client.post("/h5/me/double-report", data={"csrf_token": token, "community_id": str(orgs["a"].id),
                                                     "work_unit": "东湖医院"})
    assert done.status_code == 302
    page = client.get(done.headers["Location"]).get_data(as_text=True)
    assert "已提交报到，请等待社区确认" in page and "待社区确认" in page and "无需重复提交" in page


def test_a_community_that_does_not_exist_is_404_on_both_faces(client, world):
    """The API said 404 not_found, the page 422 beside the field: now 404 on both, the form kept."""
    orgs, people, headers = world
    made = report(client, headers["member"], 99999)
    assert made.status_code == 404 and made.get_json()["error"]["fields"] == {"community_id": ["找不到该社区"]}
    h5_login(client, "member")
    token = csrf_from(client.get("/h5/me/double-report"))
    page = client.post("/h5/me/double-report", data={"csrf_token": token, "community_id": "99999",
                                                     "work_unit": "东湖医院"})
    assert page.status_code == 404
    text = page.get_data(as_text=True)
    assert "找不到该社区" in text and 'value="东湖医院"' in text
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DoubleReport)) == 0


def test_a_report_is_turned_down_only_with_a_reason_on_both_faces(client, world):
    """The page used to fill in a stock reason when none was typed; now both faces ask for one."""
    orgs, people, headers = world
    made = report(client, headers["member"], orgs["a"].id).get_json()
    url = f"/api/v1/double-reports/{made['id']}/reject"
    assert client.post(url, headers=headers["secretary"], json={"reason": " "}).status_code == 422
    h5_login(client, "secretary")
    token = csrf_from(client.get(f"/h5/orgs/{orgs['a'].id}/double-reports"))
    refused = client.post(f"/h5/double-reports/{made['id']}/reject", data={"csrf_token": token, "reason": ""})
    assert refused.status_code == 302
    assert "请填写退回原因" in client.get(refused.headers["Location"]).get_data(as_text=True)
    assert db.session.get(DoubleReport, made["id"]).status == "pending"
    done = client.post(f"/h5/double-reports/{made['id']}/reject",
                       data={"csrf_token": token, "reason": "不在本社区居住"})
    assert done.status_code == 302
    record = db.session.get(DoubleReport, made["id"])
    db.session.refresh(record)
    assert (record.status, record.reason) == ("rejected", "不在本社区居住")
