"""The API conventions over real HTTP requests: routing, bodies, errors, request ids."""

from __future__ import annotations

import io
import json
import re

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from rest_framework.test import APIClient

from conftest import DEFAULT_PASSWORD, bearer

JSON_CONTENT_TYPE = "application/json; charset=utf-8"
IDEMPOTENCY_MESSAGE = "Idempotency-Key must be 1-255 printable ASCII characters"
ONE_MIB = 1024 * 1024


def _oversized_json_body() -> bytes:
    return json.dumps({"email": "a@example.com", "padding": "x" * ONE_MIB}).encode()


def _explode(*args, **kwargs):
    raise RuntimeError("secret internals")


def _allowed_methods(response) -> set[str]:
    return {method.strip() for method in response["Allow"].split(",")}


# 400: validation errors, malformed and non-object bodies


@pytest.mark.django_db
def test_validation_error_lists_field_errors_and_repeats_the_first_message(user_client):
    # given a first_name one character over its limit of 100
    # when the caller updates their details
    response = user_client.put("/api/v1/user/details", {"first_name": "a" * 101}, format="json")

    # then the envelope names the field and `error` is its first message
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "code", "errors"}
    assert body["code"] == "validation_error"
    assert list(body["errors"]) == ["first_name"]
    assert len(body["errors"]["first_name"]) == 1
    assert body["error"] == body["errors"]["first_name"][0]
    assert "first_name" in body["error"]
    assert "100" in body["error"]
    assert response["Content-Type"] == JSON_CONTENT_TYPE


@pytest.mark.django_db
def test_malformed_json_is_a_parse_error(user_client):
    # given a body that is not JSON
    # when it is sent as application/json
    response = user_client.put(
        "/api/v1/user/details", data='{"first_name": ', content_type="application/json"
    )

    # then
    assert response.status_code == 400
    assert response.json() == {"error": "Malformed JSON body", "code": "parse_error"}


@pytest.mark.django_db
def test_json_that_is_not_an_object_is_a_parse_error(user_client):
    # given a JSON list instead of an object
    response = user_client.put(
        "/api/v1/user/details", data='[{"first_name": "Ann"}]', content_type="application/json"
    )

    # then
    assert response.status_code == 400
    assert response.json() == {"error": "Request body must be a JSON object", "code": "parse_error"}


@pytest.mark.django_db
def test_malformed_json_under_auth_carries_success_false(api_client):
    # when a malformed body reaches an /auth/* endpoint
    response = api_client.post(
        "/api/v1/auth/login", data="{not json", content_type="application/json"
    )

    # then the auth envelope adds success: false
    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": "Malformed JSON body",
        "code": "parse_error",
    }


@pytest.mark.django_db
def test_json_list_under_auth_carries_success_false(api_client):
    response = api_client.post("/api/v1/auth/login", data="[1, 2]", content_type="application/json")

    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": "Request body must be a JSON object",
        "code": "parse_error",
    }


@pytest.mark.django_db
def test_validation_error_under_auth_carries_success_false(api_client):
    # given an empty email on check-email
    # when
    response = api_client.get("/api/v1/auth/check-email", {"email": ""})

    # then
    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": "Email required",
        "code": "validation_error",
        "errors": {"email": ["Email required"]},
    }


# 401


@pytest.mark.django_db
def test_missing_authorization_header_is_401_not_authenticated(api_client):
    response = api_client.get("/api/v1/user/profile")

    assert response.status_code == 401
    assert response.json() == {
        "error": "Authorization header is required",
        "code": "not_authenticated",
    }
    assert response["WWW-Authenticate"] == "Bearer"
    assert response["Content-Type"] == JSON_CONTENT_TYPE


@pytest.mark.django_db
def test_non_bearer_authorization_header_is_401_invalid_format(api_client):
    response = api_client.get("/api/v1/user/profile", HTTP_AUTHORIZATION="Token abc")

    assert response.status_code == 401
    assert response.json() == {
        "error": "Invalid Authorization header format",
        "code": "not_authenticated",
    }
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db
def test_garbage_bearer_token_is_401_token_invalid(api_client):
    response = api_client.get("/api/v1/user/profile", HTTP_AUTHORIZATION="Bearer not-a-jwt")

    assert response.status_code == 401
    assert response.json() == {"error": "Invalid or expired token", "code": "token_invalid"}
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db
def test_401_under_auth_carries_success_false(api_client):
    # when /auth/me is called without a token
    response = api_client.get("/api/v1/auth/me")

    # then
    assert response.status_code == 401
    assert response.json() == {
        "success": False,
        "error": "Authorization header is required",
        "code": "not_authenticated",
    }
    assert response["WWW-Authenticate"] == "Bearer"


@pytest.mark.django_db
def test_public_endpoint_ignores_an_invalid_authorization_header(api_client, user):
    # given a stale token sent with the login (public) request
    response = api_client.post(
        "/api/v1/auth/login",
        {"email": user.email, "password": DEFAULT_PASSWORD},
        format="json",
        HTTP_AUTHORIZATION="Bearer expired.or.garbage",
    )

    # then the header is ignored and the login succeeds
    assert response.status_code == 200
    assert response.json()["success"] is True


# 403 and the docs access switch

DOCS_PATHS = ["/api/v1/schema/", "/api/v1/schema/?format=json", "/api/v1/docs/"]


@pytest.mark.django_db
@pytest.mark.parametrize("path", DOCS_PATHS)
def test_private_api_docs_refuse_a_non_admin_with_403(settings, user, path):
    # given the docs are admin-only
    settings.VBWD_API_DOCS_PUBLIC = False
    client = APIClient()

    # when a plain user asks for them
    response = client.get(path, **bearer(user))

    # then the refusal is the JSON error envelope
    assert response.status_code == 403
    assert response["Content-Type"] == JSON_CONTENT_TYPE
    assert json.loads(response.content) == {
        "error": "Admin access required",
        "code": "permission_denied",
    }


@pytest.mark.django_db
@pytest.mark.parametrize("path", DOCS_PATHS)
def test_private_api_docs_require_a_token(settings, api_client, path):
    settings.VBWD_API_DOCS_PUBLIC = False

    response = api_client.get(path)

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert response["Content-Type"] == JSON_CONTENT_TYPE
    assert json.loads(response.content) == {
        "error": "Authorization header is required",
        "code": "not_authenticated",
    }


@pytest.mark.django_db
def test_private_api_docs_are_served_to_an_admin(settings, admin_user):
    settings.VBWD_API_DOCS_PUBLIC = False
    client = APIClient()

    schema = client.get("/api/v1/schema/", {"format": "json"}, **bearer(admin_user))
    docs = client.get("/api/v1/docs/", **bearer(admin_user))

    assert schema.status_code == 200
    assert json.loads(schema.content)["openapi"].startswith("3.0")
    assert docs.status_code == 200
    assert docs["Content-Type"].startswith("text/html")


# 404


@pytest.mark.django_db
@pytest.mark.parametrize("debug", [False, True])
@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/no-such-route",
        "/api/v1/user/nope/",
        "/some/random/root/path",
        # an id that is not one, holding an encoded line break
        "/api/v1/admin/subscriptions/%C2%9B%0A%E2%8C%87/activate/",
    ],
)
def test_unknown_path_is_json_404(settings, api_client, debug, path):
    # given DEBUG either way
    settings.DEBUG = debug

    # when
    response = api_client.get(path)

    # then
    assert response.status_code == 404
    assert response.json() == {"error": "Not found", "code": "not_found"}
    assert response["Content-Type"] == JSON_CONTENT_TYPE


@pytest.mark.django_db
def test_unknown_auth_path_404_carries_success_false(api_client):
    response = api_client.post("/api/v1/auth/nope", {}, format="json")

    assert response.status_code == 404
    assert response.json() == {"success": False, "error": "Not found", "code": "not_found"}


# 405 and OPTIONS


@pytest.mark.django_db
def test_unsupported_method_is_405_with_allow_header(api_client):
    response = api_client.delete("/api/v1/health")

    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed", "code": "method_not_allowed"}
    allowed = _allowed_methods(response)
    assert "GET" in allowed
    assert "DELETE" not in allowed


@pytest.mark.django_db
def test_405_on_a_user_endpoint(user_client):
    response = user_client.delete("/api/v1/user/details")

    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed", "code": "method_not_allowed"}
    assert {"GET", "PUT", "PATCH"} <= _allowed_methods(response)


@pytest.mark.django_db
def test_options_answers_200_with_allow_even_without_a_token(api_client):
    # given no Authorization header on a `user` endpoint
    # when
    response = api_client.options("/api/v1/user/profile")

    # then
    assert response.status_code == 200
    allowed = _allowed_methods(response)
    assert {"GET", "PUT", "PATCH", "OPTIONS"} <= allowed
    assert allowed.isdisjoint({"POST", "DELETE"})


# 413 and 415


@pytest.mark.django_db
def test_body_over_one_mib_is_413(user_client):
    response = user_client.put(
        "/api/v1/user/details", data=_oversized_json_body(), content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json() == {"error": "Request body too large", "code": "payload_too_large"}


@pytest.mark.django_db
def test_body_over_one_mib_under_auth_is_413_with_success_false(api_client):
    response = api_client.post(
        "/api/v1/auth/login", data=_oversized_json_body(), content_type="application/json"
    )

    assert response.status_code == 413
    assert response.json() == {
        "success": False,
        "error": "Request body too large",
        "code": "payload_too_large",
    }


class _CountingStream(io.BytesIO):
    """The decoded chunked body a server hands over, counting the bytes the app reads."""

    bytes_read = 0

    def read(self, size=-1):
        data = super().read(size)
        self.bytes_read += len(data)
        return data


def _chunked_post(path: str, body: bytes):
    """POSTs ``body`` as a server passes on a chunked request (no Content-Length, the chunks
    decoded) through the whole WSGI stack; returns (status, JSON answer, the input stream)."""
    stream = _CountingStream(body)
    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "testserver",
        "SERVER_PORT": "80",
        "HTTP_HOST": "testserver",
        "REMOTE_ADDR": "127.0.0.1",
        "CONTENT_TYPE": "application/json",
        "HTTP_TRANSFER_ENCODING": "chunked",
        "wsgi.input": stream,
        "wsgi.input_terminated": True,
        "wsgi.url_scheme": "http",
        "wsgi.errors": io.StringIO(),
    }
    status = []
    # As Django's test client does: the request must not close the test's database connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        answer = b"".join(WSGIHandler()(environ, lambda line, headers: status.append(line)))
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)
    return int(status[0].split()[0]), json.loads(answer), stream


@pytest.mark.django_db
def test_a_chunked_body_over_one_mib_is_413_without_being_read_whole():
    body = _oversized_json_body() + b" " * (9 * ONE_MIB)  # 10 MiB

    status, answer, stream = _chunked_post("/api/v1/auth/login", body)

    assert status == 413
    assert answer == {
        "success": False,
        "error": "Request body too large",
        "code": "payload_too_large",
    }
    assert stream.bytes_read == ONE_MIB + 1


@pytest.mark.django_db
def test_a_chunked_body_within_the_limit_is_parsed_like_any_other(user):
    body = json.dumps({"email": user.email, "password": "wrong-password"}).encode()

    status, answer, stream = _chunked_post("/api/v1/auth/login", body)

    assert (status, answer["code"]) == (401, "invalid_credentials")
    assert stream.bytes_read == len(body)


@pytest.mark.django_db
def test_body_of_exactly_one_mib_is_not_refused_as_too_large(user_client):
    # given a JSON body of exactly the limit
    prefix, suffix = b'{"first_name": "Ann", "padding": "', b'"}'
    body = prefix + b"x" * (ONE_MIB - len(prefix) - len(suffix)) + suffix
    assert len(body) == ONE_MIB

    # when
    response = user_client.put("/api/v1/user/details", data=body, content_type="application/json")

    # then the unknown padding field is ignored and the update applies
    assert response.status_code == 200
    assert response.json()["first_name"] == "Ann"


@pytest.mark.django_db
def test_non_json_content_type_is_415(api_client):
    response = api_client.post(
        "/api/v1/auth/login", data="email=a@example.com", content_type="text/plain"
    )

    assert response.status_code == 415
    assert response.json() == {
        "success": False,
        "error": "Content-Type must be application/json",
        "code": "unsupported_media_type",
    }


@pytest.mark.django_db
def test_non_json_content_type_outside_auth_is_415(user_client):
    response = user_client.put(
        "/api/v1/user/details",
        data="first_name=Ann",
        content_type="application/x-www-form-urlencoded",
    )

    assert response.status_code == 415
    assert response.json() == {
        "error": "Content-Type must be application/json",
        "code": "unsupported_media_type",
    }


# 500


@pytest.mark.django_db
def test_unexpected_error_in_a_view_is_500_without_traceback(monkeypatch):
    # given a view that crashes
    monkeypatch.setattr("vbwd.views.LanguagesView.get", _explode)
    client = APIClient(raise_request_exception=False)

    # when
    response = client.get("/api/v1/config/languages")

    # then
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error", "code": "server_error"}
    assert b"secret internals" not in response.content
    assert b"Traceback" not in response.content
    assert response["Content-Type"] == JSON_CONTENT_TYPE


@pytest.mark.django_db
def test_unexpected_error_outside_drf_is_500_without_traceback(monkeypatch):
    # given a crash in the middleware, before any view (Django's handler500 answers)
    monkeypatch.setattr("vbwd.request_context.client_ip", _explode)
    client = APIClient(raise_request_exception=False)

    # when
    response = client.get("/api/v1/config/languages")

    # then
    assert response.status_code == 500
    assert response.json() == {"error": "Internal server error", "code": "server_error"}
    assert b"secret internals" not in response.content


@pytest.mark.django_db
def test_errors_answered_outside_drf_are_json_utf8(monkeypatch, user_client):
    # given a 413 from the body-size guard and a 500 from Django's handler500
    too_large = user_client.put(
        "/api/v1/user/details", data=_oversized_json_body(), content_type="application/json"
    )
    monkeypatch.setattr("vbwd.request_context.client_ip", _explode)
    crashed = APIClient(raise_request_exception=False).get("/api/v1/health")

    # then both carry the API's content type
    assert (too_large.status_code, crashed.status_code) == (413, 500)
    assert too_large["Content-Type"] == JSON_CONTENT_TYPE
    assert crashed["Content-Type"] == JSON_CONTENT_TYPE


# Routing: optional trailing slash, never a redirect


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/health", "/api/v1/health/"])
def test_trailing_slash_is_optional_without_redirect(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 200
    assert not response.has_header("Location")
    assert response.json()["status"] == "ok"


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/auth/login", "/api/v1/auth/login/"])
def test_post_works_with_and_without_trailing_slash(api_client, user, path):
    response = api_client.post(
        path, {"email": user.email, "password": DEFAULT_PASSWORD}, format="json"
    )

    assert response.status_code == 200
    assert response.json()["success"] is True
    assert response.json()["user_id"] == str(user.pk)


# Requests: empty bodies, unknown fields


@pytest.mark.django_db
@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=xyz",
        "application/octet-stream",
    ],
)
def test_empty_post_body_is_an_empty_object_whatever_the_content_type(api_client, content_type):
    # given an empty body with some Content-Type
    # when
    response = api_client.generic("POST", "/api/v1/auth/logout", b"", content_type=content_type)

    # then it is read as {}
    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Logged out successfully"}


@pytest.mark.django_db
def test_post_without_body_is_an_empty_object(api_client):
    response = api_client.post("/api/v1/auth/logout")

    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Logged out successfully"}


@pytest.mark.django_db
def test_empty_put_body_is_an_empty_object(user_client):
    response = user_client.put("/api/v1/user/details", data="", content_type="text/plain")

    assert response.status_code == 200


@pytest.mark.django_db
def test_unknown_body_fields_are_ignored(api_client, user):
    response = api_client.post(
        "/api/v1/auth/login",
        {"email": user.email, "password": DEFAULT_PASSWORD, "remember_me": True, "x": [1]},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["success"] is True


@pytest.mark.django_db
def test_unknown_body_fields_are_ignored_on_update(user_client):
    response = user_client.put(
        "/api/v1/user/details", {"first_name": "Ann", "favourite_colour": "teal"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert body["first_name"] == "Ann"
    assert "favourite_colour" not in body


# Response format and request ids


@pytest.mark.django_db
def test_success_responses_are_json_utf8(api_client):
    response = api_client.get("/api/v1/config/languages")

    assert response.status_code == 200
    assert response["Content-Type"] == JSON_CONTENT_TYPE


@pytest.mark.django_db
def test_x_request_id_is_echoed_when_given(api_client):
    request_id = "req-" + "a" * 124  # 128 printable characters

    response = api_client.get("/api/v1/config/languages", HTTP_X_REQUEST_ID=request_id)

    assert response["X-Request-ID"] == request_id


@pytest.mark.django_db
def test_x_request_id_is_echoed_on_errors_too(api_client):
    response = api_client.get("/api/v1/no-such-route", HTTP_X_REQUEST_ID="trace-42")

    assert response.status_code == 404
    assert response["X-Request-ID"] == "trace-42"


@pytest.mark.django_db
@pytest.mark.parametrize(
    "sent",
    [None, "", "a" * 129, "bad\x07bell", "naïve"],
    ids=["absent", "empty", "too-long", "control-char", "non-ascii"],
)
def test_x_request_id_is_generated_when_absent_or_invalid(api_client, sent):
    extra = {} if sent is None else {"HTTP_X_REQUEST_ID": sent}

    response = api_client.get("/api/v1/config/languages", **extra)

    generated = response["X-Request-ID"]
    assert generated != sent
    assert re.fullmatch(r"[0-9a-f]{32}", generated)  # a fresh uuid4 hex
    assert re.fullmatch(r"[\x21-\x7e]+", generated)


@pytest.mark.django_db
def test_generated_request_ids_differ_per_request(api_client):
    first = api_client.get("/api/v1/config/languages")["X-Request-ID"]
    second = api_client.get("/api/v1/config/languages")["X-Request-ID"]

    assert first != second


# Idempotency-Key validation


@pytest.mark.django_db
@pytest.mark.parametrize(
    "key", ["k" * 256, "clé-1", "", "tab\there"], ids=["256-chars", "non-ascii", "empty", "control"]
)
def test_invalid_idempotency_key_is_a_validation_error(api_client, key):
    response = api_client.post("/api/v1/auth/register", {}, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"success", "error", "code", "errors"}
    assert body["success"] is False
    assert body["error"] == IDEMPOTENCY_MESSAGE
    assert body["code"] == "validation_error"
    assert list(body["errors"].values()) == [[IDEMPOTENCY_MESSAGE]]


@pytest.mark.django_db
def test_invalid_idempotency_key_on_a_user_endpoint(user_client):
    response = user_client.post(
        "/api/v1/user/change-password",
        {"currentPassword": DEFAULT_PASSWORD, "newPassword": "N3w-Passw0rd!"},
        format="json",
        HTTP_IDEMPOTENCY_KEY="x" * 256,
    )

    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"error", "code", "errors"}
    assert body["error"] == IDEMPOTENCY_MESSAGE
    assert body["code"] == "validation_error"
    # and the refused request changed nothing
    user_client.user.refresh_from_db()
    assert user_client.user.check_password(DEFAULT_PASSWORD)


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["k", "k" * 255, "order-2026-03-14 #1 ~!"])
def test_valid_idempotency_key_is_accepted(user_client, key):
    response = user_client.post("/api/v1/auth/logout", {}, format="json", HTTP_IDEMPOTENCY_KEY=key)

    assert response.status_code == 200
    assert response.json() == {"success": True, "message": "Logged out successfully"}


@pytest.mark.django_db
def test_an_unsatisfiable_accept_header_still_gets_json():
    response = APIClient().get("/api/v1/config/languages", HTTP_ACCEPT="application/xml")

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
