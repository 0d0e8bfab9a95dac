"""Integer and decimal fields that refuse anything but a number, and the one reading of a number
written as text: ASCII digits only (``int()`` and ``Decimal()`` would also take Arabic-Indic,
Devanagari or full-width digits and underscores), an optional sign, point and exponent."""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation

from rest_framework import serializers

from vbwd.fields.base import BlankAsNullMixin, NamedMessagesMixin
from vbwd.fields.characters import trimmed

# A PostgreSQL ``integer`` column: the bounds of an integer field that names none.
INTEGER_COLUMN = (-(2**31), 2**31 - 1)
# A ``bigint`` column.
BIGINT_COLUMN = (-(2**63), 2**63 - 1)

_BIGINT_DIGITS = 19
_DECIMAL_TEXT = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?", re.ASCII)
_INTEGER_TEXT = re.compile(r"[+-]?\d+", re.ASCII)

NUMBER_MESSAGES = {
    "ascii": "{name} must use ASCII digits",
    "digits": "{name} must be a number with at most {digits} digits before the decimal point",
}


class NotANumber(ValueError):
    """``key`` says why: ``invalid`` (not a number) or ``ascii`` (digits of another script)."""

    def __init__(self, key: str):
        self.key = key
        super().__init__(key)


def _foreign_digits(text: str) -> bool:
    return not text.isascii() and any(char.isdigit() for char in text if not char.isascii())


def decimal_from(data) -> Decimal:
    """A finite Decimal from a JSON number, a Decimal or a text written with ASCII digits
    (trimmed); ``NotANumber`` otherwise."""
    if isinstance(data, bool):
        raise NotANumber("invalid")
    if isinstance(data, Decimal):
        if not data.is_finite():
            raise NotANumber("invalid")
        return data
    if isinstance(data, int):
        return Decimal(data)
    if isinstance(data, float):
        # A JSON number's shortest repr is the number the client wrote.
        text = repr(data)
    elif isinstance(data, str):
        text = trimmed(data)
    else:
        raise NotANumber("invalid")
    if not _DECIMAL_TEXT.fullmatch(text):
        raise NotANumber("ascii" if _foreign_digits(text) else "invalid")
    try:
        return Decimal(text)
    except InvalidOperation:
        raise NotANumber("invalid") from None


def integer_from_text(text: str) -> int:
    """An integer written with ASCII digits and an optional sign (trimmed); ``NotANumber``
    otherwise."""
    text = trimmed(text)
    if not _INTEGER_TEXT.fullmatch(text):
        raise NotANumber("ascii" if _foreign_digits(text) else "invalid")
    return int(text)


def whole_digits(number: Decimal) -> int:
    """How many digits ``number`` has before the decimal point (0 for zero and fractions)."""
    return max(number.adjusted() + 1, 0) if number else 0


def decimal_places(number: Decimal) -> int:
    """How many decimals ``number`` needs (trailing zeros do not count); no rounding, so it is
    exact for any exponent."""
    _sign, digits, exponent = number.as_tuple()
    significant = "".join(map(str, digits)).rstrip("0")
    if not significant:
        return 0
    return max(-(exponent + len(digits) - len(significant)), 0)


def unsigned_zero(number: Decimal) -> Decimal:
    """``-0`` (and ``-0.00``) read as zero."""
    return number.copy_abs() if number.is_zero() else number


class StrictIntegerField(NamedMessagesMixin, BlankAsNullMixin, serializers.IntegerField):
    """A JSON integer within ``min_value``..``max_value``; a bound not given is the bound of an
    ``integer`` column (``INTEGER_COLUMN``; pass ``BIGINT_COLUMN`` bounds for a ``bigint``).
    ``accept_integral`` also reads whole numbers written as strings or decimals (``"5"``,
    ``5.0``; ASCII digits only); ``blank_as_null`` reads "" like ``null``. Messages:
    ``invalid`` (not an integer), ``ascii`` (digits of another script), ``range`` (outside a
    given bound), ``too_small`` and ``too_large`` (outside the column's bound on a side with no
    given bound); ``{min_value}`` and ``{max_value}`` are the bounds in force."""

    default_error_messages = {
        "invalid": "{name} must be an integer",
        "null": "{name} must be an integer",
        "range": "{name} must be an integer between {min_value} and {max_value}",
        "too_small": "{name} must be an integer between {min_value} and {max_value}",
        "too_large": "{name} must be an integer between {min_value} and {max_value}",
        "ascii": NUMBER_MESSAGES["ascii"],
    }

    def __init__(self, *, accept_integral: bool = False, **kwargs):
        self.accept_integral = accept_integral
        low = kwargs.pop("min_value", None)
        high = kwargs.pop("max_value", None)
        super().__init__(**kwargs)
        self.min_value, self.max_value = low, high

    @property
    def bounds(self) -> tuple[int, int]:
        low, high = INTEGER_COLUMN
        return (
            low if self.min_value is None else self.min_value,
            high if self.max_value is None else self.max_value,
        )

    def fail(self, key, **kwargs):
        low, high = self.bounds
        kwargs.setdefault("min_value", low)
        kwargs.setdefault("max_value", high)
        super().fail(key, **kwargs)

    def _number(self, data) -> int:
        if isinstance(data, bool):
            self.fail("invalid")
        if isinstance(data, int):
            return data
        if not self.accept_integral or not isinstance(data, (str, float, Decimal)):
            self.fail("invalid")
        try:
            number = decimal_from(data)
        except NotANumber as problem:
            self.fail(problem.key)
        if whole_digits(number) > _BIGINT_DIGITS:
            self._fail_bound(number)  # far outside any bound: never turned into a huge int
        if decimal_places(number):
            self.fail("invalid")
        return int(number)

    def _fail_bound(self, number) -> None:
        low, _high = self.bounds
        if number < low:
            self.fail("too_small" if self.min_value is None else "range")
        self.fail("too_large" if self.max_value is None else "range")

    def to_internal_value(self, data) -> int:
        number = self._number(data)
        low, high = self.bounds
        if number < low or number > high:
            self._fail_bound(number)
        return number


class StrictDecimalField(NamedMessagesMixin, serializers.DecimalField):
    """A finite number as a Decimal (ASCII digits only). Checks in order: a number
    (``invalid``, ``ascii``), ``min_value`` (``min_value``; exclusive with ``min_exclusive``),
    then ``max_value`` (``max_value``) and ``max_places`` (``max_places``; trailing zeros do
    not count) — the bound after the places unless ``range_first`` — and last the digits before
    the point the column holds (``max_digits - max_places``; ``digits``). The result is
    quantized to ``max_places`` (``-0`` reads as 0). "" is not a number, or with
    ``blank_as_null`` reads like ``null``."""

    default_error_messages = {
        "invalid": "{name} must be a number",
        "null": "{name} must be a number",
        "min_value": "{name} must be at least {min_value}",
        "max_value": "{name} is too large",
        "max_places": "{name} must have at most {max_places} decimal places",
        **NUMBER_MESSAGES,
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
        kwargs.setdefault("digits", self.max_digits - self.max_places)
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
            number = decimal_from(data)
        except NotANumber as problem:
            self.fail(problem.key)
        if self.min_value is not None and (
            number <= self.min_value if self.min_exclusive else number < self.min_value
        ):
            self.fail("min_value")
        if self.range_first:
            self._check_max(number)
        if decimal_places(number) > self.max_places:
            self.fail("max_places")
        self._check_max(number)
        if whole_digits(number) > self.max_digits - self.max_places:
            self.fail("digits")
        return unsigned_zero(number.quantize(Decimal(1).scaleb(-self.max_places)))

    def _check_max(self, number: Decimal) -> None:
        if self.max_value is not None and number > self.max_value:
            self.fail("max_value")
