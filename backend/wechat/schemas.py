from __future__ import annotations

from marshmallow import EXCLUDE, validate

from backend.core import fields
from backend.core.schemas import Schema


class AuthorizeArgs(Schema):
    next = fields.String(load_default=None,
                         metadata={"description": "a path on this site to open afterwards (anything else, or "
                                                  "longer than 2000 characters: /h5/)"})


class CallbackArgs(Schema):
    class Meta:
        # What WeChat appends is its business; only code and state matter here.
        unknown = EXCLUDE

    code = fields.String(load_default="", validate=validate.Length(max=512))
    state = fields.String(load_default="", validate=validate.Length(max=128))


class MiniProgramLoginSchema(Schema):
    code = fields.String(required=True, validate=validate.Length(min=1, max=512),
                         metadata={"description": "the code from wx.login()"})
    binding_code = fields.String(validate=validate.Length(min=1, max=64),
                                 metadata={"description": "a binding code: link this WeChat to its person"})


class BindingCodeSchema(Schema):
    code = fields.String(required=True, metadata={"description": "shown once; only a hash is kept"})
    url = fields.String(required=True, metadata={"description": "the page to open in WeChat (print it as a QR code)"})
    expires_at = fields.AwareDateTime(required=True)


class JsConfigArgs(Schema):
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000),
                        metadata={"description": "the page's full URL without its #fragment"})


class JsConfigSchema(Schema):
    appId = fields.String(required=True)  # noqa: N815 -- wx.config's own names, passed through as they are
    timestamp = fields.Integer(required=True)
    nonceStr = fields.String(required=True)  # noqa: N815
    signature = fields.String(required=True)
    jsApiList = fields.List(fields.String(), required=True)  # noqa: N815
    openTagList = fields.List(fields.String(), required=True)  # noqa: N815


class SubscriptionReportSchema(Schema):
    details = fields.Dict(keys=fields.String(validate=validate.Length(min=1, max=64)),
                          values=fields.String(validate=validate.Length(min=1, max=32)), required=True,
                          validate=validate.Length(min=1, max=10),
                          metadata={"description": "template id → status, as the open tag's success event reports "
                                                   "(accept, acceptWithAlert, reject, ban, filter, ...)"})


class SubscriptionSchema(Schema):
    template_id = fields.String(required=True)
    long_term = fields.Boolean(required=True)
    remaining = fields.Integer(required=True, metadata={"description": "one-time messages still allowed"})
