"""Poll pages over HTTP: a refused sheet keeps what was typed and stores nothing, once per
phone and per code slip, closed polls, and results, slips and review only for staff."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from backend.extensions import db, utcnow
from backend.polls.models import Poll, PollResponse
from backend.qrcodes import service as qr_service
from tests import test_polls
from tests.test_csrf_session import csrf_from, h5_login
from tests.test_polls import answers, make_poll

world = test_polls.world   # the same people and orgs as the poll API tests


def sheet(page, poll: dict, rating: int = 5, **extra) -> dict:
    """The answer form as a browser posts it, with the csrf token of the page it came from."""
    data = {"csrf_token": csrf_from(page), **extra}
    for answer in answers(poll, rating=rating):
        name = f"q{answer['question_id']}"
        data[name] = [str(v) for v in answer["value"]] if isinstance(answer["value"], list) else str(answer["value"])
    return data


def stored() -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(PollResponse))


def test_open_qr_page_once_per_phone(app, client, world):
    poll = make_poll(client, world, modes=["device"])
    url = f"/h5/p/{poll['id']}"
    phone = app.test_client()
    page = phone.get(url)
    assert page.status_code == 200 and phone.get_cookie("sw_device") is not None
    incomplete = sheet(page, poll)
    first_question = f"q{poll['questions'][0]['id']}"
    del incomplete[first_question]
    incomplete[f"q{poll['questions'][3]['id']}"] = "楼下路灯坏了"
    refused = phone.post(url, data=incomplete)
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "请回答此题" in body and "楼下路灯坏了" in body
    assert stored() == 0
    done = phone.post(url, data=sheet(page, poll))
    assert done.status_code == 302 and done.headers["Location"].endswith(f"/h5/p/{poll['id']}/thanks")
    again = phone.post(url, data=sheet(page, poll, rating=1))
    assert again.status_code == 409 and "您已参加过本次测评" in again.get_data(as_text=True)
    other_phone = app.test_client()
    assert other_phone.post(url, data=sheet(other_phone.get(url), poll)).status_code == 302
    assert stored() == 2


def test_code_slips_are_printed_by_staff_and_answer_once(app, client, world):
    poll = make_poll(client, world, modes=["code"])
    secretary, resident = app.test_client(), app.test_client()
    h5_login(secretary, "secretary")
    h5_login(resident, "resident")
    results_page = secretary.get(f"/h5/polls/{poll['id']}/results")
    token = csrf_from(results_page)
    assert resident.get(f"/h5/polls/{poll['id']}/results").status_code == 403
    resident_token = csrf_from(resident.get(f"/h5/p/{poll['id']}"))
    refused = resident.post(f"/h5/polls/{poll['id']}/codes", data={"csrf_token": resident_token, "count": 3})
    assert refused.status_code == 403
    slips = secretary.post(f"/h5/polls/{poll['id']}/codes", data={"csrf_token": token, "count": 3})
    body = slips.get_data(as_text=True)
    assert slips.status_code == 200 and body.count("<svg") == 3
    code = body.split('class="app-slip__code"', 1)[1].split("<strong>", 1)[1].split("</strong>", 1)[0]

    url = f"/h5/p/{poll['id']}"
    household = app.test_client()
    page = household.get(url, query_string={"code": code})
    assert f'value="{code}"' in page.get_data(as_text=True)
    assert household.post(url, data=sheet(page, poll, code=code)).status_code == 302
    reused = household.post(url, data=sheet(page, poll, code=code))
    assert reused.status_code == 409
    wrong = household.post(url, data=sheet(page, poll, code="ZZZZZZZZ"))
    assert wrong.status_code == 422 and "测评码" in wrong.get_data(as_text=True)
    assert stored() == 1
    shown = secretary.get(f"/h5/polls/{poll['id']}/results").get_data(as_text=True)
    assert "有效答卷 <strong>1</strong> 份" in shown


def test_closed_poll_page_says_so_and_takes_nothing(app, client, world):
    poll = make_poll(client, world, modes=["device"])
    url = f"/h5/p/{poll['id']}"
    phone = app.test_client()
    page = phone.get(url)
    row = db.session.get(Poll, poll["id"])
    row.closes_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    assert "测评已结束" in phone.get(url).get_data(as_text=True)
    late = phone.post(url, data=sheet(page, poll))
    assert late.status_code == 409 and stored() == 0


def test_street_officer_reviews_a_burst_on_the_results_page(app, client, world):
    app.config["POLL_BURST_COUNT"] = 2
    poll = make_poll(client, world, modes=["device"])
    url = f"/h5/p/{poll['id']}"
    for _ in range(3):
        phone = app.test_client()
        assert phone.post(url, data=sheet(phone.get(url), poll),
                          environ_base={"REMOTE_ADDR": "172.16.5.1"}).status_code == 302
    officer, secretary = app.test_client(), app.test_client()
    h5_login(officer, "officer")
    h5_login(secretary, "secretary")
    page = officer.get(f"/h5/polls/{poll['id']}/results")
    assert "待审核" in page.get_data(as_text=True)
    flagged = db.session.scalars(sa.select(PollResponse.id).where(PollResponse.status == "flagged")).all()
    assert len(flagged) == 3
    secretary_token = csrf_from(secretary.get(f"/h5/polls/{poll['id']}/results"))
    assert secretary.post(f"/h5/poll-responses/{flagged[0]}/review",
                          data={"csrf_token": secretary_token, "decision": "exclude"}).status_code == 403
    done = officer.post(f"/h5/poll-responses/{flagged[0]}/review",
                        data={"csrf_token": csrf_from(page), "decision": "exclude"})
    assert done.status_code == 302
    db.session.expire_all()
    assert db.session.get(PollResponse, flagged[0]).status == "excluded"
    shown = officer.get(f"/h5/polls/{poll['id']}/results").get_data(as_text=True)
    assert "已剔除 1" in shown


def test_a_qr_code_of_something_else_is_refused_alike_by_api_and_page(app, client, world):
    """The poster's code names the grid an answer counts in; a code made for another poll (or
    for anything else) is refused by both faces, and nothing is stored."""
    orgs, people, headers = world
    poll, other = make_poll(client, world, modes=["device"]), make_poll(client, world, modes=["device"])
    foreign = qr_service.create_code("poll", other["id"], orgs["a1"], None).code
    wish_code = qr_service.create_code("wish", orgs["a1"].id, orgs["a1"], None).code
    own = qr_service.create_code("poll", poll["id"], orgs["a1"], None).code
    db.session.commit()
    url = f"/api/v1/polls/{poll['id']}/responses"
    for code in (foreign, wish_code):
        refused = client.post(url, json={"answers": answers(poll), "device": f"d-{code}", "qr": code})
        assert refused.status_code == 422 and refused.get_json()["error"]["code"] == "wrong_code"
    phone = app.test_client()
    page = phone.get(f"/h5/p/{poll['id']}", query_string={"qr": foreign})
    refused = phone.post(f"/h5/p/{poll['id']}", data=sheet(page, poll, qr=foreign))
    body = refused.get_data(as_text=True)
    assert refused.status_code == 422 and "这不是本测评的二维码" in body and f'value="{foreign}"' not in body
    assert stored() == 0
    done = phone.post(f"/h5/p/{poll['id']}", data=sheet(page, poll, qr=own))
    assert done.status_code == 302
    assert db.session.scalar(sa.select(PollResponse.grid_id)) == orgs["a1"].id


def test_a_phone_that_answered_signed_in_answers_no_more_signed_out(app, client, world):
    """The answer of a signed-in resident spends the phone too: signing out on it and answering
    by the open QR is refused, and nothing more is stored."""
    poll = make_poll(client, world, modes=["account", "device"])
    url = f"/h5/p/{poll['id']}"
    phone = app.test_client()
    h5_login(phone, "resident")
    assert phone.post(url, data=sheet(phone.get(url), poll)).status_code == 302
    phone.post("/h5/logout", data={"csrf_token": csrf_from(phone.get("/h5/me"))})
    with phone.session_transaction() as signed:
        assert "sid" not in signed
    # the phone is told at once; a sheet sent anyway is refused
    assert "您已参加过本次测评" in phone.get(url).get_data(as_text=True)
    again = phone.post(url, data=sheet(phone.get("/h5/login"), poll, rating=1))
    assert again.status_code == 409 and "您已参加过本次测评" in again.get_data(as_text=True)
    assert stored() == 1


def test_a_repeat_scan_is_told_before_anything_is_typed(app, client, world):
    poll = make_poll(client, world, modes=["device", "code"])
    url = f"/h5/p/{poll['id']}"
    phone = app.test_client()
    page = phone.get(url)
    assert "您已参加过本次测评" not in page.get_data(as_text=True)
    assert phone.post(url, data=sheet(page, poll)).status_code == 302
    again = phone.get(url)
    body = again.get_data(as_text=True)
    assert again.status_code == 200 and "您已参加过本次测评" in body and 'name="csrf_token"' not in body
    # a member of the household with a slip of their own still gets the form on this phone
    assert 'name="code"' in phone.get(url, query_string={"code": "ABCDEFGH"}).get_data(as_text=True)
    assert "您已参加过本次测评" not in app.test_client().get(url).get_data(as_text=True)


def test_the_answer_page_reads_well_for_older_eyes(app, client, world):
    poll = make_poll(client, world, modes=["device"])
    body = app.test_client().get(f"/h5/p/{poll['id']}").get_data(as_text=True)
    assert body.count("★ 越多越满意") == 1                      # the hint is said once
    assert body.count('class="app-question__text"') == len(poll["questions"])
    multiple = next(q for q in poll["questions"] if q.get("multiple"))
    legend = body.split(multiple["text"], 1)[1].split("</legend>", 1)[0]
    assert "可多选" in legend and body.count("可多选") == 1


def test_the_thank_you_page_leads_home_and_to_the_community_page(app, client, world):
    orgs, _, _ = world
    poll = make_poll(client, world, modes=["device"])
    body = app.test_client().get(f"/h5/p/{poll['id']}/thanks").get_data(as_text=True)
    assert 'href="/h5/"' in body and f'href="/h5/c/{orgs["a"].id}/wishes"' in body
