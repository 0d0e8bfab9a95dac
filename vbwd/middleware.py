"""Request plumbing that runs before any view: request ids, the body-size guard, the guard
on the characters of the path and the query string, and the back office's signed-in user and
messages, which API requests skip."""

from __future__ import annotations

import io
from urllib.parse import unquote_to_bytes

from csp.constants import UNSAFE_EVAL
from csp.middleware import CSPMiddleware, PolicyParts
from django.conf import settings
from django.contrib.auth.middleware import AuthenticationMiddleware
from django.contrib.messages.middleware import MessageMiddleware
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import LimitedStream
from django.urls import Resolver404, resolve

from vbwd import request_context
from vbwd.exceptions import ValidationFailed, json_error_response


class RequestIdMiddleware:
    """Accepts or makes an X-Request-ID, keeps it (and the client IP) for audit rows, echoes it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request_id = request_context.request_id_from_header(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        token = request_context.activate(
            request_context.RequestContext(
                request_id=request_id, ip_address=request_context.client_ip(request)
            )
        )
        try:
            response = self.get_response(request)
        finally:
            request_context.reset(token)
        response["X-Request-ID"] = request_id
        return response


class ApiRequestGuardMiddleware:
    """Refuses API requests no view should see: a path holding NUL, a query string holding NUL
    or bytes that are not UTF-8 (400 validation_error naming the path or query parameter), and
    bodies over VBWD_MAX_BODY_BYTES (413), whatever their framing. (Django hands a path's bytes
    that are not UTF-8 to the views percent-encoded again, as harmless text.)

    A body with a Content-Length is refused on the header before anything reads it. A chunked
    body (no Content-Length; the server decodes the chunks) is read here up to one byte over the
    limit: over it, 413 without reading the rest; within it, the bytes read become the request's
    body with their length, so the views parse a chunked body like any other."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            refusal = _path_refusal(request) or _query_refusal(request)
            if refusal is not None:
                return json_error_response(request, refusal)
            if _too_big(request):
                return json_error_response(request, RequestDataTooBig())
        return self.get_response(request)


class _BackOfficeOnly:
    """Runs the middleware for every path but the API's: the API authenticates by bearer token
    and has no signed-in user or messages (those serve the Django admin)."""

    def __call__(self, request):
        if request.path_info.startswith("/api/"):
            return self.get_response(request)
        return super().__call__(request)


class ContentSecurityPolicyMiddleware(CSPMiddleware):
    """The policy of CONTENT_SECURITY_POLICY on every answer. The back office's pages may also
    evaluate script text: its interface library reads its behaviour from HTML attributes and
    compiles them in the browser. Scripts still come from this host only, and never inline."""

    def get_policy_parts(self, request, response, report_only: bool = False) -> PolicyParts:
        parts = super().get_policy_parts(request, response, report_only)
        if not report_only and request.path_info.startswith("/admin/"):
            parts.update = {**(parts.update or {}), "script-src": [UNSAFE_EVAL]}
        return parts


class BackOfficeAuthenticationMiddleware(_BackOfficeOnly, AuthenticationMiddleware):
    pass


class BackOfficeMessageMiddleware(_BackOfficeOnly, MessageMiddleware):
    pass


def _query_bytes(request) -> bytes:
    """The query string as the client sent it (WSGI hands it over decoded as ISO-8859-1)."""
    value = request.META.get("QUERY_STRING", "")
    try:
        return value.encode("iso-8859-1")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")


def _problem(data: bytes) -> str | None:
    """What makes ``data`` unusable as text: NUL, or not being UTF-8 (lone surrogates are not)."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return "is not valid UTF-8"
    return "contains a NUL character" if b"\x00" in data else None


def _path_refusal(request) -> ValidationFailed | None:
    if "\x00" not in request.path_info:
        return None
    # Named after the path parameter holding it when a route matches.
    try:
        kwargs = resolve(request.path_info).kwargs
    except Resolver404:
        kwargs = {}
    field = next(
        (name for name, value in kwargs.items() if isinstance(value, str) and "\x00" in value),
        "path",
    )
    subject = "The path" if field == "path" else field
    return ValidationFailed(f"{subject} contains a NUL character", field=field)


def _query_refusal(request) -> ValidationFailed | None:
    for pair in _query_bytes(request).split(b"&"):
        raw_name, _, raw_value = pair.partition(b"=")
        name = unquote_to_bytes(raw_name.replace(b"+", b" "))
        problem = _problem(name)
        if problem is not None:
            return ValidationFailed(f"A query parameter name {problem}", field="query")
        problem = _problem(unquote_to_bytes(raw_value.replace(b"+", b" ")))
        if problem is not None:
            field = name.decode("utf-8")
            return ValidationFailed(f"{field} {problem}", field=field)
    return None


def _too_big(request) -> bool:
    limit = settings.VBWD_MAX_BODY_BYTES
    declared = request.META.get("CONTENT_LENGTH")
    if declared:
        try:
            return int(declared) > limit
        except ValueError:
            return False
    if "chunked" not in request.META.get("HTTP_TRANSFER_ENCODING", "").lower():
        return False
    body = request.META["wsgi.input"].read(limit + 1)
    if len(body) > limit:
        return True
    request.META["CONTENT_LENGTH"] = str(len(body))
    request._stream = LimitedStream(io.BytesIO(body), len(body))
    return False
