"""One error shape for the whole API: {"error": {"code", "message", "fields"}}.

Services raise DomainError subclasses; the handlers below turn those and every HTTP error
into the envelope (API) or a Chinese error page (H5). Nothing else formats errors.
"""

from __future__ import annotations

from flask import Flask, current_app, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from backend.core.messages import UNKNOWN_FIELD

#: Default code and Chinese message per status, used when nothing more specific is known.
STATUS_DEFAULTS: dict[int, tuple[str, str]] = {
    400: ("bad_request", "请求格式不正确"),
    401: ("unauthorized", "请先登录"),
    403: ("forbidden", "没有权限执行此操作"),
    404: ("not_found", "找不到该内容"),
    405: ("method_not_allowed", "不支持该请求方法"),
    409: ("conflict", "操作与当前状态冲突"),
    410: ("gone", "该内容已失效"),
    413: ("payload_too_large", "提交的内容过大"),
    415: ("unsupported_media_type", "请以 JSON 格式提交"),
    422: ("validation_error", "提交的内容有误"),
    429: ("too_many_requests", "操作过于频繁，请稍后再试"),
    500: ("internal_error", "服务器开小差了，请稍后再试"),
}
#: Page titles for the generic codes whose API message speaks of the request, not of the page
#: (a reload of a form's address answers 405; a status without a default has werkzeug's English name).
PAGE_MESSAGES: dict[str, str] = {
    "method_not_allowed": "这个地址不能直接打开",
    "bad_request": "页面提交的内容不完整",
    "unsupported_media_type": "页面提交的内容无法识别",
    "http_error": "页面暂时打不开",
}
#: What a person can do next, per status, said under the message on an error page (the stable
#: code stays in the page's markup for support, never in its text).
STATUS_HINTS: dict[int, str] = {
    400: "请返回上一页，检查后重新提交",
    401: "请登录后再打开本页",
    403: "本页只对负责这项工作的人员开放；如需办理，请联系社区工作人员",
    404: "链接可能有误，或内容已被删除。请核对链接，或返回首页查找",
    405: "请返回上一页重新操作，不要刷新已提交的页面",
    409: "情况已有变化，请返回上一页刷新后再试",
    410: "请使用最新的二维码或链接",
    413: "请缩小图片或删减内容后再提交",
    415: "请返回上一页重新提交",
    422: "请返回上一页，按提示修改后重新提交",
    429: "请稍等几分钟再试",
    500: "请稍后再试；如果一直这样，请联系社区工作人员",
    503: "请稍后再试；如果一直这样，请联系社区工作人员",
}


class DomainError(Exception):
    """A rule refused the request. `code` is stable; clients branch on it."""

    status = 400
    code = "bad_request"
    message = "请求格式不正确"

    def __init__(self, message: str | None = None, *, code: str | None = None,
                 fields: dict | None = None, status: int | None = None,
                 headers: dict | None = None):
        super().__init__(message or self.message)
        self.message = message or self.message
        self.code = code or self.code
        self.fields = fields or {}
        self.status = status or self.status
        self.headers = headers or {}


class NotFound(DomainError):
    status, code, message = 404, "not_found", "找不到该内容"


class Unauthorized(DomainError):
    status, code, message = 401, "unauthorized", "请先登录"


class Forbidden(DomainError):
    status, code, message = 403, "forbidden", "没有权限执行此操作"


class Conflict(DomainError):
    status, code, message = 409, "conflict", "操作与当前状态冲突"


class Gone(DomainError):
    status, code, message = 410, "gone", "该内容已失效"


class Invalid(DomainError):
    status, code, message = 422, "validation_error", "提交的内容有误"


class TooManyRequests(DomainError):
    status, code, message = 429, "too_many_requests", "操作过于频繁，请稍后再试"


class Unavailable(DomainError):
    status, code, message = 503, "unavailable", "服务繁忙，请稍后再试"


def wants_json() -> bool:
    return request.path.startswith("/api/")


def error_response(status: int, code: str, message: str, fields: dict | None = None,
                   headers: dict | None = None, *, as_page: bool = False):
    if wants_json() and not as_page:
        body = {"error": {"code": code, "message": message, "fields": fields or {}}}
        response = jsonify(body)
    else:
        response = current_app.make_response(
            render_template("error.html", status=status, code=code, message=message, fields=fields or {},
                            hint=STATUS_HINTS.get(status, STATUS_HINTS[500] if status >= 500 else STATUS_HINTS[400]))
        )
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _http_error(exc: HTTPException):
    status = exc.code or 500
    code, message = STATUS_DEFAULTS.get(status, ("http_error", exc.name))
    fields = None
    data = getattr(exc, "data", None) or {}
    messages = data.get("messages") if isinstance(data, dict) else None
    if messages:
        # webargs puts errors under the location they came from ("json", "query", ...).
        fields = {}
        for location_errors in messages.values():
            if isinstance(location_errors, dict):
                fields.update(location_errors)
        if status == 400:
            code, message = "malformed_json", "JSON 格式不正确"
        elif status == 422:
            unknown = [k for k, v in fields.items() if v == [UNKNOWN_FIELD]]
            if unknown and len(unknown) == len(fields):
                code, message = "unknown_field", "包含无法识别的字段：" + "、".join(sorted(unknown))
    if not wants_json():
        message = PAGE_MESSAGES.get(code, message)
    headers = {}
    if status == 405 and exc.valid_methods:
        headers["Allow"] = ", ".join(exc.valid_methods)
    return error_response(status, code, message, fields, headers)


def domain_error(exc: DomainError):
    """The JSON answer to a refused request."""
    return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers)


def page_error(exc: DomainError):
    """A refused request as the Chinese error page even under /api/: for the steps of a sign-in
    that a browser is walked through (WeChat's callback), where JSON would be a dead end."""
    return error_response(exc.status, exc.code, exc.message, exc.fields, exc.headers, as_page=True)


def unexpected(exc: Exception):
    """The 500 answer to a failure nobody foresaw; logged with its traceback."""
    current_app.logger.exception("unhandled error on %s %s", request.method, request.path)
    code, message = STATUS_DEFAULTS[500]
    return error_response(500, code, message)


def register_error_handlers(app: Flask) -> None:
    app.register_error_handler(DomainError, domain_error)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(Exception, unexpected)
