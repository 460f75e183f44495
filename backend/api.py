"""The flask-smorest Api: OpenAPI document and docs, with errors in the project's envelope."""

from __future__ import annotations

import threading
from decimal import Decimal

from apispec import BasePlugin
from flask_smorest import Api, Blueprint

from backend.core import fields
from backend.core.input import load_json
from backend.core.schemas import Schema

# flask-smorest parses the arguments of every blueprint with one webargs parser: its JSON
# bodies are read under the project's rules (depth, characters, JSON's own types).
Blueprint.ARGUMENTS_PARSER.location_loader("json")(load_json)


class ErrorDetailSchema(Schema):
    code = fields.String(required=True, metadata={"description": "stable snake_case; clients branch on it"})
    message = fields.String(required=True, metadata={"description": "for people, in Chinese"})
    fields_ = fields.Dict(required=True, data_key="fields",
                          metadata={"description": "field name → its messages (nested for nested fields)"})


class ErrorSchema(Schema):
    """Every error the API answers (backend.core.errors)."""

    error = fields.Nested(ErrorDetailSchema, required=True)


def _decimal_bounds_as_numbers(self, field, ret, **kwargs) -> dict:
    """apispec writes a Decimal field's bounds as Decimals, which JSON carries as strings
    ("minimum": "0.00"); a JSON Schema bound is a number."""
    return {key: float(value) for key, value in ret.items() if isinstance(value, Decimal)}


class OptionalBodies(BasePlugin):
    """A JSON body none of whose fields is required may be left out (POST …/release with no
    note): its requestBody says so, where flask-smorest marks every body required."""

    def init_spec(self, spec):
        super().init_spec(spec)
        self.spec = spec

    def operation_helper(self, path=None, operations=None, **kwargs):
        for operation in (operations or {}).values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            ref = (((body or {}).get("content") or {}).get("application/json") or {}).get("schema", {}).get("$ref")
            if ref and not self.spec.components.schemas.get(ref.rsplit("/", 1)[-1], {}).get("required"):
                body["required"] = False


#: The error answer of the two steps of WeChat's web authorisation a browser walks through.
HTML_ERROR = {"description": "a Chinese error page (the browser is walked through these steps)",
              "content": {"text/html": {"schema": {"type": "string"}}}}


class SanweiApi(Api):
    """Routes are registered at once, their documentation when the document is first read:
    documenting every operation costs as much as the rest of `create_app`, and a process that
    serves requests may never be asked for the document (the test suite makes thousands of apps)."""

    ERROR_SCHEMA = ErrorSchema

    def __init__(self, *args, **kwargs):
        self._documenting = threading.Lock()
        self._undocumented: list[tuple] = []
        super().__init__(*args, **kwargs)

    @property
    def spec(self):
        with self._documenting:
            pending, self._undocumented = self._undocumented, []
            for blp, name, parameters in pending:
                blp.register_views_in_doc(self, self._app, self._spec, name=name, parameters=parameters)
                self._spec.tag({"name": name, "description": blp.description})
        return self._spec

    @spec.setter
    def spec(self, value) -> None:
        # A new document (init_app): what was waiting belonged to the app before.
        self._spec, self._undocumented = value, []

    def register_blueprint(self, blp, *, parameters=None, **options):
        name = options.get("name", blp.name)
        self._app.extensions["flask-smorest"]["blp_name_to_api"][name] = self
        self._app.register_blueprint(blp, **options)
        self._undocumented.append((blp, name, parameters))

    def _register_error_handlers(self):
        # Errors are formatted app-wide by backend.core.errors; smorest's own shape is not used.
        pass

    def _init_spec(self, **kwargs):
        super()._init_spec(**kwargs)
        self.ma_plugin.converter.add_attribute_function(_decimal_bounds_as_numbers)


api = SanweiApi(spec_kwargs={
    "extra_plugins": [OptionalBodies()],
    "info": {"description": "三微（微心愿、微力量、微服务）与五星党组织创评的接口。"
                            "错误统一为 {\"error\": {\"code\", \"message\", \"fields\"}}。"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
})
