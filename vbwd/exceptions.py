"""Domain errors and the one place that turns every error into the API envelope.

Every 4xx/5xx body is ``{"error": <message>, "code": <code>}`` plus ``errors`` for validation
failures; under ``/api/v1/auth/`` the body also carries ``"success": false``. Services raise
``DomainError`` subclasses; DRF's own exceptions and Django's 404/500 are mapped here too, so a
bare ``{"detail": …}`` never reaches a client.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.http import Http404, JsonResponse
from rest_framework import exceptions as drf
from rest_framework.response import Response

logger = logging.getLogger("vbwd.errors")

AUTH_PATH_PREFIX = "/api/v1/auth/"
JSON_CONTENT_TYPE = "application/json; charset=utf-8"


class DomainError(Exception):
    """A refusal the client can act on; rendered as ``{"error", "code", "errors"?}``."""

    status_code = 400
    code = "business_rule"
    default_message = "Request refused"

    def __init__(
        self,
        message: str | None = None,
        *,
        code: str | None = None,
        errors: dict[str, list[str]] | None = None,
        status_code: int | None = None,
        extra: dict | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.message = message or self.default_message
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        self.errors = errors
        self.extra = extra or {}
        self.headers = headers or {}
        super().__init__(self.message)

    def payload(self) -> dict:
        body: dict = {"error": self.message, "code": self.code}
        if self.errors is not None:
            body["errors"] = self.errors
        body.update(self.extra)
        return body


class ValidationFailed(DomainError):
    code = "validation_error"
    default_message = "Invalid input"

    def __init__(self, message: str | None = None, *, field: str | None = None, **kwargs) -> None:
        errors = kwargs.pop("errors", None)
        if errors is None:
            errors = {field or "non_field_errors": [message or self.default_message]}
        if message is None:
            message = first_message(errors)
        super().__init__(message, errors=errors, **kwargs)

    @classmethod
    def from_errors(cls, errors: dict[str, list[str]]) -> ValidationFailed:
        return cls(first_message(errors), errors=errors)


class BusinessRuleError(DomainError):
    code = "business_rule"


class InvalidTransition(DomainError):
    code = "invalid_transition"
    default_message = "This action is not allowed in the object's current state"


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    default_message = "Not found"


class Conflict(DomainError):
    status_code = 409
    code = "conflict"
    default_message = "Conflict"


class HasDependencies(DomainError):
    status_code = 409
    code = "has_dependencies"
    default_message = "Dependent records prevent deletion"


class AuthenticationError(DomainError):
    status_code = 401
    code = "token_invalid"
    default_message = "Invalid or expired token"


class ServiceUnavailable(DomainError):
    status_code = 503
    code = "service_unavailable"
    default_message = "Service unavailable"


def first_message(errors: dict[str, list[str]]) -> str:
    for messages in errors.values():
        if messages:
            return str(messages[0])
    return "Invalid input"


def _flatten_detail(detail, prefix: str = "") -> dict[str, list[str]]:
    """Turns DRF's nested error detail into ``{"field": ["message", …]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(detail, dict):
        for key, value in detail.items():
            name = f"{prefix}.{key}" if prefix else str(key)
            if key == "non_field_errors" and prefix:
                name = prefix
            for field, messages in _flatten_detail(value, name).items():
                flat.setdefault(field, []).extend(messages)
    elif isinstance(detail, list):
        for index, item in enumerate(detail):
            if isinstance(item, (dict, list)) and not _is_message_list(item):
                for field, messages in _flatten_detail(item, f"{prefix}[{index}]").items():
                    flat.setdefault(field, []).extend(messages)
            else:
                for field, messages in _flatten_detail(item, prefix).items():
                    flat.setdefault(field, []).extend(messages)
    else:
        flat.setdefault(prefix or "non_field_errors", []).append(str(detail))
    return flat


def _is_message_list(value) -> bool:
    return isinstance(value, list) and all(not isinstance(item, (dict, list)) for item in value)


Body = tuple[int, dict, dict[str, str]]


def _domain_error(exc: DomainError) -> Body:
    return exc.status_code, exc.payload(), dict(exc.headers)


def _validation_error(exc: drf.ValidationError) -> Body:
    errors = _flatten_detail(exc.detail)
    return 400, {"error": first_message(errors), "code": "validation_error", "errors": errors}, {}


def _parse_error(exc: drf.ParseError) -> Body:
    message = str(exc.detail)
    if message == drf.ParseError.default_detail or message.startswith("JSON parse error"):
        message = "Malformed JSON body"
    return 400, {"error": message, "code": "parse_error"}, {}


def _not_authenticated(exc: drf.NotAuthenticated) -> Body:
    message = str(exc.detail)
    if message == str(drf.NotAuthenticated.default_detail):
        message = "Authorization header is required"
    return 401, {"error": message, "code": "not_authenticated"}, {}


def _authentication_failed(exc: drf.AuthenticationFailed) -> Body:
    codes = exc.get_codes()
    code = codes if isinstance(codes, str) else "token_invalid"
    if code not in {"token_invalid", "account_inactive", "not_authenticated"}:
        code = "token_invalid"
    message = str(exc.detail)
    if message == str(drf.AuthenticationFailed.default_detail):
        message = "Invalid or expired token"
    return 401, {"error": message, "code": code}, {}


def _permission_denied(exc: Exception) -> Body:
    message = str(getattr(exc, "detail", "") or "")
    if not message or message == str(drf.PermissionDenied.default_detail):
        message = "Admin access required"
    return 403, {"error": message, "code": "permission_denied"}, {}


def _throttled(exc: drf.Throttled) -> Body:
    wait = max(1, math.ceil(exc.wait or 1))
    body = {
        "error": f"Rate limit exceeded. Try again in {wait} seconds.",
        "code": "rate_limited",
        "retry_after": wait,
    }
    return 429, body, {"Retry-After": str(wait)}


def _fixed(status: int, message: str, code: str) -> Callable[[Exception], Body]:
    def body(exc: Exception) -> Body:
        return status, {"error": message, "code": code}, {}

    return body


def _api_exception(exc: drf.APIException) -> Body:
    return exc.status_code, {"error": str(exc.detail), "code": exc.get_codes()}, {}


# The first entry whose types match decides (subclasses before the classes they extend).
_BODIES: tuple[tuple[type | tuple[type, ...], Callable[[Any], Body]], ...] = (
    (DomainError, _domain_error),
    (drf.ValidationError, _validation_error),
    (drf.ParseError, _parse_error),
    (drf.NotAuthenticated, _not_authenticated),
    (drf.AuthenticationFailed, _authentication_failed),
    ((drf.PermissionDenied, DjangoPermissionDenied), _permission_denied),
    ((drf.NotFound, Http404), _fixed(404, "Not found", "not_found")),
    (drf.MethodNotAllowed, _fixed(405, "Method not allowed", "method_not_allowed")),
    (
        drf.UnsupportedMediaType,
        _fixed(415, "Content-Type must be application/json", "unsupported_media_type"),
    ),
    (drf.NotAcceptable, _fixed(406, "Not acceptable", "not_acceptable")),
    (drf.Throttled, _throttled),
    (RequestDataTooBig, _fixed(413, "Request body too large", "payload_too_large")),
    (drf.APIException, _api_exception),
)


def _body_for(exc: Exception) -> Body:
    """(status, body, headers) for any exception the API can meet."""
    for types, body in _BODIES:
        if isinstance(exc, types):
            return body(exc)
    return 500, {"error": "Internal server error", "code": "server_error"}, {}


def envelope(path: str, status: int, body: dict) -> dict:
    if path.startswith(AUTH_PATH_PREFIX):
        return {"success": False, **body}
    return body


def _log(path: str, status: int, exc: Exception) -> None:
    """A refusal for an outage the code foresaw (a service it needs is down: 503) is a warning
    with its reason; any other server error is logged with its traceback."""
    if isinstance(exc, ServiceUnavailable):
        logger.warning("Service unavailable in %s: %s", path, exc.message)
    elif status >= 500:
        logger.exception("Unhandled error in %s", path, exc_info=exc)


def exception_handler(exc: Exception, context: dict) -> Response:
    """DRF's exception handler: every exception becomes the API error envelope."""
    request = context.get("request")
    status, body, headers = _body_for(exc)
    _log(getattr(request, "path", "?"), status, exc)
    path = request.path if request is not None else ""
    if status == 401:
        headers.setdefault("WWW-Authenticate", "Bearer")
    return Response(envelope(path, status, body), status=status, headers=headers)


def json_error_response(request, exc: Exception) -> JsonResponse:
    status, body, headers = _body_for(exc)
    response = JsonResponse(
        envelope(request.path, status, body), status=status, content_type=JSON_CONTENT_TYPE
    )
    for name, value in headers.items():
        response[name] = value
    if status == 401:
        response["WWW-Authenticate"] = "Bearer"
    return response


# Django's own error views (outside DRF), set as handler400/403/404/500 in vbwd/urls.py.


def bad_request(request, exception=None):
    return JsonResponse(
        envelope(request.path, 400, {"error": "Bad request", "code": "parse_error"}),
        status=400,
        content_type=JSON_CONTENT_TYPE,
    )


def permission_denied(request, exception=None):
    return json_error_response(request, drf.PermissionDenied())


def page_not_found(request, exception=None):
    return json_error_response(request, Http404())


def server_error(request):
    return JsonResponse(
        envelope(request.path, 500, {"error": "Internal server error", "code": "server_error"}),
        status=500,
        content_type=JSON_CONTENT_TYPE,
    )
