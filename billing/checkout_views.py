"""``POST /user/checkout`` (API.md §7): one plan, token bundles and add-ons on one invoice."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog.selectors import currencies_by_code
from billing.checkout import (
    MAX_BUNDLE_ENTRIES,
    MESSAGE_AWAITING,
    MESSAGE_COMPLETE,
    MESSAGE_FREE_PLAN,
    MESSAGE_TRIAL,
    CheckoutResult,
    checkout_create,
)
from billing.invoices.selectors import currency_places_by_code
from billing.invoices.serializers import InvoiceSerializer, invoice_data
from billing.subscriptions.serializers import (
    AddOnSubscriptionSerializer,
    SubscriptionSerializer,
    addon_subscriptions_data,
    subscription_data,
)
from tokens.serializers import TokenBundlePurchaseSerializer, token_bundle_purchases_data
from vbwd.api import ApiView, UserMixin
from vbwd.schema import errors
from vbwd.throttling import rate_limit

TAGS = ["user: checkout"]


class CheckoutSerializer(serializers.Serializer):
    """The checkout body; the service checks it in the order of API.md §7 (this serializer only
    documents it)."""

    plan_id = serializers.UUIDField(required=False, allow_null=True)
    token_bundle_ids = serializers.ListField(
        child=serializers.UUIDField(),
        required=False,
        max_length=MAX_BUNDLE_ENTRIES,
        help_text="repeats allowed: each entry is one purchase and one line",
    )
    add_on_ids = serializers.ListField(
        child=serializers.UUIDField(), required=False, help_text="each id at most once"
    )
    currency = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="invoice currency; default: the plan's currency, else the default currency",
    )
    payment_method_code = serializers.CharField(
        required=False,
        allow_null=True,
        help_text="default: the default payment method; ignored when the total is zero",
    )


class CheckoutResponseSerializer(serializers.Serializer):
    invoice = InvoiceSerializer()
    subscription = SubscriptionSerializer(allow_null=True, help_text="null without a plan")
    token_bundles = TokenBundlePurchaseSerializer(many=True)
    add_ons = AddOnSubscriptionSerializer(many=True)
    message = serializers.CharField(
        help_text=" · ".join([MESSAGE_FREE_PLAN, MESSAGE_COMPLETE, MESSAGE_TRIAL, MESSAGE_AWAITING])
    )


def checkout_data(result: CheckoutResult) -> dict:
    """The 201 body of a checkout; the currencies are read once."""
    currencies = currencies_by_code()
    places = currency_places_by_code(currencies)
    subscription = result.subscription
    return {
        "invoice": invoice_data(result.invoice, places=places),
        "subscription": (
            subscription_data(subscription, places=places) if subscription is not None else None
        ),
        "token_bundles": token_bundle_purchases_data(result.token_purchases, currencies=currencies),
        "add_ons": addon_subscriptions_data(result.addon_subscriptions, places=places),
        "message": result.message,
    }


class CheckoutView(UserMixin, ApiView):
    throttle_classes = [rate_limit("payment_user", "user")]

    @extend_schema(
        tags=TAGS,
        summary="Buy a plan, token bundles and add-ons on one invoice",
        description=(
            "Validation runs first and the first failing check answers 400 with nothing "
            "created (API.md §7). A zero total is captured at once and everything activates."
        ),
        request=CheckoutSerializer,
        responses={201: CheckoutResponseSerializer, **errors(400, 401, 409, 429)},
    )
    def post(self, request):
        data = request.data
        result = checkout_create(
            user=request.user,
            plan_id=data.get("plan_id"),
            token_bundle_ids=data.get("token_bundle_ids"),
            add_on_ids=data.get("add_on_ids"),
            currency=data.get("currency"),
            payment_method_code=data.get("payment_method_code"),
        )
        return Response(checkout_data(result), status=201)
