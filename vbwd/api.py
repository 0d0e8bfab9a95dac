"""The base view every ``/api/v1`` endpoint derives from, the access levels (public,
optional, user, admin) and the route helper that makes the trailing slash optional.

``ApiView`` adds Idempotency-Key handling to every POST (see ``vbwd.idempotency``): an
authenticated POST with a key runs in one transaction with its claim and stored response,
unless its view calls a payment provider and says so with ``idempotency_resumable``. Access
levels:
``PUBLIC`` ignores the Authorization header entirely, ``OPTIONAL`` identifies a caller with a
valid token and treats everyone else as anonymous, ``USER`` and ``ADMIN`` require an ACTIVE user
(and the ADMIN role).
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
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
    """Claims the Idempotency-Key of an authenticated POST before the view body runs.

    By default a POST sent with the header runs in one transaction: the claim, the view's work
    and the stored response commit together, and a 5xx or an exception rolls all of it back.
    A view that calls a payment provider sets ``idempotency_resumable``: its claim commits
    first, its services commit their own steps around the provider call and leave recovery
    points (``idempotency.recovery_for(request)``), so a retry resumes instead of repeating.
    """

    _idempotency_record = None
    _idempotency_rollback = False
    # True on the few POSTs that must never fail or replay (logout).
    idempotency_exempt = False
    # True on the POSTs that call a payment provider (never inside a transaction).
    idempotency_resumable = False

    def _idempotent_in_one_transaction(self, request) -> bool:
        return (
            request.method == "POST"
            and not self.idempotency_exempt
            and not self.idempotency_resumable
            and idempotency.HEADER in request.META
        )

    def dispatch(self, request, *args, **kwargs):
        if not self._idempotent_in_one_transaction(request):
            return super().dispatch(request, *args, **kwargs)
        # Opened before authentication, so the claim is the first row the request writes.
        with transaction.atomic():
            response = super().dispatch(request, *args, **kwargs)
            if self._idempotency_rollback:
                transaction.set_rollback(True)
        return response

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
            resumable = self.idempotency_resumable
            record = idempotency.begin(request._request, user, key, resumable=resumable)
            self._idempotency_record = record
            if resumable:
                idempotency.attach(request._request, record)

    def handle_exception(self, exc):
        if isinstance(exc, idempotency.IdempotentReplay):
            return exc.response
        return super().handle_exception(exc)

    def finalize_response(self, request, response, *args, **kwargs):
        response = super().finalize_response(request, response, *args, **kwargs)
        record, self._idempotency_record = self._idempotency_record, None
        if record is None:
            return response
        if not self.idempotency_resumable and response.status_code >= 500:
            # Undone with the view's work; the rollback frees the key.
            self._idempotency_rollback = True
        else:
            idempotency.finish(record, response, resumable=self.idempotency_resumable)
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
