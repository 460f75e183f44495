"""A real HTTP server on loopback for tests that need one (browsers, concurrent clients)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.serving import make_server

from backend.app import create_app
from backend.demo import load_demo
from backend.extensions import db
from tests.conftest import TEST_CONFIG


@contextmanager
def serve_wsgi(wsgi_app) -> Iterator[str]:
    """Serve any WSGI callable (a fake provider) on a free loopback port; yields its base URL."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=10)


@contextmanager
def serve(db_url: str, **config) -> Iterator[tuple[str, object]]:
    """Serve the app on a free loopback port from a thread; yields (base URL, app).

    PUBLIC_BASE_URL is the server's own URL, so printed QR codes point at it. Score streams
    send a keep-alive every second (production: 15 s): a client that closes a stream while
    its reader thread waits on the socket is released by the next keep-alive."""
    app = create_app({**TEST_CONFIG, "SQLALCHEMY_DATABASE_URI": db_url, "STREAM_HEARTBEAT_SECONDS": 1, **config})
    server = make_server("127.0.0.1", 0, app, threaded=True)
    base_url = f"http://127.0.0.1:{server.server_port}"
    app.config["PUBLIC_BASE_URL"] = base_url
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield base_url, app
    finally:
        server.shutdown()
        thread.join(timeout=10)
        with app.app_context():
            db.engine.dispose()


@contextmanager
def demo_server(db_url: str, **config) -> Iterator[tuple[str, object]]:
    """The app with demo data and these settings, served on a free loopback port: (URL, app)."""
    with serve(db_url, **config) as (base_url, app):
        with app.app_context():
            load_demo()
            db.session.commit()
            db.session.remove()
        yield base_url, app


def answer_jssdk(page, fake) -> None:
    """The JS-SDK stand-in's calls (the real SDK talks to the WeChat app) answered by the fake
    WeChat: a page inside WeChat signs wx.config, scans, sets its share card, subscribes."""
    page.route("**/__wechat_jssdk/*", lambda route: route.fulfill(
        content_type="application/json", body=json.dumps(fake.jssdk_call(
            route.request.url.rsplit("/", 1)[1], json.loads(route.request.post_data or "{}")))))

