from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from platform_settings.selectors import platform_settings_get
from platform_settings.serializers import (
    SettingsEnvelopeSerializer,
    SettingsInputSerializer,
    SettingsSerializer,
    TermsSerializer,
)
from platform_settings.services import platform_settings_update
from vbwd.api import AdminMixin, ApiView, PublicMixin
from vbwd.catalog_cache import CatalogCacheMixin
from vbwd.schema import errors


class TermsView(CatalogCacheMixin, PublicMixin, ApiView):
    @extend_schema(
        tags=["public"], summary="Terms and conditions", responses={200: TermsSerializer}
    )
    def get(self, request):
        row = platform_settings_get()
        return Response({"title": row.terms_title, "content": row.terms_content})


class AdminSettingsView(AdminMixin, ApiView):
    @extend_schema(
        tags=["admin: settings"],
        summary="The platform settings",
        responses={200: SettingsEnvelopeSerializer, **errors(401, 403)},
    )
    def get(self, request):
        return Response({"settings": SettingsSerializer(platform_settings_get()).data})

    @extend_schema(
        tags=["admin: settings"],
        summary="Update platform settings (any subset of keys)",
        request=SettingsInputSerializer,
        responses={200: SettingsEnvelopeSerializer, **errors(400, 401, 403)},
    )
    def put(self, request):
        serializer = SettingsInputSerializer(
            data=request.data, context={"current": platform_settings_get()}
        )
        serializer.is_valid(raise_exception=True)
        row = platform_settings_update(data=serializer.validated_data, actor=request.user)
        return Response({"settings": SettingsSerializer(row).data, "message": "Settings updated"})

    patch = put
