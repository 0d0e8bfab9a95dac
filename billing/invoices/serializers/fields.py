"""Money, percent and rate fields: money has exactly the places of its currency, read from
``context["places"]``.
"""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places
from billing.invoices.selectors import currency_places_by_code

PERCENT = Decimal("0.01")
RATE = Decimal("0.000001")


def context_places(context, code: str | None) -> int:
    places = context.get("places")
    if places is None:
        places = context["places"] = currency_places_by_code()
    try:
        return places[code]
    except KeyError:  # a plain mapping from a caller; the catalog answers for a missing code
        return currency_places(code)


def context_money(context, amount, code: str | None) -> str | None:
    if amount is None:
        return None
    return format_money(amount, context_places(context, code))


def percent_text(value) -> str:
    return str(Decimal(value).quantize(PERCENT))


@extend_schema_field(OpenApiTypes.STR)
class MoneyField(serializers.Field):
    """A money string in the currency of the row (``currency_source`` names where to find it)."""

    def __init__(self, *, currency_source: str = "currency", **kwargs):
        self.currency_source = currency_source
        kwargs["read_only"] = True
        kwargs.setdefault("help_text", "money: decimal string with the currency's places")
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        value = super().get_attribute(instance)
        currency = instance
        for part in self.currency_source.split("."):
            currency = getattr(currency, part)
        return value, currency

    def to_representation(self, value):
        amount, currency = value
        return context_money(self.context, amount, currency)


@extend_schema_field(OpenApiTypes.STR)
class PercentField(serializers.Field):
    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        kwargs.setdefault("help_text", "percent: two decimals, e.g. 19.00")
        super().__init__(**kwargs)

    def to_representation(self, value):
        return percent_text(value)


@extend_schema_field(OpenApiTypes.STR)
class RateField(serializers.Field):
    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        kwargs.setdefault("help_text", "exchange rate with six decimals, e.g. 1.080000")
        super().__init__(**kwargs)

    def to_representation(self, value):
        return str(Decimal(value).quantize(RATE))
