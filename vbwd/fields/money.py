"""Amount fields (never a float inside)."""

from __future__ import annotations

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vbwd.fields.base import NamedMessagesMixin
from vbwd.fields.numbers import (
    NUMBER_MESSAGES,
    NotANumber,
    decimal_from,
    unsigned_zero,
    whole_digits,
)

# The narrowest money column, DECIMAL(12, 4) (catalog prices, token bundle prices), holds
# eight digits before the point; every wider one (invoices, payments, balances) holds more.
MONEY_WHOLE_DIGITS = 8


@extend_schema_field({"type": "string", "format": "decimal", "example": "9.99"})
class MoneyField(NamedMessagesMixin, serializers.Field):
    """An amount written with ASCII digits, with at most the currency's decimal places:
    ``places`` (a number, or a function returning one, read only when a value is given), else
    ``context["places"]``, else 2; and at most ``max_whole_digits`` digits before the point
    (default: what every money column holds). ``max_value`` refuses larger amounts;
    ``blank_as_null`` reads "" like ``null``; ``negative_first`` refuses a negative amount
    before looking at its places; ``quantize`` pads the result to the places (the default);
    ``-0`` reads as 0. Messages, in the order they are checked: ``invalid``, ``ascii``,
    (``negative`` with ``negative_first``), ``places``, ``too_large``, ``digits``, ``negative``
    (``{name}``, ``{places}``, ``{digits}``)."""

    default_error_messages = {
        "invalid": "{name} must be an amount",
        "places": "{name} must have at most {places} decimal places",
        "negative": "{name} cannot be negative",
        "too_large": "{name} is too large",
        **NUMBER_MESSAGES,
    }

    def __init__(
        self,
        *,
        allow_negative: bool = False,
        places=None,
        max_value: Decimal | None = None,
        blank_as_null: bool = False,
        negative_first: bool = False,
        quantize: bool = True,
        max_whole_digits: int = MONEY_WHOLE_DIGITS,
        **kwargs,
    ):
        self.max_whole_digits = max_whole_digits
        self.allow_negative = allow_negative
        self.places = places
        self.max_value = max_value
        self.blank_as_null = blank_as_null
        self.negative_first = negative_first
        self.quantize = quantize
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data == "" and self.blank_as_null:
            data = None
        return super().validate_empty_values(data)

    def _places(self) -> int:
        if self.places is not None:
            return self.places() if callable(self.places) else int(self.places)
        return int(self.context.get("places", 2)) if hasattr(self, "parent") else 2

    def to_internal_value(self, data) -> Decimal:
        if data is None or data == "":
            self.fail("invalid")
        try:
            amount = decimal_from(data)
        except NotANumber as problem:
            self.fail(problem.key)
        negative = amount < 0 and not self.allow_negative
        if negative and self.negative_first:
            self.fail("negative")
        places = self._places()
        if amount.as_tuple().exponent < -places:
            self.fail("places", places=places)
        if self.max_value is not None and amount > self.max_value:
            self.fail("too_large")
        if whole_digits(amount) > self.max_whole_digits:
            self.fail("digits", digits=self.max_whole_digits)
        if negative:
            self.fail("negative")
        amount = unsigned_zero(amount)
        if self.quantize:
            amount = amount.quantize(Decimal(1).scaleb(-places))
        return amount

    def to_representation(self, value) -> str:
        return str(value)
