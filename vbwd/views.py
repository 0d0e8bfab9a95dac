"""Service endpoints and the API docs."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.cache import cache
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import (
    SpectacularAPIView,
    SpectacularRedocView,
    SpectacularSwaggerSplitView,
)
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.response import Response

from accounts.authentication import BearerAuthentication
from accounts.permissions import IsAdmin
from vbwd import catalog_cache
from vbwd.api import ApiView, PublicMixin
from vbwd.exceptions import NotFound
from vbwd.renderers import JSONRenderer
from vbwd.schema import errors

logger = logging.getLogger(__name__)

LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("ru", "Русский"),
    ("th", "ไทย"),
    ("zh", "中文"),
    ("es", "Español"),
    ("fr", "Français"),
    ("ja", "日本語"),
]


class BannerSerializer(serializers.Serializer):
    message = serializers.CharField()
    version = serializers.CharField()
    health = serializers.CharField()


class HealthChecksSerializer(serializers.Serializer):
    database = serializers.CharField()
    cache = serializers.CharField()


class HealthSerializer(serializers.Serializer):
    """Health: liveness and the state of the database and the cache."""

    status = serializers.CharField()
    service = serializers.CharField()
    version = serializers.CharField()
    checks = HealthChecksSerializer()


class HealthDegradedSerializer(HealthSerializer):
    """HealthDegraded: the health keys plus the error envelope (503)."""

    error = serializers.CharField()
    code = serializers.CharField()


class LanguageSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


class LanguagesSerializer(serializers.Serializer):
    languages = LanguageSerializer(many=True)
    default = serializers.CharField()


class BannerView(PublicMixin, ApiView):
    throttle_classes: list = []

    @extend_schema(tags=["public"], summary="Service banner", responses={200: BannerSerializer})
    def get(self, request):
        return Response(
            {"message": "VBWD API", "version": settings.VBWD_VERSION, "health": "/api/v1/health"}
        )


def _check_database() -> str:
    # Reads the catalog version and republishes it (trusted again when no writer holds it), so
    # a fresh cache starts serving catalog answers at the next probe.
    try:
        if catalog_cache.reconcile() is None:
            catalog_cache.publish(catalog_cache.committed_version())
        return "ok"
    except Exception:  # any driver error means the probe failed
        logger.exception("Health check: database unavailable")
        return "error"


def _check_cache() -> str:
    try:
        cache.set("health:probe", "ok", timeout=10)
        return "ok" if cache.get("health:probe") == "ok" else "error"
    except Exception:  # any client error means the probe failed
        logger.exception("Health check: cache unavailable")
        return "error"


class HealthView(PublicMixin, ApiView):
    throttle_classes: list = []

    @extend_schema(
        tags=["public"],
        summary="Health probe of the database and the cache",
        responses={200: HealthSerializer, 503: HealthDegradedSerializer},
    )
    def get(self, request):
        checks = {"database": _check_database(), "cache": _check_cache()}
        healthy = all(value == "ok" for value in checks.values())
        body = {
            "status": "ok" if healthy else "degraded",
            "service": "vbwd-api",
            "version": settings.VBWD_VERSION,
            "checks": checks,
        }
        if healthy:
            return Response(body)
        body.update(error="Service unavailable", code="service_unavailable")
        return Response(body, status=503)


class LanguagesView(PublicMixin, ApiView):
    @extend_schema(
        tags=["public"], summary="Languages of the frontends", responses={200: LanguagesSerializer}
    )
    def get(self, request):
        return Response(
            {
                "languages": [{"code": code, "name": name} for code, name in LANGUAGES],
                "default": settings.VBWD_DEFAULT_LANGUAGE,
            }
        )


class NotFoundView(PublicMixin, ApiView):
    """Any unknown path: 404 in the API envelope, also when DEBUG is on (rate-limited too)."""

    schema = None

    def initial(self, request, *args, **kwargs):
        self.check_throttles(request)
        raise NotFound()


class _DocsAccess:
    """Schema and docs are public unless VBWD_API_DOCS_PUBLIC is off, then admin-only."""

    def get_authenticators(self):
        if settings.VBWD_API_DOCS_PUBLIC:
            return []
        return [BearerAuthentication()]

    def get_permissions(self):
        if settings.VBWD_API_DOCS_PUBLIC:
            return [AllowAny()]
        return [IsAdmin()]

    def finalize_response(self, request, response, *args, **kwargs):
        # Errors are JSON like everywhere else, not YAML or an HTML page.
        if response.status_code >= 400:
            request.accepted_renderer = JSONRenderer()
            request.accepted_media_type = JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)


class SchemaView(_DocsAccess, SpectacularAPIView):
    pass


class DocsView(_DocsAccess, SpectacularSwaggerSplitView):
    pass


class RedocView(_DocsAccess, SpectacularRedocView):
    template_name = "api_docs/redoc.html"


__all__ = ["errors"]
