"""The Content-Security-Policy middleware builds the settings' policy once; every response still
gets the header django-csp itself would give it."""

from __future__ import annotations

import pytest
from csp.constants import HEADER, HEADER_REPORT_ONLY, NONCE, SELF
from csp.exceptions import CSPNonceError
from csp.middleware import CSPMiddleware as LibraryCSPMiddleware
from django.http import HttpResponse
from django.test import RequestFactory, override_settings

from vbwd.middleware import CSPMiddleware


def _answer(middleware_class, path="/api/v1/health", use_nonce=False, status=200, **attributes):
    request = RequestFactory().get(path)

    def view(request):
        response = HttpResponse(status=status)
        for name, value in attributes.items():
            setattr(response, name, value)
        if use_nonce:
            response.content = str(request.csp_nonce).encode()
        return response

    middleware = middleware_class(view)
    middleware.process_request(request)
    response = middleware.process_response(request, view(request))
    return request, response


def _directives(value: str | None) -> dict[str, str] | None:
    if value is None:
        return None
    return dict(part.partition(" ")[::2] for part in value.split("; "))


def _headers(response):
    return {name: _directives(response.get(name)) for name in (HEADER, HEADER_REPORT_ONLY)}


@pytest.mark.parametrize("path", ["/api/v1/health", "/admin/login/", "/"])
def test_the_settings_policy_is_the_one_django_csp_builds(path):
    _, ours = _answer(CSPMiddleware, path)
    _, theirs = _answer(LibraryCSPMiddleware, path)

    assert _headers(ours) == _headers(theirs)
    assert _directives(ours[HEADER])["default-src"] == "'self'"
    assert _directives(ours[HEADER])["frame-ancestors"] == "'none'"
    assert HEADER_REPORT_ONLY not in ours


def test_a_changed_setting_changes_the_header_at_once():
    _answer(CSPMiddleware)  # builds and keeps the policy
    policy = {"DIRECTIVES": {"default-src": ["'none'"]}}

    with override_settings(
        CONTENT_SECURITY_POLICY=policy, CONTENT_SECURITY_POLICY_REPORT_ONLY=policy
    ):
        _, response = _answer(CSPMiddleware)
        assert response[HEADER] == "default-src 'none'"
        assert response[HEADER_REPORT_ONLY] == "default-src 'none'"

    _, response = _answer(CSPMiddleware)
    assert _directives(response[HEADER])["default-src"] == "'self'"


@pytest.mark.parametrize(
    "attributes",
    [
        {"_csp_update": {"img-src": ["https://images.example"]}},
        {"_csp_replace": {"script-src": ["'none'"]}},
        {"_csp_config": {"default-src": ["'none'"]}},
        {"_csp_exempt": True},
    ],
)
def test_a_views_own_policy_is_kept(attributes):
    _, ours = _answer(CSPMiddleware, **attributes)
    _, theirs = _answer(LibraryCSPMiddleware, **attributes)

    assert _headers(ours) == _headers(theirs)


@override_settings(CONTENT_SECURITY_POLICY={"DIRECTIVES": {"script-src": [SELF, NONCE]}})
def test_a_nonce_used_by_the_view_is_in_the_header():
    request, response = _answer(CSPMiddleware, use_nonce=True)

    nonce = response.content.decode()
    assert f"'nonce-{nonce}'" in response[HEADER]
    assert str(request.csp_nonce) == nonce


def test_a_nonce_asked_for_after_the_header_is_written_is_an_error():
    request, _response = _answer(CSPMiddleware)

    with pytest.raises(CSPNonceError):
        str(request.csp_nonce)


@override_settings(DEBUG=True)
def test_debug_error_pages_get_no_header_as_with_django_csp():
    _, response = _answer(CSPMiddleware, status=500)

    assert HEADER not in response
