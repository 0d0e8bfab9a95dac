"""The shared guards in front of every view: the JSON body parser's walk (NUL, lone surrogates,
non-finite numbers, nesting) and the request guard on the path and the query string."""

from __future__ import annotations

import io

import pytest

from accounts.models import UserDetails
from audit.models import AuditEntry
from vbwd.exceptions import ValidationFailed
from vbwd.parsers import MAX_DEPTH, JSONObjectParser, LenientJSONParser

pytestmark = pytest.mark.django_db

PROFILE = "/api/v1/user/profile"
NOT_UTF8 = "is not valid UTF-8"


def _parse(text: str):
    return JSONObjectParser().parse(io.BytesIO(text.encode("utf-8")))


def _refusal(text: str) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        _parse(text)
    return caught.value.errors


def _nested(depth: int, *, key: str = "config") -> str:
    """A body whose ``key`` holds objects nested so the body is ``depth`` levels deep."""
    return '{"' + key + '": ' + '{"a": ' * (depth - 2) + "{}" + "}" * (depth - 2) + "}"


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        ('{"email": "\\u0000"}', {"email": ["email contains a NUL character"]}),
        ('{"email": "a\\u0000@b.c"}', {"email": ["email contains a NUL character"]}),
        ('{"config": {"a": "x\\u0000"}}', {"config.a": ["config.a contains a NUL character"]}),
        (
            '{"codes": ["DE", "\\u0000"]}',
            {"codes[1]": ["codes[1] contains a NUL character"]},
        ),
        (
            '{"order": [{"id": "\\ud800"}]}',
            {"order[0].id": ["order[0].id contains a lone surrogate, which is not valid Unicode"]},
        ),
        (
            '{"name": "a\\udfffb"}',
            {"name": ["name contains a lone surrogate, which is not valid Unicode"]},
        ),
        (
            '{"config": {"\\u0000": 1}}',
            {"config": ["config has a key containing a NUL character"]},
        ),
        (
            '{"config": {"a": {"\\udc00": 1}}}',
            {"config.a": ["config.a has a key containing a lone surrogate"]},
        ),
        (
            '{"\\u0000": 1}',
            {"non_field_errors": ["The body has a key containing a NUL character"]},
        ),
        ('{"price": NaN}', {"price": ["price must be a finite number"]}),
        ('{"price": 1e309}', {"price": ["price must be a finite number"]}),
        (
            '{"config": {"a": [-Infinity]}}',
            {"config.a[0]": ["config.a[0] must be a finite number"]},
        ),
    ],
)
def test_the_body_walk_names_the_field_holding_what_cannot_be_stored(body, errors):
    assert _refusal(body) == errors


def test_the_first_refusal_in_the_body_order_is_reported():
    assert _refusal('{"a": "ok", "b": ["\\u0000"], "c": "\\u0000"}') == {
        "b[0]": ["b[0] contains a NUL character"]
    }


def test_a_body_as_deep_as_the_limit_is_read():
    assert _parse(_nested(MAX_DEPTH))["config"]


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 5000])
def test_a_body_nested_deeper_than_the_limit_names_its_top_level_key(depth):
    assert _refusal(_nested(depth)) == {
        "config": [f"config is nested too deeply (at most {MAX_DEPTH} levels)"]
    }


def test_deep_arrays_are_refused_like_deep_objects():
    body = '{"name": "x", "ids": ' + "[" * 2000 + "]" * 2000 + "}"

    assert _refusal(body) == {"ids": [f"ids is nested too deeply (at most {MAX_DEPTH} levels)"]}


def test_a_key_holding_brackets_does_not_confuse_the_depth_reading():
    body = '{"a": "[[[{{{", "b]": ' + "[" * 2000 + "]" * 2000 + "}"

    assert _refusal(body) == {"b]": [f"b] is nested too deeply (at most {MAX_DEPTH} levels)"]}


def test_the_lenient_parser_reads_a_refused_body_as_empty():
    assert LenientJSONParser().parse(io.BytesIO(b'{"refresh_token": "\\u0000"}')) == {}


def test_a_nul_in_a_profile_config_is_refused_and_nothing_changes(user_client, user):
    before = AuditEntry.objects.count()

    response = user_client.put(
        PROFILE, data='{"config": {"a": "\\u0000"}}', content_type="application/json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "config.a contains a NUL character",
        "code": "validation_error",
        "errors": {"config.a": ["config.a contains a NUL character"]},
    }
    assert not UserDetails.objects.filter(user=user, config__has_key="a").exists()
    assert AuditEntry.objects.count() == before


def test_a_deep_body_is_a_validation_error_in_the_envelope(user_client):
    response = user_client.put(PROFILE, data=_nested(1000), content_type="application/json")

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["errors"] == {
        "config": [f"config is nested too deeply (at most {MAX_DEPTH} levels)"]
    }


def test_an_auth_endpoint_keeps_its_envelope_for_a_nul(api_client):
    response = api_client.post(
        "/api/v1/auth/login",
        data='{"email": "a\\u0000@b.c", "password": "x"}',
        content_type="application/json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": "email contains a NUL character",
        "code": "validation_error",
        "errors": {"email": ["email contains a NUL character"]},
    }


# --- path and query string --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "errors"),
    [
        (
            "/api/v1/settings/payment-methods/%00",
            {"code": ["code contains a NUL character"]},
        ),
        ("/api/v1/admin/currencies/E%00R", {"code": ["code contains a NUL character"]}),
        ("/api/v1/no-such-route/%00", {"path": ["The path contains a NUL character"]}),
        (
            "/api/v1/user/invoices/%00",  # a UUID route: no route matches, the path is named
            {"path": ["The path contains a NUL character"]},
        ),
    ],
)
def test_a_path_holding_nul_is_refused_before_any_route(api_client, path, errors):
    response = api_client.get(path)

    assert response.status_code == 400
    assert response.json() == {
        "error": next(iter(errors.values()))[0],
        "code": "validation_error",
        "errors": errors,
    }


@pytest.mark.parametrize(
    "path", ["/api/v1/settings/payment-methods/%ED%A0%80", "/api/v1/admin/currencies/%FF"]
)
def test_path_bytes_that_are_not_utf8_reach_the_views_as_harmless_text(admin_client, path):
    response = admin_client.get(path)

    assert response.status_code == 404


@pytest.mark.parametrize(
    ("query", "errors"),
    [
        ("email=a%00@b.c", {"email": ["email contains a NUL character"]}),
        ("email=a@b.c&captcha_token=%ED%A0%80", {"captcha_token": [f"captcha_token {NOT_UTF8}"]}),
        ("email=%C0%80", {"email": ["email is not valid UTF-8"]}),  # an overlong NUL
        ("email=a@b.c&x%00=1", {"query": ["A query parameter name contains a NUL character"]}),
        ("email=a@b.c&%FF=1", {"query": ["A query parameter name is not valid UTF-8"]}),
    ],
)  # fmt: skip
def test_a_query_string_holding_nul_or_bytes_that_are_not_utf8_is_refused(
    api_client, query, errors
):
    response = api_client.get(f"/api/v1/auth/check-email?{query}")

    assert response.status_code == 400
    assert response.json() == {
        "success": False,
        "error": next(iter(errors.values()))[0],
        "code": "validation_error",
        "errors": errors,
    }


def test_a_search_with_a_nul_is_refused_before_it_reaches_the_database(admin_client):
    response = admin_client.get("/api/v1/admin/users?search=%00")

    assert response.status_code == 400
    assert response.json()["errors"] == {"search": ["search contains a NUL character"]}


def test_percent_encoded_text_of_any_script_passes_the_guard(admin_client):
    response = admin_client.get("/api/v1/admin/users?search=%D0%96%E2%82%AC+x&ordering=email")

    assert response.status_code == 200


@pytest.mark.parametrize("page", ["\u0661", "%D9%A1"])
def test_a_page_number_takes_ascii_digits(admin_client, page):
    response = admin_client.get(f"/api/v1/admin/users?page={page}")

    assert response.status_code == 400
    assert response.json()["errors"] == {"page": ["page must use ASCII digits"]}
