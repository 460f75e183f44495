"""Gunicorn settings. gthread workers: a slow phone or an open stream holds a thread, not a process."""

import os

worker_class = "gthread"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Open dashboard streams hold threads (at most STREAM_MAX_OPEN of them); the rest serve pages.
threads = int(os.environ.get("GUNICORN_THREADS", "32"))
timeout = 60
graceful_timeout = 20
keepalive = 5
accesslog = "-"
# The path the app names for the request (backend/core/logpaths.py), not the request line: a
# receipt or calendar token in a URL must not end up in the log, and neither may the query
# string (?receipt=) or the Referer (the receipt page a form was posted from).
access_log_format = '%(h)s - - %(t)s "%(m)s %({sanwei.log_path}e)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Gunicorn 25.1+ opens a control socket for `gunicornc` by default, at one path per user
# ($XDG_RUNTIME_DIR/gunicorn.ctl, else ~/.gunicorn/gunicorn.ctl) rather than per server: a
# second gunicorn of the same user (make run beside the tests, the test suite's own servers)
# unlinks the first one's socket and takes it over, and the first removes it on exit. The
# arbiter also stops and restarts the control thread around every worker fork. Nothing
# here uses gunicornc (workers and threads come from the settings above), so it stays off.
control_socket_disable = True


def post_worker_init(worker):
    """The loaded app's objects out of the garbage collector's sight (backend/core/heap.py)."""
    # Imported here, in the worker: this file is read before --chdir puts the app on the path.
    from backend.core.heap import settle  # noqa: PLC0415

    settle()
