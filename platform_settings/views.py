from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from platform_settings.selectors import platform_settings_get
from vbwd.api import ApiView, PublicMixin


class TermsSerializer(serializers.Serializer):
    """Terms: the operator's terms and conditions (Markdown)."""

    title = serializers.CharField()
    content = serializers.CharField()


class TermsView(PublicMixin, ApiView):
    @extend_schema(
        tags=["public"], summary="Terms and conditions", responses={200: TermsSerializer}
    )
    def get(self, request):
        row = platform_settings_get()
        return Response({"title": row.terms_title, "content": row.terms_content})
