"""Shapes of payment methods (PublicPaymentMethod, PaymentMethod, PaymentMethodTranslation) and
their envelopes; the request bodies are in ``payment_method_input``."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.catalog.models import (
    FeeChargedTo,
    FeeType,
    PaymentMethod,
    PaymentMethodTranslation,
)
from billing.catalog.pricing import format_money
from billing.catalog.selectors import default_currency
from billing.catalog.services.payment_methods import (
    PaymentMethodKind,
    localized_texts,
    payment_method_is_available,
    payment_method_kind,
)

FEE_PLACES = Decimal("0.0001")


def format_fee(amount: Decimal) -> str:
    """A fee as a decimal string with 2 to 4 places: ``2.5000`` → ``"2.50"``, ``0.1250`` →
    ``"0.125"`` (a fixed fee reads like money, a fine percentage keeps its digits)."""
    text = str(Decimal(amount).quantize(FEE_PLACES))
    whole, _, fraction = text.partition(".")
    fraction = fraction.rstrip("0").ljust(2, "0")
    return f"{whole}.{fraction}"


def serializer_context() -> dict:
    """Money limits are in the default currency and shown with its places."""
    return {"places": default_currency().decimal_places}


class PaymentMethodSerializer(serializers.ModelSerializer):
    """PaymentMethod (admin); needs ``places`` in the context."""

    kind = serializers.SerializerMethodField()
    min_amount = serializers.SerializerMethodField()
    max_amount = serializers.SerializerMethodField()
    currencies = serializers.ListField(child=serializers.CharField())
    countries = serializers.ListField(child=serializers.CharField())
    fee_type = serializers.ChoiceField(choices=FeeType.choices)
    fee_amount = serializers.SerializerMethodField()
    fee_charged_to = serializers.ChoiceField(choices=FeeChargedTo.choices)
    config = serializers.DictField()
    is_available = serializers.SerializerMethodField()

    class Meta:
        model = PaymentMethod
        fields = [
            "id",
            "code",
            "name",
            "description",
            "short_description",
            "instructions",
            "icon",
            "plugin_id",
            "kind",
            "is_active",
            "is_default",
            "position",
            "min_amount",
            "max_amount",
            "currencies",
            "countries",
            "fee_type",
            "fee_amount",
            "fee_charged_to",
            "config",
            "is_available",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def _money(self, amount: Decimal | None) -> str | None:
        if amount is None:
            return None
        return format_money(amount, self.context["places"])

    @extend_schema_field(serializers.ChoiceField(choices=PaymentMethodKind.choices))
    def get_kind(self, method: PaymentMethod) -> str:
        return payment_method_kind(method)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_min_amount(self, method: PaymentMethod) -> str | None:
        return self._money(method.min_amount)

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_max_amount(self, method: PaymentMethod) -> str | None:
        return self._money(method.max_amount)

    @extend_schema_field(serializers.CharField())
    def get_fee_amount(self, method: PaymentMethod) -> str:
        return format_fee(method.fee_amount)

    @extend_schema_field(serializers.BooleanField())
    def get_is_available(self, method: PaymentMethod) -> bool:
        return payment_method_is_available(method)


class PublicPaymentMethodSerializer(serializers.Serializer):
    """PublicPaymentMethod: texts for ``locale`` in the context."""

    code = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField(allow_null=True)
    short_description = serializers.CharField(allow_null=True)
    instructions = serializers.CharField(allow_null=True)
    icon = serializers.CharField(allow_null=True)
    kind = serializers.ChoiceField(choices=PaymentMethodKind.choices)
    is_default = serializers.BooleanField()
    position = serializers.IntegerField()
    fee_type = serializers.ChoiceField(choices=FeeType.choices)
    fee_amount = serializers.CharField()
    fee_charged_to = serializers.ChoiceField(choices=FeeChargedTo.choices)

    def to_representation(self, method: PaymentMethod) -> dict:
        texts = localized_texts(method, self.context.get("locale"))
        return {
            "code": method.code,
            **texts,
            "icon": method.icon,
            "kind": payment_method_kind(method),
            "is_default": method.is_default,
            "position": method.position,
            "fee_type": method.fee_type,
            "fee_amount": format_fee(method.fee_amount),
            "fee_charged_to": method.fee_charged_to,
        }


class PaymentMethodTranslationSerializer(serializers.ModelSerializer):
    """PaymentMethodTranslation."""

    payment_method_id = serializers.UUIDField(read_only=True)

    class Meta:
        model = PaymentMethodTranslation
        fields = [
            "id",
            "payment_method_id",
            "locale",
            "name",
            "description",
            "short_description",
            "instructions",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


# --- envelopes -------------------------------------------------------------------------------


class PublicPaymentMethodListSerializer(serializers.Serializer):
    methods = PublicPaymentMethodSerializer(many=True)


class PublicPaymentMethodEnvelopeSerializer(serializers.Serializer):
    method = PublicPaymentMethodSerializer()


class PaymentMethodListSerializer(serializers.Serializer):
    payment_methods = PaymentMethodSerializer(many=True)


class PaymentMethodEnvelopeSerializer(serializers.Serializer):
    payment_method = PaymentMethodSerializer()
    message = serializers.CharField(required=False)


class PaymentMethodMessageSerializer(serializers.Serializer):
    message = serializers.CharField()


class PaymentMethodTranslationListSerializer(serializers.Serializer):
    translations = PaymentMethodTranslationSerializer(many=True)


class PaymentMethodTranslationEnvelopeSerializer(serializers.Serializer):
    translation = PaymentMethodTranslationSerializer()
    message = serializers.CharField()
