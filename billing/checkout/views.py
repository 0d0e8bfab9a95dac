"""``POST /user/checkout``: one plan, token bundles and add-ons on one invoice."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog.pricing import format_money
from billing.catalog.selectors import currencies_by_code
from billing.checkout.order import MAX_BUNDLE_ENTRIES, checkout_ids_parse
from billing.checkout.services import (
    MESSAGE_AWAITING,
    MESSAGE_COMPLETE,
    MESSAGE_FREE_PLAN,
    MESSAGE_TRIAL,
    CheckoutResult,
    checkout_create,
    coupon_preview,
)
from billing.coupons.discounts import discount_total
from billing.coupons.serializers import PublicCouponSerializer, public_coupon_data
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
from vbwd.fields import StrictCharField
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
    coupon_code = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=100,
        help_text="a coupon code, in any case; checked after the add-ons, before the method",
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
            "coupon_code": attrs.get("coupon_code"),
        }


class CheckoutResponseSerializer(serializers.Serializer):
    invoice = InvoiceSerializer()
    subscription = SubscriptionSerializer(allow_null=True, help_text="null without a plan")
    token_bundles = TokenBundlePurchaseSerializer(many=True)
    add_ons = AddOnSubscriptionSerializer(many=True)
    discount = serializers.CharField(
        help_text="money: the sum of the invoice's DISCOUNT lines, positive (0 without a coupon)"
    )
    coupon = PublicCouponSerializer(allow_null=True, help_text="the coupon redeemed, or null")
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
        "discount": format_money(
            discount_total(result.invoice.lines.all()), places[result.invoice.currency]
        ),
        "coupon": public_coupon_data(result.coupon, places=places),
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


def _comma_separated(value) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


class CouponPreviewQuerySerializer(serializers.Serializer):
    """The coupon and the order as checkout would take them; the id lists comma-separated."""

    code = StrictCharField(max_length=100, help_text="the coupon code, in any case")
    plan_id = StrictCharField(required=False, allow_blank=True, max_length=100)
    token_bundle_ids = StrictCharField(
        required=False, allow_blank=True, max_length=4000, help_text="comma-separated"
    )
    add_on_ids = StrictCharField(
        required=False, allow_blank=True, max_length=4000, help_text="comma-separated"
    )
    currency = StrictCharField(required=False, allow_blank=True, max_length=10)

    def validate(self, attrs):
        plan_id, bundle_ids, add_on_ids = checkout_ids_parse(
            plan_id=attrs.get("plan_id") or None,
            token_bundle_ids=_comma_separated(attrs.get("token_bundle_ids")),
            add_on_ids=_comma_separated(attrs.get("add_on_ids")),
        )
        return {
            "coupon_code": attrs["code"],
            "plan_id": plan_id,
            "token_bundle_ids": bundle_ids,
            "add_on_ids": add_on_ids,
            "currency": attrs.get("currency") or None,
        }


class PreviewLineSerializer(serializers.Serializer):
    type = serializers.CharField()
    description = serializers.CharField()
    amount = serializers.CharField(help_text="money, negative")
    tax_rate = serializers.CharField(help_text="percent")
    tax_amount = serializers.CharField(help_text="money, negative")
    gross_amount = serializers.CharField(help_text="money, negative")


class CouponPreviewSerializer(serializers.Serializer):
    coupon = PublicCouponSerializer()
    discount = serializers.CharField(help_text="money: the sum of the DISCOUNT lines, positive")
    currency = serializers.CharField()
    lines = PreviewLineSerializer(many=True)


class CouponPreviewView(UserMixin, ApiView):
    throttle_classes = [rate_limit("coupon_preview_user", "user")]

    @extend_schema(
        tags=TAGS,
        summary="Preview a coupon's discount on an order",
        description=(
            "Runs the checkout's checks on the order and the coupon and answers the DISCOUNT "
            "lines the checkout would write, to the cent. Nothing is written. Limited per user "
            "so that codes cannot be guessed."
        ),
        parameters=[CouponPreviewQuerySerializer],
        responses={200: CouponPreviewSerializer, **errors(400, 401, 429)},
    )
    def get(self, request):
        serializer = CouponPreviewQuerySerializer(data=request.query_params)
        serializer.is_valid(raise_exception=True)
        preview = coupon_preview(user=request.user, **serializer.validated_data)
        return Response(preview)
