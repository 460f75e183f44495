"""What the access log may show of a request: where it went, not the secrets in its URL.

A receipt in a path (/h5/w/r/<receipt>) opens someone's wish and phone number, a calendar
token their feed; access logs are kept, copied and read by more people than the database. So
the app names, for each request, the path to log (WSGI environ key LOG_PATH_KEY, which the
gunicorn access log prints instead of the request line): the route's rule where one of its
arguments is a secret, the path otherwise — and never the query string (`?receipt=`, WeChat's
`code`, `next`). A path no route matched has its long segments elided, since secrets are long.
"""

from __future__ import annotations

import re

from flask import request

#: Route arguments that are secrets (the URL alone grants access).
SECRET_ARGUMENTS = frozenset({"receipt", "token"})
#: Where the path to log is left for the server (gunicorn: %({sanwei.log_path}e)s).
LOG_PATH_KEY = "sanwei.log_path"
_LONG_SEGMENT = re.compile(r"[^/]{16,}")


def loggable_path() -> str:
    """The path of this request as the access log may show it."""
    rule = request.url_rule
    if rule is None:
        return _LONG_SEGMENT.sub("…", request.path)
    return rule.rule if SECRET_ARGUMENTS & rule.arguments else request.path


def mark_log_path() -> None:
    """before_request, first of all (a refusal by a later hook still gets logged right)."""
    request.environ[LOG_PATH_KEY] = loggable_path()
