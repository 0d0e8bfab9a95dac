"""Shapes of currencies, countries and tax rates and their envelopes; the request
bodies are in ``geography_input``."""

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
