"""The demo data set: one street, three communities, their grids and people. Idempotent."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import sqlalchemy as sa

from backend.activities.models import Activity
from backend.activities.service import check_out
from backend.bookings import service as bookings
from backend.bookings.models import Booking, BookingStatus
from backend.core.timeutil import local_zone
from backend.double_reports import service as double_reports
from backend.double_reports.models import DoubleReport
from backend.extensions import db
from backend.orgs.models import Org
from backend.orgs.service import create_org
from backend.people.actors import load_actor
from backend.people.models import Membership, Person
from backend.people.service import add_membership, create_person
from backend.qrcodes.models import QrPurpose
from backend.qrcodes.service import ensure_code
from backend.rating import service as rating
from backend.rating.models import MeetingKind, RatingPeriod
from backend.services import service as services
from backend.services.models import ServiceItem
from backend.teams.models import Team
from backend.teams.service import create_team

DEMO_PASSWORD = "sanwei2026"

STREET = "东湖街道"
#: community → (secretary, [(grid, leader, grid member)], [party members], [residents])
#: A person is (username or None, name, phone, flags).
COMMUNITIES = {
    "和平社区": {
        "secretary": ("heping", "李红梅", "13800001001"),
        "grids": [("第一网格", ("heping_g1", "张建华", "13800001011")),
                  ("第二网格", ("heping_g2", "王秀英", "13800001012")),
                  ("第三网格", ("heping_g3", "赵国强", "13800001013"))],
        "party": [("heping_dy1", "刘志刚", "13800001021", {"is_in_service": True, "work_unit": "市供电公司"}),
                  ("heping_dy2", "陈淑芬", "13800001022", {}),
                  ("heping_dy3", "孙立军", "13800001023", {"is_in_service": True, "work_unit": "区人民医院"}),
                  ("heping_dy4", "周晓燕", "13800001024", {"is_mobile": True})],
        "residents": [("吴桂兰", "13800001031"), ("郑海涛", None), ("冯玉珍", "13800001033")],
    },
    "幸福社区": {
        "secretary": ("xingfu", "黄丽娟", "13800002001"),
        "grids": [("第一网格", ("xingfu_g1", "林建军", "13800002011")),
                  ("第二网格", ("xingfu_g2", "何美玲", "13800002012"))],
        "party": [("xingfu_dy1", "高志伟", "13800002021", {"is_in_service": True, "work_unit": "市第二中学"}),
                  ("xingfu_dy2", "罗淑华", "13800002022", {})],
        "residents": [("马春花", "13800002031"), ("梁文斌", None)],
    },
    "光明社区": {
        "secretary": ("guangming", "徐卫东", "13800003001"),
        "grids": [("第一网格", ("guangming_g1", "宋丽萍", "13800003011")),
                  ("第二网格", ("guangming_g2", "谢永明", "13800003012")),
                  ("第三网格", ("guangming_g3", "韩秀兰", "13800003013"))],
        "party": [("guangming_dy1", "唐建平", "13800003021", {"is_in_service": True, "work_unit": "区税务局"}),
                  ("guangming_dy2", "曹玉梅", "13800003022", {})],
        "residents": [("彭德福", "13800003031"), ("蒋小红", None)],
    },
}


def _org(name: str, kind: str, parent: Org | None) -> Org:
    found = db.session.scalar(sa.select(Org).where(
        Org.name == name, Org.parent_id == parent.id if parent else Org.parent_id.is_(None)))
    return found or create_org(name, kind, parent)


def _person(username: str | None, name: str, phone: str | None, org: Org, **attrs) -> Person:
    if username:
        found = db.session.scalar(sa.select(Person).where(Person.username == username))
    else:  # residents have no login: the same name in the same org is the same person
        found = db.session.scalar(sa.select(Person).join(Membership).where(
            Person.name == name, Membership.org_id == org.id))
    if found:
        return found
    return create_person(name=name, username=username, password=DEMO_PASSWORD if username else None,
                         phone=phone, **attrs)


def _grant(person: Person, org: Org | None, role: str) -> None:
    held = any(m.role == role and m.org_id == (org.id if org else None) for m in person.memberships)
    if not held:
        add_membership(person, org, role)


def load_demo() -> list[tuple[str, str, str]]:
    """Create what is missing; return (username, name, what they are) for every login."""
    accounts: list[tuple[str, str, str]] = []

    def login(person: Person, what: str) -> None:
        if person.username:
            accounts.append((person.username, person.name, what))

    street = _org(STREET, "street", None)
    admin = db.session.scalar(sa.select(Person).where(Person.username == "admin")) or create_person(
        name="平台管理员", username="admin", password=DEMO_PASSWORD)
    _grant(admin, None, "admin")
    login(admin, "系统管理员")
    officer = _person("jiedao", "王建国", "13800000001", street)
    _grant(officer, street, "street_officer")
    login(officer, f"{STREET} 街道工作人员")

    for community_name, spec in COMMUNITIES.items():
        community = _org(community_name, "community", street)
        username, name, phone = spec["secretary"]
        secretary = _person(username, name, phone, community, is_party_member=True,
                            home_community_id=community.id)
        _grant(secretary, community, "secretary")
        _grant(secretary, community, "party_member")
        login(secretary, f"{community_name} 书记")
        grids = []
        for grid_name, (username, name, phone) in spec["grids"]:
            grid = _org(grid_name, "grid", community)
            grids.append(grid)
            leader = _person(username, name, phone, grid, is_party_member=True, home_community_id=community.id)
            _grant(leader, grid, "grid_leader")
            _grant(leader, community, "party_member")
            login(leader, f"{community_name}{grid_name} 网格长")
            ensure_code(QrPurpose.wish.value, grid.id, grid)
        for i, (username, name, phone, flags) in enumerate(spec["party"]):
            member = _person(username, name, phone, community, is_party_member=True,
                             home_community_id=community.id, **flags)
            _grant(member, community, "party_member")
            _grant(member, grids[i % len(grids)], "volunteer")
            kind = "在职党员" if flags.get("is_in_service") else ("流动党员" if flags.get("is_mobile") else "党员")
            login(member, f"{community_name} {kind}")
        for i, (name, phone) in enumerate(spec["residents"]):
            grid = grids[i % len(grids)]
            resident = _person(None, name, phone, grid)
            _grant(resident, grid, "resident")
    _micro_power(street, accounts)
    _campaign(street, officer)
    return accounts


def _at(days: int, hour: int) -> datetime:
    """A local time `days` from today at `hour`:00."""
    today = datetime.now(local_zone()).date()
    return datetime.combine(today + timedelta(days=days), time(hour), local_zone())


def _past_activity(org: Org, title: str, usernames: list[str], *, days_ago: int, hours: int) -> None:
    """An activity already held, its volunteers checked in and out, their hours in the ledger."""
    if db.session.scalar(sa.select(Activity.id).where(Activity.org_id == org.id, Activity.title == title)):
        return
    start = _at(-days_ago, 9)
    slot = bookings.create_slot(org_id=org.id, starts_at=start, ends_at=start + timedelta(hours=hours), capacity=10)
    activity = Activity(org_id=org.id, slot_id=slot.id, title=title, location=f"{org.name}各楼栋")
    db.session.add(activity)
    for username in usernames:
        person = db.session.scalar(sa.select(Person).where(Person.username == username))
        booking = Booking(slot_id=slot.id, person_id=person.id, status=BookingStatus.attended.value,
                          confirmed_at=start - timedelta(days=2), checked_in_at=start)
        db.session.add(booking)
        db.session.flush()
        check_out(activity, booking, slot.ends_at)


def _micro_power(street: Org, accounts: list) -> None:
    """和平社区's team, a co-organised activity, a service with times, and a double report waiting."""
    heping = _org("和平社区", "community", street)
    grid = _org("第一网格", "grid", heping)
    hospital = _org("区人民医院", "unit", street)
    lead = db.session.scalar(sa.select(Person).where(Person.username == "heping_dy1"))
    team = db.session.scalar(sa.select(Team).where(Team.org_id == heping.id, Team.name == "红马甲志愿服务队"))
    if team is None:
        team = create_team(heping, name="红马甲志愿服务队", leader=lead, grid=grid, skills="理发,陪诊,家电维修",
                           description="和平社区党员志愿者组成，每周六上午在社区活动室服务。")
    held = sa.select(Activity.id).where(Activity.org_id == heping.id, Activity.title == "社区健康义诊")
    if not db.session.scalar(held):
        slot = bookings.create_slot(org_id=heping.id, starts_at=_at(3, 9), ends_at=_at(3, 11), capacity=8)
        db.session.add(Activity(org_id=heping.id, slot_id=slot.id, team=team, partner_unit=hospital,
                                title="社区健康义诊", location="和平社区活动室", skills="医疗,陪诊",
                                description="与区人民医院共建：量血压、测血糖、用药咨询，志愿者负责引导和登记。",
                                created_by_id=lead.id))
    _past_activity(heping, "楼道清理与消防通道整治", ["heping_dy1", "heping_dy2", "heping_g1", "heping_dy3"],
                   days_ago=7, hours=3)
    _past_activity(heping, "重阳节敬老院慰问", ["heping_dy1", "heping_dy3"], days_ago=30, hours=2)
    if not db.session.scalar(sa.select(ServiceItem.id).where(ServiceItem.org_id == heping.id,
                                                             ServiceItem.name == "老年人义务理发")):
        item = ServiceItem(org=heping, name="老年人义务理发", category="理发", location="和平社区活动室",
                           provider_team=team, description="70 岁以上老人免费，请提前预约。")
        db.session.add(item)
        db.session.flush()
        for day in (2, 9):
            services.add_slot(item, starts_at=_at(day, 9), ends_at=_at(day, 11), capacity=6)
    member = _person("dw_dy1", "钱学军", "13800004001", hospital, is_party_member=True, is_in_service=True,
                     work_unit="区人民医院")
    _grant(member, hospital, "party_member")
    accounts.append(("dw_dy1", member.name, "区人民医院 在职党员（待双报到确认）"))
    if not db.session.scalar(sa.select(DoubleReport.id).where(DoubleReport.person_id == member.id)):
        double_reports.report(member, heping, work_unit="区人民医院", offer="义诊、健康讲座")
    db.session.flush()


#: 和平社区's self-evaluation so far: criterion → (points or ticked deductions, note).
DEMO_SCORES = {"G1": (5, "街道党委—社区党总支—网格党支部—功能党小组四级架构已建立，见组织架构图"),
               "G2": (2, "已组建楼栋、兴趣两类功能型党小组，业缘党小组筹建中"),
               "T1": (4, "社区“两委”班子 7 人，专职化率 86%")}


def _campaign(street: Org, officer: Person) -> None:
    """This year's campaign over the three communities, in self-evaluation: 和平社区 has recorded
    its meetings of the year (one, dated far back, still waits for the street's confirmation)
    and scored three criteria; the rest waits for its secretary."""
    year = datetime.now(local_zone()).year
    name = f"{year}年度星级党组织创评"
    if db.session.scalar(sa.select(RatingPeriod.id).where(RatingPeriod.name == name)):
        return
    heping = _org("和平社区", "community", street)
    secretary = load_actor(db.session.scalar(sa.select(Person.id).where(Person.username == "heping")))
    today = datetime.now(local_zone()).date()
    held = [today - timedelta(days=days) for days in (10, 40, 100, 190, 280)]
    officer_actor = load_actor(officer.id)
    recorded = []
    for day in (d for d in held if d.year == year):
        for kind, topic, attendance in ((MeetingKind.joint, "辖区单位党建联席会议", 12),
                                        (MeetingKind.theme_day, "主题党日：入户走访困难老人", 25)):
            recorded.append(rating.record_meeting(secretary, heping, {
                "kind": kind.value, "held_on": day, "topic": topic, "attendance": attendance,
                "no_evidence_reason": "纸质会议纪要存社区档案室"}))
    # Recorded late, the older ones waited for the street: all confirmed but the latest joint
    # meeting, which the street still has to check.
    waiting = [m for m in recorded if m.status == "pending"]
    for meeting in waiting[1:]:
        rating.confirm_meeting(officer_actor, meeting)
    communities = db.session.scalars(sa.select(Org).where(Org.parent_id == street.id, Org.kind == "community")
                                     .order_by(Org.id)).all()
    period = rating.create_period(officer_actor, name=name, year=year, rubric_code="wuhua-2019",
                                  org_ids=[c.id for c in communities])
    rating.advance(officer_actor, period, "self_evaluation")
    card = rating.scorecard(period, heping.id)
    for code, (points, note) in DEMO_SCORES.items():
        rating.enter_score(secretary, card, code, points=points, note=note)
    db.session.flush()
