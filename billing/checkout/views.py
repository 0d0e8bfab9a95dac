"""``POST /user/checkout``: one plan, token bundles and add-ons on one invoice."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog.selectors import currencies_by_code
from billing.checkout.order import MAX_BUNDLE_ENTRIES, checkout_ids_parse
from billing.checkout.services import (
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


class _AsGiven(serializers.Field):
    """A value taken as the client sent it: ``checkout_ids_parse`` and the checkout's own checks
    read it, in the order their messages are reported."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data is serializers.empty:
            raise serializers.SkipField
        return (False, data)

    def to_internal_value(self, data):
        return data

    def to_representation(self, value):
        return value


@extend_schema_field({"type": "string", "format": "uuid", "nullable": True})
class _GivenId(_AsGiven):
    pass


@extend_schema_field({"type": "array", "items": {"type": "string", "format": "uuid"}})
class _GivenIds(_AsGiven):
    pass


@extend_schema_field(
    {"type": "array", "items": {"type": "string", "format": "uuid"}, "maxItems": MAX_BUNDLE_ENTRIES}
)
class _GivenBundleIds(_AsGiven):
    pass


@extend_schema_field({"type": "string", "nullable": True})
class _GivenCode(_AsGiven):
    pass


class CheckoutSerializer(serializers.Serializer):
    """The checkout body. The ids are checked here (at least one item, formats, the bundle
    limit, add-ons once); the currency and the payment method against the catalog by the
    checkout, after the ids."""

    plan_id = _GivenId()
    token_bundle_ids = _GivenBundleIds(
        help_text="repeats allowed: each entry is one purchase and one line"
    )
    add_on_ids = _GivenIds(help_text="each id at most once")
    currency = _GivenCode(
        help_text="invoice currency; default: the plan's currency, else the default currency",
    )
    payment_method_code = _GivenCode(
        help_text="default: the default payment method; ignored when the total is zero",
    )

    def validate(self, attrs):
        plan_id, bundle_ids, add_on_ids = checkout_ids_parse(
            plan_id=attrs.get("plan_id"),
            token_bundle_ids=attrs.get("token_bundle_ids"),
            add_on_ids=attrs.get("add_on_ids"),
        )
        return {
            "plan_id": plan_id,
            "token_bundle_ids": bundle_ids,
            "add_on_ids": add_on_ids,
            "currency": attrs.get("currency"),
            "payment_method_code": attrs.get("payment_method_code"),
        }


class CheckoutResponseSerializer(serializers.Serializer):
    invoice = InvoiceSerializer()
    subscription = SubscriptionSerializer(allow_null=True, help_text="null without a plan")
    token_bundles = TokenBundlePurchaseSerializer(many=True)
    add_ons = AddOnSubscriptionSerializer(many=True)
    message = serializers.CharField(
        help_text=" · ".join([MESSAGE_FREE_PLAN, MESSAGE_COMPLETE, MESSAGE_TRIAL, MESSAGE_AWAITING])
    )


def checkout_data(result: CheckoutResult) -> dict:
    """The 201 body of a checkout; the currencies are those the checkout read, else read once."""
    currencies = result.currencies or currencies_by_code()
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
            "created. A zero total is captured at once and everything activates."
        ),
        request=CheckoutSerializer,
        responses={201: CheckoutResponseSerializer, **errors(400, 401, 409, 429)},
    )
    def post(self, request):
        serializer = CheckoutSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        result = checkout_create(user=request.user, **serializer.validated_data)
        return Response(checkout_data(result), status=201)
