"""Statements per request, for `make bench` (bench/run.py): with STATEMENT_COUNT_HEADER on,
every response says how many SQL statements its request sent in `X-Statements`.

Off (the default) nothing is installed: no listener, no hook, so production pays nothing.
"""

from __future__ import annotations

from flask import Flask, Response, g, has_request_context
from sqlalchemy import event
from sqlalchemy.engine import Engine

HEADER = "X-Statements"


def install(app: Flask, engine: Engine) -> None:
    """Count the statements `engine` sends while serving a request of `app`."""

    @event.listens_for(engine, "before_cursor_execute")
    def _count(conn, cursor, statement, parameters, context, executemany):
        # Outside a request (CLI, jobs, the scheduler) there is nobody to tell.
        if has_request_context():
            g.sanwei_statements = g.get("sanwei_statements", 0) + 1

    # Registered before every other hook: the count starts before theirs and is read after
    # theirs (after_request hooks run in reverse order). `g` outlives a request when an app
    # context is reused (tests), so each request starts from zero.
    @app.before_request
    def _start():
        g.sanwei_statements = 0

    @app.after_request
    def _report(response: Response) -> Response:
        response.headers[HEADER] = str(g.get("sanwei_statements", 0))
        return response
