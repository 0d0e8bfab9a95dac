"""UI events the frontends post: checked, written to the application log, never stored and
never acted upon."""

from __future__ import annotations

import json
import logging

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from vbwd.api import ApiView, OptionalAuthMixin
from vbwd.fields.dates import moment_from_text
from vbwd.schema import errors
from vbwd.throttling import rate_limit

logger = logging.getLogger("vbwd.frontend_events")

EVENT_TYPES = (
    "auth:login",
    "auth:logout",
    "auth:token-refreshed",
    "auth:session-expired",
    "user:registered",
    "user:updated",
    "user:deleted",
    "subscription:created",
    "subscription:activated",
    "subscription:upgraded",
    "subscription:downgraded",
    "subscription:cancelled",
    "subscription:expired",
    "payment:initiated",
    "payment:completed",
    "payment:failed",
    "payment:refunded",
    "plugin:registered",
    "plugin:initialized",
    "plugin:error",
    "plugin:stopped",
)
_KNOWN = frozenset(EVENT_TYPES)
MAX_EVENTS = 100
MAX_TYPE_LENGTH = 100
# What one event may add to a log line.
MAX_LOGGED_DATA = 2000
EVENTS_NOT_A_LIST = "events must be a list"
TOO_MANY = f"At most {MAX_EVENTS} events per request"


@extend_schema_field(
    {
        "type": "array",
        "maxItems": MAX_EVENTS,
        "items": {
            "type": "object",
            "properties": {
                "type": {"type": "string", "minLength": 1, "maxLength": MAX_TYPE_LENGTH},
                "data": {"type": "object"},
                "timestamp": {"type": "string", "format": "date-time"},
            },
            "required": ["type"],
        },
    }
)
class EventListField(serializers.Field):
    """A list of at most 100 events, each an object with a ``type`` (1–100 characters), an
    optional ``data`` object and an optional ``timestamp``; a malformed event refuses the list.
    Whether a well-formed type is one the server knows is answered per event."""

    default_error_messages = {"required": EVENTS_NOT_A_LIST, "null": EVENTS_NOT_A_LIST}

    def to_internal_value(self, data) -> list:
        if not isinstance(data, list):
            raise serializers.ValidationError(EVENTS_NOT_A_LIST)
        if len(data) > MAX_EVENTS:
            raise serializers.ValidationError(TOO_MANY)
        for index, event in enumerate(data):
            problem = event_shape_problem(event)
            if problem is not None:
                raise serializers.ValidationError(f"Event {index}: {problem}")
        return data


class EventsInputSerializer(serializers.Serializer):
    events = EventListField()


class EventErrorSerializer(serializers.Serializer):
    index = serializers.IntegerField()
    type = serializers.CharField(allow_null=True)
    error = serializers.CharField()


class EventsReceivedSerializer(serializers.Serializer):
    received = serializers.IntegerField()
    processed = serializers.IntegerField()
    errors = EventErrorSerializer(many=True, allow_null=True)


class FrontendEventTypesSerializer(serializers.Serializer):
    event_types = serializers.ListField(child=serializers.CharField())


def event_shape_problem(event) -> str | None:
    """Why one posted event is malformed, or None."""
    if not isinstance(event, dict):
        return "must be an object"
    kind = event.get("type")
    if not isinstance(kind, str) or not kind.strip():
        return "type is required"
    if len(kind) > MAX_TYPE_LENGTH:
        return f"type must be at most {MAX_TYPE_LENGTH} characters"
    if "data" in event and not isinstance(event["data"], dict):
        return "data must be an object"
    timestamp = event.get("timestamp", "")
    if "timestamp" in event and (
        not isinstance(timestamp, str) or moment_from_text(timestamp) is None
    ):
        return "timestamp must be a datetime"
    return None


def frontend_events_log(*, events: list, user) -> tuple[int, list[dict]]:
    """Logs each event of a known type (type, caller, time, data cut short); returns how many
    were logged and the others as ``{index, type, error}``. The events are well-formed."""
    refused = []
    processed = 0
    caller = str(user.pk) if user is not None and user.is_authenticated else None
    for index, event in enumerate(events):
        if event["type"] not in _KNOWN:
            error = f"Unknown event type: {event['type']}"
            refused.append({"index": index, "type": event["type"], "error": error})
            continue
        data = json.dumps(event.get("data") or {}, ensure_ascii=True)[:MAX_LOGGED_DATA]
        logger.info(
            "frontend event %s user=%s timestamp=%s data=%s",
            event["type"],
            caller,
            event.get("timestamp"),
            data,
        )
        processed += 1
    return processed, refused


class FrontendEventsView(OptionalAuthMixin, ApiView):
    throttle_classes = [rate_limit("events", "user")]

    @extend_schema(
        tags=["events"],
        summary="Post UI events: checked and logged, not stored",
        request=EventsInputSerializer,
        responses={200: EventsReceivedSerializer, **errors(400, 429)},
    )
    def post(self, request):
        serializer = EventsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        events = serializer.validated_data["events"]
        processed, refused = frontend_events_log(events=events, user=request.user)
        return Response(
            {"received": len(events), "processed": processed, "errors": refused or None}
        )


class FrontendEventTypesView(OptionalAuthMixin, ApiView):
    @extend_schema(
        tags=["events"],
        summary="The UI event types the server accepts",
        responses={200: FrontendEventTypesSerializer},
    )
    def get(self, request):
        return Response({"event_types": sorted(EVENT_TYPES)})
