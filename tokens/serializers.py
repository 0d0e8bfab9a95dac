"""The shapes of token bundles, the ledger and bundle purchases, and the input of the token
endpoints."""

from __future__ import annotations

from collections.abc import Iterable

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.catalog.models import Currency
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currencies_by_code
from tokens.models import (
    TokenBundle,
    TokenBundlePurchase,
    TokenTransaction,
    TokenTransactionType,
)
from vbwd.fields import StrictBooleanField, StrictChoiceField

# Only when a bundle's currency row is missing (it cannot be deleted while bundles use it).
FALLBACK_PLACES = 2


class TokenBundleSerializer(serializers.ModelSerializer):
    """TokenBundle."""

    # context["currencies"]: code -> Currency, for the places of the price string.
    price = serializers.SerializerMethodField()

    class Meta:
        model = TokenBundle
        fields = [
            "id",
            "name",
            "description",
            "token_amount",
            "price",
            "currency",
            "is_active",
            "sort_order",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(help_text="money: the currency's decimal places"))
    def get_price(self, bundle: TokenBundle) -> str:
        currency = self.context.get("currencies", {}).get(bundle.currency)
        places = currency.decimal_places if currency is not None else FALLBACK_PLACES
        return format_money(bundle.price, places)


def bundle_data(bundle: TokenBundle) -> dict:
    """One bundle in the API shape (one query for its currency)."""
    currencies = {
        currency.code: currency for currency in Currency.objects.filter(code=bundle.currency)
    }
    return TokenBundleSerializer(bundle, context={"currencies": currencies}).data


def bundles_data(bundles: Iterable[TokenBundle]) -> list:
    """Bundles in the API shape; the currencies are read in one query, whatever the count."""
    bundles = list(bundles)
    currencies = currencies_by_code() if bundles else {}
    return TokenBundleSerializer(bundles, many=True, context={"currencies": currencies}).data


# --- documentation of the bodies --------------------------------------------------------------


class TokenBundleWriteSerializer(serializers.Serializer):
    """Write fields; on create name, token_amount and price are required."""

    name = serializers.CharField(max_length=255, required=False)
    token_amount = serializers.IntegerField(min_value=1, required=False)
    price = serializers.CharField(required=False, help_text="money: string or number, >= 0")
    currency = serializers.CharField(
        max_length=3, required=False, help_text="active currency; default: the default currency"
    )
    description = serializers.CharField(required=False, allow_null=True, allow_blank=True)
    is_active = serializers.BooleanField(required=False)
    sort_order = serializers.IntegerField(required=False)


class TokenBundleListSerializer(serializers.Serializer):
    bundles = TokenBundleSerializer(many=True)


class TokenBundleEnvelopeSerializer(serializers.Serializer):
    bundle = TokenBundleSerializer()


class TokenBundleMessageEnvelopeSerializer(serializers.Serializer):
    bundle = TokenBundleSerializer()
    message = serializers.CharField()


class AdminTokenBundlePageSerializer(serializers.Serializer):
    items = TokenBundleSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    pages = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class TokenTransactionSerializer(serializers.ModelSerializer):
    """TokenTransaction."""

    user_id = serializers.UUIDField(read_only=True)
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = TokenTransaction
        fields = [
            "id",
            "user_id",
            "amount",
            "balance_after",
            "transaction_type",
            "reference_type",
            "reference_id",
            "description",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields


class TokenBalanceSerializer(serializers.Serializer):
    balance = serializers.IntegerField()


class TokenTransactionPageSerializer(serializers.Serializer):
    transactions = TokenTransactionSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    pages = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class AdminTokenPageSerializer(TokenTransactionPageSerializer):
    balance = serializers.IntegerField()


@extend_schema_field(OpenApiTypes.STR)
class TransactionTypeField(StrictChoiceField):
    """A TokenTransactionType in any case (documented as a string: the ledger's shape names the
    enum)."""

    def __init__(self, **kwargs):
        super().__init__(
            TokenTransactionType,
            required=False,
            allow_null=True,
            blank_as_null=True,
            error_messages={"invalid_choice": "Unknown type: {input}"},
            **kwargs,
        )


class TokenAdjustInputSerializer(serializers.Serializer):
    """A staff adjustment. ``type`` is read here (any case; default ADJUSTMENT); the amount and
    the reason are checked by the ledger, which owns their rules."""

    amount = serializers.JSONField(
        required=False, allow_null=True, help_text="integer, non-zero; negative = debit"
    )
    reason = serializers.JSONField(
        required=False, allow_null=True, help_text="at most 255 characters"
    )
    type = TransactionTypeField(help_text="ADJUSTMENT (default) or BONUS")

    def to_internal_value(self, data):
        values = super().to_internal_value(data if isinstance(data, dict) else {})
        return {
            "amount": values.get("amount"),
            "reason": values.get("reason"),
            "transaction_type": values.get("type") or TokenTransactionType.ADJUSTMENT,
        }


class LedgerQuerySerializer(serializers.Serializer):
    """The ledger's filter; pagination is read by the shared paginator."""

    type = TransactionTypeField(help_text="a TokenTransactionType, any case")


class TokenBundlesQuerySerializer(serializers.Serializer):
    include_inactive = StrictBooleanField(
        required=False,
        allow_null=True,
        accept_strings=True,
        blank_as_null=True,
        help_text="default false",
    )


class TokenAdjustResponseSerializer(serializers.Serializer):
    balance = serializers.IntegerField()
    transaction = TokenTransactionSerializer()
    message = serializers.CharField()


# --- bundle purchases -------------------------------------------------------------------------


class TokenBundlePurchaseSerializer(serializers.ModelSerializer):
    """TokenBundlePurchase: token amount, price and currency as snapshotted at
    checkout. ``context["currencies"]``: code -> Currency, for the places of the price."""

    user_id = serializers.UUIDField(read_only=True)
    bundle_id = serializers.UUIDField(read_only=True)
    invoice_id = serializers.UUIDField(read_only=True, allow_null=True)
    price = serializers.SerializerMethodField()

    class Meta:
        model = TokenBundlePurchase
        fields = [
            "id",
            "user_id",
            "bundle_id",
            "bundle_name",
            "invoice_id",
            "status",
            "token_amount",
            "price",
            "currency",
            "tokens_credited",
            "completed_at",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(serializers.CharField(help_text="money: the currency's decimal places"))
    def get_price(self, purchase: TokenBundlePurchase) -> str:
        currency = self.context.get("currencies", {}).get(purchase.currency)
        places = currency.decimal_places if currency is not None else FALLBACK_PLACES
        return format_money(purchase.price, places)


def token_bundle_purchases_data(
    purchases: Iterable[TokenBundlePurchase], *, currencies: dict | None = None
) -> list:
    """Purchases in the API shape; the currencies are read once, whatever the count."""
    purchases = list(purchases)
    if not purchases:
        return []
    if currencies is None:
        currencies = currencies_by_code()
    return TokenBundlePurchaseSerializer(
        purchases, many=True, context={"currencies": currencies}
    ).data


def token_bundle_purchase_data(
    purchase: TokenBundlePurchase, *, currencies: dict | None = None
) -> dict:
    """One purchase in the API shape."""
    return token_bundle_purchases_data([purchase], currencies=currencies)[0]
