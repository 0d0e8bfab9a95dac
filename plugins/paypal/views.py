"""PayPal's own route on top of the gateway routes: ``capture-order``."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.invoices.views.gateway import PROVIDER_ERROR
from plugins.paypal.services import paypal_order_capture
from vbwd.api import ApiView, UserMixin
from vbwd.fields.text import StrictCharField
from vbwd.schema import errors
from vbwd.throttling import rate_limit

ORDER_ID_REQUIRED = "order_id required"


class CaptureOrderInputSerializer(serializers.Serializer):
    order_id = StrictCharField(
        max_length=64,
        help_text="The PayPal order (the session id) the customer approved",
        error_messages={
            "required": ORDER_ID_REQUIRED,
            "null": ORDER_ID_REQUIRED,
            "blank": ORDER_ID_REQUIRED,
            "invalid": ORDER_ID_REQUIRED,
        },
    )


class CaptureOrderSerializer(serializers.Serializer):
    status = serializers.CharField(help_text="The capture's status at PayPal: COMPLETED once paid")
    invoice_id = serializers.UUIDField()
    invoice_status = serializers.CharField()
    capture_id = serializers.CharField(allow_null=True)


class CaptureOrderView(UserMixin, ApiView):
    throttle_classes = [rate_limit("payment_user", "user")]
    # Calls the provider with the claiming payment's request id: a repeat gets the same capture.
    idempotency_resumable = True

    @extend_schema(
        summary="Capture the PayPal order the customer approved and pay its invoice",
        description=(
            "The order must be one of the caller's checkout sessions. The capture is recorded "
            "once whoever asks first (this call, a status check or PayPal's webhook); an order "
            "captured before answers the same. A capture whose amount or currency differs from "
            "the invoice is recorded and flagged for staff instead of paying it."
        ),
        request=CaptureOrderInputSerializer,
        responses={
            200: CaptureOrderSerializer,
            **errors(400, 401, 404, 429, 503),
            **PROVIDER_ERROR,
        },
    )
    def post(self, request):
        serializer = CaptureOrderInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        body = paypal_order_capture(
            order_id=serializer.validated_data["order_id"], user=request.user
        )
        return Response(CaptureOrderSerializer(body).data)
