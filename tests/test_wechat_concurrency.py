"""WeChat sign-in under simultaneous requests over real HTTP, on both databases: one first visit
in several tabs makes one person; one binding code raced by several phones binds one."""

from __future__ import annotations

import threading

import pytest
import requests
import sqlalchemy as sa

from backend.auth.service import issue_token
from backend.extensions import db
from backend.orgs.service import create_org
from backend.people.models import Person
from backend.people.service import add_membership, create_person
from backend.wechat.models import WechatIdentity
from tests.fake_wechat import fake_wechat
from tests.live import serve
from tests.test_wechat import UA

TABS = 8

pytestmark = pytest.mark.slow   # simultaneous requests over real HTTP


def run_together(work, n: int) -> list:
    """`work(i, barrier)` in n threads; each waits at the barrier before its racing request."""
    barrier = threading.Barrier(n)
    results: list = [None] * n

    def one(i):
        results[i] = work(i, barrier)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


def test_one_first_visit_in_several_tabs_makes_one_person(db_url):
    with fake_wechat() as (wechat_url, fake), serve(db_url, **fake.config(wechat_url)) as (base_url, app):
        fake.sign_in_as("o-many-tabs")

        def tab(_i, barrier):
            browser = requests.Session()
            browser.headers.update(UA)
            to_wechat = browser.get(f"{base_url}/api/v1/auth/wechat/authorize?next=/h5/me",
                                    allow_redirects=False, timeout=30)
            back = browser.get(to_wechat.headers["Location"], allow_redirects=False, timeout=30)
            barrier.wait()
            done = browser.get(back.headers["Location"], allow_redirects=False, timeout=60)
            me = browser.get(f"{base_url}/api/v1/me", timeout=30)
            return done.status_code, done.headers.get("Location"), me.json().get("id")

        results = run_together(tab, TABS)
        assert {(status, location) for status, location, _ in results} == {(302, "/h5/me")}, results
        assert len({person for _, _, person in results}) == 1
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Person)) == 1
            assert db.session.scalar(sa.select(sa.func.count()).select_from(WechatIdentity)) == 1


def test_a_binding_code_raced_by_several_phones_binds_one(db_url):
    with fake_wechat() as (wechat_url, fake), serve(db_url, **fake.config(wechat_url)) as (base_url, app):
        with app.app_context():
            community = create_org("和平社区", "community", create_org("东湖街道", "street", None))
            secretary = create_person(name="李红梅")
            add_membership(secretary, community, "secretary")
            volunteer = create_person(name="周晓燕")
            add_membership(volunteer, community, "volunteer")
            token = issue_token(secretary)[0]
            volunteer_id = volunteer.id
            db.session.commit()
            db.session.remove()
        code = requests.post(f"{base_url}/api/v1/people/{volunteer_id}/binding-codes", timeout=30,
                             headers={"Authorization": f"Bearer {token}"}).json()["code"]
        js_codes = [fake.miniprogram_code(f"o-phone-{i}") for i in range(TABS)]

        def phone(i, barrier):
            barrier.wait()
            response = requests.post(f"{base_url}/api/v1/auth/wechat/miniprogram", timeout=60,
                                     json={"code": js_codes[i], "binding_code": code})
            body = response.json()
            return response.status_code, body.get("user", {}).get("id") or body["error"]["code"]

        results = sorted(run_together(phone, TABS), key=str)
        assert results.count((200, volunteer_id)) == 1, results
        assert results.count((410, "binding_code_used")) == TABS - 1, results
        with app.app_context():
            assert db.session.scalars(sa.select(WechatIdentity.person_id)).all() == [volunteer_id]
