"""Shapes of currencies, countries and tax rates (API.md §2.2) and the documented request
bodies of §18 (input is validated by ``services.geography``)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.catalog.models import Country, Currency, TaxRate
from billing.catalog.services import geography


class CurrencySerializer(serializers.ModelSerializer):
    """Currency: ``exchange_rate`` is a six-decimal string ("1.080000")."""

    exchange_rate = serializers.DecimalField(max_digits=18, decimal_places=6, read_only=True)

    class Meta:
        model = Currency
        fields = [
            "id",
            "code",
            "name",
            "symbol",
            "decimal_places",
            "exchange_rate",
            "is_default",
            "is_active",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class PublicCurrencySerializer(serializers.ModelSerializer):
    class Meta:
        model = Currency
        fields = ["code", "name", "symbol", "decimal_places", "is_default"]
        read_only_fields = fields


class CountrySerializer(serializers.ModelSerializer):
    class Meta:
        model = Country
        fields = ["id", "code", "name", "is_enabled", "position", "is_eu"]
        read_only_fields = fields


class PublicCountrySerializer(serializers.ModelSerializer):
    class Meta:
        model = Country
        fields = ["code", "name"]
        read_only_fields = fields


class TaxRateSerializer(serializers.ModelSerializer):
    """TaxRate: ``rate`` is a percent string with two decimals ("19.00")."""

    rate = serializers.DecimalField(max_digits=5, decimal_places=2, read_only=True)
    in_use = serializers.SerializerMethodField()

    class Meta:
        model = TaxRate
        fields = [
            "id",
            "country_code",
            "region_code",
            "name",
            "code",
            "rate",
            "is_inclusive",
            "is_active",
            "valid_from",
            "valid_to",
            "description",
            "in_use",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.BooleanField())
    def get_in_use(self, tax_rate) -> bool:
        return geography.tax_rate_in_use(tax_rate)


# --- envelopes ------------------------------------------------------------------------------


class PublicCurrencyListSerializer(serializers.Serializer):
    currencies = PublicCurrencySerializer(many=True)
    default = serializers.CharField()


class PublicCountryListSerializer(serializers.Serializer):
    countries = PublicCountrySerializer(many=True)


class CountryListSerializer(serializers.Serializer):
    countries = CountrySerializer(many=True)


class CurrencyListSerializer(serializers.Serializer):
    currencies = CurrencySerializer(many=True)


class CurrencyEnvelopeSerializer(serializers.Serializer):
    currency = CurrencySerializer()
    message = serializers.CharField(required=False)


class CurrencyDefaultChangedSerializer(serializers.Serializer):
    currencies = CurrencySerializer(many=True)
    message = serializers.CharField()


class TaxRateListSerializer(serializers.Serializer):
    tax_rates = TaxRateSerializer(many=True)
    total = serializers.IntegerField()


class TaxRateEnvelopeSerializer(serializers.Serializer):
    tax_rate = TaxRateSerializer()
    message = serializers.CharField(required=False)


class CurrencyDeletedSerializer(serializers.Serializer):
    message = serializers.CharField()


class TaxRateDeletedSerializer(serializers.Serializer):
    message = serializers.CharField()


# --- request bodies (documentation) ---------------------------------------------------------


class CountryReorderRequestSerializer(serializers.Serializer):
    codes = serializers.ListField(child=serializers.CharField(), help_text="Enabled codes in order")


class CurrencyCreateRequestSerializer(serializers.Serializer):
    code = serializers.CharField(min_length=3, max_length=3, help_text="ISO-4217, immutable")
    name = serializers.CharField(max_length=100)
    symbol = serializers.CharField(max_length=10)
    decimal_places = serializers.IntegerField(min_value=0, max_value=4, required=False)
    exchange_rate = serializers.DecimalField(
        max_digits=18,
        decimal_places=6,
        required=False,
        help_text="Units per 1 unit of the default currency, > 0, up to 6 places",
    )
    is_active = serializers.BooleanField(required=False)


class CurrencyUpdateRequestSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, required=False)
    symbol = serializers.CharField(max_length=10, required=False)
    decimal_places = serializers.IntegerField(min_value=0, max_value=4, required=False)
    exchange_rate = serializers.DecimalField(max_digits=18, decimal_places=6, required=False)
    is_active = serializers.BooleanField(required=False)


class TaxRateWriteRequestSerializer(serializers.Serializer):
    country_code = serializers.CharField(min_length=2, max_length=2)
    region_code = serializers.CharField(max_length=20, required=False, allow_null=True)
    name = serializers.CharField(max_length=100)
    code = serializers.CharField(max_length=50)
    rate = serializers.DecimalField(max_digits=5, decimal_places=2, help_text="Percent, 0..100")
    is_inclusive = serializers.BooleanField(required=False)
    is_active = serializers.BooleanField(required=False)
    valid_from = serializers.DateField(required=False, help_text="Default: today")
    valid_to = serializers.DateField(required=False, allow_null=True)
    description = serializers.CharField(required=False, allow_null=True)


class TaxRateUpdateRequestSerializer(TaxRateWriteRequestSerializer):
    """Partial: only the fields present change."""

    def get_fields(self):
        fields = super().get_fields()
        for field in fields.values():
            field.required = False
        return fields
