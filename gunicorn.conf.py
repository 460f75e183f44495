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
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
