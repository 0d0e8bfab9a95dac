"""Query and output shapes of the audit log's admin API."""

from __future__ import annotations

from rest_framework import serializers

from audit.models import ActorType, AuditEntry
from vbwd.fields import DateOrDateTimeField, StrictCharField, StrictChoiceField, UUIDField
from vbwd.output import OutputModelSerializer, OutputSerializer
from vbwd.pagination import page_serializer

UUID_MESSAGES = {"invalid": "{name} must be a valid UUID"}


class AuditQuerySerializer(serializers.Serializer):
    """The filters of the audit log; empty values mean "not given"."""

    actor_type = StrictChoiceField(
        ActorType,
        required=False,
        allow_null=True,
        blank_as_null=True,
        error_messages={"invalid_choice": "Unknown actor_type: {input}"},
    )
    actor_id = UUIDField(required=False, blank_as_null=True, error_messages=UUID_MESSAGES)
    object_type = StrictCharField(required=False, empty_as_none=True, max_length=50)
    object_id = StrictCharField(required=False, empty_as_none=True, max_length=64)
    action = StrictCharField(
        required=False, empty_as_none=True, max_length=100, help_text="prefix, e.g. invoice."
    )
    user_id = UUIDField(
        required=False,
        blank_as_null=True,
        error_messages=UUID_MESSAGES,
        help_text="entries made by this user or about an object of theirs",
    )
    search = StrictCharField(
        required=False, empty_as_none=True, max_length=200, help_text="in the summary"
    )
    date_from = DateOrDateTimeField()
    date_to = DateOrDateTimeField()


class AuditEntrySerializer(OutputModelSerializer):
    """AuditEntry."""

    actor_id = serializers.UUIDField(read_only=True, allow_null=True)
    before = serializers.JSONField(read_only=True, allow_null=True)
    after = serializers.JSONField(read_only=True, allow_null=True)

    class Meta:
        model = AuditEntry
        fields = [
            "id",
            "created_at",
            "actor_type",
            "actor_id",
            "actor_email",
            "actor_label",
            "action",
            "object_type",
            "object_id",
            "summary",
            "before",
            "after",
            "ip_address",
            "request_id",
        ]
        read_only_fields = fields


class AuditEntryEnvelopeSerializer(OutputSerializer):
    entry = AuditEntrySerializer()


AuditPageSerializer = page_serializer(
    "AuditEntryPageSerializer", items="entries", item=AuditEntrySerializer
)
