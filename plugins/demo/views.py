from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from plugins.state import config_value
from vbwd.api import ApiView, PublicMixin


class GreetingSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    greeting = serializers.CharField()


class GreetingView(PublicMixin, ApiView):
    @extend_schema(
        tags=["demo"], summary="The configured greeting", responses={200: GreetingSerializer}
    )
    def get(self, request):
        return Response({"success": True, "greeting": config_value("demo", "greeting")})
