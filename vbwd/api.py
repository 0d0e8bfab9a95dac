"""The base view every ``/api/v1`` endpoint derives from, the access levels (public,
optional, user, admin) and the route helper that makes the trailing slash optional.

``ApiView`` adds Idempotency-Key handling to every POST. Access levels:
``PUBLIC`` ignores the Authorization header entirely, ``OPTIONAL`` identifies a caller with a
valid token and treats everyone else as anonymous, ``USER`` and ``ADMIN`` require an ACTIVE user
(and the ADMIN role).
"""

from __future__ import annotations

from django.conf import settings
from django.urls import re_path
from rest_framework.permissions import AllowAny
from rest_framework.settings import api_settings, perform_import
from rest_framework.views import APIView

from vbwd import idempotency

# Who the caller is and what the user and admin levels require are the accounts app's classes,
# named in the settings (``REST_FRAMEWORK`` and ``VBWD_ADMIN_PERMISSION_CLASSES``): the kernel
# imports no app.
_AUTHENTICATION = list(api_settings.DEFAULT_AUTHENTICATION_CLASSES)
_USER_PERMISSIONS = list(api_settings.DEFAULT_PERMISSION_CLASSES)
_ADMIN_PERMISSIONS = perform_import(
    settings.VBWD_ADMIN_PERMISSION_CLASSES, "VBWD_ADMIN_PERMISSION_CLASSES"
)


class IdempotencyMixin:
    """Claims the Idempotency-Key of an authenticated POST before the view body runs."""

    _idempotency_record = None
    # True on the few POSTs that must never fail or replay (logout).
    idempotency_exempt = False

    def initial(self, request, *args, **kwargs):
        if request.method == "OPTIONS":
            # OPTIONS answers 200 with the Allow header for every caller, but it
            # still counts against the caller's rate limit.
            self.format_kwarg = self.get_format_suffix(**kwargs)
            negotiated = self.perform_content_negotiation(request)
            request.accepted_renderer, request.accepted_media_type = negotiated
            self.check_throttles(request)
            return
        if request.method == "POST" and not self.idempotency_exempt:
            # Read the body now, before anything streams it, for the request fingerprint.
            request._request.body  # noqa: B018
        super().initial(request, *args, **kwargs)
        if request.method != "POST" or self.idempotency_exempt:
            return
        # Validated after authentication, so a caller without a token gets the 401 first.
        key = idempotency.key_from(request)
        user = request.user
        if key is not None and user is not None and user.is_authenticated:
            self._idempotency_record = idempotency.begin(request._request, user, key)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.IdempotentReplay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record, self._idempotency_record = self._idempotency_record, None
        if record is not None:
            idempotency.finish(record, response)
        return response


class ApiView(IdempotencyMixin, APIView):
    """Base of every API view; a mixin above picks its access level."""


class PublicMixin:
    """``public``: no authentication at all, the Authorization header is ignored."""

    authentication_classes: list = []
    permission_classes = [AllowAny]


class OptionalAuthMixin:
    """``optional``: a valid token identifies the caller; anything else is anonymous."""

    authentication_classes = _AUTHENTICATION
    permission_classes = [AllowAny]


class UserMixin:
    """``user``: an ACTIVE user's valid access token."""

    authentication_classes = _AUTHENTICATION
    permission_classes = _USER_PERMISSIONS


class AdminMixin:
    """``admin``: as ``user`` and the role ADMIN."""

    authentication_classes = _AUTHENTICATION
    permission_classes = _ADMIN_PERMISSIONS


def route(pattern: str, view, name: str | None = None):
    """A path under the API with an optional trailing slash; ``pattern`` is a regex body
    without anchors or the final slash, e.g. ``r"user/invoices/(?P<id>[0-9a-f-]{36})"``."""
    return re_path(rf"^{pattern}/?$", view, name=name)


UUID_PATTERN = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
