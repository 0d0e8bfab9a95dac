"""The caller's subscriptions and add-ons (plan changes are in ``plan_change``).

Every route sees only the caller's rows: another user's id answers the same 404 as an unknown
one. Lists return every row with ``total`` unless a pagination parameter is given.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.subscriptions import selectors, services
from billing.subscriptions.models import AddOnSubscriptionStatus, SubscriptionStatus
from billing.subscriptions.serializers import (
    AddOnSubscriptionDetailSerializer,
    AddOnSubscriptionSerializer,
    SubscriptionSerializer,
    addon_subscription_data,
    addon_subscriptions_data,
    subscription_data,
    subscriptions_data,
)
from billing.subscriptions.views.inputs import MAX_REASON_LENGTH, StatusFilterField
from vbwd.api import ApiView, UserMixin
from vbwd.fields import StrictCharField
from vbwd.pagination import is_requested, page_serializer, paginate
from vbwd.schema import errors

TAGS = ["user: subscriptions"]
ADDON_TAGS = ["user: add-ons"]

MESSAGE_CANCELLED = "Subscription cancelled. Access continues until expiration."
MESSAGE_REACTIVATED = "Subscription reactivated. It will renew as usual."
MESSAGE_PAUSED = "Subscription paused."
MESSAGE_RESUMED = "Subscription resumed. Expiration extended by pause duration."
MESSAGE_ADDON_CANCELLED = "Add-on cancelled successfully"

STATUS_HELP = "status (any case; canceled = CANCELLED)"
PAGINATION_PARAMETERS = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("limit", int),
    OpenApiParameter("offset", int),
]


# --- shapes (schema) ----------------------------------------------------------------------------


class SubscriptionListQuerySerializer(serializers.Serializer):
    status = StatusFilterField(
        read_status=selectors.subscription_status_filter,
        statuses=SubscriptionStatus,
        required=False,
        allow_blank=True,
        help_text=STATUS_HELP,
    )


class AddOnListQuerySerializer(serializers.Serializer):
    status = StatusFilterField(
        read_status=selectors.addon_subscription_status_filter,
        statuses=AddOnSubscriptionStatus,
        required=False,
        allow_blank=True,
        help_text=STATUS_HELP,
    )


SubscriptionListSerializer = page_serializer(
    "SubscriptionListSerializer",
    items="subscriptions",
    item=SubscriptionSerializer,
    always_paged=False,
    description="All the caller's subscriptions and ``total``; the pagination keys only when "
    "paged.",
)


class SubscriptionEnvelopeSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer()


class NullableSubscriptionEnvelopeSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer(allow_null=True)


class SubscriptionsSerializer(serializers.Serializer):
    subscriptions = SubscriptionSerializer(many=True)


class SubscriptionMessageSerializer(serializers.Serializer):
    subscription = SubscriptionSerializer()
    message = serializers.CharField()


class SubscriptionCancelRequestSerializer(serializers.Serializer):
    reason = StrictCharField(required=False, empty_as_none=True, max_length=MAX_REASON_LENGTH)


AddOnSubscriptionListSerializer = page_serializer(
    "AddOnSubscriptionListSerializer",
    items="addon_subscriptions",
    item=AddOnSubscriptionSerializer,
    always_paged=False,
)


class AddOnSubscriptionEnvelopeSerializer(serializers.Serializer):
    addon_subscription = AddOnSubscriptionDetailSerializer()


class AddOnSubscriptionMessageSerializer(serializers.Serializer):
    addon_subscription = AddOnSubscriptionSerializer()
    message = serializers.CharField()


# --- subscriptions ------------------------------------------------------------------------------


class UserSubscriptionsView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="The caller's subscriptions in every state, newest first (all rows unless a "
        "pagination parameter is given)",
        parameters=[SubscriptionListQuerySerializer, *PAGINATION_PARAMETERS],
        responses={200: SubscriptionListSerializer, **errors(400, 401)},
    )
    def get(self, request):
        query = request.query_params
        filters = SubscriptionListQuerySerializer(data=query)
        filters.is_valid(raise_exception=True)
        subscriptions = selectors.subscriptions_for_user(
            request.user, status=filters.validated_data.get("status")
        )
        if is_requested(query):
            rows, meta = paginate(query, subscriptions)
            return Response({"subscriptions": subscriptions_data(rows), **meta})
        rows = list(subscriptions)
        return Response({"subscriptions": subscriptions_data(rows), "total": len(rows)})


class UserActiveSubscriptionView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="The primary current subscription: exclusive category first, then ACTIVE > "
        "TRIALING > PAST_DUE > PAUSED > CANCELLED, then the newest; null when none",
        responses={200: NullableSubscriptionEnvelopeSerializer, **errors(401)},
    )
    def get(self, request):
        primary = selectors.subscription_primary(request.user)
        return Response(
            {"subscription": subscription_data(primary) if primary is not None else None}
        )


class UserActiveSubscriptionsView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Every current subscription (holding, or cancelled with access left), newest first",
        responses={200: SubscriptionsSerializer, **errors(401)},
    )
    def get(self, request):
        current = selectors.subscriptions_current(request.user)
        return Response({"subscriptions": subscriptions_data(current)})


class UserSubscriptionView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="One of the caller's subscriptions",
        responses={200: SubscriptionEnvelopeSerializer, **errors(401, 404)},
    )
    def get(self, request, subscription_id):
        subscription = selectors.subscription_for_user(request.user, subscription_id)
        return Response({"subscription": subscription_data(subscription)})


def _answer(request, subscription_id, message: str) -> Response:
    subscription = selectors.subscription_for_user(request.user, subscription_id)
    return Response({"subscription": subscription_data(subscription), "message": message})


class UserSubscriptionCancelView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Cancel: access continues until expires_at, no further renewal; its unpaid "
        "trial, renewal or plan-change invoice is voided",
        request=SubscriptionCancelRequestSerializer,
        responses={200: SubscriptionMessageSerializer, **errors(400, 401, 404)},
    )
    def post(self, request, subscription_id):
        subscription = selectors.subscription_for_user(request.user, subscription_id)
        serializer = SubscriptionCancelRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.subscription_cancel(
            subscription_id=subscription.pk,
            actor=request.user,
            reason=serializer.validated_data.get("reason"),
        )
        return _answer(request, subscription.pk, MESSAGE_CANCELLED)


class UserSubscriptionReactivateView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Reverse a cancellation before expires_at; renewals resume",
        request=None,
        responses={200: SubscriptionMessageSerializer, **errors(400, 401, 404)},
    )
    def post(self, request, subscription_id):
        subscription = selectors.subscription_for_user(request.user, subscription_id)
        services.subscription_reactivate(subscription_id=subscription.pk, actor=request.user)
        return _answer(request, subscription.pk, MESSAGE_REACTIVATED)


class UserSubscriptionPauseView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Pause an ACTIVE subscription; it resumes by itself after max_pause_days",
        request=None,
        responses={200: SubscriptionMessageSerializer, **errors(400, 401, 404)},
    )
    def post(self, request, subscription_id):
        subscription = selectors.subscription_for_user(request.user, subscription_id)
        services.subscription_pause(subscription_id=subscription.pk, actor=request.user)
        return _answer(request, subscription.pk, MESSAGE_PAUSED)


class UserSubscriptionResumeView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Resume a PAUSED subscription; expires_at moves forward by the paused time",
        request=None,
        responses={200: SubscriptionMessageSerializer, **errors(400, 401, 404)},
    )
    def post(self, request, subscription_id):
        subscription = selectors.subscription_for_user(request.user, subscription_id)
        services.subscription_resume(subscription_id=subscription.pk, actor=request.user)
        return _answer(request, subscription.pk, MESSAGE_RESUMED)


# --- add-ons ------------------------------------------------------------------------------------


class UserAddOnsView(UserMixin, ApiView):
    @extend_schema(
        tags=ADDON_TAGS,
        summary="The caller's add-on subscriptions, newest first (all rows unless a pagination "
        "parameter is given)",
        parameters=[AddOnListQuerySerializer, *PAGINATION_PARAMETERS],
        responses={200: AddOnSubscriptionListSerializer, **errors(400, 401)},
    )
    def get(self, request):
        query = request.query_params
        filters = AddOnListQuerySerializer(data=query)
        filters.is_valid(raise_exception=True)
        items = selectors.addon_subscriptions_for_user(
            request.user, status=filters.validated_data.get("status")
        )
        if is_requested(query):
            rows, meta = paginate(query, items)
            return Response({"addon_subscriptions": addon_subscriptions_data(rows), **meta})
        rows = list(items)
        return Response({"addon_subscriptions": addon_subscriptions_data(rows), "total": len(rows)})


class UserAddOnView(UserMixin, ApiView):
    @extend_schema(
        tags=ADDON_TAGS,
        summary="One of the caller's add-on subscriptions, with its invoice",
        responses={200: AddOnSubscriptionEnvelopeSerializer, **errors(401, 404)},
    )
    def get(self, request, addon_subscription_id):
        item = selectors.addon_subscription_for_user(request.user, addon_subscription_id)
        return Response({"addon_subscription": addon_subscription_data(item, detail=True)})


class UserAddOnCancelView(UserMixin, ApiView):
    @extend_schema(
        tags=ADDON_TAGS,
        summary="Cancel an add-on: ACTIVE keeps access until expires_at; PENDING voids its "
        "invoice when nothing else on it is unpaid",
        request=None,
        responses={200: AddOnSubscriptionMessageSerializer, **errors(400, 401, 404)},
    )
    def post(self, request, addon_subscription_id):
        item = selectors.addon_subscription_for_user(request.user, addon_subscription_id)
        services.addon_subscription_cancel(addon_subscription_id=item.pk, actor=request.user)
        item = selectors.addon_subscription_for_user(request.user, item.pk)
        return Response(
            {
                "addon_subscription": addon_subscription_data(item),
                "message": MESSAGE_ADDON_CANCELLED,
            }
        )
