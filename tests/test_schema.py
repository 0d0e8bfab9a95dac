"""The OpenAPI schema and the API docs: valid, complete, with the documented shape names."""

from __future__ import annotations

import json
import re

import pytest
import yaml
from django.test import Client
from openapi_spec_validator import validate

from tests.support.routes import HTTP_METHODS
from tests.support.routes import api_routes as _api_routes
from tests.support.routes import normalise as _normalise
from tests.support.routes import view_methods as _view_methods

SWAGGER_URL = re.compile(r'\burl:\s*("(?:[^"\\]|\\.)*")')


@pytest.fixture(scope="module")
def schema() -> dict:
    response = Client().get("/api/v1/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def test_normalise_handles_both_pattern_styles():
    assert _normalise("api/v1/^auth/login/?$") == "/api/v1/auth/login"
    assert _normalise("/api/v1/auth/login/") == "/api/v1/auth/login"
    assert (
        _normalise(r"api/v1/^user/invoices/(?P<id>[0-9a-f]{8}(-[0-9a-f]{4}){3})/pay/?$")
        == "/api/v1/user/invoices/{id}/pay"
    )
    assert _normalise("api/v1/plugins/<slug:name>/") == "/api/v1/plugins/{name}"
    assert _normalise("/api/v1/user/invoices/{id}/pay") == "/api/v1/user/invoices/{id}/pay"


def test_schema_json_is_a_valid_openapi_3_0_document(schema):
    assert schema["openapi"].startswith("3.0.")
    validate(schema)


def test_schema_defaults_to_yaml():
    # when the format is not given
    response = Client().get("/api/v1/schema/")

    # then the same document comes as YAML
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert "json" not in response["Content-Type"]
    assert not response.content.lstrip().startswith(b"{")
    document = yaml.safe_load(response.content)
    assert document["openapi"].startswith("3.0.")
    assert "/api/v1/auth/login/" in document["paths"] or "/api/v1/auth/login" in document["paths"]


@pytest.mark.parametrize("path", ["/api/v1/schema", "/api/v1/schema/"])
def test_schema_route_takes_an_optional_trailing_slash(path):
    response = Client().get(path, {"format": "json"})

    assert response.status_code == 200
    assert json.loads(response.content)["openapi"].startswith("3.0.")


@pytest.mark.parametrize("path", ["/api/v1/docs", "/api/v1/docs/"])
def test_docs_are_a_swagger_ui_page_loading_the_json_schema(path):
    response = Client().get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    assert "swagger-ui" in page.lower()
    # The start-up script is served separately (no inline script under the CSP).
    assert f'<script src="{path}?script="></script>' in page
    script = Client().get(path, {"script": ""}).content.decode()
    urls = [json.loads(literal) for literal in SWAGGER_URL.findall(script)]
    assert urls == ["/api/v1/schema/?format=json"]


def test_route_walker_finds_the_api_routes():
    routes = _api_routes()

    # a sanity check that the walk sees nested includes and skips the docs routes
    assert {"/api/v1/health", "/api/v1/auth/login", "/api/v1/user/details"} <= set(routes)
    assert "/api/v1/schema" not in routes
    assert "/api/v1/docs" not in routes
    assert all(path.startswith("/api/v1/") for path in routes)


def test_every_api_route_is_in_the_schema(schema):
    documented = {_normalise(path) for path in schema["paths"]}

    missing = sorted(set(_api_routes()) - documented)

    assert missing == []


def test_every_method_of_every_route_is_in_the_schema(schema):
    documented = {_normalise(path): item for path, item in schema["paths"].items()}

    missing = sorted(
        f"{method.upper()} {path}"
        for path, entry in _api_routes().items()
        for method in _view_methods(entry)
        if method not in documented.get(path, {})
    )

    assert missing == []


def test_schema_documents_no_route_that_does_not_exist(schema):
    routes = set(_api_routes())

    phantom = sorted(
        path
        for path in (_normalise(raw) for raw in schema["paths"])
        if path.startswith("/api/v1/") and path not in routes
    )

    assert phantom == []


def test_components_carry_the_shape_names(schema):
    components = set(schema["components"]["schemas"])

    assert {"Error", "User", "UserDetails", "AuthUser", "ProfileUser"} <= components


def test_error_component_has_error_and_code(schema):
    error = schema["components"]["schemas"]["Error"]

    assert set(error["required"]) == {"error", "code"}
    assert {"error", "code", "errors"} <= set(error["properties"])


def _resolve(schema: dict, node: dict) -> dict:
    reference = node.get("$ref")
    if reference is None:
        return node
    return schema["components"]["schemas"][reference.rsplit("/", 1)[-1]]


def test_every_documented_error_response_has_error_and_code(schema):
    # every 4xx/5xx body carries `error` and `code`, so its schema must say so
    offenders = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in HTTP_METHODS:
                continue
            for status, response in operation.get("responses", {}).items():
                if not str(status).startswith(("4", "5")):
                    continue
                body = response.get("content", {}).get("application/json", {}).get("schema", {})
                resolved = _resolve(schema, body)
                if not {"error", "code"} <= set(resolved.get("required", [])):
                    offenders.append(f"{method.upper()} {path} {status}")

    assert offenders == []


def test_auth_error_responses_use_the_auth_error_component(schema):
    offenders = []
    for path, item in schema["paths"].items():
        if not _normalise(path).startswith("/api/v1/auth/"):
            continue
        for method, operation in item.items():
            for status, response in operation.get("responses", {}).items():
                if not str(status).startswith(("4", "5")):
                    continue
                body = response.get("content", {}).get("application/json", {}).get("schema", {})
                if body.get("$ref") != "#/components/schemas/AuthError":
                    offenders.append(f"{method.upper()} {path} {status}")

    assert offenders == []
    assert "success" in schema["components"]["schemas"]["AuthError"]["required"]
