"""Staff subscription endpoints and the per-user add-on routes."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from accounts.selectors import user_for_staff
from billing.coupons.serializers import DiscountInputSerializer
from billing.invoices import selectors as invoice_selectors
from billing.invoices.serializers import (
    AdminInvoiceSerializer,
    CreditNoteSerializer,
    InvoiceSerializer,
    admin_invoice_data,
    credit_note_data,
    invoice_data,
)
from billing.subscriptions import selectors, services
from billing.subscriptions.models import AddOnSubscription
from billing.subscriptions.serializers import (
    AdminSubscriptionDetailSerializer,
    AdminSubscriptionSerializer,
    AdminUserAddOnSubscriptionSerializer,
    SubscriptionSerializer,
    admin_subscription_data,
    admin_subscriptions_data,
    admin_user_addon_subscription_data,
    admin_user_addon_subscriptions_data,
    subscription_data,
)
from billing.subscriptions.services.discounts import (
    MESSAGE_APPLIED as MESSAGE_DISCOUNT_APPLIED,
)
from billing.subscriptions.services.discounts import (
    MESSAGE_REMOVED as MESSAGE_DISCOUNT_REMOVED,
)
from billing.subscriptions.views.admin_inputs import (
    AddOnCancelRequestSerializer,
    AddOnGrantRequestSerializer,
    AdminSubscriptionsQuerySerializer,
    StaffCancelRequestSerializer,
    StaffSubscriptionCreateInputSerializer,
    SubscriptionActivateRequestSerializer,
    SubscriptionExtendRequestSerializer,
    SubscriptionRefundRequestSerializer,
)
from billing.subscriptions.views.user import MESSAGE_PAUSED, MESSAGE_RESUMED
from vbwd import idempotency
from vbwd.api import AdminMixin, ApiView
from vbwd.exceptions import NotFound
from vbwd.pagination import page_serializer, paginate
from vbwd.schema import ErrorSerializer, errors

TAGS = ["admin: subscriptions"]
USER_ADDON_TAGS = ["admin: users"]

MESSAGE_CREATED = "Subscription created"
MESSAGE_CANCELLED = "Subscription cancelled"
MESSAGE_ACTIVATED = "Subscription activated"
MESSAGE_REFUNDED = "Refund processed"
MESSAGE_ADDON_GRANTED = "Add-on granted"
MESSAGE_ADDON_CANCELLED = "Add-on cancelled"
ADDON_NOT_FOUND = "Add-on subscription not found"

PAGINATION_PARAMETERS = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("limit", int),
    OpenApiParameter("offset", int),
]


def _answer(subscription_id, message: str) -> Response:
    subscription = selectors.subscription_for_staff(subscription_id)
    return Response({"subscription": admin_subscription_data(subscription), "message": message})


# --- shapes (schema) ----------------------------------------------------------------------------


AdminSubscriptionPageSerializer = page_serializer(
    "AdminSubscriptionPageSerializer", items="subscriptions", item=AdminSubscriptionSerializer
)


class AdminSubscriptionEnvelopeSerializer(serializers.Serializer):
    subscription = AdminSubscriptionDetailSerializer()


class AdminSubscriptionMessageSerializer(serializers.Serializer):
    subscription = AdminSubscriptionSerializer()
    message = serializers.CharField()


class SubscriptionCreateResponseSerializer(SubscriptionSerializer):
    """The Subscription's fields at the top level, plus ``subscription``, ``invoice`` and
    ``message``."""

    subscription = SubscriptionSerializer()
    invoice = InvoiceSerializer(allow_null=True, help_text="null for active")
    message = serializers.CharField()

    class Meta(SubscriptionSerializer.Meta):
        fields = [*SubscriptionSerializer.Meta.fields, "subscription", "invoice", "message"]
        read_only_fields = fields


class SubscriptionRefundResponseSerializer(serializers.Serializer):
    subscription = AdminSubscriptionSerializer()
    invoice = AdminInvoiceSerializer()
    credit_note = CreditNoteSerializer()
    message = serializers.CharField()


class AdminUserAddOnListSerializer(serializers.Serializer):
    addon_subscriptions = AdminUserAddOnSubscriptionSerializer(many=True)


class AdminUserAddOnMessageSerializer(serializers.Serializer):
    addon_subscription = AdminUserAddOnSubscriptionSerializer()
    message = serializers.CharField()


# --- subscriptions ------------------------------------------------------------------------------


class AdminSubscriptionsView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Every subscription, paginated and filtered; newest first by default",
        parameters=[*PAGINATION_PARAMETERS, AdminSubscriptionsQuerySerializer],
        responses={200: AdminSubscriptionPageSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        serializer = AdminSubscriptionsQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        query = serializer.validated_data
        subscriptions = selectors.subscriptions_for_staff()
        if query.get("status"):
            subscriptions = subscriptions.filter(status=query["status"])
        if query.get("user_id"):
            subscriptions = subscriptions.filter(user_id=query["user_id"])
        if query.get("plan_id"):
            subscriptions = subscriptions.filter(plan_id=query["plan_id"])
        if query.get("plan"):
            subscriptions = subscriptions.filter(plan__name__iexact=query["plan"])
        if query.get("search"):
            subscriptions = subscriptions.filter(Q(user__email__icontains=query["search"]))
        ordering = query["ordering"]
        tie_break = "-pk" if ordering.startswith("-") else "pk"
        order = [ordering, tie_break]
        if ordering.lstrip("-") != "created_at":
            order = [ordering, "-created_at", "-pk"]
        rows, meta = paginate(request.query_params, subscriptions.order_by(*order))
        return Response({"subscriptions": admin_subscriptions_data(rows), **meta})

    @extend_schema(
        tags=TAGS,
        summary="Create a subscription for a user: active (complimentary, no invoice), "
        "trialing or pending (with the trial / checkout invoice)",
        request=StaffSubscriptionCreateInputSerializer,
        responses={201: SubscriptionCreateResponseSerializer, **errors(400, 401, 403)},
    )
    def post(self, request):
        serializer = StaffSubscriptionCreateInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        values = serializer.validated_data
        subscription, invoice = services.subscription_staff_create(
            actor=request.user,
            user_id=values["user_id"],
            plan_id=values["plan_id"],
            status=values["status"],
            reason=values["reason"],
            started_at=values.get("started_at"),
            expires_at=values.get("expires_at"),
            billing_period_months=values.get("billing_period_months"),
            grant_tokens=values.get("grant_tokens") is not False,
            payment_method_code=values.get("payment_method_code"),
        )
        shaped = subscription_data(selectors.subscriptions_for_output().get(pk=subscription.pk))
        invoice_shape = None
        if invoice is not None:
            invoice_shape = invoice_data(invoice_selectors.invoices_base().get(pk=invoice.pk))
        return Response(
            {
                **shaped,
                "subscription": shaped,
                "invoice": invoice_shape,
                "message": MESSAGE_CREATED,
            },
            status=201,
        )


class AdminSubscriptionView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="One subscription with its plan, payments, invoices and add-ons",
        responses={200: AdminSubscriptionEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, subscription_id):
        subscription = selectors.subscription_for_staff(subscription_id)
        return Response({"subscription": admin_subscription_data(subscription, detail=True)})


class AdminSubscriptionExtendView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Move expires_at by days (default 30) or to until; a PAST_DUE subscription "
        "whose new end is ahead becomes ACTIVE",
        request=SubscriptionExtendRequestSerializer,
        responses={200: AdminSubscriptionMessageSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, subscription_id):
        subscription = selectors.subscription_for_staff(subscription_id)
        serializer = SubscriptionExtendRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        extended = services.subscription_extend(
            subscription_id=subscription.pk,
            actor=request.user,
            days=data.get("days"),
            until=data.get("until"),
            reason=data.get("reason"),
        )
        return _answer(subscription.pk, f"Subscription extended by {extended.extended_days} days")


class AdminSubscriptionCancelView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Cancel as the user would; immediate ends access now",
        request=StaffCancelRequestSerializer,
        responses={200: AdminSubscriptionMessageSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, subscription_id):
        subscription = selectors.subscription_for_staff(subscription_id)
        serializer = StaffCancelRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.subscription_cancel(
            subscription_id=subscription.pk,
            actor=request.user,
            reason=data.get("reason"),
            immediate=bool(data.get("immediate")),
        )
        return _answer(subscription.pk, MESSAGE_CANCELLED)


class AdminSubscriptionPauseView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Pause an ACTIVE subscription",
        request=None,
        responses={200: AdminSubscriptionMessageSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, subscription_id):
        subscription = selectors.subscription_for_staff(subscription_id)
        services.subscription_pause(subscription_id=subscription.pk, actor=request.user)
        return _answer(subscription.pk, MESSAGE_PAUSED)


class AdminSubscriptionResumeView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Resume a PAUSED subscription; expires_at moves forward by the paused time",
        request=None,
        responses={200: AdminSubscriptionMessageSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, subscription_id):
        subscription = selectors.subscription_for_staff(subscription_id)
        services.subscription_resume(subscription_id=subscription.pk, actor=request.user)
        return _answer(subscription.pk, MESSAGE_RESUMED)


class AdminSubscriptionActivateView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="PAUSED → ACTIVE (as resume) or reverse a cancellation before expires_at; no "
        "tokens are granted",
        request=SubscriptionActivateRequestSerializer,
        responses={200: AdminSubscriptionMessageSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, subscription_id):
        subscription = selectors.subscription_for_staff(subscription_id)
        serializer = SubscriptionActivateRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.subscription_staff_activate(
            subscription_id=subscription.pk,
            actor=request.user,
            reason=serializer.validated_data.get("reason"),
        )
        return _answer(subscription.pk, MESSAGE_ACTIVATED)


class AdminSubscriptionRefundView(AdminMixin, ApiView):
    # Refunds at the provider: resumed from the refund claim or the credit note it recorded.
    idempotency_resumable = True

    @extend_schema(
        tags=TAGS,
        summary="Refund the subscription's latest paid invoice (full by default, partial with "
        "amount) exactly as the invoice refund",
        request=SubscriptionRefundRequestSerializer,
        responses={
            200: SubscriptionRefundResponseSerializer,
            **errors(400, 401, 403, 404, 409),
            502: OpenApiResponse(response=ErrorSerializer, description="Provider refund failed"),
        },
    )
    def post(self, request, subscription_id):
        subscription = selectors.subscription_for_staff(subscription_id)
        serializer = SubscriptionRefundRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        outcome = services.subscription_refund(
            subscription_id=subscription.pk,
            actor=request.user,
            amount=data.get("amount"),
            reason=data.get("reason"),
            force=bool(data.get("force")),
            recovery=idempotency.recovery_for(request),
        )
        invoice = invoice_selectors.invoice_for_staff(outcome.invoice.pk, detail=False)
        subscription = selectors.subscription_for_staff(subscription.pk)
        return Response(
            {
                "subscription": admin_subscription_data(subscription),
                "invoice": admin_invoice_data(invoice),
                "credit_note": credit_note_data(outcome.credit_note),
                "message": MESSAGE_REFUNDED,
            }
        )


# --- a user's add-ons ---------------------------------------------------------------------------


def _user_addons(user):
    return (
        AddOnSubscription.objects.filter(user=user)
        .select_related("addon", "invoice")
        .order_by("-created_at", "-pk")
    )


class AdminUserAddOnsView(AdminMixin, ApiView):
    @extend_schema(
        tags=USER_ADDON_TAGS,
        summary="The user's add-on subscriptions, newest first",
        responses={200: AdminUserAddOnListSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, user_id):
        user = user_for_staff(user_id)
        return Response(
            {"addon_subscriptions": admin_user_addon_subscriptions_data(_user_addons(user))}
        )

    @extend_schema(
        tags=USER_ADDON_TAGS,
        summary="Grant a complimentary ACTIVE add-on (no invoice)",
        request=AddOnGrantRequestSerializer,
        responses={201: AdminUserAddOnMessageSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, user_id):
        user = user_for_staff(user_id)
        serializer = AddOnGrantRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        item = services.addon_subscription_grant(
            user=user,
            addon_id=data.get("addon_id"),
            actor=request.user,
            subscription_id=data.get("subscription_id"),
            expires_at=data.get("expires_at"),
            reason=data.get("reason"),
        )
        item = _user_addons(user).get(pk=item.pk)
        return Response(
            {
                "addon_subscription": admin_user_addon_subscription_data(item),
                "message": MESSAGE_ADDON_GRANTED,
            },
            status=201,
        )


class AdminUserAddOnCancelView(AdminMixin, ApiView):
    @extend_schema(
        tags=USER_ADDON_TAGS,
        summary="Cancel one of the user's add-ons; immediate ends access now",
        request=AddOnCancelRequestSerializer,
        responses={200: AdminUserAddOnMessageSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, user_id, addon_subscription_id):
        user = user_for_staff(user_id)
        item = _user_addons(user).filter(pk=addon_subscription_id).first()
        if item is None:
            raise NotFound(ADDON_NOT_FOUND)
        serializer = AddOnCancelRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        services.addon_subscription_cancel(
            addon_subscription_id=item.pk,
            actor=request.user,
            immediate=bool(data.get("immediate")),
            reason=data.get("reason"),
        )
        item = _user_addons(user).get(pk=item.pk)
        return Response(
            {
                "addon_subscription": admin_user_addon_subscription_data(item),
                "message": MESSAGE_ADDON_CANCELLED,
            }
        )


class AdminSubscriptionDiscountView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Give a subscription a coupon's discount from its next renewal",
        description=(
            "Replaces an existing discount. The coupon is checked as at checkout, except the "
            "first-purchase rule."
        ),
        request=DiscountInputSerializer,
        responses={200: AdminSubscriptionMessageSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, subscription_id):
        subscription = selectors.subscription_for_staff(subscription_id)
        serializer = DiscountInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.subscription_discount_apply(
            subscription_id=subscription.pk,
            coupon_code=serializer.validated_data["coupon_code"],
            actor=request.user,
        )
        return _answer(subscription.pk, MESSAGE_DISCOUNT_APPLIED)

    @extend_schema(
        tags=TAGS,
        summary="Remove a subscription's discount",
        request=None,
        responses={200: AdminSubscriptionMessageSerializer, **errors(400, 401, 403, 404)},
    )
    def delete(self, request, subscription_id):
        subscription = selectors.subscription_for_staff(subscription_id)
        services.subscription_discount_remove(subscription_id=subscription.pk, actor=request.user)
        return _answer(subscription.pk, MESSAGE_DISCOUNT_REMOVED)
