"""The shapes of token bundles, the ledger and bundle purchases, and the input of the token
endpoints."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.catalog.models import Currency
from billing.catalog.pricing import format_money
from billing.catalog.selectors import currencies_by_code
from tokens.models import (
    MAX_TOKEN_AMOUNT,
    TokenBundle,
    TokenBundlePurchase,
    TokenTransaction,
    TokenTransactionType,
)
from vbwd.fields import (
    MoneyField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
)
from vbwd.fields.choices import any_case_spellings
from vbwd.output import OutputModelSerializer
from vbwd.pagination import page_serializer

# Only when a bundle's currency row is missing (it cannot be deleted while bundles use it).
FALLBACK_PLACES = 2


def _price_text(row, context) -> str:
    """``row.price`` in the places of ``row.currency``, read from ``context["currencies"]``."""
    currency = context.get("currencies", {}).get(row.currency)
    places = currency.decimal_places if currency is not None else FALLBACK_PLACES
    return format_money(row.price, places)


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
        return _price_text(bundle, self.context)


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


# --- input ------------------------------------------------------------------------------------

MAX_NAME_LENGTH = 255
# price is DECIMAL(12, 4): eight digits before the point.
PRICE_LIMIT = Decimal("100000000")
SORT_ORDER_RANGE = (-2_147_483_648, 2_147_483_647)
TOKEN_AMOUNT_INVALID = "Token amount must be a positive integer"
# More places than any amount a client sends: the currency's own limit is checked afterwards.
MAX_READ_PLACES = 10**6


class BundlePriceField(MoneyField):
    """A finite, non-negative amount; the currency's places are checked once the currency is
    known (by the bundle services), so any number of places is read here."""

    def __init__(self, **kwargs):
        super().__init__(
            places=lambda: MAX_READ_PLACES,
            max_whole_digits=MAX_READ_PLACES,  # the price limit below bounds the digits
            negative_first=True,
            quantize=False,
            error_messages={
                "required": "Price is required",
                "null": "Price is required",
                "invalid": "Invalid price",
                "negative": "Price cannot be negative",
            },
            help_text="money: string or number, >= 0, at most the currency's decimal places",
            **kwargs,
        )

    def validate_empty_values(self, data):
        if isinstance(data, str) and not data.strip():
            self.fail("required")
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> Decimal:
        if not isinstance(data, (str, int, float, Decimal)):
            self.fail("invalid")
        amount = super().to_internal_value(data)
        if amount >= PRICE_LIMIT:
            raise serializers.ValidationError(f"Price must be less than {PRICE_LIMIT}")
        return amount


class TokenBundleWriteSerializer(serializers.Serializer):
    """A bundle's write fields; every refused field is reported at once. On create (the default)
    name, token_amount and price are required and the rest default; ``partial=True`` (an update)
    reads only the given fields, and a name given there cannot be blank. ``null`` for
    ``is_active`` or ``sort_order`` means "not given"; a blank description is none."""

    name = StrictCharField(
        error_messages={
            "required": "Name is required",
            "null": "Name is required",
            "blank": "Name is required",
            "invalid": "Name must be a string",
            "max_length": "Name must be at most {max_length} characters",
        },
        max_length=MAX_NAME_LENGTH,
    )
    description = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        multiline=True,
        error_messages={"invalid": "Description must be a string"},
    )
    token_amount = StrictIntegerField(
        error_messages={
            "required": TOKEN_AMOUNT_INVALID,
            "null": TOKEN_AMOUNT_INVALID,
            "invalid": TOKEN_AMOUNT_INVALID,
            "too_small": TOKEN_AMOUNT_INVALID,
            "too_large": f"Token amount must be at most {MAX_TOKEN_AMOUNT}",
        },
        help_text=f"1..{MAX_TOKEN_AMOUNT}",
    )
    price = BundlePriceField()
    currency = StrictCharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        error_messages={"invalid": "currency must be a 3-letter code"},
        help_text="an active currency; default: the bundle's currency, or the default currency",
    )
    is_active = StrictBooleanField(
        required=False, allow_null=True, accept_strings=True, blank_as_null=True
    )
    sort_order = StrictIntegerField(
        required=False,
        allow_null=True,
        min_value=SORT_ORDER_RANGE[0],
        max_value=SORT_ORDER_RANGE[1],
        error_messages={
            "invalid": "sort_order must be an integer",
            "range": "sort_order must be between {min_value} and {max_value}",
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.partial:
            # Blanking the name of an existing bundle.
            for key in ("null", "blank"):
                self.fields["name"].error_messages[key] = "Name cannot be empty"

    def validate_description(self, value: str | None) -> str | None:
        return value if value and value.strip() else None

    def validate_token_amount(self, value: int) -> int:
        if value <= 0:
            raise serializers.ValidationError(TOKEN_AMOUNT_INVALID)
        if value > MAX_TOKEN_AMOUNT:
            raise serializers.ValidationError(f"Token amount must be at most {MAX_TOKEN_AMOUNT}")
        return value

    def validate(self, attrs: dict) -> dict:
        for field in ("is_active", "sort_order"):
            if field in attrs and attrs[field] is None:
                del attrs[field]
        return attrs


class TokenBundleListSerializer(serializers.Serializer):
    bundles = TokenBundleSerializer(many=True)


class TokenBundleEnvelopeSerializer(serializers.Serializer):
    bundle = TokenBundleSerializer()


class TokenBundleMessageEnvelopeSerializer(serializers.Serializer):
    bundle = TokenBundleSerializer()
    message = serializers.CharField()


class TokenTransactionSerializer(OutputModelSerializer):
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


AdminTokenBundlePageSerializer = page_serializer(
    "AdminTokenBundlePageSerializer", items="items", item=TokenBundleSerializer
)


class TokenBalanceSerializer(serializers.Serializer):
    balance = serializers.IntegerField()


TokenTransactionPageSerializer = page_serializer(
    "TokenTransactionPageSerializer", items="transactions", item=TokenTransactionSerializer
)


class AdminTokenPageSerializer(TokenTransactionPageSerializer):
    balance = serializers.IntegerField()


@extend_schema_field(OpenApiTypes.STR)
class TransactionTypeField(StrictChoiceField):
    """A TokenTransactionType in any case (documented as a string: the ledger's shape names the
    enum)."""

    def __init__(self, *, schema_values=None, **kwargs):
        self.schema_enum = any_case_spellings(schema_values or TokenTransactionType.values)
        super().__init__(
            TokenTransactionType,
            required=False,
            allow_null=True,
            blank_as_null=True,
            error_messages={"invalid_choice": "Unknown type: {input}"},
            **kwargs,
        )


ADJUST_AMOUNT_INVALID = "amount must be a non-zero integer"
REASON_REQUIRED = "reason is required"


class TokenAdjustInputSerializer(serializers.Serializer):
    """A staff adjustment: ``type`` (any case; default ADJUSTMENT), a reason of at most 255
    characters and a signed, non-zero amount (negative = debit). Whether the type may adjust a
    balance, and a BONUS being positive, are the ledger's rules. A body that is not an object
    reads as empty."""

    type = TransactionTypeField(
        schema_values=[TokenTransactionType.ADJUSTMENT, TokenTransactionType.BONUS],
        help_text="ADJUSTMENT (default) or BONUS",
    )
    reason = StrictCharField(
        max_length=255,
        error_messages={
            "required": REASON_REQUIRED,
            "null": REASON_REQUIRED,
            "blank": REASON_REQUIRED,
            "invalid": REASON_REQUIRED,
            "max_length": "reason must be at most {max_length} characters",
        },
    )
    amount = StrictIntegerField(
        error_messages={
            "required": ADJUST_AMOUNT_INVALID,
            "null": ADJUST_AMOUNT_INVALID,
            "invalid": ADJUST_AMOUNT_INVALID,
        },
        help_text="integer, non-zero; negative = debit",
    )

    def validate_amount(self, value: int) -> int:
        if value == 0:
            raise serializers.ValidationError(ADJUST_AMOUNT_INVALID)
        return value

    def to_internal_value(self, data):
        values = super().to_internal_value(data if isinstance(data, dict) else {})
        return {
            "amount": values["amount"],
            "reason": values["reason"],
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
        return _price_text(purchase, self.context)


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
