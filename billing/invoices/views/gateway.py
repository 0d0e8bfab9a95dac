"""The routes every payment gateway plugin serves under ``/api/v1/plugins/<gateway>/``:
``create-session``, ``session-status/<session id>`` and the provider's ``webhook``. A gateway
plugin mounts them with ``billing.invoices.routes.gateway.gateway_urlpatterns(name)``."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.response import Response

from billing.invoices.services.provider_webhooks import provider_webhook_receive
from billing.invoices.services.sessions import payment_session_open, payment_session_status
from vbwd import idempotency
from vbwd.api import ApiView, PublicMixin, UserMixin
from vbwd.fields import UUIDField
from vbwd.schema import ErrorSerializer, errors
from vbwd.throttling import rate_limit

PROVIDER_ERROR = {
    502: OpenApiResponse(response=ErrorSerializer, description="Payment provider error")
}


class CreateSessionInputSerializer(serializers.Serializer):
    invoice_id = UUIDField(help_text="The caller's PENDING or OVERDUE invoice")


class CreateSessionSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    session_url = serializers.CharField(allow_null=True)
    client_secret = serializers.CharField(
        allow_null=True, help_text="Stripe Elements: the secret Stripe.js confirms with"
    )
    provider = serializers.CharField()
    invoice_id = serializers.UUIDField()
    payment_id = serializers.UUIDField()
    mode = serializers.CharField()
    saves_payment_method = serializers.BooleanField()
    expires_at = serializers.DateTimeField(allow_null=True)


class SessionStatusSerializer(serializers.Serializer):
    session_id = serializers.CharField()
    status = serializers.ChoiceField(choices=["open", "complete", "expired", "failed"])
    payment_status = serializers.CharField(allow_null=True)
    invoice_id = serializers.UUIDField()
    invoice_status = serializers.CharField()
    amount_total = serializers.CharField()
    currency = serializers.CharField()


class GatewayView(ApiView):
    #: the plugin name the route is mounted for (``as_view(gateway_name=...)``)
    gateway_name = ""


class CreateSessionView(UserMixin, GatewayView):
    throttle_classes = [rate_limit("payment_user", "user")]
    # Calls the provider: the session claim, keyed on the Idempotency-Key, is its recovery point.
    idempotency_resumable = True

    @extend_schema(
        summary="Open (or reuse) a checkout session at the gateway for the caller's invoice",
        description=(
            "A one-off payment of the invoice total with its lines; the provider is asked to "
            "keep the payment method for off-session renewals when the invoice holds a "
            "recurring item. An open session of the same invoice is returned again. Nothing is "
            "paid here: the invoice becomes PAID through the provider's signed event or a "
            "status check."
        ),
        request=CreateSessionInputSerializer,
        responses={
            200: CreateSessionSerializer,
            **errors(400, 401, 404, 409, 429, 503),
            **PROVIDER_ERROR,
        },
    )
    def post(self, request):
        serializer = CreateSessionInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        payment, session, _created = payment_session_open(
            invoice_id=serializer.validated_data["invoice_id"],
            user=request.user,
            gateway_name=self.gateway_name,
            idempotency_key=idempotency.key_from(request),
        )
        return Response(
            CreateSessionSerializer(
                {
                    **session,
                    "invoice_id": payment.invoice_id,
                    "payment_id": payment.pk,
                    "mode": "payment",
                    "saves_payment_method": bool(
                        (payment.provider_data or {}).get("saves_payment_method")
                    ),
                }
            ).data
        )


class SessionStatusView(UserMixin, GatewayView):
    @extend_schema(
        summary="Read the caller's checkout session from the provider; a paid one is captured",
        responses={200: SessionStatusSerializer, **errors(401, 404, 503), **PROVIDER_ERROR},
    )
    def get(self, request, session_id):
        status = payment_session_status(
            gateway_name=self.gateway_name, session_id=session_id, user=request.user
        )
        return Response(SessionStatusSerializer(status).data)


class WebhookView(PublicMixin, GatewayView):
    """Signed by the provider; the raw body is read as sent for the signature check."""

    throttle_classes: list = []
    idempotency_exempt = True

    @extend_schema(
        summary="The provider's signed event (verified on the raw body, stored once, processed)",
        request={"application/json": {"type": "object", "additionalProperties": True}},
        responses={
            200: inline_serializer(
                "WebhookReceived",
                {
                    "received": serializers.BooleanField(),
                    "duplicate": serializers.BooleanField(required=False),
                },
            ),
            **errors(400, 503),
            **PROVIDER_ERROR,
        },
    )
    def post(self, request):
        outcome = provider_webhook_receive(
            gateway_name=self.gateway_name,
            headers=dict(request.headers),
            body=request.body,
        )
        body = {"received": True}
        if outcome.duplicate:
            body["duplicate"] = True
        return Response(body)
