"""Object-level authorisation, from the route map: every API route is classified below, and
no one outside 和平社区 — anonymous, a resident, a party member or the secretary of 幸福社区 —
gets a 2xx for one of 和平社区's objects. A new route fails test_every_route_is_classified
until it is added here.

Each object of 和平社区 the routes name is a real row (the demo data and a few more made
through the API by 和平社区's own staff), and each request carries a valid body, so a missing
check would answer 2xx rather than 422.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from PIL import Image

from backend.demo import DEMO_PASSWORD, load_demo
from backend.double_reports.models import DoubleReport
from backend.extensions import db
from backend.orgs.models import Org
from backend.people.models import Membership, Person
from backend.qrcodes.models import QrCode
from backend.rating.models import RatingPeriod
from backend.services.models import ServiceItem
from backend.teams.models import Team
from tests import factories as f

NOW = datetime.now(UTC)
ATTACKERS = ("anonymous", "resident", "party_member", "secretary")


@dataclass(frozen=True)
class Target:
    """A request naming an object of 和平社区: nobody outside it may get a 2xx."""

    url: str
    body: dict | None = None
    files: bool = False
    #: Attackers for whom a 2xx is by design, and why.
    allowed: tuple[str, ...] = ()
    why: str = ""


@dataclass(frozen=True)
class Listing:
    """A list one may read: 和平社区's object `hidden` must not be in it (items matched by `key`)."""

    url: str
    hidden: str
    key: str = "id"
    allowed: tuple[str, ...] = ()
    why: str = ""


@dataclass(frozen=True)
class Open:
    """Not an object of one community: public by design, or the caller's own. Says why."""

    reason: str
    ids: dict = field(default_factory=dict)


WISH = "/api/v1/wishes/{wish}"
#: A campaign is the street's: staff anywhere in the street see that it runs (its name and
#: phase); its cards and appeals only those who may see them.
STREET_CAMPAIGN = "the street's campaign"
CARD = "/api/v1/periods/{period}/scorecards/{heping}"
OWN_CARD = "/api/v1/periods/{own_period}/scorecards/{heping}"

ROUTES: dict[tuple[str, str], Target | Listing | Open] = {
    # --- sign-in, the caller's own, documents --------------------------------------------
    ("POST", "/api/v1/auth/login"): Open("signing in"),
    ("POST", "/api/v1/auth/logout"): Open("the caller's own token"),
    ("GET", "/api/v1/auth/wechat/authorize"): Open("the start of signing in with WeChat"),
    ("GET", "/api/v1/auth/wechat/callback"): Open("WeChat's answer, checked against the browser's session"),
    ("POST", "/api/v1/auth/wechat/miniprogram"): Open("signing in from the mini-program"),
    ("GET", "/api/v1/wechat/js-config"): Open("a signature for a page URL, no data"),
    ("GET", "/api/v1/me"): Open("the caller"),
    ("GET", "/api/v1/me/notifications"): Open("the caller's inbox"),
    ("POST", "/api/v1/me/notifications/read"): Open("marks only the caller's own notifications"),
    ("POST", "/api/v1/me/calendar-feed"): Open("the caller's own feed"),
    ("DELETE", "/api/v1/me/calendar-feed"): Open("the caller's own feed"),
    ("GET", "/api/v1/me/wechat-subscriptions"): Open("the caller's own"),
    ("POST", "/api/v1/me/wechat-subscriptions"): Open("the caller's own"),
    ("GET", "/api/v1/openapi.json"): Open("the API's description"),
    ("GET", "/api/v1/docs"): Open("the API's description"),
    ("GET", "/api/v1/rubrics"): Open("the published rubrics"),
    ("GET", "/api/v1/rubrics/<code>"): Open("the published rubrics"),
    ("GET", "/api/v1/imports/template.xlsx"): Open("an empty workbook"),
    # --- public by design: what residents browse and book ----------------------------------
    ("GET", "/api/v1/activities"): Open("activities are published to every resident"),
    ("GET", "/api/v1/activities/<int:activity_id>"): Open("activities are published to every resident"),
    ("POST", "/api/v1/activities/<int:activity_id>/signups"): Open("anyone signed in may volunteer"),
    ("GET", "/api/v1/services"): Open("services are published to every resident"),
    ("GET", "/api/v1/services/<int:item_id>/slots"): Open("services are published to every resident"),
    ("POST", "/api/v1/slots/<int:slot_id>/bookings"): Open("any resident may book a service"),
    ("GET", "/api/v1/teams"): Open("volunteer teams recruit in public"),
    ("GET", "/api/v1/teams/<int:team_id>"): Open("volunteer teams recruit in public (names masked)"),
    ("POST", "/api/v1/teams/<int:team_id>/members"): Open("anyone signed in may join a team"),
    ("GET", "/api/v1/double-reports/communities"): Open("the communities one may report to"),
    ("POST", "/api/v1/double-reports"): Open("an in-service party member reports to any community"),
    ("POST", "/api/v1/wishes"): Open("anyone may write a wish through a grid's QR code"),
    ("POST", "/api/v1/wishes/by-receipts"): Open("each receipt opens only its own wish (its state and title)"),
    ("GET", "/api/v1/orgs/<int:org_id>/wish-stats"): Open("the public accountability figures (公示)"),
    ("GET", "/api/v1/orgs/<int:org_id>/micro-stats"): Open("the public figures of the three micros"),
    ("GET", "/api/v1/orgs/<int:org_id>/leaderboard"): Open("the public volunteer leaderboard (names masked)"),
    ("POST", "/api/v1/polls/<int:poll_id>/responses"): Open("the audience answers; refused below for others"),
    # --- lists: 200, without 和平社区's rows ------------------------------------------------
    ("GET", "/api/v1/orgs"): Listing("/api/v1/orgs?per_page=100", "heping_grid"),
    ("GET", "/api/v1/people"): Listing("/api/v1/people?per_page=100", "resident"),
    ("GET", "/api/v1/wishes"): Listing("/api/v1/wishes?per_page=100", "wish"),
    ("GET", "/api/v1/double-reports"): Listing("/api/v1/double-reports?per_page=100", "report"),
    ("GET", "/api/v1/polls"): Listing("/api/v1/polls?per_page=100", "poll"),
    ("GET", "/api/v1/qrcodes"): Listing("/api/v1/qrcodes?per_page=100", "qr"),
    ("GET", "/api/v1/periods"): Listing("/api/v1/periods", "own_period", allowed=("secretary",), why=STREET_CAMPAIGN),
    # --- creating something inside 和平社区 ---------------------------------------------------
    ("POST", "/api/v1/orgs"): Target("/api/v1/orgs", {"name": "新网格", "kind": "grid", "parent_id": "{heping}"}),
    ("POST", "/api/v1/people"): Target("/api/v1/people", {"name": "新居民", "home_community_id": "{heping}"}),
    ("POST", "/api/v1/qrcodes"): Target("/api/v1/qrcodes", {"purpose": "wish", "target_id": "{heping_grid}"}),
    ("POST", "/api/v1/activities"): Target("/api/v1/activities", {
        "org_id": "{heping}", "title": "楼道清扫", "location": "和平社区", "capacity": 5,
        "starts_at": (NOW + timedelta(days=2)).isoformat(), "ends_at": (NOW + timedelta(days=2, hours=2)).isoformat()}),
    ("POST", "/api/v1/services"): Target("/api/v1/services",
                                         {"org_id": "{heping}", "name": "磨刀", "category": "便民"}),
    ("POST", "/api/v1/teams"): Target("/api/v1/teams", {"org_id": "{heping}", "name": "夜巡队"}),
    ("POST", "/api/v1/polls"): Target("/api/v1/polls", {
        "org_id": "{heping}", "title": "和平社区满意度测评", "audience": "mass",
        "opens_at": NOW.isoformat(), "closes_at": (NOW + timedelta(days=3)).isoformat(),
        "questions": [{"text": "总体满意度", "kind": "rating5"}]}),
    ("POST", "/api/v1/periods"): Target("/api/v1/periods", {
        "name": "和平社区专项创评", "year": NOW.year, "rubric_code": "wuhua-2019", "org_ids": ["{heping}"]}),
    ("POST", "/api/v1/imports"): Target("/api/v1/imports?org_id={heping}&dry_run=1", files=True),
    ("GET", "/api/v1/admin/notification-deliveries"): Target("/api/v1/admin/notification-deliveries"),
    # --- orgs and people -----------------------------------------------------------------------
    ("GET", "/api/v1/orgs/<int:org_id>"): Target("/api/v1/orgs/{heping_grid}"),
    ("GET", "/api/v1/orgs/<int:org_id>/members"): Target("/api/v1/orgs/{heping}/members"),
    ("POST", "/api/v1/orgs/<int:org_id>/members"): Target("/api/v1/orgs/{heping_grid}/members",
                                                           {"person_id": "{resident}", "role": "grid_member"}),
    ("GET", "/api/v1/orgs/<int:org_id>/meetings"): Target("/api/v1/orgs/{heping}/meetings"),
    ("POST", "/api/v1/orgs/<int:org_id>/meetings"): Target("/api/v1/orgs/{heping}/meetings", {
        "kind": "joint", "held_on": NOW.date().isoformat(), "topic": "联席会议", "attendance": 9,
        "no_evidence_reason": "纪要在党群服务中心存档"}),
    ("POST", "/api/v1/orgs/<int:org_id>/meetings/evidence"): Target("/api/v1/orgs/{heping}/meetings/evidence",
                                                                   files=True),
    ("POST", "/api/v1/meetings/<int:meeting_id>/confirm"): Target("/api/v1/meetings/{meeting}/confirm"),
    ("POST", "/api/v1/meetings/<int:meeting_id>/strike"): Target("/api/v1/meetings/{meeting}/strike",
                                                                 {"reason": "会议并未召开"}),
    ("POST", "/api/v1/meetings/<int:meeting_id>/corrections"): Target("/api/v1/meetings/{meeting}/corrections", {
        "kind": "joint", "held_on": NOW.date().isoformat(), "topic": "联席会议（更正）", "attendance": 12,
        "no_evidence_reason": "纪要在党群服务中心存档", "note": "人数记错"}),
    ("GET", "/api/v1/periods/<int:period_id>/meetings"): Target("/api/v1/periods/{own_period}/meetings"),
    ("PUT", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/criteria/<code>/override"): Target(
        CARD + "/criteria/S1/override", {"points": 1, "note": "入户核实后核定", "evidence_url": "https://example.cn/s.pdf"}),
    ("DELETE", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/criteria/<code>/override"): Target(
        CARD + "/criteria/S1/override", {"note": "撤销核定"}),
    ("PUT", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/quota-exception"): Target(
        CARD + "/quota-exception", {"reason": "该社区承担全市试点任务"}),
    ("DELETE", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/quota-exception"): Target(
        CARD + "/quota-exception", {"reason": "试点任务已经结束"}),
    ("PUT", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/review-opinion"): Target(
        CARD + "/review-opinion", {"stars": 4, "opinion": "组织建设扎实，服务有待加强"}),
    ("POST", "/api/v1/wishes/<int:wish_id>/uphold-rejection"): Target(WISH + "/uphold-rejection",
                                                                      {"note": "不属于微心愿"}),
    ("GET", "/api/v1/wishes/rejections"): Listing("/api/v1/wishes/rejections?per_page=100", "wish"),
    ("GET", "/api/v1/people/<int:person_id>"): Target("/api/v1/people/{resident}"),
    ("GET", "/api/v1/people/<int:person_id>/hours"): Target("/api/v1/people/{volunteer}/hours"),
    ("POST", "/api/v1/people/<int:person_id>/binding-codes"): Target("/api/v1/people/{resident}/binding-codes"),
    # --- QR codes --------------------------------------------------------------------------------
    ("GET", "/api/v1/qrcodes/<int:qr_id>"): Target("/api/v1/qrcodes/{qr}"),
    ("GET", "/api/v1/qrcodes/<int:qr_id>.png"): Target("/api/v1/qrcodes/{qr}.png"),
    ("GET", "/api/v1/qrcodes/<int:qr_id>.svg"): Target("/api/v1/qrcodes/{qr}.svg"),
    ("POST", "/api/v1/qrcodes/<int:qr_id>/revoke"): Target("/api/v1/qrcodes/{qr}/revoke"),
    # --- a wish --------------------------------------------------------------------------------
    ("GET", "/api/v1/wishes/<int:wish_id>"): Target(WISH),
    ("POST", "/api/v1/wishes/<int:wish_id>/claim"): Target(WISH + "/claim"),
    ("POST", "/api/v1/wishes/<int:wish_id>/assign"): Target(WISH + "/assign", {"person_id": "{volunteer}"}),
    ("POST", "/api/v1/wishes/<int:wish_id>/publish"): Target(WISH + "/publish"),
    ("POST", "/api/v1/wishes/<int:wish_id>/reject"): Target(WISH + "/reject", {"reason": "不属于社区服务范围"}),
    ("POST", "/api/v1/wishes/<int:wish_id>/release"): Target(WISH + "/release", {"note": "退回"}),
    ("POST", "/api/v1/wishes/<int:wish_id>/fulfil"): Target(WISH + "/fulfil", {"note": "已办结"}),
    ("POST", "/api/v1/wishes/<int:wish_id>/confirm"): Target(WISH + "/confirm", {"receipt": "x" * 32, "rating": 5}),
    ("POST", "/api/v1/wishes/<int:wish_id>/cancel"): Target(WISH + "/cancel", {"receipt": "x" * 32}),
    ("POST", "/api/v1/wishes/<int:wish_id>/reopen"): Target(WISH + "/reopen", {"receipt": "x" * 32, "note": "没办好"}),
    # --- activities, bookings, services, teams, double reports -----------------------------------
    ("POST", "/api/v1/activities/<int:activity_id>/checkin"): Target("/api/v1/activities/{activity}/checkin",
                                                                     {"qr": "{checkin_code}"}),
    ("DELETE", "/api/v1/signups/<int:booking_id>"): Target("/api/v1/signups/{signup}"),
    ("POST", "/api/v1/signups/<int:booking_id>/checkout-undo"): Target("/api/v1/signups/{signup}/checkout-undo", {}),
    ("POST", "/api/v1/services/<int:item_id>/slots"): Target("/api/v1/services/{service}/slots", {
        "starts_at": (NOW + timedelta(days=5)).isoformat(), "ends_at": (NOW + timedelta(days=5, hours=1)).isoformat(),
        "capacity": 3}),
    ("POST", "/api/v1/bookings/<int:booking_id>/complete"): Target("/api/v1/bookings/{service_booking}/complete"),
    ("POST", "/api/v1/bookings/<int:booking_id>/rate"): Target("/api/v1/bookings/{service_booking}/rate",
                                                               {"receipt": "x" * 32, "rating": 5}),
    ("PATCH", "/api/v1/teams/<int:team_id>"): Target("/api/v1/teams/{team}", {"description": "改了"}),
    ("DELETE", "/api/v1/teams/<int:team_id>/members/<int:person_id>"): Target("/api/v1/teams/{team}/members/{lead}"),
    ("GET", "/api/v1/double-reports/<int:report_id>"): Target("/api/v1/double-reports/{report}"),
    ("POST", "/api/v1/double-reports/<int:report_id>/confirm"): Target("/api/v1/double-reports/{report}/confirm"),
    ("POST", "/api/v1/double-reports/<int:report_id>/reject"): Target("/api/v1/double-reports/{report}/reject",
                                                                      {"reason": "信息不实"}),
    # --- polls ------------------------------------------------------------------------------------
    ("GET", "/api/v1/polls/<int:poll_id>"): Open("a poll's questions are public: residents answer without an account"),
    ("POST", "/api/v1/polls/<int:poll_id>/open"): Target("/api/v1/polls/{poll}/open"),
    ("POST", "/api/v1/polls/<int:poll_id>/close"): Target("/api/v1/polls/{poll}/close"),
    ("POST", "/api/v1/polls/<int:poll_id>/codes"): Target("/api/v1/polls/{poll}/codes", {"count": 2}),
    ("GET", "/api/v1/polls/<int:poll_id>/flagged"): Target("/api/v1/polls/{poll}/flagged"),
    ("GET", "/api/v1/polls/<int:poll_id>/results"): Target("/api/v1/polls/{poll}/results"),
    # Answers have random ids up to 2^53: their route takes ids beyond the INTEGER bound.
    ("POST", "/api/v1/poll-responses/<int(max=9007199254740991):response_id>/review"): Target(
        "/api/v1/poll-responses/{response}/review",
                                                                        {"decision": "exclude"}),
    # --- the rating: a campaign of 和平社区 alone, and 和平社区's card in the street's campaign --------
    ("GET", "/api/v1/periods/<int:period_id>"): Target("/api/v1/periods/{own_period}", allowed=("secretary",),
                                                       why=STREET_CAMPAIGN),
    ("POST", "/api/v1/periods/<int:period_id>/advance"): Target("/api/v1/periods/{own_period}/advance",
                                                                {"from": "appeal"}),
    ("GET", "/api/v1/periods/<int:period_id>/appeals"): Listing("/api/v1/periods/{own_period}/appeals", "appeal"),
    ("GET", "/api/v1/periods/<int:period_id>/export.xlsx"): Target("/api/v1/periods/{own_period}/export.xlsx"),
    ("GET", "/api/v1/periods/<int:period_id>/ledger"): Target("/api/v1/periods/{own_period}/ledger"),
    ("GET", "/api/v1/periods/<int:period_id>/ledger/verify"): Target("/api/v1/periods/{own_period}/ledger/verify"),
    ("GET", "/api/v1/periods/<int:period_id>/scorecards"): Listing("/api/v1/periods/{own_period}/scorecards",
                                                                   "heping", key="org_id"),
    ("GET", "/api/v1/periods/<int:period_id>/stream"): Target("/api/v1/periods/{own_period}/stream"),
    ("GET", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>"): Target(CARD),
    ("GET", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/events"): Target(CARD + "/events"),
    ("GET", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/stream"): Target(CARD + "/stream"),
    ("PUT", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/criteria/<code>"): Target(
        CARD + "/criteria/G3", {"points": 3, "note": "按实际评分"}),
    ("PUT", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/self-report"): Target(
        CARD + "/self-report", {"text": "本年度自评：组织健全，服务到位，群众满意。" * 2}),
    ("POST", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/evidence"): Target(CARD + "/evidence",
                                                                                          files=True),
    ("GET", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/problems"): Target(CARD + "/problems"),
    ("POST", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/problems"): Target(CARD + "/problems", {
        "problem": "功能型党小组未建立", "measure": "按楼栋建立", "owner": "李书记", "deadline": "2027-03-31"}),
    ("POST", "/api/v1/periods/<int:period_id>/scorecards/<int:org_id>/appeals"): Target(
        OWN_CARD + "/appeals", {"reasons": "联席会记录漏报，补充会议纪要"}),
    ("POST", "/api/v1/appeals/<int:appeal_id>/decide"): Target("/api/v1/appeals/{appeal}/decide",
                                                               {"decision": "reject", "note": "材料不足"}),
    ("PATCH", "/api/v1/problems/<int:problem_id>"): Target("/api/v1/problems/{problem}", {"status": "done"}),
    ("GET", "/api/v1/evidence/<int:evidence_id>"): Target("/api/v1/evidence/{evidence}"),
}


def _api_rules(app) -> set[tuple[str, str]]:
    return {(method, rule.rule) for rule in app.url_map.iter_rules() if rule.rule.startswith("/api/")
            for method in rule.methods - {"HEAD", "OPTIONS"}}


def test_every_route_is_classified(app):
    rules = _api_rules(app)
    assert sorted(rules - set(ROUTES)) == [], "API routes missing from the authorisation matrix"
    assert sorted(set(ROUTES) - rules) == [], "routes in the matrix that no longer exist"


def _photo() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), "red").save(out, "JPEG")
    return out.getvalue()


def _ok(response, what):
    assert response.status_code < 300, (what, response.status_code, response.get_json())
    return response.get_json()


def _one(stmt):
    return db.session.scalar(stmt.limit(1))


@pytest.fixture
def heping(app, client):
    """和平社区's objects (demo data, and more made by its own staff) and one attacker of each kind."""
    load_demo()
    db.session.commit()
    ids = {"heping": _one(sa.select(Org.id).where(Org.name == "和平社区"))}
    ids["heping_grid"] = _one(sa.select(Org.id).where(Org.parent_id == ids["heping"]).order_by(Org.id))
    xingfu_grid = db.session.get(Org, _one(sa.select(Org.id).where(Org.parent_id == _one(
        sa.select(Org.id).where(Org.name == "幸福社区"))).order_by(Org.id)))
    f.person("赵居民", username="xingfu_resident", role="resident", org=xingfu_grid)
    login = {name: f.login(client, name, DEMO_PASSWORD) for name in ("admin", "jiedao", "heping", "heping_g1",
                                                                      "heping_dy1")}
    ids["resident"] = _one(sa.select(Membership.person_id).where(Membership.org_id == ids["heping_grid"],
                                                                 Membership.role == "resident"))
    ids["volunteer"] = _one(sa.select(Person.id).where(Person.username == "heping_dy2"))
    ids["lead"] = _one(sa.select(Person.id).where(Person.username == "heping_dy1"))
    ids["qr"] = _one(sa.select(QrCode.id).where(QrCode.target_id == ids["heping_grid"]))
    ids["team"] = _one(sa.select(Team.id).where(Team.org_id == ids["heping"]))
    ids["report"] = _one(sa.select(DoubleReport.id))
    ids["service"] = _one(sa.select(ServiceItem.id).where(ServiceItem.org_id == ids["heping"]))
    ids["period"] = _one(sa.select(RatingPeriod.id))

    qr_code = db.session.get(QrCode, ids["qr"]).code
    wish = _ok(client.post("/api/v1/wishes", json={
        "qr": qr_code, "title": "帮忙换灯泡", "content": "楼道灯坏了，老人行动不便", "category": "生活帮扶",
        "contact_name": "王大妈", "contact_phone": "13912345678", "consent": True}), "wish")
    ids["wish"] = wish["id"]
    activity = _ok(client.get(f"/api/v1/activities?org_id={ids['heping']}&per_page=100",
                              headers=login["heping"]), "activities")["items"]
    ids["activity"] = next(a["id"] for a in activity if a["title"] == "社区健康义诊")
    ids["signup"] = _ok(client.post(f"/api/v1/activities/{ids['activity']}/signups",
                                    headers=f.login(client, "heping_dy2", DEMO_PASSWORD)), "signup")["id"]
    code = _ok(client.post("/api/v1/qrcodes", headers=login["heping"],
                           json={"purpose": "checkin", "target_id": ids["activity"]}), "checkin code")
    ids["checkin_code"] = code["code"]
    slot = _ok(client.get(f"/api/v1/services/{ids['service']}/slots", headers=login["heping"]), "slots")
    slot_id = (slot["items"] if isinstance(slot, dict) else slot)[0]["id"]
    ids["service_booking"] = _ok(client.post(f"/api/v1/slots/{slot_id}/bookings", json={
        "contact_name": "李奶奶", "contact_phone": "13700001111", "consent": True}), "booking")["id"]
    poll = _ok(client.post("/api/v1/polls", headers=login["heping"], json={
        "org_id": ids["heping"], "title": "和平社区党员测评", "audience": "party_member",
        "opens_at": (NOW - timedelta(hours=1)).isoformat(), "closes_at": (NOW + timedelta(days=3)).isoformat(),
        "questions": [{"text": "对支部工作的满意度", "kind": "rating5"}]}), "poll")
    ids["poll"] = poll["id"]
    client.post(f"/api/v1/polls/{ids['poll']}/open", headers=login["heping"])
    ids["response"] = _ok(client.post(f"/api/v1/polls/{ids['poll']}/responses", headers=login["heping_dy1"], json={
        "answers": [{"question_id": poll["questions"][0]["id"], "value": 5}]}), "response")["id"]
    ids["meeting"] = _ok(client.post(f"/api/v1/orgs/{ids['heping']}/meetings", headers=login["heping"], json={
        "kind": "joint", "held_on": NOW.date().isoformat(), "topic": "驻区单位联席会议", "attendance": 9,
        "no_evidence_reason": "纪要在党群服务中心存档"}), "meeting")["id"]
    card = f"/api/v1/periods/{ids['period']}/scorecards/{ids['heping']}"
    ids["evidence"] = _ok(client.post(f"{card}/evidence", headers=login["heping"], content_type="multipart/form-data",
                                      data={"file": (io.BytesIO(_photo()), "纪要.jpg")}), "evidence")["id"]
    ids["problem"] = _ok(client.post(f"{card}/problems", headers=login["heping"], json={
        "problem": "功能型党小组未建立", "measure": "按楼栋建立", "owner": "李书记", "deadline": "2027-03-31"}),
        "problem")["id"]
    own = _ok(client.post("/api/v1/periods", headers=login["jiedao"], json={
        "name": "和平社区专项创评", "year": NOW.year, "rubric_code": "wuhua-2019", "org_ids": [ids["heping"]]}),
        "own period")
    ids["own_period"] = own["id"]
    for left in ("open", "self_evaluation", "review", "audit"):
        _ok(client.post(f"/api/v1/periods/{own['id']}/advance", headers=login["jiedao"], json={"from": left}),
            f"advance from {left}")
    ids["appeal"] = _ok(client.post(f"/api/v1/periods/{own['id']}/scorecards/{ids['heping']}/appeals",
                                    headers=login["heping"], json={"reasons": "联席会记录漏报，补充会议纪要"}),
                        "appeal")["id"]
    return ids


ATTACKER_LOGINS = {"resident": "xingfu_resident", "party_member": "xingfu_dy2", "secretary": "xingfu"}


def _fill(value, ids):
    """A body with "{name}" placeholders: one that is the whole value is the id itself."""
    if isinstance(value, str):
        return ids[value[1:-1]] if value[:1] == "{" and value[-1:] == "}" else value
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    return value


def _send(client, method, target: Target, ids, headers):
    url = target.url.format(**ids)
    if target.files:
        return client.open(url, method=method, headers=headers, content_type="multipart/form-data",
                           data={"file": (io.BytesIO(_photo()), "x.jpg")})
    return client.open(url, method=method, headers=headers, json=_fill(target.body, ids) if target.body else None)


@pytest.mark.parametrize("attacker", ATTACKERS)
def test_no_one_outside_gets_another_communitys_object(client, heping, attacker):
    headers = {} if attacker == "anonymous" else f.login(client, ATTACKER_LOGINS[attacker],
                                                         f.PASSWORD if attacker == "resident" else DEMO_PASSWORD)
    leaks = []
    for (method, rule), case in sorted(ROUTES.items()):
        if isinstance(case, Target) and attacker not in case.allowed:
            response = _send(client, method, case, heping, headers)
            if response.status_code < 300:
                leaks.append(f"{method} {rule}: {response.status_code}")
            response.close()
        elif isinstance(case, Listing) and attacker not in case.allowed:
            response = client.get(case.url.format(**heping), headers=headers)
            body = response.get_json() if response.status_code < 300 else []
            items = body["items"] if isinstance(body, dict) else body
            if heping[case.hidden] in {item[case.key] for item in items}:
                leaks.append(f"{method} {rule}: lists {case.hidden}")
    assert not leaks, "\n".join(leaks)
