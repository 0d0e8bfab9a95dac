"""Admin API of outbound webhooks: endpoints, their deliveries, test and replay."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from vbwd.api import AdminMixin, ApiView
from vbwd.pagination import paginate
from vbwd.schema import MessageSerializer, errors
from webhooks import selectors, services
from webhooks.events import EVENT_TYPES
from webhooks.models import WebhookDeliveryStatus
from webhooks.serializers import (
    DeliveryDetailEnvelopeSerializer,
    DeliveryMessageEnvelopeSerializer,
    DeliveryPageSerializer,
    DeliveryQuerySerializer,
    DeliveryReplayEnvelopeSerializer,
    WebhookDetailEnvelopeSerializer,
    WebhookEventTypesSerializer,
    WebhookInputSerializer,
    WebhookMessageEnvelopeSerializer,
    WebhookPageSerializer,
    WebhookQuerySerializer,
    WebhookSecretEnvelopeSerializer,
    delivery_data,
    endpoint_data,
    endpoint_detail_data,
)

TAGS = ["admin: webhooks"]
PAGINATION_PARAMETERS = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("limit", int),
    OpenApiParameter("offset", int),
]
CREATED = "Webhook created. Copy the signing secret now; it is shown only once."


class AdminWebhooksView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Registered endpoints, newest first",
        parameters=[WebhookQuerySerializer, *PAGINATION_PARAMETERS],
        responses={200: WebhookPageSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = WebhookQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        endpoints = selectors.endpoints_filtered(**query.validated_data)
        rows, meta = paginate(request.query_params, endpoints)
        return Response({"webhooks": [endpoint_data(row) for row in rows], **meta})

    @extend_schema(
        tags=TAGS,
        summary="Register an endpoint; the answer shows its signing secret once",
        request=WebhookInputSerializer,
        responses={201: WebhookSecretEnvelopeSerializer, **errors(400, 401, 403)},
    )
    def post(self, request):
        serializer = WebhookInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        endpoint = services.endpoint_create(
            url=values["url"],
            events=values["events"],
            description=values.get("description"),
            is_active=values.get("is_active", True),
            actor=request.user,
        )
        return Response({"webhook": endpoint_data(endpoint, secret=True), "message": CREATED}, 201)


class AdminWebhookEventTypesView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="The event types an endpoint can subscribe to",
        responses={200: WebhookEventTypesSerializer, **errors(401, 403)},
    )
    def get(self, request):
        return Response({"event_types": list(EVENT_TYPES)})


class AdminWebhookView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="One endpoint with its latest 20 deliveries",
        responses={200: WebhookDetailEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, webhook_id):
        endpoint = selectors.endpoint_get(webhook_id)
        history = selectors.delivery_history(endpoint.pk)
        return Response({"webhook": endpoint_detail_data(endpoint, history)})

    @extend_schema(
        tags=TAGS,
        summary="Change an endpoint (only the fields sent)",
        request=WebhookInputSerializer,
        responses={200: WebhookMessageEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request, webhook_id):
        selectors.endpoint_get(webhook_id)
        serializer = WebhookInputSerializer(data=request.data, partial=True)
        serializer.is_valid(raise_exception=True)
        endpoint = services.endpoint_update(
            endpoint_id=webhook_id, values=serializer.validated_data, actor=request.user
        )
        return Response({"webhook": endpoint_data(endpoint), "message": "Webhook updated"})

    patch = put

    @extend_schema(
        tags=TAGS,
        summary="Delete an endpoint with its deliveries",
        responses={200: MessageSerializer, **errors(401, 403, 404)},
    )
    def delete(self, request, webhook_id):
        services.endpoint_delete(endpoint_id=webhook_id, actor=request.user)
        return Response({"message": "Webhook deleted"})


class AdminWebhookToggleView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Switch an endpoint on or off",
        request=None,
        responses={200: WebhookMessageEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, webhook_id):
        endpoint = services.endpoint_toggle(endpoint_id=webhook_id, actor=request.user)
        message = "Webhook enabled" if endpoint.is_active else "Webhook disabled"
        return Response({"webhook": endpoint_data(endpoint), "message": message})


class AdminWebhookRotateSecretView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Replace the signing secret; the answer shows the new one once",
        request=None,
        responses={200: WebhookSecretEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, webhook_id):
        endpoint = services.endpoint_rotate_secret(endpoint_id=webhook_id, actor=request.user)
        return Response(
            {"webhook": endpoint_data(endpoint, secret=True), "message": "Signing secret rotated"}
        )


class AdminWebhookTestView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Send a webhook.test event now: one attempt, no retries",
        request=None,
        responses={200: DeliveryMessageEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, webhook_id):
        delivery = services.endpoint_test_send(endpoint_id=webhook_id, actor=request.user)
        delivered = delivery.status == WebhookDeliveryStatus.DELIVERED
        return Response(
            {
                "delivery": delivery_data(delivery, detail=True),
                "message": "Test delivered" if delivered else "Test delivery failed",
            }
        )


class AdminWebhookDeliveriesView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="An endpoint's deliveries, newest first",
        parameters=[DeliveryQuerySerializer, *PAGINATION_PARAMETERS],
        responses={200: DeliveryPageSerializer, **errors(400, 401, 403, 404)},
    )
    def get(self, request, webhook_id):
        endpoint = selectors.endpoint_get(webhook_id)
        query = DeliveryQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        deliveries = selectors.deliveries_filtered(endpoint_id=endpoint.pk, **query.validated_data)
        rows, meta = paginate(request.query_params, deliveries)
        return Response({"deliveries": [delivery_data(row) for row in rows], **meta})


class AdminWebhookDeliveryView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="One delivery with the body sent and every attempt",
        responses={200: DeliveryDetailEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, delivery_id):
        delivery = selectors.delivery_get(delivery_id)
        return Response({"delivery": delivery_data(delivery, detail=True)})


class AdminWebhookDeliveryReplayView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Queue the same event (same id and body) again as a new delivery",
        request=None,
        responses={202: DeliveryReplayEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, delivery_id):
        replay = services.delivery_replay(delivery_id=delivery_id, actor=request.user)
        return Response(
            {"delivery": delivery_data(replay), "message": "Delivery queued for replay"},
            status=202,
        )
