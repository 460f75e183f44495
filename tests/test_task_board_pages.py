"""The task board comes in pages of 30: a grid leader's phone draws one at once and says where
the list goes on. Every wish of the board is on exactly one page, in the board's order; a page
past the end, or a page number that is not one, answers a page that says so."""

from __future__ import annotations

import re

import sqlalchemy as sa

from backend.extensions import db
from backend.people.actors import load_actor
from backend.people.models import Person
from backend.wishes import service
from backend.wishes.models import WishStatus
from h5.wish_pages import TASKS_PER_PAGE
from tests import test_statement_counts
from tests.test_statement_counts import add_wishes, page_client

demo = test_statement_counts.demo

ROW = re.compile(r'href="/h5/tasks/(\d+)"')


def board_ids(person_id: int) -> list[int]:
    board = service.board(load_actor(person_id), statuses=(WishStatus.open.value, WishStatus.pending_review.value))
    return [row.id for row in service.task_rows(board, 10_000)]


def test_every_wish_of_the_board_is_on_one_page_in_order(app, client, demo):
    add_wishes(client, demo, 65)
    leader = page_client(app, "heping_g1")
    expected = board_ids(db.session.scalar(sa.select(Person.id).where(Person.username == "heping_g1")))
    assert len(expected) > 2 * TASKS_PER_PAGE

    seen, url, pages = [], "/h5/tasks", 0
    while url:
        page = leader.get(url).get_data(as_text=True)
        rows = [int(i) for i in ROW.findall(page)]
        pages += 1
        assert f"第 {pages} 页" in page
        assert len(rows) == min(TASKS_PER_PAGE, len(expected) - len(seen))
        if pages > 1:
            assert f'href="/h5/tasks?page={pages - 1}"' in page or (pages == 2 and 'href="/h5/tasks"' in page)
        seen += rows
        nxt = re.search(r'href="(/h5/tasks\?page=\d+)">下一页', page)
        url = nxt.group(1) if nxt else None
    assert seen == expected


def test_a_page_past_the_end_or_not_a_number(app, client, demo):
    add_wishes(client, demo, 3)
    leader = page_client(app, "heping_g1")
    first = leader.get("/h5/tasks").get_data(as_text=True)
    assert 'data-testid="task-pager"' not in first and ROW.search(first)   # one page: no pager
    for odd in ("abc", "-4", "0"):
        page = leader.get(f"/h5/tasks?page={odd}").get_data(as_text=True)
        assert ROW.findall(page) == ROW.findall(first) and 'data-testid="task-pager"' not in page
    for far in ("7", str(10 ** 40)):
        page = leader.get(f"/h5/tasks?page={far}")
        text = page.get_data(as_text=True)
        assert page.status_code == 200 and not ROW.search(text)
        assert "这一页没有心愿了" in text and 'href="/h5/tasks">回到第一页' in text and "下一页" not in text
    mine = leader.get("/h5/tasks?tab=mine&page=3").get_data(as_text=True)
    assert 'href="/h5/tasks?tab=mine">回到第一页' in mine
