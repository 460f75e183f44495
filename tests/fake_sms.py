"""A fake Aliyun SMS endpoint (SendSms) on 127.0.0.1: real HTTP, a signature check written
from the provider's documentation, messages kept by OutId (what the provider would have
delivered once), and outages on demand."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager

from werkzeug.wrappers import Request, Response

from tests.live import serve_wsgi

KEY_ID, KEY_SECRET = "fake-key-id", "fake-key-secret"


class FakeSms:
    def __init__(self):
        self.delivered: dict[str, dict] = {}
        self.calls = 0
        #: The next `n` calls fail: ("http", 500) or ("code", "isv.MOBILE_NUMBER_ILLEGAL").
        self.failures: list[tuple[str, object]] = []
        self.lock = threading.Lock()

    def fail_next(self, n: int, kind: str = "http", value: object = 500) -> None:
        self.failures += [(kind, value)] * n

    @staticmethod
    def _signature(params: dict[str, str]) -> str:
        def quote(v: str) -> str:
            return urllib.parse.quote(v, safe="-_.~")
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in sorted(params.items()) if k != "Signature")
        digest = hmac.new(f"{KEY_SECRET}&".encode(), f"GET&%2F&{quote(query)}".encode(), hashlib.sha1).digest()
        return base64.b64encode(digest).decode()

    def __call__(self, environ, start_response):
        request = Request(environ)
        params = dict(request.args)
        with self.lock:
            self.calls += 1
            failure = self.failures.pop(0) if self.failures else None
            if failure and failure[0] == "http":
                return Response("busy", status=failure[1])(environ, start_response)
            if failure:
                body = {"Code": failure[1], "Message": "fake refusal"}
            elif params.get("AccessKeyId") != KEY_ID or params.get("Signature") != self._signature(params):
                body = {"Code": "SignatureDoesNotMatch", "Message": "bad signature"}
            else:
                self.delivered.setdefault(params["OutId"], {
                    "phone": params["PhoneNumbers"], "template": params["TemplateCode"],
                    "params": json.loads(params["TemplateParam"])})
                body = {"Code": "OK", "Message": "OK", "BizId": "fake"}
        return Response(json.dumps(body), mimetype="application/json")(environ, start_response)


@contextmanager
def fake_sms() -> Iterator[tuple[str, FakeSms]]:
    """(base URL, the fake) for the duration of the block."""
    fake = FakeSms()
    with serve_wsgi(fake) as base_url:
        yield base_url, fake
