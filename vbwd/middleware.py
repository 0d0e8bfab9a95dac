"""Request plumbing that runs before any view: request ids and the body-size guard."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import RequestDataTooBig

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
    """Refuses API bodies over VBWD_MAX_BODY_BYTES with 413 before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                length = 0
            if length > settings.VBWD_MAX_BODY_BYTES:
                return json_error_response(request, RequestDataTooBig())
        return self.get_response(request)
