"""The role home lists what the permission rules allow, once each."""

from __future__ import annotations

from backend.extensions import db
from backend.people.service import add_membership
from tests import factories as f
from tests.test_csrf_session import h5_login


def test_home_entries_follow_the_rules_once_per_org(app, client):
    orgs = f.tree()
    secretary = f.person("李红梅", username="sec", role="secretary", org=orgs["a"])
    add_membership(secretary, orgs["a"], "party_member")
    f.person("张建华", username="leader", role="grid_leader", org=orgs["a1"])
    f.person("吴阿姨", username="resident", role="resident", org=orgs["a2"])
    db.session.commit()

    h5_login(client, "sec")
    home = client.get("/h5/").get_data(as_text=True)
    assert home.count("社区心愿公开页") == 1 and "双报到审核（和平社区）" in home and "星级创评" in home
    assert "代居民提交心愿" not in home and "接口文档" not in home

    leader = app.test_client()
    h5_login(leader, "leader")
    home = leader.get("/h5/").get_data(as_text=True)
    assert "代居民提交心愿（第一网格）" in home and "待认领" in home and "星级创评" not in home

    resident = app.test_client()
    h5_login(resident, "resident")
    home = resident.get("/h5/").get_data(as_text=True)
    assert "心愿任务" not in home and "组织与成员" not in home and "我的信息" in home
