"""No page shows an English code: every page a demo role can reach (each GET route of the
pages, filled in with demo ids, plus a few that are meant to fail) is read as a person sees
it, and its text must hold none of the API's error codes, no bare criterion source
(manual/metric/poll), no ledger event kind, and no criterion code without its name."""

from __future__ import annotations

import ast
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa

from backend.activities.models import Activity
from backend.core.errors import STATUS_DEFAULTS, DomainError
from backend.demo import DEMO_PASSWORD, load_demo
from backend.extensions import db
from backend.notifications.models import Notification
from backend.orgs.models import Org
from backend.qrcodes import service as qr_service
from backend.qrcodes.models import QrCode
from backend.rating.models import CriterionScore, Meeting, RatingPeriod, Scorecard, Source
from backend.rating.rubrics import items_of
from backend.services.models import ServiceItem
from backend.teams.models import Team
from tests import factories as f
from tests.test_polls import poll_body

ROOT = Path(__file__).resolve().parent.parent
#: Who walks the pages: a visitor, then one demo login of each kind.
ROLES = (None, "admin", "jiedao", "heping", "heping_g1", "heping_dy1", "dw_dy1")
SKIPPED_ARGS = {"filename", "package", "token", "receipt"}


def error_codes() -> set[str]:
    """Every stable error code: the status defaults, the DomainError classes and each
    `code="…"` a service raises."""
    codes = {code for code, _ in STATUS_DEFAULTS.values()} | {"malformed_json", "unknown_field", "http_error"}
    pending = [DomainError]
    while pending:
        cls = pending.pop()
        codes.add(cls.code)
        pending += cls.__subclasses__()
    for source in (ROOT / "backend").rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.keyword) and node.arg == "code" and isinstance(node.value, ast.Constant) \
                    and isinstance(node.value.value, str):
                codes.add(node.value.value)
    return codes


def ledger_kinds() -> set[str]:
    """Each kind the campaign ledger writes (`ledger.append(period, "kind", …)` or `append_many`)."""
    found = set()
    for source in (ROOT / "backend").rglob("*.py"):
        found |= set(re.findall(r"ledger\.append\([^,]+, \"([a-z_]+)\"", source.read_text()))
        found |= set(re.findall(r"_ledger_meeting\(\"([a-z_]+)\"", source.read_text()))
        # Entries appended together (`ledger.append_many(period, [("kind", …), …])`).
        found |= set(re.findall(r"\(\(\"([a-z_]+)\", card\.org_id", source.read_text()))
    return found


class _Text(HTMLParser):
    """The text a person sees: the title and the body, without scripts, styles and templates."""

    HIDDEN = {"script", "style", "template", "svg"}

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.skipping += 1
        for name, value in attrs:
            if name in ("placeholder", "aria-label", "title", "alt") and value:
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):
        if not self.skipping and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> str:
    parser = _Text()
    parser.feed(html)
    return " ".join(parser.parts)


def _first(model, *where):
    return db.session.scalar(sa.select(model.id).where(*where).order_by(model.id).limit(1))


@pytest.fixture
def world(app, client):
    """The demo data with the street's mass poll of 和平社区, a revoked QR code, and the ids each
    route's arguments take."""
    load_demo()
    heping = db.session.scalar(sa.select(Org).where(Org.name == "和平社区"))
    grid = db.session.scalar(sa.select(Org).where(Org.parent_id == heping.id).order_by(Org.id).limit(1))
    revoked = qr_service.create_code("wish", grid.id, grid, None)
    qr_service.revoke(revoked)
    db.session.commit()
    made = client.post("/api/v1/polls", headers=f.login(client, "jiedao", DEMO_PASSWORD),
                       json=poll_body(heping.id, modes=["device", "code"]))
    assert made.status_code == 201, made.get_json()
    period = db.session.scalar(sa.select(RatingPeriod).limit(1))
    card = db.session.scalar(sa.select(Scorecard).where(Scorecard.period_id == period.id,
                                                        Scorecard.org_id == heping.id))
    # one criterion of each source: the pages differ by source
    codes = [db.session.scalar(sa.select(CriterionScore.code).where(CriterionScore.scorecard_id == card.id,
                                                                  CriterionScore.source == s.value).limit(1))
             for s in Source]
    values = {
        "org_id": [heping.id, grid.id], "period_id": [period.id], "code": [c for c in codes if c],
        "activity_id": [_first(Activity)], "poll_id": [made.get_json()["id"]], "note_id": [_first(Notification)],
        "booking_id": [], "wish_id": [], "qr_id": [_first(QrCode)], "team_id": [_first(Team)],
        "item_id": [_first(ServiceItem)], "meeting_id": [_first(Meeting)],
    }
    scan = [f"/q/{revoked.code}", "/q/no-such-code",
            "/q/" + db.session.scalar(sa.select(QrCode.code).where(QrCode.is_active.is_(True)).limit(1))]
    items = items_of(period.rubric.body)
    return {"values": {k: [v for v in vs if v is not None] for k, vs in values.items()}, "scan": scan,
            "titles": {code: item["title"] for code, item in items.items()}}


def page_urls(app, values: dict) -> list[str]:
    """Each GET page with its arguments filled in every way `values` allows; a route whose
    argument has no demo value is visited with an id nobody has (its not-found page)."""
    urls = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/h5/") or "GET" not in rule.methods or rule.rule.endswith(".xlsx"):
            continue
        if rule.arguments & SKIPPED_ARGS:
            urls.append(re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "no-such-thing", rule.rule))
            continue
        filled = [rule.rule]
        for name in sorted(rule.arguments):
            choices = values.get(name) or [987654]
            filled = [re.sub(rf"<(?:[^:<>]+:)?{name}>", str(choice), url) for url in filled for choice in choices]
        urls += filled
    return sorted(set(urls)) + ["/h5/no-such-page"]


def _sign_in(client, username):
    page = client.get("/h5/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    answer = client.post("/h5/login", data={"username": username, "password": DEMO_PASSWORD, "csrf_token": token})
    assert answer.status_code == 302, username


def english_on_page(text: str, codes: set[str], kinds: set[str], titles: dict[str, str]) -> list[str]:
    """What a person should not read: error codes, bare source keys, ledger kinds, and a
    criterion code not followed by its name."""
    words = set(re.findall(r"[A-Za-z_][A-Za-z0-9_]*", text))
    found = sorted(words & (codes | kinds | {s.value for s in Source}))
    for match in re.finditer(r"(?<![A-Za-z0-9])([A-Z]{1,2}\d{1,2})(?![A-Za-z0-9])", text):
        code = match.group(1)
        if code in titles and not text[match.end():].lstrip().startswith(titles[code][:4]):
            found.append(f"{code} without its name")
    return found


def test_the_error_codes_and_kinds_are_collected():
    codes, kinds = error_codes(), ledger_kinds()
    assert {"forbidden", "not_found", "method_not_allowed", "revoked_code", "stale_phase"} <= codes
    assert {"manual_score", "criterion_override", "meeting_struck", "final_result"} <= kinds


def test_the_text_a_person_sees():
    html = ('<title>甲</title><p>乙 <b>S5</b></p><script>var forbidden;</script><style>.poll{}</style>'
            '<input placeholder="丙"><svg><text>manual</text></svg>')
    assert visible_text(html) == "甲 乙 S5 丙"
    assert english_on_page("错误 forbidden · S5 · R5 支部建设", {"forbidden"}, set(),
                           {"S5": "服务群众", "R5": "支部建设"}) == ["forbidden", "S5 without its name"]


@pytest.mark.parametrize("role", ROLES)
def test_no_page_shows_an_english_code(app, world, role):
    codes, kinds = error_codes(), ledger_kinds()
    client = app.test_client()
    if role:
        _sign_in(client, role)
    urls = page_urls(app, world["values"]) + world["scan"]
    seen, problems = 0, {}
    for url in urls:
        response = client.get(url, follow_redirects=url.startswith("/q/"))
        if response.mimetype != "text/html" or 300 <= response.status_code < 400:
            continue
        seen += 1
        found = english_on_page(visible_text(response.get_data(as_text=True)), codes, kinds, world["titles"])
        if found:
            problems[f"{url} ({response.status_code})"] = found
    assert seen >= 15
    assert problems == {}, "\n".join(f"{k}: {v}" for k, v in problems.items())


def test_a_reload_of_a_form_address_says_so_in_words(app, client):
    """A form's address opened directly (a reload after a refused post, a shared link) is a
    405 page in Chinese, never "不支持该请求方法" or "method_not_allowed"."""
    codes, kinds = error_codes(), ledger_kinds()
    posts = [re.sub(r"<(?:[^:<>]+:)?[^<>]+>", "1", rule.rule) for rule in app.url_map.iter_rules()
             if rule.rule.startswith("/h5/") and "GET" not in rule.methods]
    assert len(posts) > 20
    for url in posts:
        response = client.get(url)
        if response.status_code != 405:   # another route of the same path takes GET
            continue
        html = response.get_data(as_text=True)
        assert "这个地址不能直接打开" in html and "请返回上一页重新操作" in html, url
        assert english_on_page(visible_text(html), codes, kinds, {}) == [], url
