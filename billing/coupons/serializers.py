"""Shapes of coupons (public and admin) and redemptions."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.coupons.models import (
    Coupon,
    CouponDuration,
    CouponKind,
    CouponRedemption,
    RedemptionStatus,
)
from billing.invoices.serializers import MoneyField
from billing.invoices.serializers.fields import context_money, percent_text


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
