"""Shapes of coupons (public and admin) and redemptions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.coupons.models import (
    CODE_PATTERN,
    Coupon,
    CouponDuration,
    CouponKind,
    CouponRedemption,
    RedemptionStatus,
)
from billing.invoices.serializers import MoneyField
from billing.invoices.serializers.fields import context_money, percent_text
from vbwd.fields import MoneyField as VbwdMoneyField
from vbwd.fields import (
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictDateTimeField,
    StrictDecimalField,
    StrictIntegerField,
    UUIDField,
)
from vbwd.pagination import page_serializer


@extend_schema_field({"type": "string", "nullable": True, "example": "25.00"})
class _PercentOrNull(serializers.Field):
    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        super().__init__(**kwargs)

    def to_representation(self, value):
        return percent_text(value) if value is not None else None


@extend_schema_field({"type": "string", "nullable": True, "example": "10.00"})
class _AmountOrNull(serializers.Field):
    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        kwargs["source"] = "*"
        super().__init__(**kwargs)

    def to_representation(self, coupon):
        if coupon.amount_off is None:
            return None
        return context_money(self.context, coupon.amount_off, coupon.currency)


class PublicCouponSerializer(serializers.ModelSerializer):
    """What a customer sees of a coupon."""

    kind = serializers.ChoiceField(choices=CouponKind.choices, read_only=True)
    percent_off = _PercentOrNull()
    amount_off = _AmountOrNull()
    currency = serializers.CharField(read_only=True, allow_null=True)
    duration = serializers.ChoiceField(choices=CouponDuration.choices, read_only=True)
    duration_periods = serializers.IntegerField(read_only=True, allow_null=True)

    class Meta:
        model = Coupon
        fields = [
            "code",
            "name",
            "kind",
            "percent_off",
            "amount_off",
            "currency",
            "duration",
            "duration_periods",
        ]
        read_only_fields = fields


class AppliesToSerializer(serializers.Serializer):
    plan_ids = serializers.ListField(child=serializers.UUIDField())
    add_on_ids = serializers.ListField(child=serializers.UUIDField())
    token_bundle_ids = serializers.ListField(child=serializers.UUIDField())


class CouponSerializer(PublicCouponSerializer):
    """A coupon as staff see it; ``redemptions_count`` counts PENDING and APPLIED uses
    (annotated by ``selectors.coupons_for_output``)."""

    applies_to = serializers.SerializerMethodField()
    redemptions_count = serializers.IntegerField(read_only=True)

    class Meta(PublicCouponSerializer.Meta):
        fields = [
            "id",
            *PublicCouponSerializer.Meta.fields,
            "applies_to",
            "valid_from",
            "valid_until",
            "max_redemptions",
            "redemptions_count",
            "once_per_customer",
            "first_purchase_only",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(AppliesToSerializer)
    def get_applies_to(self, coupon: Coupon) -> dict:
        return {
            "plan_ids": list(coupon.plan_ids),
            "add_on_ids": list(coupon.add_on_ids),
            "token_bundle_ids": list(coupon.token_bundle_ids),
        }


class RedemptionSerializer(serializers.ModelSerializer):
    coupon_id = serializers.UUIDField(read_only=True)
    user_id = serializers.UUIDField(read_only=True)
    user_email = serializers.EmailField(source="user.email", read_only=True)
    invoice_id = serializers.UUIDField(read_only=True, allow_null=True)
    invoice_number = serializers.SerializerMethodField()
    subscription_id = serializers.UUIDField(read_only=True, allow_null=True)
    status = serializers.ChoiceField(choices=RedemptionStatus.choices, read_only=True)
    discount = MoneyField()

    class Meta:
        model = CouponRedemption
        fields = [
            "id",
            "coupon_id",
            "user_id",
            "user_email",
            "invoice_id",
            "invoice_number",
            "subscription_id",
            "status",
            "discount",
            "currency",
            "created_at",
        ]
        read_only_fields = fields

    def get_invoice_number(self, redemption) -> str | None:
        return redemption.invoice.invoice_number if redemption.invoice_id else None


def public_coupon_data(coupon: Coupon | None, *, places=None) -> dict | None:
    if coupon is None:
        return None
    context = {"places": places} if places is not None else {}
    return PublicCouponSerializer(coupon, context=context).data


# --- staff input -------------------------------------------------------------------------------

CODE_MESSAGE = "code must be 3-40 characters of A-Z, 0-9, - and _"
PERCENT_MESSAGE = "percent_off must be above 0 and at most 100"
AMOUNT_MESSAGE = "amount_off and currency are required for AMOUNT coupons"
PERIODS_MESSAGE = "duration_periods is required for REPEATING coupons"


class AppliesToInputSerializer(serializers.Serializer):
    plan_ids = serializers.ListField(child=UUIDField(), required=False, max_length=500)
    add_on_ids = serializers.ListField(child=UUIDField(), required=False, max_length=500)
    token_bundle_ids = serializers.ListField(child=UUIDField(), required=False, max_length=500)


class CouponWriteSerializer(serializers.Serializer):
    """A coupon's write fields. On create, code, name, kind and duration are required, with
    ``percent_off`` for PERCENT, ``amount_off`` and ``currency`` for AMOUNT and
    ``duration_periods`` for REPEATING; ``partial=True`` (an update) reads the given fields and
    checks them together with the stored ones (in the service)."""

    code = StrictCharField(max_length=100, error_messages={"blank": CODE_MESSAGE})
    name = StrictCharField(max_length=200)
    kind = StrictChoiceField(CouponKind)
    percent_off = StrictDecimalField(
        max_places=2, max_digits=5, required=False, allow_null=True, blank_as_null=True
    )
    amount_off = VbwdMoneyField(required=False, allow_null=True, blank_as_null=True)
    currency = StrictCharField(required=False, allow_null=True, allow_blank=True, max_length=3)
    duration = StrictChoiceField(CouponDuration)
    duration_periods = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=1000
    )
    applies_to = AppliesToInputSerializer(required=False)
    valid_from = StrictDateTimeField(required=False, allow_null=True)
    valid_until = StrictDateTimeField(required=False, allow_null=True)
    max_redemptions = StrictIntegerField(
        required=False, allow_null=True, min_value=1, max_value=10_000_000
    )
    once_per_customer = StrictBooleanField(required=False)
    first_purchase_only = StrictBooleanField(required=False)
    is_active = StrictBooleanField(required=False)

    def validate_code(self, value: str) -> str:
        code = value.strip().upper()
        if not CODE_PATTERN.match(code):
            raise serializers.ValidationError(CODE_MESSAGE)
        return code

    def validate_currency(self, value):
        return value.strip().upper() if value else None

    def validate(self, attrs):
        applies_to = attrs.pop("applies_to", None)
        if applies_to is not None:
            for key in ("plan_ids", "add_on_ids", "token_bundle_ids"):
                if key in applies_to:
                    attrs[key] = [str(value) for value in applies_to[key]]
        return attrs


class CouponsQuerySerializer(serializers.Serializer):
    is_active = StrictBooleanField(required=False, accept_strings=True, blank_as_null=True)
    search = StrictCharField(required=False, allow_blank=True, max_length=100)
    kind = StrictChoiceField(CouponKind, required=False, blank_as_null=True)
    duration = StrictChoiceField(CouponDuration, required=False, blank_as_null=True)


class RedemptionsQuerySerializer(serializers.Serializer):
    status = StrictChoiceField(RedemptionStatus, required=False, blank_as_null=True)


class CouponEnvelopeSerializer(serializers.Serializer):
    coupon = CouponSerializer()


class CouponMessageEnvelopeSerializer(serializers.Serializer):
    coupon = CouponSerializer()
    message = serializers.CharField()


class DiscountInputSerializer(serializers.Serializer):
    coupon_code = StrictCharField(max_length=100)


CouponPageSerializer = page_serializer("CouponPage", items="coupons", item=CouponSerializer)
RedemptionPageSerializer = page_serializer(
    "CouponRedemptionPage", items="redemptions", item=RedemptionSerializer
)
