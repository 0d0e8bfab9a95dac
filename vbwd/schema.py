"""OpenAPI pieces shared by every endpoint: the ``Error`` component and error-response maps."""

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """Error: the body of every 4xx/5xx."""

    error = serializers.CharField()
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class AuthErrorSerializer(ErrorSerializer):
    """AuthError: an error under ``/auth/*``, which also carries ``success: false``."""

    success = serializers.BooleanField()


_DESCRIPTIONS = {
    400: "Validation error, malformed body or business-rule refusal",
    401: "Not authenticated",
    403: "Admin access required",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Content-Type must be application/json",
    429: "Rate limit exceeded",
    500: "Internal server error",
    502: "Payment provider or LLM error",
    503: "Service unavailable",
}


def errors(*statuses: int, auth: bool = False) -> dict[int, OpenApiResponse]:
    component = AuthErrorSerializer if auth else ErrorSerializer
    return {
        status: OpenApiResponse(response=component, description=_DESCRIPTIONS[status])
        for status in statuses
    }


class AutoSchema(openapi.AutoSchema):
    """Operation ids from the path and the method (``admin_users_by_user_id_put``): our routes
    are plain APIViews, so list and detail routes would otherwise share ids."""

    def get_operation_id(self) -> str:
        parts = []
        for part in self.path.strip("/").split("/"):
            if part in {"api", "v1"} or not part:
                continue
            if part.startswith("{") and part.endswith("}"):
                parts.append(f"by_{part[1:-1]}")
            else:
                parts.append(part.replace("-", "_"))
        return "_".join([*parts, self.method.lower()])


class MessageSerializer(serializers.Serializer):
    """Message: ``{message}`` answers of deletes and simple actions."""

    message = serializers.CharField()
