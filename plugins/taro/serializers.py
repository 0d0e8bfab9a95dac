"""Output and input shapes of the taro routes."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from plugins.taro.models import (
    Arcana,
    ArcanaType,
    FollowUpType,
    Orientation,
    Position,
    TaroCard,
    TaroSession,
    TaroSessionStatus,
)
from vbwd.fields import StrictCharField, StrictChoiceField, StrictIntegerField

MAX_QUESTION_LENGTH = 1000
QUESTION_REQUIRED = "Question is required"
FOLLOW_UP_TYPE_INVALID = "Invalid follow_up_type. Must be one of SAME_CARDS, ADDITIONAL, NEW_SPREAD"


class ArcanaSerializer(serializers.ModelSerializer):
    arcana_type = serializers.ChoiceField(choices=ArcanaType.choices)
    image_url = serializers.CharField(help_text="URL of the card's image (a static file)")

    class Meta:
        model = Arcana
        fields = (
            "id", "name", "number", "suit", "rank", "arcana_type", "image_url",
            "upright_meaning", "reversed_meaning",
        )  # fmt: skip


class TaroCardSerializer(serializers.ModelSerializer):
    card_id = serializers.UUIDField(source="id")
    position = serializers.ChoiceField(choices=Position.choices)
    orientation = serializers.ChoiceField(choices=Orientation.choices)
    arcana_id = serializers.IntegerField()
    interpretation = serializers.CharField(allow_null=True)
    arcana = ArcanaSerializer()

    class Meta:
        model = TaroCard
        fields = ("card_id", "position", "orientation", "arcana_id", "interpretation", "arcana")


class TaroSessionSerializer(serializers.ModelSerializer):
    session_id = serializers.UUIDField(source="id")
    user_id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=TaroSessionStatus.choices)
    cards = serializers.SerializerMethodField()

    class Meta:
        model = TaroSession
        fields = (
            "session_id", "user_id", "spread_id", "status", "created_at", "expires_at",
            "ended_at", "follow_up_count", "max_follow_ups", "tokens_consumed", "cards",
        )  # fmt: skip

    @extend_schema_field(TaroCardSerializer(many=True))
    def get_cards(self, session) -> list[dict]:
        table = getattr(session, "table", None)
        if table is None:
            table = (
                session.cards.filter(on_table=True).select_related("arcana").order_by("sequence")
            )
        return TaroCardSerializer(table, many=True).data


class SessionCreatedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    session = TaroSessionSerializer()


class FollowUpInputSerializer(serializers.Serializer):
    question = StrictCharField(
        multiline=True,
        max_length=MAX_QUESTION_LENGTH,
        help_text="The question, 1–1000 characters",
        error_messages={
            "required": QUESTION_REQUIRED,
            "blank": QUESTION_REQUIRED,
            "null": QUESTION_REQUIRED,
            "invalid": QUESTION_REQUIRED,
            "max_length": f"Question must be at most {MAX_QUESTION_LENGTH} characters",
        },
    )
    follow_up_type = StrictChoiceField(
        FollowUpType,
        required=False,
        allow_null=True,
        default=FollowUpType.SAME_CARDS,
        help_text="SAME_CARDS when absent or null",
        error_messages={
            "invalid_choice": FOLLOW_UP_TYPE_INVALID,
            "invalid": FOLLOW_UP_TYPE_INVALID,
        },
    )


class FollowUpSerializer(serializers.Serializer):
    session_id = serializers.UUIDField()
    question = serializers.CharField()
    follow_up_type = serializers.ChoiceField(choices=FollowUpType.choices)
    follow_up_count = serializers.IntegerField()
    answer = serializers.CharField()
    cards_added = TaroCardSerializer(many=True)
    requested_at = serializers.DateTimeField()


class FollowUpCreatedSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    follow_up = FollowUpSerializer()


class HistoryQuerySerializer(serializers.Serializer):
    limit = StrictIntegerField(
        accept_integral=True, required=False, default=10, min_value=1, max_value=50
    )
    offset = StrictIntegerField(
        accept_integral=True, required=False, default=0, min_value=0, max_value=2**31 - 1
    )
    status = StrictChoiceField(TaroSessionStatus, required=False)


class PaginationSerializer(serializers.Serializer):
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
    total = serializers.IntegerField()


class SessionListSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    sessions = TaroSessionSerializer(many=True)
    pagination = PaginationSerializer()


class LimitsSerializer(serializers.Serializer):
    daily_total = serializers.IntegerField()
    daily_used = serializers.IntegerField()
    daily_remaining = serializers.IntegerField()
    plan_name = serializers.CharField(allow_null=True)
    can_create = serializers.BooleanField()
    max_follow_ups = serializers.IntegerField()
    session_cost = serializers.IntegerField()
    follow_up_cost = serializers.IntegerField()
    balance = serializers.IntegerField()


class ExpiryWarningSerializer(serializers.Serializer):
    has_warning = serializers.BooleanField()
    session_id = serializers.UUIDField(allow_null=True)
    expires_in_seconds = serializers.IntegerField(allow_null=True)


class LimitsResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    limits = LimitsSerializer()
    session_expiry_warning = ExpiryWarningSerializer()


class PromptsSerializer(serializers.Serializer):
    reading = serializers.CharField(help_text="System prompt of a reading of a new spread")
    follow_up = serializers.CharField(help_text="System prompt of a follow-up question")


class PromptsInputSerializer(serializers.Serializer):
    prompts = serializers.DictField(
        child=StrictCharField(multiline=True, allow_blank=True, max_length=20000),
        help_text="reading and/or follow_up: non-empty texts of at most 4000 characters",
        error_messages={
            "required": "prompts is required",
            "not_a_dict": "prompts must be an object",
            "null": "prompts must be an object",
        },
    )


class PromptsResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    prompts = PromptsSerializer()


class ResetResponseSerializer(serializers.Serializer):
    success = serializers.BooleanField()
    message = serializers.CharField()
    closed = serializers.IntegerField()


class TaroErrorSerializer(serializers.Serializer):
    """TaroError: an error of the taro routes. ``success`` and ``message`` are on every error
    except the 404 of a disabled plugin, which has only ``error`` and ``code``."""

    success = serializers.BooleanField(required=False, help_text="Always false")
    error = serializers.CharField()
    message = serializers.CharField(required=False, help_text="The same text as error")
    code = serializers.CharField()
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )
