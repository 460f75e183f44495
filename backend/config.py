"""Settings read from the environment, with defaults that run safely on one machine.

Every setting is documented in docs/configuration.md; keep the two in step.
"""

from __future__ import annotations

import os
import secrets
from datetime import date
from pathlib import Path

from backend.core.proxies import parse_networks
from backend.core.workdays import parse_days

ROOT = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("SANWEI_INSTANCE_DIR", ROOT / "instance"))
#: SQLite's `synchronous` levels an operator may choose. In WAL mode NORMAL loses nothing when
#: a process dies but may lose the last commits when the machine loses power; FULL and EXTRA
#: sync the log on every commit and do not. OFF may corrupt the file on power loss: not offered.
SQLITE_SYNCHRONOUS_LEVELS = ("NORMAL", "FULL", "EXTRA")


class ConfigError(RuntimeError):
    """A setting is missing or unsafe for the chosen mode."""


#: Photos one wish may carry.
WISH_MAX_PHOTOS = 3


def _bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return raw.strip().lower() in {"1", "true", "yes", "on"}


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    return default if raw in (None, "") else int(raw)


def _positive(name: str, default: int) -> int:
    """A length of time: zero would make a window without length."""
    value = _int(name, default)
    if value < 1:
        raise ConfigError(f"{name} must be 1 or more")
    return value


def _choice(name: str, default: str, allowed: tuple[str, ...]) -> str:
    value = os.environ.get(name, "").strip().upper() or default
    if value not in allowed:
        raise ConfigError(f"{name} must be one of {', '.join(allowed)}, not {value!r}")
    return value


def _list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    return default if not raw else [item.strip() for item in raw.split(",") if item.strip()]


def _days(name: str) -> frozenset[date]:
    try:
        return parse_days(_list(name, []))
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from exc


def _pair(id_name: str, secret_name: str) -> tuple[str, str]:
    """An app id and its secret: both or neither (one alone is a typo waiting to surprise)."""
    pair = os.environ.get(id_name, "").strip(), os.environ.get(secret_name, "").strip()
    if bool(pair[0]) != bool(pair[1]):
        raise ConfigError(f"{id_name} and {secret_name} are set together or not at all")
    return pair


def _proxies(production: bool) -> tuple[int, str]:
    """How many proxies stand in front (their X-Forwarded-For entries name the client) and
    which peers may say so. Production runs behind nginx; development is reached directly."""
    hops = _int("TRUSTED_PROXY_HOPS", 1 if production else 0)
    allowed = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
    try:
        parse_networks(allowed)
    except ValueError as exc:
        raise ConfigError(f"FORWARDED_ALLOW_IPS: {exc}") from exc
    if hops < 0:
        raise ConfigError("TRUSTED_PROXY_HOPS must be 0 or more")
    return hops, allowed


def _dev_secret_key() -> str:
    """Generate the development secret once and keep it, so sessions survive restarts."""
    path = INSTANCE_DIR / "secret_key"
    if path.exists():
        return path.read_text().strip()
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key)
    return key


def _database_url() -> str:
    url = os.environ.get("DATABASE_URL")
    if not url:
        INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{INSTANCE_DIR / 'sanwei.db'}"
    # Heroku-style URLs name the old driver; we use psycopg 3.
    if url.startswith("postgres://"):
        url = "postgresql://" + url[len("postgres://"):]
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://"):]
    return url


def load_config() -> dict:
    """Build the Flask config mapping from the environment."""
    production = os.environ.get("SANWEI_ENV", "development") == "production"
    secret = os.environ.get("SECRET_KEY")
    if not secret:
        if production:
            raise ConfigError("SECRET_KEY must be set when SANWEI_ENV=production")
        secret = _dev_secret_key()
    public_base = os.environ.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000").rstrip("/")
    proxy_hops, proxies = _proxies(production)
    wish_photo_bytes = _int("WISH_PHOTO_MAX_BYTES", 5 * 1024 * 1024)
    wechat_app, wechat_mp = _pair("WECHAT_APP_ID", "WECHAT_APP_SECRET"), _pair("WECHAT_MP_APP_ID", "WECHAT_MP_SECRET")
    return {
        "SANWEI_ENV": "production" if production else "development",
        "SECRET_KEY": secret,
        "SQLALCHEMY_DATABASE_URI": _database_url(),
        # More engine options (backend.extensions.engine_options adds the per-database ones).
        "SQLALCHEMY_ENGINE_OPTIONS": {},
        # How long a request waits for another's write lock before answering 503.
        "DB_LOCK_TIMEOUT_SECONDS": float(os.environ.get("DB_LOCK_TIMEOUT_SECONDS", "10")),
        # X-Statements on every response (bench/run.py); off, nothing is counted.
        "STATEMENT_COUNT_HEADER": _bool("STATEMENT_COUNT_HEADER", False),
        "SQLITE_SYNCHRONOUS": _choice("SQLITE_SYNCHRONOUS", "NORMAL", SQLITE_SYNCHRONOUS_LEVELS),
        "PUBLIC_BASE_URL": public_base,
        # Unset, pages print the address each request came to (backend/core/urls.py).
        "PUBLIC_BASE_URL_SET": bool(os.environ.get("PUBLIC_BASE_URL")),
        "TIMEZONE": os.environ.get("SANWEI_TIMEZONE", "Asia/Shanghai"),
        "MAX_CONTENT_LENGTH": _int("MAX_CONTENT_LENGTH", 1024 * 1024),
        # The client's address behind the proxy (backend/core/proxies.py): per-client limits
        # (logins, anonymous forms) count real clients, not the proxy.
        "TRUSTED_PROXY_HOPS": proxy_hops,
        "FORWARDED_ALLOW_IPS": proxies,
        "TOKEN_TTL_HOURS": _int("TOKEN_TTL_HOURS", 24 * 7),
        "SESSION_TTL_HOURS": _int("SESSION_TTL_HOURS", 12),
        "LOGIN_MAX_FAILURES": _int("LOGIN_MAX_FAILURES", 5),
        "LOGIN_MAX_FAILURES_PER_IP": _int("LOGIN_MAX_FAILURES_PER_IP", 30),
        "LOGIN_FAILURE_WINDOW_MINUTES": _positive("LOGIN_FAILURE_WINDOW_MINUTES", 15),
        # Failures for one account from all clients in the window before its logins are
        # rationed to one per slot, the slot doubling up to the maximum (docs/auth-and-permissions.md).
        "LOGIN_BACKOFF_AFTER": _int("LOGIN_BACKOFF_AFTER", 10),
        "LOGIN_BACKOFF_MAX_SECONDS": _positive("LOGIN_BACKOFF_MAX_SECONDS", 60),
        "PASSWORD_HASH_METHOD": os.environ.get("PASSWORD_HASH_METHOD", "scrypt"),
        "SESSION_COOKIE_NAME": "sanwei_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": _bool("SESSION_COOKIE_SECURE", public_base.startswith("https://")),
        # Micro-wishes (微心愿); every N and K of the rules, documented in docs/wishes.md.
        "WISH_CATEGORIES": _list("WISH_CATEGORIES", ["生活帮扶", "助老助残", "儿童关爱", "医疗健康", "就业帮扶",
                                                     "环境改善", "其他"]),
        "WISH_DUE_HOURS": {1: _int("WISH_DUE_HOURS_NORMAL", 168), 2: _int("WISH_DUE_HOURS_SOON", 72),
                           3: _int("WISH_DUE_HOURS_URGENT", 24)},
        "WISH_MAX_ACTIVE_CLAIMS": _int("WISH_MAX_ACTIVE_CLAIMS", 3),
        "WISH_CLAIM_STALE_HOURS": _int("WISH_CLAIM_STALE_HOURS", 72),
        "WISH_ESCALATE_UNCLAIMED_HOURS": _int("WISH_ESCALATE_UNCLAIMED_HOURS", 24),
        "WISH_REVIEW_HOURS": _int("WISH_REVIEW_HOURS", 48),
        "WISH_AUTO_CONFIRM_DAYS": _int("WISH_AUTO_CONFIRM_DAYS", 7),
        "WISH_CONTACT_RETENTION_DAYS": _int("WISH_CONTACT_RETENTION_DAYS", 30),
        # Photos with a wish: how many, and how large each may arrive (the form shrinks them on
        # the phone to well under 1 MB; a phone that cannot sends its camera's 2–5 MB file).
        "WISH_MAX_PHOTOS": WISH_MAX_PHOTOS,
        "WISH_PHOTO_MAX_BYTES": wish_photo_bytes,
        "WISH_PHOTOS_MAX_BYTES": WISH_MAX_PHOTOS * wish_photo_bytes,
        # Anonymous forms: new wishes, service bookings and open-QR poll answers (per poll) one
        # client address may send an hour; signed-in people are known and not counted.
        "WISH_CLIENT_HOURLY_LIMIT": _int("WISH_CLIENT_HOURLY_LIMIT", 10),
        "BOOKING_CLIENT_HOURLY_LIMIT": _int("BOOKING_CLIENT_HOURLY_LIMIT", 10),
        "POLL_CLIENT_HOURLY_LIMIT": _int("POLL_CLIENT_HOURLY_LIMIT", 20),
        # Booking engine (activities and services).
        "NO_SHOW_LIMIT": _int("NO_SHOW_LIMIT", 3),
        "NO_SHOW_WINDOW_DAYS": _int("NO_SHOW_WINDOW_DAYS", 90),
        "NO_SHOW_BLOCK_DAYS": _int("NO_SHOW_BLOCK_DAYS", 30),
        "CHECKIN_OPENS_MINUTES": _int("CHECKIN_OPENS_MINUTES", 30),
        # Points per volunteer hour by role (the best rate of the person's roles applies).
        "POINTS_PER_HOUR": {"party_member": _int("POINTS_PER_HOUR_PARTY_MEMBER", 12),
                            "volunteer": _int("POINTS_PER_HOUR_VOLUNTEER", 10),
                            "default": _int("POINTS_PER_HOUR_DEFAULT", 10)},
        "WISH_POINTS": _int("WISH_POINTS", 5),
        # Polls: breakdowns only for groups this large; bursts from one network are flagged.
        "POLL_MIN_GROUP": _int("POLL_MIN_GROUP", 5),
        "POLL_BURST_COUNT": _int("POLL_BURST_COUNT", 10),
        "POLL_BURST_MINUTES": _int("POLL_BURST_MINUTES", 10),
        # Open-QR answers from one network per hour before 429.
        "POLL_NETWORK_HOURLY_LIMIT": _int("POLL_NETWORK_HOURLY_LIMIT", 60),
        # Rating campaigns: public holidays and 调休 make-up working days (ISO dates) for the
        # appeal deadline; China's calendar is published yearly, so it is configuration.
        "RATING_HOLIDAYS": _days("RATING_HOLIDAYS"),
        "RATING_EXTRA_WORKDAYS": _days("RATING_EXTRA_WORKDAYS"),
        # Evidence files behind manual scores: where they are kept (shared by every server
        # process) and how large one may be (a phone photo of a page is 2–5 MB).
        "EVIDENCE_DIR": os.environ.get("EVIDENCE_DIR", str(INSTANCE_DIR / "evidence")),
        "EVIDENCE_MAX_BYTES": _int("EVIDENCE_MAX_BYTES", 10 * 1024 * 1024),
        # Ledger anchors (docs/rating.md#anchors): each day every campaign's ledger head is
        # appended to this file and/or POSTed as JSON to the URL, outside the database, so a
        # copied, restored or edited database cannot rewrite the ledger unseen. Empty path: no file.
        "LEDGER_ANCHOR_PATH": os.environ.get("LEDGER_ANCHOR_PATH", str(INSTANCE_DIR / "ledger-anchors.jsonl")),
        "LEDGER_ANCHOR_URL": os.environ.get("LEDGER_ANCHOR_URL", ""),
        "LEDGER_ANCHOR_TIMEOUT": float(os.environ.get("LEDGER_ANCHOR_TIMEOUT", "10")),
        # Roster workbooks (名册导入): 5,000 rows are about 300 KB.
        "ROSTER_MAX_BYTES": _int("ROSTER_MAX_BYTES", 5 * 1024 * 1024),
        # Key of the keyed hash that recognises a person by ID number on the next import; empty:
        # derived from SECRET_KEY. Set it on its own so rotating SECRET_KEY keeps the hashes.
        "ID_NUMBER_KEY": os.environ.get("ID_NUMBER_KEY", ""),
        # Key of the poll ballots (who has answered) and of the answers' network hashes; empty:
        # derived from SECRET_KEY. Never stored in the database, so a copy of it cannot tell whose
        # ballot is whose. The values it had before stay listed (comma-separated) until every
        # poll open at the change has closed: ballots hashed with them still refuse a second answer.
        "POLL_BALLOT_KEY": os.environ.get("POLL_BALLOT_KEY", ""),
        "POLL_BALLOT_PREVIOUS_KEYS": _list("POLL_BALLOT_PREVIOUS_KEYS", []),
        # Score streams (SSE): how often each process looks for new score events, the
        # keep-alive comment interval, and the reconnection delay suggested to browsers.
        "STREAM_POLL_SECONDS": float(os.environ.get("STREAM_POLL_SECONDS", "0.5")),
        # On PostgreSQL a commit that wrote score events wakes every process (LISTEN/NOTIFY):
        # the poll is then only the fallback, this often. On SQLite each process asks the file
        # whether another connection committed this often instead (PRAGMA data_version).
        "STREAM_NOTIFY_POLL_SECONDS": float(os.environ.get("STREAM_NOTIFY_POLL_SECONDS", "5")),
        "STREAM_SQLITE_WATCH_SECONDS": float(os.environ.get("STREAM_SQLITE_WATCH_SECONDS", "0.02")),
        "STREAM_HEARTBEAT_SECONDS": float(os.environ.get("STREAM_HEARTBEAT_SECONDS", "15")),
        "STREAM_RETRY_MS": _int("STREAM_RETRY_MS", 2000),
        # Each open stream holds a server thread: at most this many per process (keep it
        # below GUNICORN_THREADS), each closed after this long (the browser reconnects).
        "STREAM_MAX_OPEN": _int("STREAM_MAX_OPEN", 24),
        # ...and at most this many of them for one person (the rest of their pages poll).
        "STREAM_MAX_PER_PERSON": _int("STREAM_MAX_PER_PERSON", 3),
        "STREAM_MAX_SECONDS": _int("STREAM_MAX_SECONDS", 300),
        "PRIVACY_NOTICE_VERSION": os.environ.get("PRIVACY_NOTICE_VERSION", "2026-11"),
        # Notifications by SMS (residents who left a number); off unless SMS_PROVIDER is set.
        "SMS_PROVIDER": os.environ.get("SMS_PROVIDER", ""),
        "SMS_API_BASE": os.environ.get("SMS_API_BASE", "https://dysmsapi.aliyuncs.com").rstrip("/"),
        "SMS_ACCESS_KEY_ID": os.environ.get("SMS_ACCESS_KEY_ID", ""),
        "SMS_ACCESS_KEY_SECRET": os.environ.get("SMS_ACCESS_KEY_SECRET", ""),
        "SMS_SIGN_NAME": os.environ.get("SMS_SIGN_NAME", ""),
        # kind=template code pairs, e.g. "wish_claimed=SMS_1,wish_fulfilled=SMS_2".
        "SMS_TEMPLATES": dict(item.split("=", 1) for item in _list("SMS_TEMPLATES", []) if "=" in item),
        # No SMS from 21:00 to 08:00 local time; at most this many a day to one number.
        "NOTIFY_QUIET_HOURS": (_int("NOTIFY_QUIET_START", 21), _int("NOTIFY_QUIET_END", 8)),
        "NOTIFY_DAILY_CAP": _int("NOTIFY_DAILY_CAP", 5),
        "NOTIFY_MAX_ATTEMPTS": _int("NOTIFY_MAX_ATTEMPTS", 8),
        "NOTIFY_RETRY_SECONDS": _int("NOTIFY_RETRY_SECONDS", 60),
        # WeChat (docs/wechat.md): the 公众号 for sign-in inside WeChat, the mini-program for its
        # login and subscribe messages. Unset: no WeChat sign-in, no WeChat button, nothing else
        # changes. The two bases are WeChat's own; tests point them at a fake on loopback.
        "WECHAT_APP_ID": wechat_app[0],
        "WECHAT_APP_SECRET": wechat_app[1],
        "WECHAT_MP_APP_ID": wechat_mp[0],
        "WECHAT_MP_SECRET": wechat_mp[1],
        "WECHAT_API_BASE": os.environ.get("WECHAT_API_BASE", "https://api.weixin.qq.com").rstrip("/"),
        "WECHAT_OPEN_BASE": os.environ.get("WECHAT_OPEN_BASE", "https://open.weixin.qq.com").rstrip("/"),
        # The 服务号's subscribe-notification templates (订阅通知), kind=template id pairs, e.g.
        # "wish_claimed=AbC...,booking_reminder=XyZ...". A kind with a template goes to WeChat for
        # whoever allowed it; the ids listed in WECHAT_LONG_TERM_TEMPLATES are long-term
        # subscriptions (政务民生 accounts), the rest one-time.
        "WECHAT_TEMPLATES": dict(item.split("=", 1) for item in _list("WECHAT_TEMPLATES", []) if "=" in item),
        "WECHAT_LONG_TERM_TEMPLATES": frozenset(_list("WECHAT_LONG_TERM_TEMPLATES", [])),
        # Which template field carries what: key=title|detail|time (thing values are cut to 20
        # characters, as WeChat requires). Every template used must have these fields.
        "WECHAT_TEMPLATE_FIELDS": dict(item.split("=", 1) for item in _list(
            "WECHAT_TEMPLATE_FIELDS", ["thing1=title", "thing2=detail", "time3=time"]) if "=" in item),
        # WeChat's JS-SDK, loaded only by pages inside WeChat that ask for subscriptions.
        "WECHAT_JSSDK_URL": os.environ.get("WECHAT_JSSDK_URL", "https://res.wx.qq.com/open/js/jweixin-1.6.0.js"),
        "NODE_MODULES_DIR": os.environ.get("SANWEI_NODE_MODULES", str(ROOT / "node_modules")),
        # flask-smorest / OpenAPI
        "API_TITLE": "Sanwei 三微 API",
        "API_VERSION": "v1",
        "OPENAPI_VERSION": "3.0.3",
        "OPENAPI_URL_PREFIX": "/api/v1",
        "OPENAPI_JSON_PATH": "openapi.json",
        "OPENAPI_SWAGGER_UI_PATH": "docs",
        "OPENAPI_SWAGGER_UI_URL": "/vendor/swagger-ui/",
        "COMPRESS_MIMETYPES": [
            "text/html", "text/css", "application/javascript", "text/javascript",
            "application/json", "image/svg+xml", "text/plain",
        ],
        "COMPRESS_MIN_SIZE": 512,
    }
