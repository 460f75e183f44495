"""Rosters by Excel: the template round-trips; a dry run names every bad row and writes nothing;
the real run is all or nothing and a second run changes nothing; people are recognised by their
ID number's keyed hash or their phone; orgs outside the importer's scope are row errors."""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import re
import threading
import zipfile

import pytest
import requests
import sqlalchemy as sa
from openpyxl import load_workbook

from backend.auth.service import issue_token
from backend.extensions import db
from backend.orgs.models import Org
from backend.people.models import Membership, Person
from backend.rosters.workbook import SHEETS_BY_TITLE, read, template
from backend.wechat import service as wechat
from backend.wechat.models import BindingCode
from tests import factories as f
from tests.live import serve
from tests.test_csrf_session import csrf_from, h5_login
from tests.test_qrcodes import decode, rasterise_svg

WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_serial = itertools.count(1)


def id_number(serial: int | None = None, valid: bool = True) -> str:
    """A well-formed 18-character ID number (Beijing 东城区, born 1980-01-01), distinct per serial."""
    serial = next(_serial) if serial is None else serial
    body = f"110101{19800101 + serial // 1000:08d}{serial % 1000:03d}"
    check = "10X98765432"[sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) % 11]
    if not valid:
        check = "10X98765432"[(sum(int(d) * w for d, w in zip(body, WEIGHTS, strict=True)) + 1) % 11]
    return body + check


def workbook(sheets: dict[str, list[dict]]) -> bytes:
    """The downloaded template with rows filled in: {sheet title: [{header: value}]}."""
    book = load_workbook(io.BytesIO(template()))
    for title, rows in sheets.items():
        sheet = book[title]
        headers = [cell.value.rstrip("*") for cell in sheet[1]]
        for row in rows:
            unknown = set(row) - set(headers)
            assert not unknown, unknown
            sheet.append([row.get(h) for h in headers])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def snapshot() -> dict[str, list[tuple]]:
    """Every row of every table, in primary-key order."""
    db.session.expire_all()
    return {table.name: [tuple(r) for r in db.session.execute(
        sa.select(table).order_by(*table.primary_key.columns)).all()] for table in db.metadata.sorted_tables}


@pytest.fixture
def world(app):
    orgs = f.tree()
    people = {
        "officer": f.person("王建国", username="officer", role="street_officer", org=orgs["street"]),
        "sec_a": f.person("李红梅", username="sec_a", role="secretary", org=orgs["a"], phone="13800001001"),
        "leader": f.person("张建华", username="leader", role="grid_leader", org=orgs["a1"], phone="13800001011"),
        "volunteer": f.person("吴阿姨", username="volunteer", role="volunteer", org=orgs["a1"]),
    }
    return orgs, people


def post(client, headers, org: Org, data: bytes, dry_run: bool):
    query = f"?org_id={org.id}" + ("&dry_run=1" if dry_run else "")
    return client.post(f"/api/v1/imports{query}", headers=headers,
                       data={"file": (io.BytesIO(data), "名册.xlsx")}, content_type="multipart/form-data")


GOOD = {
    "社区": [{"社区": "和平社区", "户数": 1260}, {"社区": "幸福社区", "户数": "980"}],
    "网格": [{"社区": "和平社区", "网格": "第一网格", "楼栋": "1-3栋"},
             {"社区": "和平社区", "网格": "第三网格", "楼栋": "7栋、8栋"}],
    "网格员": [{"姓名": "赵国强", "手机号": "13800001013", "社区": "和平社区", "网格": "第三网格", "职务": "网格长"},
               {"姓名": "钱小梅", "手机号": 13800001014, "社区": "和平社区", "网格": "第三网格", "职务": "网格员"}],
    "党员": [{"姓名": "刘志刚", "手机号": "13800001021", "身份证号": id_number(1), "类别": "在职",
              "工作单位": "市供电公司", "所在社区": "和平社区"},
             {"姓名": "周晓燕", "手机号": "13800001024", "类别": "流动", "所在社区": "幸福社区"},
             {"姓名": "陈淑芬", "身份证号": id_number(2).lower().replace("X", "x"), "类别": "退休党员",
              "所在社区": "和平社区"},
             {"姓名": "张建华", "手机号": "13800001011", "所在社区": "和平社区"}],
    "志愿者": [{"姓名": "刘志刚", "手机号": "13800001021", "社区": "和平社区", "网格": "第一网格"},
               {"姓名": "孙丽", "手机号": "13800001031", "社区": "幸福社区"}],
    "驻区单位": [{"单位名称": "区人民医院"}, {"单位名称": "市第二中学", "所属社区": "幸福社区"}],
}


# --- the template --------------------------------------------------------------------------------

def test_template_round_trips(client, world):
    orgs, _ = world
    headers = f.login(client, "officer")
    response = client.get("/api/v1/imports/template.xlsx", headers=headers)
    assert response.status_code == 200 and response.data[:2] == b"PK"
    assert "attachment" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.data))
    assert book.sheetnames == ["说明", "社区", "网格", "网格员", "党员", "志愿者", "驻区单位"]
    assert [c.value for c in book["党员"][1]] == ["姓名*", "手机号", "身份证号", "类别", "工作单位", "所在社区"]
    assert book["党员"].column_dimensions["C"].number_format == "@"   # ID numbers stay text in Excel
    # The empty template reads back as empty sheets without errors...
    parsed = read(response.data)
    assert parsed.errors == [] and set(parsed.rows) == {s.key for s in SHEETS_BY_TITLE.values()}
    empty = post(client, headers, orgs["street"], response.data, dry_run=True).get_json()
    assert empty["ok"] and all(s["rows"] == 0 for s in empty["sheets"])
    # ...and filled in, every sheet imports.
    result = post(client, headers, orgs["street"], workbook(GOOD), dry_run=False)
    assert result.status_code == 200, result.get_json()
    body = result.get_json()
    assert body["imported"] and body["counts"] == {"orgs_created": 3, "orgs_updated": 3, "people_created": 6,
                                                   "people_updated": 1, "memberships_created": 8}
    assert {s["sheet"]: (s["rows"], s["created"], s["updated"], s["unchanged"]) for s in body["sheets"]} == {
        "社区": (2, 0, 2, 0), "网格": (2, 1, 1, 0), "网格员": (2, 2, 0, 0), "党员": (4, 3, 1, 0),
        "志愿者": (2, 2, 0, 0), "驻区单位": (2, 2, 0, 0)}   # 刘志刚 is new to the database: created
    assert orgs["a"].households == 1260 and orgs["b"].households == 980
    assert client.get(f"/api/v1/orgs/{orgs['a'].id}", headers=headers).get_json()["households"] == 1260
    grid3 = db.session.scalar(sa.select(Org).where(Org.parent_id == orgs["a"].id, Org.name == "第三网格"))
    assert grid3.kind == "grid" and grid3.buildings == "7栋、8栋" and orgs["a1"].buildings == "1-3栋"
    units = {o.name: o.parent_id for o in db.session.scalars(sa.select(Org).where(Org.kind == "unit"))}
    assert units == {"区人民医院": orgs["street"].id, "市第二中学": orgs["b"].id}
    people = {p.name: p for p in db.session.scalars(sa.select(Person))}
    liu = people["刘志刚"]
    assert (liu.is_in_service, liu.work_unit, liu.home_community_id) == (True, "市供电公司", orgs["a"].id)
    assert people["周晓燕"].is_mobile and people["陈淑芬"].is_retired and people["陈淑芬"].phone is None
    assert people["钱小梅"].phone == "13800001014"   # typed as a number in Excel
    # The grid leader on record is the same person (by phone): now also a party member.
    assert people["张建华"].id == world[1]["leader"].id and people["张建华"].is_party_member
    roles = {(m.person.name, m.org.name, m.role) for m in db.session.scalars(
        sa.select(Membership).where(Membership.person_id.notin_([p.id for p in world[1].values()])))}
    assert roles == {("赵国强", "第三网格", "grid_leader"), ("钱小梅", "第三网格", "grid_member"),
                     ("刘志刚", "和平社区", "party_member"), ("周晓燕", "幸福社区", "party_member"),
                     ("陈淑芬", "和平社区", "party_member"), ("刘志刚", "第一网格", "volunteer"),
                     ("孙丽", "幸福社区", "volunteer")}
    assert all(p.created_by_id == world[1]["officer"].id for p in people.values() if p.name in ("孙丽", "刘志刚"))


def test_template_is_for_staff(client, world):
    assert client.get("/api/v1/imports/template.xlsx").status_code == 401
    assert client.get("/api/v1/imports/template.xlsx", headers=f.login(client, "volunteer")).status_code == 403
    assert client.get("/api/v1/imports/template.xlsx", headers=f.login(client, "leader")).status_code == 200


# --- idempotence ---------------------------------------------------------------------------------

def test_the_good_run_twice_gives_the_same_database(client, world):
    orgs, _ = world
    headers = f.login(client, "officer")
    data = workbook(GOOD)
    assert post(client, headers, orgs["street"], data, dry_run=False).status_code == 200
    after_first = snapshot()
    second = post(client, headers, orgs["street"], data, dry_run=False)
    assert second.status_code == 200
    body = second.get_json()
    assert body["counts"] == {"orgs_created": 0, "orgs_updated": 0, "people_created": 0, "people_updated": 0,
                              "memberships_created": 0}
    assert all(s["created"] == s["updated"] == 0 and s["unchanged"] == s["rows"] for s in body["sheets"])
    assert snapshot() == after_first


def test_reimport_updates_by_id_number_or_phone_and_never_duplicates(client, world):
    orgs, _ = world
    headers = f.login(client, "officer")
    post(client, headers, orgs["street"], workbook(GOOD), dry_run=False)
    people = db.session.scalar(sa.select(sa.func.count()).select_from(Person))
    changed = {**GOOD, "党员": [
        # Same ID number, new phone and unit: the phone follows the person.
        {"姓名": "刘志刚", "手机号": "13900001021", "身份证号": id_number(1), "类别": "退休", "所在社区": "和平社区"},
        # Same phone, now with an ID number: the person gets the hash.
        {"姓名": "周晓燕", "手机号": "13800001024", "身份证号": id_number(3), "类别": "流动", "所在社区": "幸福社区"}],
        "志愿者": [{"姓名": "孙丽", "手机号": "13800001031", "社区": "幸福社区"}]}
    body = post(client, headers, orgs["street"], workbook(changed), dry_run=False).get_json()
    assert body["counts"]["people_created"] == 0 and body["counts"]["people_updated"] == 2
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == people
    db.session.expire_all()
    liu = db.session.scalar(sa.select(Person).where(Person.name == "刘志刚"))
    assert (liu.phone, liu.is_retired, liu.is_in_service, liu.work_unit) == ("13900001021", True, False, None)
    zhou = db.session.scalar(sa.select(Person).where(Person.name == "周晓燕"))
    assert zhou.id_number_hash is not None
    # Nothing is taken away: 刘志刚 is still a volunteer of 第一网格 though this workbook omits it.
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Membership).where(
        Membership.person_id == liu.id, Membership.role == "volunteer")) == 1


def test_id_numbers_are_kept_only_as_a_keyed_hash(app, client, world):
    orgs, _ = world
    number = id_number(7)
    app.config["ID_NUMBER_KEY"] = "roster-test-key"
    rows = {"党员": [{"姓名": "高志伟", "身份证号": number, "类别": "其他", "所在社区": "和平社区"}]}
    post(client, f.login(client, "officer"), orgs["street"], workbook(rows), dry_run=False)
    stored = db.session.scalar(sa.select(Person).where(Person.name == "高志伟"))
    assert stored.id_number_hash == hmac.new(b"roster-test-key", number.encode(), hashlib.sha256).hexdigest()
    dump = repr(snapshot())
    assert number not in dump and number[6:14] not in dump and number[-6:] not in dump


def test_two_imports_at_once_do_not_duplicate_anyone(db_url):
    """Each import finds the people new; taking turns per street, the second finds them made."""
    with serve(db_url) as (base_url, app):
        with app.app_context():
            orgs = f.tree()
            officers = [f.person(f"街道{i}", username=f"officer{i}", role="street_officer", org=orgs["street"])
                        for i in range(2)]
            tokens = [issue_token(officer)[0] for officer in officers]
            street_id = orgs["street"].id
            db.session.commit()
            db.session.remove()
        data = workbook({"志愿者": [{"姓名": f"志愿者{i}", "手机号": f"1350000{i:04d}", "社区": "和平社区"}
                                    for i in range(200)]})
        barrier = threading.Barrier(2)
        answers = []

        def run(token: str) -> None:
            barrier.wait(timeout=30)
            answers.append(requests.post(f"{base_url}/api/v1/imports?org_id={street_id}", timeout=60,
                                         headers={"Authorization": f"Bearer {token}"},
                                         files={"file": ("名册.xlsx", data)}))

        threads = [threading.Thread(target=run, args=(t,)) for t in tokens]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=90)
        assert [a.status_code for a in answers] == [200, 200]
        assert sorted(a.json()["counts"]["people_created"] for a in answers) == [0, 200]
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Person).where(
                Person.name.startswith("志愿者"))) == 200


# --- errors: the dry run names each one, the real run writes nothing ----------------------------

def _big_workbook() -> tuple[bytes, set[tuple[str, int, str]]]:
    """500 rows, 20 of them bad in 20 different ways; the (sheet, row, column) of each mistake."""
    sheets = {"社区": [{"社区": "和平社区", "户数": 1200}],
              "网格": [{"网格": f"网格{i}", "楼栋": f"{i}栋"} for i in range(1, 20)],
              "网格员": [{"姓名": f"网格员{i}", "手机号": f"1370000{i:04d}", "网格": f"网格{(i - 1) % 17 + 1}",
                          "职务": "网格长" if i < 18 else "网格员"} for i in range(1, 40)],
              "党员": [{"姓名": f"党员{i}", "手机号": f"1360000{i:04d}", "身份证号": id_number(100 + i),
                        "类别": "在职" if i % 3 == 0 else "退休", "工作单位": "某单位" if i % 3 == 0 else None}
                       for i in range(1, 300)],
              "志愿者": [{"姓名": f"志愿者{i}", "手机号": f"1350000{i:04d}", "网格": f"网格{i % 17 + 1}"}
                         for i in range(1, 138)],
              "驻区单位": [{"单位名称": f"单位{i}"} for i in range(1, 6)]}
    assert sum(len(rows) for rows in sheets.values()) == 500
    bad = [
        ("社区", 0, "户数", {"户数": -5}),
        ("网格", 17, "网格", {"网格": None}),                              # 网格18 and 网格19 have no staff
        ("网格", 18, "楼栋", {"楼栋": "栋" * 501}),
        ("网格员", 2, "网格", {"网格": "第九十九网格"}),
        ("网格员", 5, "职务", {"职务": "组长"}),
        ("网格员", 20, "职务", {"网格": "网格1", "职务": "网格长"}),       # a second leader for 网格1
        ("党员", 10, "手机号", {"手机号": "1360000001"}),                   # ten digits
        ("党员", 20, "身份证号", {"身份证号": id_number(999, valid=False)}),
        ("党员", 30, "身份证号", {"身份证号": 110101198001010011}),          # typed as a number
        ("党员", 40, "姓名", {"姓名": None}),
        ("党员", 50, "手机号", {"手机号": None, "身份证号": None}),
        ("党员", 61, "工作单位", {"类别": "在职", "工作单位": None}),
        ("党员", 70, "类别", {"类别": "离休干部"}),
        ("党员", 80, "所在社区", {"所在社区": "幸福社区"}),                 # outside the secretary's community
        ("党员", 90, "姓名", {"姓名": "党员1", "手机号": "13600000001", "身份证号": id_number(101)}),  # row 2 again
        ("党员", 100, "姓名", {"姓名": "别人", "手机号": "13600000002", "身份证号": None}),  # 党员2's phone
        ("志愿者", 7, "网格", {"网格": "没有的网格"}),
        ("志愿者", 8, "社区", {"社区": "光明社区"}),
        ("志愿者", 9, "手机号", {"手机号": "phone"}),
        ("驻区单位", 2, "单位名称", {"单位名称": "单位1"}),                 # row 2 again
    ]
    expected = set()
    for title, index, column, change in bad:
        sheets[title][index].update(change)
        expected.add((title, index + 2, column))
    assert len(expected) == 20
    return workbook(sheets), expected


def test_a_workbook_with_20_bad_rows_out_of_500_names_each_and_changes_nothing(client, world):
    orgs, _ = world
    headers = f.login(client, "sec_a")
    data, expected = _big_workbook()
    before = snapshot()
    dry = post(client, headers, orgs["a"], data, dry_run=True)
    assert dry.status_code == 200
    body = dry.get_json()
    assert not body["ok"] and not body["imported"]
    assert {(e["sheet"], e["row"], e["column"]) for e in body["errors"]} == expected
    assert all(e["message"] and e["cell"].endswith(str(e["row"])) for e in body["errors"])
    assert sum(s["rows"] for s in body["sheets"]) == 500
    assert snapshot() == before

    real = post(client, headers, orgs["a"], data, dry_run=False)
    assert real.status_code == 422
    error = real.get_json()["error"]
    assert error["code"] == "roster_invalid" and "20 处错误" in error["message"]
    assert len(error["fields"]) == 20 and "党员!B12" in error["fields"]   # row 12, phone in column B
    assert snapshot() == before


def test_messages_say_what_is_wrong(client, world):
    orgs, _ = world
    headers = f.login(client, "sec_a")
    data, _ = _big_workbook()
    errors = {(e["sheet"], e["row"]): e["message"]
              for e in post(client, headers, orgs["a"], data, dry_run=True).get_json()["errors"]}
    assert errors[("党员", 12)] == "请填写 11 位手机号"
    assert errors[("党员", 22)] == "身份证号校验位不对，请核对"
    assert errors[("党员", 32)].startswith("身份证号须以文本填写")
    assert errors[("党员", 82)] == "找不到社区“幸福社区”（须在和平社区之内）"
    assert errors[("党员", 92)] == "与第 2 行是同一人"
    assert errors[("党员", 102)] == "与“党员”第 3 行是同一人，但姓名不同（党员2）"
    assert errors[("网格员", 22)] == "第 2 行已是该网格的网格长，一个网格只有一位网格长"
    assert errors[("社区", 2)] == "请填写 0 到 1000000 之间的整数"


# --- who may import where ------------------------------------------------------------------------

def test_who_may_import_where(client, world):
    orgs, _ = world
    data = workbook({"驻区单位": [{"单位名称": "区图书馆"}]})
    assert post(client, {}, orgs["a"], data, dry_run=True).status_code == 401
    secretary = f.login(client, "sec_a")
    assert post(client, secretary, orgs["a"], data, dry_run=True).status_code == 200
    assert post(client, secretary, orgs["b"], data, dry_run=True).status_code == 404   # not theirs to see
    assert post(client, secretary, orgs["street"], data, dry_run=True).status_code == 403
    assert post(client, f.login(client, "leader"), orgs["a1"], data, dry_run=True).status_code == 403
    officer = f.login(client, "officer")
    assert post(client, officer, orgs["b"], data, dry_run=True).status_code == 200
    assert post(client, officer, orgs["a1"], data, dry_run=True).status_code == 403   # a grid holds no roster


def test_an_existing_grid_keeps_its_one_leader(client, world):
    orgs, people = world
    rows = {"网格员": [{"姓名": "新网格长", "手机号": "13700000001", "社区": "和平社区", "网格": "第一网格",
                        "职务": "网格长"},
                       {"姓名": "张建华", "手机号": "13800001011", "社区": "和平社区", "网格": "第一网格",
                        "职务": "网格长"}]}
    body = post(client, f.login(client, "officer"), orgs["street"], workbook(rows), dry_run=True).get_json()
    assert [(e["row"], e["message"]) for e in body["errors"]] == [
        (2, "第一网格已有网格长张建华，一个网格只有一位网格长"),
        (3, "第 2 行已是该网格的网格长，一个网格只有一位网格长")]


def test_a_phone_shared_by_two_people_needs_the_id_number(client, world):
    orgs, _ = world
    headers = f.login(client, "officer")
    family = {"党员": [{"姓名": "王大爷", "手机号": "13800009999", "身份证号": id_number(51), "所在社区": "和平社区"},
                       {"姓名": "王阿姨", "手机号": "13800009999", "身份证号": id_number(52), "所在社区": "和平社区"}]}
    assert post(client, headers, orgs["street"], workbook(family), dry_run=False).get_json()["counts"][
        "people_created"] == 2
    phone_only = {"志愿者": [{"姓名": "王大爷", "手机号": "13800009999", "社区": "和平社区"}]}
    errors = post(client, headers, orgs["street"], workbook(phone_only), dry_run=True).get_json()["errors"]
    assert [(e["column"], e["message"]) for e in errors] == [("手机号", "该手机号登记了 2 人，请填写身份证号以区分")]


# --- bad files -----------------------------------------------------------------------------------

def test_files_that_are_not_rosters(app, client, world):
    orgs, _ = world
    headers = f.login(client, "officer")

    def code(data: bytes) -> tuple[int, str]:
        response = post(client, headers, orgs["street"], data, dry_run=True)
        return response.status_code, response.get_json()["error"]["code"]

    assert code(b"name,phone\n") == (422, "roster_not_xlsx")
    assert code(b"PK\x03\x04 not really a zip") == (422, "roster_unreadable")
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        archive.writestr("hello.txt", "hi")
    assert code(broken.getvalue()) == (422, "roster_unreadable")
    other = load_workbook(io.BytesIO(template()))
    for title in SHEETS_BY_TITLE:
        del other[title]
    out = io.BytesIO()
    other.save(out)
    assert code(out.getvalue()) == (422, "roster_no_sheets")
    missing = client.post(f"/api/v1/imports?org_id={orgs['street'].id}&dry_run=1", headers=headers, data={},
                          content_type="multipart/form-data")
    assert missing.status_code == 422 and "file" in missing.get_json()["error"]["fields"]
    app.config["ROSTER_MAX_BYTES"] = 1000
    assert code(workbook(GOOD)) == (422, "roster_too_large")
    assert code(b"PK" + b"\0" * 100_000) == (413, "payload_too_large")   # past the limit and the form allowance


def test_a_missing_column_is_reported_once(client, world):
    orgs, _ = world
    book = load_workbook(io.BytesIO(workbook({"党员": [{"姓名": "甲", "手机号": "13800000011"}] * 3})))
    book["党员"]["A1"] = "名字"
    out = io.BytesIO()
    book.save(out)
    errors = post(client, f.login(client, "officer"), orgs["street"], out.getvalue(), dry_run=True).get_json()["errors"]
    assert [(e["sheet"], e["row"], e["column"], e["message"]) for e in errors] == [("党员", 1, "姓名", "缺少“姓名”列")]


# --- the page ------------------------------------------------------------------------------------

def test_the_page_checks_then_imports(client, world):
    orgs, _ = world
    h5_login(client, "sec_a")
    home = client.get("/h5/").get_data(as_text=True)
    assert "名册导入" in home
    page = client.get("/h5/rosters")
    assert page.status_code == 200 and "下载名册模板" in page.get_data(as_text=True)
    assert client.get("/h5/rosters/template.xlsx").data[:2] == b"PK"
    token = csrf_from(page)
    data, _ = _big_workbook()
    checked = client.post("/h5/rosters/check", data={"csrf_token": token, "org_id": str(orgs["a"].id),
                                                     "file": (io.BytesIO(data), "名册.xlsx")})
    html = checked.get_data(as_text=True)
    assert checked.status_code == 200 and "发现 20 处错误" in html and html.count("<tr>") >= 20
    assert "与第 2 行是同一人" in html
    refused = client.post("/h5/rosters/import", data={"csrf_token": token, "org_id": str(orgs["a"].id),
                                                      "file": (io.BytesIO(data), "名册.xlsx")})
    assert refused.status_code == 422 and "未导入任何内容" in refused.get_data(as_text=True)
    good = workbook({"网格": [{"网格": "第五网格", "楼栋": "9栋"}]})
    done = client.post("/h5/rosters/import", data={"csrf_token": token, "org_id": str(orgs["a"].id),
                                                   "file": (io.BytesIO(good), "名册.xlsx")})
    assert done.status_code == 200 and "名册已导入和平社区" in done.get_data(as_text=True)
    assert db.session.scalar(sa.select(Org.buildings).where(Org.name == "第五网格")) == "9栋"
    community = client.get(f"/h5/orgs/{orgs['a'].id}").get_data(as_text=True)
    assert "第五网格" in community and "9栋" in community
    empty = client.post("/h5/rosters/check", data={"csrf_token": token, "org_id": str(orgs["a"].id)})
    assert empty.status_code == 422 and "请选择名册文件" in empty.get_data(as_text=True)


def test_the_page_is_for_importers(client, world):
    h5_login(client, "leader")
    assert client.get("/h5/rosters").status_code == 403
    assert "名册导入" not in client.get("/h5/").get_data(as_text=True)


# --- the binding-code sheet ----------------------------------------------------------------------

STAFF = {"网格员": [
    {"姓名": "赵国强", "手机号": "13800001013", "社区": "和平社区", "网格": "第二网格", "职务": "网格长"},
    {"姓名": "钱小梅", "手机号": "13800001014", "社区": "和平社区", "网格": "第二网格", "职务": "网格员"},
    {"姓名": "张建华", "手机号": "13800001011", "社区": "和平社区", "网格": "第一网格", "职务": "网格长"}]}


def _import_page(client, org: Org, data: bytes):
    token = csrf_from(client.get("/h5/rosters"))
    return client.post("/h5/rosters/import", data={"csrf_token": token, "org_id": str(org.id),
                                                   "file": (io.BytesIO(data), "名册.xlsx")})


def test_imported_staff_get_a_sheet_of_binding_codes(app, client, world):
    orgs, people = world
    app.config.update(WECHAT_APP_ID="wx-roster-test", WECHAT_APP_SECRET="secret")
    h5_login(client, "sec_a")
    done = _import_page(client, orgs["a"], workbook(STAFF))
    html = done.get_data(as_text=True)
    assert "打印网格员微信绑定码（3 人）" in html
    ids = re.findall(r'name="person_id" value="(\d+)"', html)
    sheet = client.post("/h5/rosters/binding-codes", data={"csrf_token": csrf_from(done), "person_id": ids})
    assert sheet.status_code == 200
    page = sheet.get_data(as_text=True)
    assert "共 3 张" in page and "第二网格网格长" in page and "第一网格网格长" in page
    urls = [decode(rasterise_svg(svg.encode())).text for svg in re.findall(r"<svg.*?</svg>", page, re.S)]
    assert len(urls) == 3 and len(set(urls)) == 3
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BindingCode)) == 3
    # Each code is live, binds the person on its slip, and only its hash is kept.
    codes = [url.split("code=")[1] for url in urls]
    assert {wechat.binding_for(code).person.name for code in codes} == {"赵国强", "钱小梅", "张建华"}
    assert not any(code in repr(snapshot()) for code in codes)


def test_the_sheet_leaves_off_whom_the_officer_may_not_bind(app, client, world):
    orgs, people = world
    app.config.update(WECHAT_APP_ID="wx-roster-test", WECHAT_APP_SECRET="secret")
    h5_login(client, "sec_a")
    token = csrf_from(client.get("/h5/rosters"))
    # The street officer outranks the secretary; a stranger's id is not theirs to see.
    sheet = client.post("/h5/rosters/binding-codes", data={
        "csrf_token": token, "person_id": [str(people["leader"].id), str(people["officer"].id), "999999"]})
    page = sheet.get_data(as_text=True)
    assert sheet.status_code == 200 and "共 1 张" in page and "另有 2 人你无权为其生成绑定码" in page


def test_no_sheet_while_wechat_sign_in_is_off(app, client, world):
    orgs, people = world
    h5_login(client, "sec_a")
    done = _import_page(client, orgs["a"], workbook(STAFF))
    assert done.status_code == 200 and "微信绑定码" not in done.get_data(as_text=True)
    sheet = client.post("/h5/rosters/binding-codes", data={"csrf_token": csrf_from(client.get("/h5/rosters")),
                                                           "person_id": [str(people["leader"].id)]})
    assert sheet.status_code == 404
    assert db.session.scalar(sa.select(sa.func.count()).select_from(BindingCode)) == 0
