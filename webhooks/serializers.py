"""Input and output shapes of the webhook endpoints' admin API."""

from __future__ import annotations

import json

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vbwd.fields import StrictBooleanField, StrictCharField, StrictChoiceField
from vbwd.output import OutputModelSerializer, OutputSerializer
from vbwd.pagination import page_serializer
from webhooks import addresses
from webhooks.events import EVENT_TYPES
from webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint

EVENTS_REQUIRED = "events must be a non-empty list"
ALL_EVENTS = "*"


@extend_schema_field(OpenApiTypes.URI)
class WebhookUrlField(serializers.Field):
    """An absolute https URL (http when allowed) whose host resolves to public addresses only."""

    default_error_messages = {"required": addresses.URL_REQUIRED, "null": addresses.URL_REQUIRED}

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            raise serializers.ValidationError(addresses.URL_INVALID)
        try:
            return addresses.url_check(data)
        except addresses.UrlRefused as refused:
            raise serializers.ValidationError(str(refused)) from None

    def to_representation(self, value) -> str:
        return value


@extend_schema_field({"type": "array", "items": {"type": "string"}, "minItems": 1})
class EventTypesField(serializers.Field):
    """A non-empty list of event type names, or ``["*"]`` for every type."""

    default_error_messages = {"required": EVENTS_REQUIRED, "null": EVENTS_REQUIRED}

    def to_internal_value(self, data) -> list[str]:
        if not isinstance(data, list) or not data:
            raise serializers.ValidationError(EVENTS_REQUIRED)
        names = []
        for item in data:
            name = item.strip() if isinstance(item, str) else item
            if name != ALL_EVENTS and name not in EVENT_TYPES:
                shown = item if isinstance(item, str) else json.dumps(item)
                raise serializers.ValidationError(f"Unknown event type: {shown}"[:200])
            if name not in names:
                names.append(name)
        return [ALL_EVENTS] if ALL_EVENTS in names else names

    def to_representation(self, value) -> list[str]:
        return value


class WebhookInputSerializer(serializers.Serializer):
    """Create: ``url`` and ``events`` required. Update (``partial=True``): only given keys."""

    url = WebhookUrlField()
    events = EventTypesField()
    description = StrictCharField(
        required=False, allow_null=True, allow_blank=True, max_length=500, multiline=True
    )
    is_active = StrictBooleanField(required=False)


class WebhookQuerySerializer(serializers.Serializer):
    is_active = StrictBooleanField(
        required=False, allow_null=True, accept_strings=True, blank_as_null=True
    )
    event = serializers.CharField(required=False, allow_blank=True, help_text="an event type")

    def validate_event(self, value: str) -> str | None:
        value = value.strip()
        if value and value not in EVENT_TYPES:
            raise serializers.ValidationError(f"Unknown event type: {value}"[:200])
        return value or None


class DeliveryQuerySerializer(serializers.Serializer):
    status = StrictChoiceField(
        WebhookDeliveryStatus,
        required=False,
        allow_null=True,
        blank_as_null=True,
        error_messages={"invalid_choice": "Unknown status: {input}"},
    )
    event_type = serializers.CharField(required=False, allow_blank=True)

    def validate_event_type(self, value: str) -> str | None:
        return value.strip() or None


class WebhookEndpointSerializer(OutputModelSerializer):
    """WebhookEndpoint."""

    events = serializers.ListField(child=serializers.CharField(), read_only=True)
    secret_last4 = serializers.CharField(read_only=True)

    class Meta:
        model = WebhookEndpoint
        fields = [
            "id",
            "url",
            "description",
            "events",
            "is_active",
            "secret_last4",
            "last_triggered_at",
            "last_delivery_status",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class WebhookEndpointWithSecretSerializer(WebhookEndpointSerializer):
    """WebhookEndpoint + the full signing secret (only when created or rotated)."""

    secret = serializers.CharField(read_only=True)

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookDeliverySerializer(OutputModelSerializer):
    """WebhookDelivery."""

    endpoint_id = serializers.UUIDField(read_only=True)
    replay_of = serializers.UUIDField(source="replay_of_id", read_only=True, allow_null=True)

    class Meta:
        model = WebhookDelivery
        fields = [
            "id",
            "endpoint_id",
            "event_id",
            "event_type",
            "status",
            "attempts",
            "max_attempts",
            "response_code",
            "response_body",
            "duration_ms",
            "last_attempt_at",
            "next_attempt_at",
            "delivered_at",
            "replay_of",
            "created_at",
        ]
        read_only_fields = fields


class AttemptSerializer(OutputSerializer):
    attempt = serializers.IntegerField()
    attempted_at = serializers.CharField()
    response_code = serializers.IntegerField(allow_null=True)
    response_excerpt = serializers.CharField(allow_null=True)
    duration_ms = serializers.IntegerField(allow_null=True)
    error = serializers.CharField(allow_null=True)


class WebhookDeliveryDetailSerializer(WebhookDeliverySerializer):
    """WebhookDelivery + the exact body sent and every attempt."""

    payload = serializers.SerializerMethodField()
    attempt_log = AttemptSerializer(many=True, read_only=True)

    class Meta(WebhookDeliverySerializer.Meta):
        fields = [*WebhookDeliverySerializer.Meta.fields, "payload", "attempt_log"]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_payload(self, delivery: WebhookDelivery) -> dict:
        return json.loads(delivery.body)


class WebhookEndpointDetailSerializer(WebhookEndpointSerializer):
    delivery_history = WebhookDeliverySerializer(many=True, read_only=True)

    class Meta(WebhookEndpointSerializer.Meta):
        fields = [*WebhookEndpointSerializer.Meta.fields, "delivery_history"]
        read_only_fields = fields


def endpoint_data(endpoint: WebhookEndpoint, *, secret: bool = False) -> dict:
    serializer = WebhookEndpointWithSecretSerializer if secret else WebhookEndpointSerializer
    return serializer(endpoint).data


def endpoint_detail_data(endpoint: WebhookEndpoint, history: list[WebhookDelivery]) -> dict:
    endpoint.delivery_history = history
    return WebhookEndpointDetailSerializer(endpoint).data


def delivery_data(delivery: WebhookDelivery, *, detail: bool = False) -> dict:
    serializer = WebhookDeliveryDetailSerializer if detail else WebhookDeliverySerializer
    return serializer(delivery).data


# Envelopes, for the schema.
class _WebhookEnvelope(OutputSerializer):
    webhook = WebhookEndpointSerializer()
    message = serializers.CharField()


class WebhookSecretEnvelopeSerializer(OutputSerializer):
    webhook = WebhookEndpointWithSecretSerializer()
    message = serializers.CharField()


class WebhookMessageEnvelopeSerializer(_WebhookEnvelope):
    pass


class WebhookDetailEnvelopeSerializer(OutputSerializer):
    webhook = WebhookEndpointDetailSerializer()


class DeliveryDetailEnvelopeSerializer(OutputSerializer):
    delivery = WebhookDeliveryDetailSerializer()


class DeliveryMessageEnvelopeSerializer(OutputSerializer):
    delivery = WebhookDeliveryDetailSerializer()
    message = serializers.CharField()


class DeliveryReplayEnvelopeSerializer(OutputSerializer):
    delivery = WebhookDeliverySerializer()
    message = serializers.CharField()


class WebhookEventTypesSerializer(OutputSerializer):
    event_types = serializers.ListField(child=serializers.CharField())


WebhookPageSerializer = page_serializer(
    "WebhookPageSerializer", items="webhooks", item=WebhookEndpointSerializer
)
DeliveryPageSerializer = page_serializer(
    "WebhookDeliveryPageSerializer", items="deliveries", item=WebhookDeliverySerializer
)
