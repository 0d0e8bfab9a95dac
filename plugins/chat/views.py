"""The chat routes under ``/api/v1/plugins/chat/``: configuration, cost estimate and send."""

from __future__ import annotations

from django.db import models
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from plugins.chat.services import chat_estimate, chat_public_config, chat_send
from vbwd import idempotency
from vbwd.api import ApiView, UserMixin
from vbwd.fields import StrictCharField, StrictChoiceField
from vbwd.schema import ErrorSerializer, errors

MISSING_MESSAGE = "Missing 'message' field"


class ChatConfigSerializer(serializers.Serializer):
    model = serializers.CharField()
    max_message_length = serializers.IntegerField()
    counting_mode = serializers.ChoiceField(choices=["words", "data_volume", "tokenizer"])


class EstimateInputSerializer(serializers.Serializer):
    message = StrictCharField(
        multiline=True,
        allow_blank=True,
        help_text="The message to price",
        error_messages={
            "required": MISSING_MESSAGE,
            "invalid": "Message must be a string",
            "null": "Message must be a string",
        },
    )


class EstimateSerializer(serializers.Serializer):
    estimated_tokens = serializers.IntegerField(help_text="Tokens sending this message costs")


class HistoryRole(models.TextChoices):
    USER = "user"
    ASSISTANT = "assistant"


class HistoryItemSerializer(serializers.Serializer):
    role = StrictChoiceField(HistoryRole)
    content = StrictCharField(multiline=True, allow_blank=True)


class SendInputSerializer(serializers.Serializer):
    message = StrictCharField(
        multiline=True,
        help_text="The message; at most the configured maximum length",
        error_messages={
            "required": MISSING_MESSAGE,
            "invalid": "Message must be a non-empty string",
            "null": "Message must be a non-empty string",
            "blank": "Message must be a non-empty string",
        },
    )
    history = serializers.ListField(
        child=HistoryItemSerializer(),
        required=False,
        default=list,
        max_length=500,
        help_text="Earlier messages, oldest first; only the latest configured number are sent",
        error_messages={
            "not_a_list": "History must be an array",
            "null": "History must be an array",
            "max_length": "History must hold at most {max_length} messages",
        },
    )


class SendSerializer(serializers.Serializer):
    response = serializers.CharField(help_text="The model's reply")
    tokens_used = serializers.IntegerField(help_text="Tokens debited for message and reply")
    balance = serializers.IntegerField(help_text="Token balance after the debit")


class ChatConfigView(UserMixin, ApiView):
    @extend_schema(
        summary="The chat's model, longest message and counting mode",
        responses={200: ChatConfigSerializer, **errors(401)},
    )
    def get(self, request):
        return Response(ChatConfigSerializer(chat_public_config()).data)


class ChatEstimateView(UserMixin, ApiView):
    @extend_schema(
        summary="The token cost of sending a message (its reply is billed on top)",
        request=EstimateInputSerializer,
        responses={200: EstimateSerializer, **errors(400, 401, 503)},
    )
    def post(self, request):
        serializer = EstimateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        cost = chat_estimate(message=serializer.validated_data["message"])
        return Response(EstimateSerializer({"estimated_tokens": cost}).data)


class ChatSendView(UserMixin, ApiView):
    # Calls the model: the claim commits before the call and the bill after it.
    idempotency_resumable = True

    @extend_schema(
        summary="Send a message to the model; message and reply are debited in tokens",
        description=(
            "Refused with insufficient_tokens, before the model is asked, when the balance "
            "cannot cover the message. After a reply, one USAGE entry takes the message cost "
            "plus the reply cost (capped at the balance if it dropped meanwhile). A failed "
            "model call takes nothing; a request repeated with its Idempotency-Key is billed "
            "once."
        ),
        request=SendInputSerializer,
        responses={
            200: SendSerializer,
            **errors(400, 401, 409, 429, 503),
            502: OpenApiResponse(response=ErrorSerializer, description="The model gave no reply"),
        },
    )
    def post(self, request):
        serializer = SendInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        reply = chat_send(
            user=request.user,
            message=serializer.validated_data["message"],
            history=serializer.validated_data["history"],
            request_key=idempotency.key_from(request),
        )
        return Response(
            SendSerializer(
                {"response": reply.response, "tokens_used": reply.tokens_used,
                 "balance": reply.balance}
            ).data
        )  # fmt: skip
