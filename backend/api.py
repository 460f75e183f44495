"""The flask-smorest Api: OpenAPI document and docs, with errors in the project's envelope."""

from __future__ import annotations

from flask_smorest import Api


class SanweiApi(Api):
    def _register_error_handlers(self):
        # Errors are formatted app-wide by backend.core.errors; smorest's own shape is not used.
        pass


api = SanweiApi(spec_kwargs={
    "info": {"description": "三微（微心愿、微力量、微服务）与五星党组织创评的接口。"
                            "错误统一为 {\"error\": {\"code\", \"message\", \"fields\"}}。"},
    "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
})
