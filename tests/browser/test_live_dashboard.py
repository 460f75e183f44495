"""The live dashboards on a phone: the secretary's board changes without a reload as a
meeting is recorded, poll answers arrive and a wish is confirmed through the API; a dropped
stream resumes without losing an event; the street's board ranks the communities."""

from __future__ import annotations

import contextlib
import re
import socket
import threading
from datetime import UTC, date, datetime, timedelta
from urllib.parse import urlsplit

import requests
from playwright.sync_api import expect

from backend.demo import DEMO_PASSWORD
from backend.polls.presets import PRESETS
from tests.browser.test_pages import log_in
from tests.browser.test_wish_flow import wish_code_url


def bearer(base: str, username: str) -> dict:
    token = requests.post(f"{base}/api/v1/auth/login", json={"username": username, "password": DEMO_PASSWORD},
                          timeout=10).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def api(base: str, method: str, path: str, headers: dict | None = None, **body):
    """A client other than the phone (another device, a script) acting through the API."""
    response = requests.request(method, f"{base}{path}", headers=headers or {}, json=body or None, timeout=20)
    assert response.ok, f"{method} {path}: {response.status_code} {response.text}"
    return response.json()


class Relay:
    """A loopback TCP relay in front of the server, so a test can cut the phone's open
    connections (and refuse new ones for a while): a real dropped stream."""

    def __init__(self, upstream: str):
        self.upstream = urlsplit(upstream).port
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.accepting = threading.Event()
        self.accepting.set()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.accepting.is_set():
                client.close()
                continue
            server = socket.create_connection(("127.0.0.1", self.upstream))
            self.sockets += [client, server]
            for source, target in ((client, server), (server, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    @staticmethod
    def _pump(source, target):
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, target):
                with contextlib.suppress(OSError):
                    end.close()

    def cut(self):
        self.accepting.clear()
        for end in self.sockets:
            with contextlib.suppress(OSError):
                end.shutdown(socket.SHUT_RDWR)
        self.sockets.clear()

    def resume(self):
        self.accepting.set()

    def close(self):
        self.cut()
        self.listener.close()


def first_feed_row(page):
    return page.locator("[data-feed] .weui-cell").first


def test_secretary_board_moves_without_reload_and_resumes(phone, live_server, screenshot):
    secretary = phone()
    log_in(secretary, "heping")
    secretary.goto("/h5/rating/")
    secretary.get_by_role("link", name=re.compile("和平社区")).click()
    secretary.get_by_role("link", name=re.compile("实时看板")).click()
    relay = Relay(live_server)
    secretary.goto(relay.url + urlsplit(secretary.url).path)   # the same board, through the relay
    expect(secretary.locator("[data-live-status]")).to_have_text("实时更新")
    expect(secretary.locator("[data-next-head]")).to_contain_text("还差")
    secretary.evaluate("window.__sameDocument = true")
    total = secretary.locator(".app-hero__big")
    before = total.inner_text()
    heping = bearer(live_server, "heping")

    api(live_server, "POST", "/api/v1/orgs/2/meetings", heping, kind="committee", held_on=date.today().isoformat(),
        topic="支委会：研究困难群众帮扶", attendance=7, no_evidence_reason="纪要待扫描")
    expect(first_feed_row(secretary)).to_contain_text("记录支委会")
    expect(total).not_to_have_text(before)

    # Poll answers short of the minimum sample: the feed says so and the provisional list appears.
    # A counted poll is the street's to run (seed 000: 街道党委…组织党员和群众测评).
    jiedao = bearer(live_server, "jiedao")
    poll = api(live_server, "POST", "/api/v1/polls", jiedao, **PRESETS["mass"], org_id=2, modes=["code"],
               opens_at=(datetime.now(UTC) - timedelta(hours=1)).isoformat(),
               closes_at=(datetime.now(UTC) + timedelta(days=7)).isoformat())
    codes = [c["code"] for c in api(live_server, "POST", f"/api/v1/polls/{poll['id']}/codes", jiedao, count=3)]
    rated = [q["id"] for q in poll["questions"] if q["kind"] == "rating5"]
    for code in codes[:2]:
        api(live_server, "POST", f"/api/v1/polls/{poll['id']}/responses", code=code,
            answers=[{"question_id": q, "value": 5} for q in rated])
    # Two answers in a row, each moving three criteria: one feed row.
    expect(first_feed_row(secretary)).to_contain_text("第 1–2 份答卷（2 份）")
    expect(first_feed_row(secretary)).to_contain_text("样本不足，暂计 0 分")
    expect(secretary.locator("[data-poll=S5]")).to_contain_text("样本不足")

    # A wish submitted, claimed, done and confirmed through the API.
    qr = wish_code_url(secretary, "第一网格").rsplit("/", 1)[-1]
    wish = api(live_server, "POST", "/api/v1/wishes", qr=qr, title="单元门禁坏了", content="2单元门禁刷卡没反应",
               category="环境改善", urgency=2, contact_name="李阿姨", contact_phone="13912345678", consent=True)
    api(live_server, "POST", f"/api/v1/wishes/{wish['id']}/claim", heping)
    api(live_server, "POST", f"/api/v1/wishes/{wish['id']}/fulfil", heping, note="已联系物业修好")
    api(live_server, "POST", f"/api/v1/wishes/{wish['id']}/confirm", receipt=wish["receipt"], rating=5)
    expect(secretary.locator("[data-feed]")).to_contain_text("单元门禁坏了")
    screenshot(secretary, "rating-live")

    # The stream drops and the server is unreachable for a while; what happens meanwhile
    # arrives once the phone is back (the browser resends Last-Event-ID).
    relay.cut()
    expect(secretary.locator("[data-live-status]")).to_have_text("连接中断，正在重连…")
    api(live_server, "POST", f"/api/v1/polls/{poll['id']}/responses", code=codes[2],
        answers=[{"question_id": q, "value": 4} for q in rated])
    api(live_server, "POST", "/api/v1/orgs/2/meetings", heping, kind="lecture", held_on=date.today().isoformat(),
        topic="党课：基层治理", attendance=30, no_evidence_reason="纪要待扫描")
    relay.resume()
    expect(first_feed_row(secretary)).to_contain_text("记录党课")
    expect(secretary.locator("[data-feed]")).to_contain_text("第 3 份答卷")
    expect(secretary.locator("[data-live-status]")).to_have_text("实时更新")
    assert secretary.evaluate("window.__sameDocument") is True   # never reloaded
    relay.close()


def test_street_board_ranks_against_the_quotas(phone, live_server, screenshot):
    officer = phone()
    log_in(officer, "jiedao")
    officer.goto("/h5/rating/")
    officer.get_by_role("link", name=re.compile("总览")).click()
    officer.get_by_role("link", name=re.compile("实时排名看板")).click()
    ranking = officer.get_by_test_id("ranking")
    expect(ranking.locator(".weui-cell")).to_have_count(3)
    expect(ranking.locator(".weui-cell").first).to_contain_text("和平社区")
    expect(officer.get_by_test_id("distribution")).to_contain_text("名额 0")
    officer.evaluate("window.__sameDocument = true")
    xingfu = bearer(live_server, "xingfu")
    api(live_server, "POST", "/api/v1/orgs/6/meetings", xingfu, kind="joint", held_on=date.today().isoformat(),
        topic="幸福社区党建联席会", attendance=9, no_evidence_reason="纪要待扫描")
    expect(ranking).to_contain_text("工作 1.25")
    assert officer.evaluate("window.__sameDocument") is True
    screenshot(officer, "rating-live-street")
