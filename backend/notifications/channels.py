"""Outside channels for notifications: each says where a message goes and sends it.

SMS goes to a number the caller names (a resident who left one). Other channels reach a
person: they are installed by the composition root (`install`) with a route that says
where a person gets a kind of message — WeChat installs itself so, and this package knows no
WeChat.

A channel's `send` raises `Retry` for a failure worth trying again (a provider outage, rate
limiting, a timeout) and `Refused` for one that never will succeed (an invalid number, the
person withdrew consent). SMS goes through one provider interface; the provider is chosen
by setting (SMS_PROVIDER): `aliyun` (Aliyun SMS, SendSms) in production, pointed by
SMS_API_BASE at a fake on loopback in tests.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

import requests
from flask import current_app


class Retry(Exception):
    """Try again later."""


class Refused(Exception):
    """Never going to work: the delivery is dead at once."""


@dataclass(frozen=True)
class Message:
    kind: str
    #: Short text values, each at most 20 characters (what SMS and WeChat templates allow).
    params: dict[str, str]
    #: The page the message opens, absolute.
    url: str | None
    #: The provider's idempotency key.
    key: str
    #: When the notification was written.
    at: datetime


class SmsProvider(Protocol):
    def send(self, phone: str, template: str, params: dict[str, str], key: str) -> None: ...


#: Aliyun error codes that a later try may get past; the rest are refusals.
ALIYUN_RETRY = {"isp.SYSTEM_ERROR", "isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "Throttling.User",
                "ServiceUnavailable"}


class AliyunSms:
    """Aliyun SMS `SendSms` (RPC style, signature version 1.0, HMAC-SHA1)."""

    def __init__(self, base: str, key_id: str, key_secret: str, sign_name: str, http: requests.Session):
        self.base, self.key_id, self.key_secret, self.sign_name, self.http = base, key_id, key_secret, sign_name, http

    @staticmethod
    def _quote(value: str) -> str:
        return urllib.parse.quote(value, safe="-_.~")

    def signed(self, params: dict[str, str]) -> dict[str, str]:
        """The request parameters with their Signature."""
        query = "&".join(f"{self._quote(k)}={self._quote(v)}" for k, v in sorted(params.items()))
        to_sign = f"GET&{self._quote('/')}&{self._quote(query)}"
        digest = hmac.new(f"{self.key_secret}&".encode(), to_sign.encode(), hashlib.sha1).digest()
        return {**params, "Signature": base64.b64encode(digest).decode()}

    def send(self, phone: str, template: str, params: dict[str, str], key: str) -> None:
        request = self.signed({
            "AccessKeyId": self.key_id, "Action": "SendSms", "Format": "JSON", "PhoneNumbers": phone,
            "RegionId": "cn-hangzhou", "SignName": self.sign_name, "SignatureMethod": "HMAC-SHA1",
            "SignatureNonce": secrets.token_hex(16), "SignatureVersion": "1.0", "TemplateCode": template,
            "TemplateParam": json.dumps(params, ensure_ascii=False), "Version": "2017-05-25", "OutId": key,
            "Timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")})
        try:
            response = self.http.get(f"{self.base}/", params=request, timeout=10)
        except requests.RequestException as exc:
            raise Retry(f"短信服务无法连接：{type(exc).__name__}") from exc
        if response.status_code >= 500:
            raise Retry(f"短信服务错误 HTTP {response.status_code}")
        try:
            code = response.json().get("Code")
        except ValueError:
            raise Retry(f"短信服务返回无法识别 HTTP {response.status_code}") from None
        if code == "OK":
            return
        raise (Retry if code in ALIYUN_RETRY else Refused)(f"短信服务拒绝：{code}")


_http = requests.Session()


def sms_provider() -> SmsProvider | None:
    """The configured SMS provider, or None when SMS is off (no provider set)."""
    cfg = current_app.config
    if cfg["SMS_PROVIDER"] == "aliyun":
        return AliyunSms(cfg["SMS_API_BASE"], cfg["SMS_ACCESS_KEY_ID"], cfg["SMS_ACCESS_KEY_SECRET"],
                         cfg["SMS_SIGN_NAME"], _http)
    return None


def send_sms(phone: str, message: Message) -> None:
    """Send `message` by SMS, by the template configured for its kind."""
    provider = sms_provider()
    template = current_app.config["SMS_TEMPLATES"].get(message.kind)
    if provider is None or template is None:
        raise Refused("短信未开通或该消息没有短信模板")
    provider.send(phone, template, message.params, message.key)


#: A person-routed channel's route: (person id, kind) → the address to send to, or None. It
#: runs in the notifying transaction and may spend what it needs (a one-time subscription).
Route = Callable[[int, str], str | None]
#: A channel's sender: (address, message), raising Retry or Refused.
Sender = Callable[[str, Message], None]

#: channel name → its sender.
SENDERS: dict[str, Sender] = {"sms": send_sms}
#: channel name → its route, for the channels that reach a person.
ROUTES: dict[str, Route] = {}


def install(name: str, route: Route, sender: Sender) -> None:
    """Add a channel that reaches people (at app creation)."""
    ROUTES[name] = route
    SENDERS[name] = sender
