"""Integer and decimal fields that refuse anything but a number."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from rest_framework import serializers

from vbwd.fields.base import BlankAsNullMixin, NamedMessagesMixin


class StrictIntegerField(NamedMessagesMixin, BlankAsNullMixin, serializers.IntegerField):
    """A JSON integer within ``min_value``..``max_value``. ``accept_integral`` also reads whole
    numbers written as strings or decimals (``"5"``, ``5.0``); ``blank_as_null`` reads "" like
    ``null``. Messages: ``invalid`` (not an integer) and ``range`` (outside the bounds;
    ``{min_value}``/``{max_value}`` available)."""

    default_error_messages = {
        "invalid": "{name} must be an integer",
        "null": "{name} must be an integer",
        "range": "{name} must be an integer between {min_value} and {max_value}",
    }

    def __init__(self, *, accept_integral: bool = False, **kwargs):
        self.accept_integral = accept_integral
        low = kwargs.pop("min_value", None)
        high = kwargs.pop("max_value", None)
        super().__init__(**kwargs)
        self.min_value, self.max_value = low, high

    def fail(self, key, **kwargs):
        kwargs.setdefault("min_value", self.min_value)
        kwargs.setdefault("max_value", self.max_value)
        super().fail(key, **kwargs)

    def _number(self, data) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            return data
        if not self.accept_integral or not isinstance(data, (str, float, Decimal)):
            self.fail("invalid")
        try:
            number = Decimal(str(data).strip())
        except (InvalidOperation, ValueError):
            self.fail("invalid")
        if not number.is_finite() or number != number.to_integral_value():
            self.fail("invalid")
        return int(number)

    def to_internal_value(self, data) -> int:
        number = self._number(data)
        if (self.min_value is not None and number < self.min_value) or (
            self.max_value is not None and number > self.max_value
        ):
            self.fail("range")
        return number


class StrictDecimalField(NamedMessagesMixin, serializers.DecimalField):
    """A finite number as a Decimal. Checks in order: a number (``invalid``), ``min_value``
    (``min_value``; exclusive with ``min_exclusive``), then ``max_value`` (``max_value``) and
    ``max_places`` (``max_places``; trailing zeros do not count) — the bound after the places
    unless ``range_first``. The result is quantized to ``max_places``. "" is not a number, or
    with ``blank_as_null`` reads like ``null``."""

    default_error_messages = {
        "invalid": "{name} must be a number",
        "null": "{name} must be a number",
        "min_value": "{name} must be at least {min_value}",
        "max_value": "{name} is too large",
        "max_places": "{name} must have at most {max_places} decimal places",
    }

    def __init__(
        self,
        *,
        max_places: int,
        max_digits: int,
        min_value: Decimal | None = None,
        max_value: Decimal | None = None,
        min_exclusive: bool = False,
        range_first: bool = False,
        blank_as_null: bool = False,
        **kwargs,
    ):
        self.max_places = max_places
        self.blank_as_null = blank_as_null
        self.min_exclusive = min_exclusive
        self.range_first = range_first
        super().__init__(max_digits=max_digits, decimal_places=max_places, **kwargs)
        self.min_value, self.max_value = min_value, max_value
        self.validators = []  # every bound is checked below, in the documented order

    def fail(self, key, **kwargs):
        kwargs.setdefault("min_value", self.min_value)
        kwargs.setdefault("max_value", self.max_value)
        kwargs.setdefault("max_places", self.max_places)
        super().fail(key, **kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data == "":
            if not self.blank_as_null:
                self.fail("invalid")
            data = None
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool) or not isinstance(data, (str, int, float, Decimal)):
            self.fail("invalid")
        try:
            # JSON numbers arrive as int/float; their shortest repr is the number the client wrote.
            number = Decimal(str(data).strip())
        except (InvalidOperation, ValueError):
            self.fail("invalid")
        if not number.is_finite():
            self.fail("invalid")
        if self.min_value is not None and (
            number <= self.min_value if self.min_exclusive else number < self.min_value
        ):
            self.fail("min_value")
        if self.range_first:
            self._check_max(number)
        exponent = number.normalize().as_tuple().exponent
        if isinstance(exponent, int) and -exponent > self.max_places:
            self.fail("max_places")
        self._check_max(number)
        return number.quantize(Decimal(1).scaleb(-self.max_places))

    def _check_max(self, number: Decimal) -> None:
        if self.max_value is not None and number > self.max_value:
            self.fail("max_value")
