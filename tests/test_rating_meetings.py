"""Meeting records (R2, O2) are the community's own entries, so the street controls them:
evidence or a reason why not, no date in the future, a date more than 30 days back counts
only once a street officer confirms it, a record is corrected by a new one (the database
refuses edits), the street strikes records with a reason, and every step is in the ledger
of each campaign of the record's year."""

from __future__ import annotations

import io
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from backend.extensions import db
from backend.rating import service
from backend.rating.models import Meeting
from tests import test_rating
from tests.test_csrf_session import csrf_from
from tests.test_rating_evidence import photo
from tests.test_rating_pages import logged_in

world = test_rating.world


def campaign(client, world, year: int, to: str = "self_evaluation") -> dict:
    """A campaign of `year` over communities A and B, advanced to `to`."""
    orgs, _, headers = world
    made = client.post("/api/v1/periods", headers=headers["officer"], json={
        "name": f"{year} 年度星级党组织创评", "year": year, "rubric_code": "wuhua-2019",
        "org_ids": [orgs["a"].id, orgs["b"].id]})
    assert made.status_code == 201, made.get_json()
    period = made.get_json()
    phases = test_rating._phases_until(to)
    for left, phase in zip(["open", *phases], phases, strict=False):
        moved = client.post(f"/api/v1/periods/{period['id']}/advance", headers=headers["officer"],
                            json={"from": left, "to": phase})
        assert moved.status_code == 200, moved.get_json()
    return period


def meeting(client, headers, org, held_on, kind="joint", **extra):
    body = {"kind": kind, "held_on": held_on.isoformat(), "topic": "辖区单位党建联席会议", "attendance": 12,
            "no_evidence_reason": "纸质纪要存档", **extra}
    return client.post(f"/api/v1/orgs/{org.id}/meetings", headers=headers, json={
        k: v for k, v in body.items() if v is not None})


def points(client, world, period, org, code):
    card = client.get(test_rating.card_url(period, org), headers=world[2]["officer"]).get_json()
    return next(c["points"] for c in card["criteria"] if c["code"] == code)


def ledger(client, world, period) -> list[dict]:
    return client.get(f"/api/v1/periods/{period['id']}/ledger", headers=world[2]["officer"]).get_json()


def events(client, world, period, org) -> list[dict]:
    return client.get(f"{test_rating.card_url(period, org)}/events", headers=world[2]["officer"]).get_json()


def test_a_meeting_needs_evidence_or_a_reason_and_its_file_is_ledgered(client, world):
    orgs, _, headers = world
    today = service.today()
    period = campaign(client, world, today.year)
    bare = meeting(client, headers["sec_a"], orgs["a"], today, no_evidence_reason=None)
    assert bare.status_code == 422 and bare.get_json()["error"]["code"] == "evidence_required"
    assert "no_evidence_reason" in bare.get_json()["error"]["fields"]
    future = meeting(client, headers["sec_a"], orgs["a"], today + timedelta(days=1))
    assert future.status_code == 422 and future.get_json()["error"]["code"] == "meeting_in_future"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Meeting)) == 0

    data = photo()
    uploaded = client.post(f"/api/v1/orgs/{orgs['a'].id}/meetings/evidence", headers=headers["sec_a"],
                           data={"file": (io.BytesIO(data), "联席会纪要.jpg")}, content_type="multipart/form-data")
    assert uploaded.status_code == 201, uploaded.get_json()
    file = uploaded.get_json()
    # Another community's secretary can neither use the file nor see it.
    foreign = meeting(client, headers["sec_b"], orgs["b"], today, evidence_id=file["id"], no_evidence_reason=None)
    assert foreign.status_code == 422 and foreign.get_json()["error"]["code"] == "unknown_evidence"
    assert client.get(file["url"], headers=headers["sec_b"]).status_code == 404
    made = meeting(client, headers["sec_a"], orgs["a"], today, evidence_id=file["id"], no_evidence_reason=None)
    assert made.status_code == 201, made.get_json()
    record = made.get_json()
    assert record["status"] == "counted" and record["evidence"]["sha256"] == file["sha256"]
    assert client.get(file["url"], headers=headers["officer"]).data == data
    entry = ledger(client, world, period)[-1]
    assert entry["kind"] == "meeting_recorded" and entry["org_id"] == orgs["a"].id
    assert entry["data"]["meeting"]["evidence"]["sha256"] == file["sha256"]
    assert entry["data"]["meeting"]["status"] == "counted"
    assert points(client, world, period, orgs["a"], "R2") > 0
    # Community B's campaign card does not carry A's record.
    assert all(e["org_id"] != orgs["b"].id for e in ledger(client, world, period) if e["kind"] == "meeting_recorded")


def test_a_meeting_dated_far_back_counts_only_once_the_street_confirms_it(client, world):
    orgs, _, headers = world
    today = service.today()
    held = today - timedelta(days=31)
    period = campaign(client, world, held.year)
    late = meeting(client, headers["sec_a"], orgs["a"], held)
    assert late.status_code == 201, late.get_json()
    record = late.get_json()
    assert record["status"] == "pending" and record["status_label"] == "待街道确认"
    assert points(client, world, period, orgs["a"], "R2") == 0
    assert ledger(client, world, period)[-1]["data"]["meeting"]["status"] == "pending"

    url = f"/api/v1/meetings/{record['id']}/confirm"
    assert client.post(url, headers=headers["sec_a"]).status_code == 403      # not the community's to confirm
    assert client.post(url, headers=headers["sec_b"]).status_code == 404
    confirmed = client.post(url, headers=headers["officer"])
    assert confirmed.status_code == 200 and confirmed.get_json()["status"] == "counted"
    assert points(client, world, period, orgs["a"], "R2") > 0
    assert events(client, world, period, orgs["a"])[-1]["cause"].startswith("街道确认党建联席会议")
    entry = ledger(client, world, period)[-1]
    assert entry["kind"] == "meeting_confirmed" and entry["data"]["meeting"]["id"] == record["id"]
    again = client.post(url, headers=headers["officer"])
    assert again.status_code == 409 and again.get_json()["error"]["code"] == "not_pending"

    # Thirty days back still counts at once; the street's own late record counts at once.
    assert meeting(client, headers["sec_a"], orgs["a"], today - timedelta(days=30)).get_json()["status"] == "counted"
    assert meeting(client, headers["officer"], orgs["b"], held).get_json()["status"] == "counted"


def test_a_record_is_corrected_by_a_new_record_and_never_edited(client, world):
    orgs, _, headers = world
    today = service.today()
    period = campaign(client, world, today.year)
    first = meeting(client, headers["sec_a"], orgs["a"], today).get_json()
    counted = points(client, world, period, orgs["a"], "R2")
    assert counted > 0
    url = f"/api/v1/meetings/{first['id']}/corrections"
    fixed = {"kind": "joint", "held_on": today.isoformat(), "topic": "辖区单位党建联席会议", "attendance": 18}
    no_note = client.post(url, headers=headers["sec_a"], json=fixed)
    assert no_note.status_code == 422 and "note" in no_note.get_json()["error"]["fields"]
    corrected = client.post(url, headers=headers["sec_a"], json={**fixed, "note": "参会人数误填，应为 18 人"})
    assert corrected.status_code == 201, corrected.get_json()
    second = corrected.get_json()
    # Same meeting and date: it keeps counting, with the first record's reason for no evidence.
    assert (second["status"], second["replaces_id"], second["attendance"]) == ("counted", first["id"], 18)
    assert second["no_evidence_reason"] == "纸质纪要存档"
    assert points(client, world, period, orgs["a"], "R2") == counted
    listed = {m["id"]: m for m in client.get(f"/api/v1/orgs/{orgs['a'].id}/meetings",
                                             headers=headers["sec_a"]).get_json()}
    assert listed[first["id"]]["status"] == "corrected" and listed[first["id"]]["attendance"] == 12
    entry = ledger(client, world, period)[-1]
    assert entry["kind"] == "meeting_corrected" and entry["data"]["replaces"]["id"] == first["id"]
    assert entry["data"]["meeting"]["attendance"] == 18 and entry["data"]["note"] == "参会人数误填，应为 18 人"
    stale = client.post(url, headers=headers["sec_a"], json={**fixed, "note": "再改一次"})
    assert stale.status_code == 409 and stale.get_json()["error"]["code"] == "meeting_closed"

    # Moved far back, the correction is judged like a new record: it waits for the street.
    held = today - timedelta(days=45)
    moved = client.post(f"/api/v1/meetings/{second['id']}/corrections", headers=headers["sec_a"], json={
        **fixed, "held_on": held.isoformat(), "note": "日期记错，实为上月召开"})
    assert moved.status_code == 201 and moved.get_json()["status"] == "pending"
    if held.year == today.year:
        assert points(client, world, period, orgs["a"], "R2") < counted
        assert events(client, world, period, orgs["a"])[-1]["cause"].startswith("更正党建联席会议")

    # The database itself refuses an edit of what a record says, and reviving a replaced one.
    for statement in (f"UPDATE meetings SET attendance = 99 WHERE id = {second['id']}",
                      f"UPDATE meetings SET status = 'counted' WHERE id = {first['id']}"):
        with pytest.raises(sa.exc.DatabaseError):
            db.session.execute(sa.text(statement))
        db.session.rollback()


def test_the_street_strikes_a_record_with_a_reason(client, world):
    orgs, _, headers = world
    today = service.today()
    period = campaign(client, world, today.year)
    record = meeting(client, headers["sec_a"], orgs["a"], today).get_json()
    assert points(client, world, period, orgs["a"], "R2") > 0
    url = f"/api/v1/meetings/{record['id']}/strike"
    assert client.post(url, headers=headers["sec_a"], json={"reason": "自己删掉"}).status_code == 403
    bare = client.post(url, headers=headers["officer"], json={})
    assert bare.status_code == 422 and "reason" in bare.get_json()["error"]["fields"]
    struck = client.post(url, headers=headers["officer"], json={"reason": "实地核查：当日未召开，纪要系补写"})
    assert struck.status_code == 200 and struck.get_json()["status"] == "struck"
    assert points(client, world, period, orgs["a"], "R2") == 0
    assert events(client, world, period, orgs["a"])[-1]["cause"].startswith("街道删除党建联席会议")
    entry = ledger(client, world, period)[-1]
    assert entry["kind"] == "meeting_struck" and entry["data"]["reason"] == "实地核查：当日未召开，纪要系补写"
    for path, body in (("strike", {"reason": "再删一次"}), ("corrections", {
            "kind": "joint", "held_on": today.isoformat(), "topic": "补记", "attendance": 3, "note": "补记"})):
        closed = client.post(f"/api/v1/meetings/{record['id']}/{path}", headers=headers["officer"], json=body)
        assert closed.status_code == 409 and closed.get_json()["error"]["code"] == "meeting_closed"
    # The street sees the campaign's records; a secretary does not.
    listed = client.get(f"/api/v1/periods/{period['id']}/meetings", headers=headers["officer"]).get_json()
    assert [(m["id"], m["strike_reason"]) for m in listed] == [(record["id"], "实地核查：当日未召开，纪要系补写")]
    assert client.get(f"/api/v1/periods/{period['id']}/meetings", headers=headers["sec_a"]).status_code == 403
    book = load_workbook(io.BytesIO(client.get(f"/api/v1/periods/{period['id']}/export.xlsx",
                                               headers=headers["officer"]).data))
    rows = list(book["组织生活记录"].iter_rows(values_only=True))
    assert rows[1][0] == orgs["a"].name and rows[1][6:] == ("街道已删除", "纸质纪要存档", None,
                                                             "实地核查：当日未召开，纪要系补写")


def test_a_campaign_started_later_ledgers_the_years_records_so_far(client, world):
    orgs, _, headers = world
    today = service.today()
    made = meeting(client, headers["sec_a"], orgs["a"], today).get_json()
    period = campaign(client, world, today.year, to="open")
    start = [e for e in ledger(client, world, period) if e["kind"] == "meetings_at_start"]
    assert [(e["org_id"], [m["id"] for m in e["data"]["meetings"]]) for e in start] == [(orgs["a"].id, [made["id"]])]


@pytest.mark.slow
def test_two_corrections_sent_together_make_one_record(client, world, app):
    """Two corrections of one record at the same moment: one is taken, the other refused, and
    exactly one record replaces it (row lock, and the unique replaces_id as the safety net)."""
    orgs, _, headers = world
    today = service.today()
    campaign(client, world, today.year)
    record = meeting(client, headers["sec_a"], orgs["a"], today).get_json()
    db.session.close()
    start_line, answers = threading.Barrier(2), []

    def correct(n):
        own = app.test_client()
        start_line.wait(timeout=10)
        answers.append(own.post(f"/api/v1/meetings/{record['id']}/corrections", headers=headers["sec_a"], json={
            "kind": "joint", "held_on": today.isoformat(), "topic": f"更正 {n}", "attendance": 10 + n,
            "note": f"第 {n} 次更正"}))

    threads = [threading.Thread(target=correct, args=(n,)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert sorted(a.status_code for a in answers) == [201, 409]
    refused = next(a for a in answers if a.status_code == 409).get_json()["error"]["code"]
    assert refused in ("meeting_closed", "already_corrected")
    replacing = db.session.scalars(sa.select(Meeting).where(Meeting.replaces_id == record["id"])).all()
    assert len(replacing) == 1


def test_meetings_page_takes_a_file_and_the_street_confirms_and_strikes(app, client, world):
    orgs, _, headers = world
    today = service.today()
    held = today - timedelta(days=40)
    period = campaign(client, world, held.year)
    secretary = logged_in(app, "sec_a")
    url = f"/h5/rating/orgs/{orgs['a'].id}/meetings"
    token = csrf_from(secretary.get(url))
    form = {"csrf_token": token, "kind": "joint", "topic": "共建项目推进会", "held_on": held.isoformat(),
            "attendance": "12"}
    refused = secretary.post(url, data=form)
    assert refused.status_code == 422 and "说明没有佐证材料的原因" in refused.get_data(as_text=True)
    assert "共建项目推进会" in refused.get_data(as_text=True)
    saved = secretary.post(url, data={**form, "evidence_file": (io.BytesIO(photo()), "纪要.jpg")},
                           content_type="multipart/form-data")
    assert saved.status_code == 302, saved.get_data(as_text=True)
    page = secretary.get(url).get_data(as_text=True)
    assert "纪要.jpg" in page and "待街道确认" in page and "确认计入" not in page
    record = db.session.scalar(sa.select(Meeting))

    officer = logged_in(app, "officer")
    overview = officer.get(f"/h5/rating/{period['id']}").get_data(as_text=True)
    assert "1 条待确认" in overview
    listing = officer.get(f"/h5/rating/{period['id']}/meetings")
    assert "共建项目推进会" in listing.get_data(as_text=True) and "确认计入" in listing.get_data(as_text=True)
    back = f"/h5/rating/{period['id']}/meetings"
    confirmed = officer.post(f"/h5/rating/meetings/{record.id}/confirm",
                             data={"csrf_token": csrf_from(listing), "back": back})
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == back
    assert "已确认，该记录计入评分" in officer.get(back).get_data(as_text=True)
    assert points(client, world, period, orgs["a"], "R2") > 0
    no_reason = officer.post(f"/h5/rating/meetings/{record.id}/strike",
                             data={"csrf_token": csrf_from(listing), "back": back, "reason": ""})
    assert "app-flash_warn" in officer.get(no_reason.headers["Location"]).get_data(as_text=True)
    officer.post(f"/h5/rating/meetings/{record.id}/strike",
                 data={"csrf_token": csrf_from(listing), "back": back, "reason": "纪要与签到表不符"})
    shown = secretary.get(url).get_data(as_text=True)
    assert "街道已删除" in shown and "纪要与签到表不符" in shown
    assert points(client, world, period, orgs["a"], "R2") == 0
    # The secretary's correction form: a changed topic, the file kept from before.
    other = meeting(client, headers["sec_a"], orgs["a"], today).get_json()
    correct_url = f"/h5/rating/meetings/{other['id']}/correct"
    form_page = secretary.get(correct_url)
    form_html = form_page.get_data(as_text=True)
    assert "辖区单位党建联席会议" in form_html and 'name="note"' in form_html and "不换则沿用原记录" in form_html
    fixed = secretary.post(correct_url, data={"csrf_token": csrf_from(form_page), "kind": "joint",
                                              "held_on": today.isoformat(), "topic": "辖区单位党建联席会（第二次）",
                                              "attendance": "12", "note": "议题写错"})
    assert fixed.status_code == 302
    assert "已更正" in secretary.get(url).get_data(as_text=True)
