"""Request plumbing that runs before any view: request ids and the body-size guard."""

from __future__ import annotations

import io

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.wsgi import LimitedStream

from vbwd import request_context
from vbwd.exceptions import json_error_response


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
    """Refuses API bodies over VBWD_MAX_BODY_BYTES with 413, whatever their framing.

    A body with a Content-Length is refused on the header before anything reads it. A chunked
    body (no Content-Length; the server decodes the chunks) is read here up to one byte over the
    limit: over it, 413 without reading the rest; within it, the bytes read become the request's
    body with their length, so the views parse a chunked body like any other."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/") and _too_big(request):
            return json_error_response(request, RequestDataTooBig())
        return self.get_response(request)


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
