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


def _operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                yield path, method, operation


def test_every_operation_documents_the_errors_its_construction_implies(schema):
    # every route is rate-limited and reads a query string; a token-guarded one answers 401, an
    # admin one 403, one naming an object 404, a POST 409 (Idempotency-Key), a body 413 and 415
    missing = []
    for path, method, operation in _operations(schema):
        documented = set(operation["responses"])
        implied = {"400", "429"}
        if operation.get("security") and {} not in operation["security"]:
            implied.add("401")
        if path.startswith("/api/v1/admin/"):
            implied |= {"401", "403"}
        if "{" in path or path.startswith("/api/v1/plugins/"):
            implied.add("404")
        if method in {"post", "put", "patch"}:
            implied |= {"413", "415"}
        missing += [f"{method.upper()} {path} {status}" for status in sorted(implied - documented)]

    assert missing == []


def test_no_path_has_an_empty_segment(schema):
    assert [path for path in schema["paths"] if "//" in path] == []
    assert "/api/v1/plugins/demo/" in schema["paths"]


def test_shapes_leave_optional_what_some_answers_omit(schema):
    components = schema["components"]["schemas"]

    # tax figures appear only when a country is given; children not in the flat category list
    priced = set(components["PricedPlan"]["required"])
    assert {"net_price", "tax_amount", "gross_price", "tax_rate", "tax_inclusive"} & priced == set()
    assert {"price", "display_price", "display_currency"} <= priced
    assert "children" not in components["CategoryTree"]["required"]
    assert "children" in components["CategoryDetail"]["required"]


def test_update_bodies_are_partial_with_the_update_rules(schema):
    plan_update = schema["paths"]["/api/v1/admin/tarif-plans/{plan_id}/"]["put"]["requestBody"]
    component = _resolve(schema, plan_update["content"]["application/json"]["schema"])

    # PUT changes only the keys it is given, so no key and no body is required
    assert "required" not in plan_update
    assert "required" not in component
    # a null price on update keeps the price; an amount is a text or a JSON number
    assert component["properties"]["price"]["nullable"] is True
    assert {"type": "number"} in component["properties"]["price"]["oneOf"]


def test_query_filters_document_their_spellings_and_blank(schema):
    parameters = {
        parameter["name"]: parameter
        for parameter in schema["paths"]["/api/v1/user/subscriptions/"]["get"]["parameters"]
    }

    status = parameters["status"]
    assert status["allowEmptyValue"] is True
    assert {"ACTIVE", "active", "CANCELLED", "canceled"} <= set(status["schema"]["enum"])
    addon_plan = schema["paths"]["/api/v1/addons/"]["get"]["parameters"][0]
    assert (addon_plan["name"], addon_plan["allowEmptyValue"]) == ("plan_id", True)
