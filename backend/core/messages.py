"""Chinese validation messages for marshmallow, set once at start-up.

Field errors reach residents' phones through the H5 pages, so they are Chinese like the rest
of the UI. The error *codes* in the envelope stay English and stable; clients branch on those.
"""

from __future__ import annotations

from marshmallow import Schema, fields, validate

UNKNOWN_FIELD = "无法识别的字段"

_FIELD_MESSAGES = {
    fields.Field: {"required": "此项必填", "null": "此项不能为空", "validator_failed": "取值无效"},
    fields.String: {"invalid": "应为文本", "invalid_utf8": "文本编码无效"},
    fields.Integer: {"invalid": "应为整数"},
    fields.Number: {"invalid": "应为数字", "too_large": "数字过大"},
    fields.Float: {"special": "不能是 NaN 或无穷大"},
    fields.Boolean: {"invalid": "应为 true 或 false"},
    fields.DateTime: {"invalid": "时间格式不正确", "invalid_awareness": "时间须带时区",
                      "format": "时间格式不正确"},
    fields.List: {"invalid": "应为列表"},
    fields.Nested: {"type": "格式不正确"},
    fields.Email: {"invalid": "邮箱格式不正确"},
    fields.Url: {"invalid": "网址格式不正确，应以 http:// 或 https:// 开头"},
    fields.Date: {"invalid": "日期格式不正确", "format": "日期格式不正确"},
    fields.Decimal: {"special": "应为数字"},
}


def install() -> None:
    """Make every marshmallow default message Chinese (idempotent)."""
    for field_cls, messages in _FIELD_MESSAGES.items():
        field_cls.default_error_messages = {**field_cls.default_error_messages, **messages}
    Schema._default_error_messages = {"type": "格式不正确", "unknown": UNKNOWN_FIELD}
    validate.OneOf.default_message = "须为以下之一：{choices}"
    validate.Regexp.default_message = "格式不正确"
    validate.Length.message_min = "至少 {min} 个字符"
    validate.Length.message_max = "最多 {max} 个字符"
    validate.Length.message_all = "长度须在 {min} 到 {max} 之间"
    validate.Length.message_equal = "长度须为 {equal}"
    # Range formats its messages twice (operator first), hence the doubled braces.
    validate.Range.message_min = "不能小于 {{min}}"
    validate.Range.message_max = "不能大于 {{max}}"
    validate.Range.message_all = "须在 {{min}} 到 {{max}} 之间"
