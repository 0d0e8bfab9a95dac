"""OpenAPI pieces shared by every endpoint: the ``Error`` component and error-response maps."""

import re

from drf_spectacular import openapi
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny


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


_BODY_METHODS = {"POST", "PUT", "PATCH"}


class _BeingUpdated:
    """Stands for the row an update changes while the schema is drawn (there is none)."""


def update_request(serializer_class, context_key: str | None = None):
    """The body of an update (PUT and PATCH alike) as documented: every key optional, and,
    with ``context_key``, the update-only rules the serializer applies when that context entry
    holds the row being changed (a price that may be null, a code that may be repeated)."""
    context = {context_key: _BeingUpdated()} if context_key else {}
    return serializer_class(partial=True, context=context)


def _reads_blank_as_absent(field) -> bool:
    return bool(getattr(field, "blank_as_null", False) or getattr(field, "allow_blank", False))


def collapse_slashes(endpoints):
    """Preprocessing hook: a plugin's root route (``/plugins/demo`` + ``/``) is one path in
    the schema, ``/api/v1/plugins/demo/``, not ``/api/v1/plugins/demo//``."""
    return [
        (re.sub(r"/{2,}", "/", path), path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
    ]


class AutoSchema(openapi.AutoSchema):
    """Operation ids from the path and the method (``admin_users_by_user_id_put``): our routes
    are plain APIViews, so list and detail routes would otherwise share ids.

    Every operation also lists the error answers that follow from how it is built, next to the
    ones its view documents: 400 (a malformed query string or body is refused everywhere),
    429 (every route is rate-limited), 401 when it needs a token, 403 when it needs the admin
    role, 404 when the path names an object or the route belongs to a plugin (a disabled
    plugin's routes answer 404), 409 for a POST (an Idempotency-Key reused with another body or
    still in progress), 413 and 415 when it takes a body.
    """

    def implied_error_statuses(self) -> list[int]:
        view = self.view
        statuses = [400, 429]
        permissions = getattr(view, "permission_classes", [])
        if any(permission is not AllowAny for permission in permissions):
            statuses.append(401)
            if self.path.startswith("/api/v1/admin/"):
                statuses.append(403)
        if (
            "{" in self.path
            or getattr(view, "vbwd_plugin", None)
            or self.path.startswith("/api/v1/plugins/")
        ):
            statuses.append(404)
        if self.method == "POST" and not getattr(view, "idempotency_exempt", False):
            statuses.append(409)
        if self.method in _BODY_METHODS:
            statuses.extend([413, 415])
        return statuses

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        # A field that reads several spellings of a choice names them in ``schema_enum``.
        result = super()._map_serializer_field(field, direction, bypass_extensions)
        if not isinstance(result, dict):
            return result
        enum = getattr(field, "schema_enum", None)
        if enum:
            result = {**result, "enum": list(enum)}
        if direction != "request":
            return result
        if getattr(field, "accept_strings", False) and result.get("type") == "boolean":
            # A flag also reads the spellings of a form or a query string.
            spellings = {"type": "string", "enum": ["true", "false", "1", "0", "yes", "no"]}
            result = {
                "oneOf": [{"type": "boolean"}, spellings, {"type": "integer", "enum": [0, 1]}],
                **{key: value for key, value in result.items() if key != "type"},
            }
        elif result.get("format") == "decimal" and result.get("type") == "string":
            # An amount is a text or a JSON number.
            text = {key: value for key, value in result.items() if key != "nullable"}
            result = {
                "oneOf": [text, {"type": "number"}],
                **({"nullable": True} if result.get("nullable") else {}),
            }
        if getattr(field, "blank_as_null", False) and "format" in result:
            # "" reads as null (not given) where a formatted value is expected.
            blank = {"type": "string", "maxLength": 0}
            result = {
                "anyOf": [
                    {key: value for key, value in result.items() if key != "nullable"},
                    blank,
                ],
                **({"nullable": True} if result.get("nullable") else {}),
            }
        return result

    def _process_override_parameters(self, direction="request"):
        # A query field that reads "" as "not given" is documented with ``allowEmptyValue``.
        result = super()._process_override_parameters(direction)
        for parameter in self.get_override_parameters():
            serializer = parameter() if isinstance(parameter, type) else parameter
            for name, field in getattr(serializer, "fields", {}).items():
                key = (name, "query")
                if key in result and result[key] is not None and _reads_blank_as_absent(field):
                    result[key]["allowEmptyValue"] = True
        return result

    def _map_basic_serializer(self, serializer, direction):
        # A serializer lists in ``schema_optional_fields`` the read-only fields it leaves out of
        # some answers (tax figures without a country, say), so they are not marked required.
        result = super()._map_basic_serializer(serializer, direction)
        optional = set(getattr(serializer, "schema_optional_fields", ()))
        if optional and "required" in result:
            result["required"] = [name for name in result["required"] if name not in optional]
            if not result["required"]:
                del result["required"]
        return result

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction)
        component = (
            AuthErrorSerializer if self.path.startswith("/api/v1/auth/") else (ErrorSerializer)
        )
        for status in self.implied_error_statuses():
            if str(status) not in responses:
                responses[str(status)] = self._get_response_for_code(
                    OpenApiResponse(response=component, description=_DESCRIPTIONS[status]),
                    str(status),
                    direction=direction,
                )
        return dict(sorted(responses.items()))

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
