"""The error envelope, request limits and the OpenAPI document. Bad input never gives a 500."""

from __future__ import annotations

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories as f


def envelope(response, status, code=None):
    assert response.status_code == status, response.get_data(as_text=True)
    body = response.get_json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert "Traceback" not in response.get_data(as_text=True)
    if code:
        assert body["error"]["code"] == code
    return body["error"]


@pytest.fixture
def headers(app, client):
    orgs = f.tree()
    f.person(username="officer", role="street_officer", org=orgs["street"])
    return f.login(client, "officer")


def test_malformed_json(client, headers):
    response = client.post("/api/v1/orgs", data='{"name": "x",', content_type="application/json", headers=headers)
    envelope(response, 400, "malformed_json")


def test_unknown_field_is_named(client, headers):
    response = client.post("/api/v1/orgs", json={"name": "x", "kind": "street", "colour": "red"}, headers=headers)
    error = envelope(response, 422, "unknown_field")
    assert "colour" in error["fields"]
    assert "colour" in error["message"]


def test_missing_and_mistyped_fields(client, headers):
    error = envelope(client.post("/api/v1/orgs", json={"kind": "grid"}, headers=headers), 422, "validation_error")
    assert error["fields"]["name"] == ["此项必填"]
    error = envelope(client.post("/api/v1/orgs", json={"name": 5, "kind": "nope"}, headers=headers), 422)
    assert set(error["fields"]) == {"name", "kind"}


def test_json_that_is_not_an_object(client, headers):
    envelope(client.post("/api/v1/orgs", data="[1, 2]", content_type="application/json", headers=headers), 422)


def test_non_json_body_is_refused(client, headers):
    response = client.post("/api/v1/orgs", data="name=x", content_type="application/x-www-form-urlencoded",
                           headers=headers)
    envelope(response, 422, "validation_error")


def test_body_too_large(app, client, headers):
    app.config["MAX_CONTENT_LENGTH"] = 1024
    response = client.post("/api/v1/orgs", json={"name": "x" * 5000, "kind": "street"}, headers=headers)
    envelope(response, 413, "payload_too_large")


def test_unknown_path_and_wrong_method(client, headers):
    envelope(client.get("/api/v1/nothing-here", headers=headers), 404, "not_found")
    response = client.delete("/api/v1/orgs", headers=headers)
    envelope(response, 405, "method_not_allowed")
    assert "GET" in response.headers["Allow"]


def test_paging_limits(client, headers):
    envelope(client.get("/api/v1/orgs?per_page=101", headers=headers), 422, "validation_error")
    envelope(client.get("/api/v1/orgs?page=0", headers=headers), 422, "validation_error")
    body = client.get("/api/v1/orgs?per_page=1&page=1", headers=headers).get_json()
    assert set(body) == {"items", "total"}
    assert len(body["items"]) == 1 and body["total"] == 7


def test_html_pages_get_chinese_error_pages(client):
    response = client.get("/h5/no-such-page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
    assert "找不到该内容" in response.get_data(as_text=True)


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4),
    max_leaves=10,
)


@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=json_values, path=st.sampled_from(["/api/v1/auth/login", "/api/v1/orgs", "/api/v1/people",
                                                   "/api/v1/qrcodes"]))
def test_random_json_never_gives_500(client, headers, payload, path):
    data = json.dumps(payload, allow_nan=True)
    response = client.post(path, data=data, content_type="application/json", headers=headers)
    assert response.status_code < 500, (path, data, response.get_data(as_text=True))
    if response.status_code >= 400:
        envelope(response, response.status_code)


def test_openapi_document(client):
    doc = client.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"].startswith("3.")
    for path in ("/api/v1/auth/login", "/api/v1/me", "/api/v1/orgs", "/api/v1/orgs/{org_id}/members",
                 "/api/v1/people", "/api/v1/qrcodes", "/api/v1/qrcodes/{qr_id}/revoke"):
        assert path in doc["paths"], path


def test_docs_are_served_without_a_cdn(client):
    page = client.get("/api/v1/docs").get_data(as_text=True)
    assert "/vendor/swagger-ui/swagger-ui-bundle.js" in page
    assert "//cdn" not in page and "unpkg" not in page and "jsdelivr" not in page
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert client.get(f"/vendor/swagger-ui/{asset}").status_code == 200
    assert client.get("/vendor/weui/weui.min.css").status_code == 200
    assert client.get("/vendor/secret/../../package.json").status_code == 404
