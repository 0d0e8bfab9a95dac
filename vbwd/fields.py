"""Input field types shared by every endpoint's input serializer, so each rule about a kind of
value (an id, an amount, a yes/no) is written once and the OpenAPI schema is the validation.

- ``UUIDField``: a lowercase or uppercase hyphenated UUID; ``required`` and ``invalid`` messages
  name the field the way the API always has ("invoice_id is required", "Invalid invoice_id
  format").
- ``MoneyField``: a decimal string or JSON number with at most the currency's places (the
  currency's places come from the serializer's context, ``places``, or default to 2); never a
  float inside.
- ``StrictBooleanField``: JSON ``true``/``false`` only (a string "false" is not a yes/no);
  with ``accept_strings=True`` also the query-string spellings ``true/false/1/0/yes/no``.
- ``StrictCharField``: a JSON string only (a number is not text), trimmed unless told otherwise,
  with a length limit; ``null_as_empty=True`` reads ``null`` as "".
- ``StrictIntegerField``: a JSON integer only (not ``true``, not ``"5"``), optionally bounded;
  ``accept_integral=True`` also takes whole numbers written as ``"5"`` or ``5.0``.

Every message may name the field as ``{name}``; callers override the wording with
``error_messages`` so each endpoint keeps the words its clients know.
"""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal, InvalidOperation

from django.core.validators import MaxLengthValidator
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vbwd.filters import ENUM_ALIASES


@extend_schema_field(OpenApiTypes.UUID)
class UUIDField(serializers.Field):
    """A UUID; ``"Invalid <name> format"`` when malformed, ``"<name> is required"`` when
    missing, null or empty (with ``blank_as_null``, "" and null mean "not given")."""

    default_error_messages = {
        "required": "{name} is required",
        "null": "{name} is required",
        "invalid": "Invalid {name} format",
    }

    def __init__(self, *, blank_as_null: bool = False, **kwargs):
        self.blank_as_null = blank_as_null
        kwargs.setdefault("allow_null", blank_as_null)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data == "" and self.blank_as_null:
            return (True, None)
        if data == "":
            self.fail("required", name=self.field_name)
        if data is serializers.empty and self.required:
            self.fail("required", name=self.field_name)
        if data is None and not self.allow_null:
            self.fail("null", name=self.field_name)
        return super().validate_empty_values(data)

    def fail(self, key, **kwargs):
        kwargs.setdefault("name", self.field_name)
        super().fail(key, **kwargs)

    def to_internal_value(self, data) -> uuid.UUID:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return uuid.UUID(data.strip())
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value) -> str:
        return str(value)


@extend_schema_field({"type": "string", "format": "decimal", "example": "9.99"})
class MoneyField(serializers.Field):
    """An amount with at most the currency's decimal places: ``places`` (a number, or a
    function returning one, read only when a value is given), else ``context["places"]``, else
    2. ``max_value`` refuses larger amounts; ``blank_as_null`` reads "" like ``null``;
    ``negative_first`` refuses a negative amount before looking at its places; ``quantize``
    pads the result to the places (the default). Messages: ``invalid``, ``places``,
    ``negative``, ``too_large`` (``{name}``, ``{places}``)."""

    default_error_messages = {
        "invalid": "{name} must be an amount",
        "places": "{name} must have at most {places} decimal places",
        "negative": "{name} cannot be negative",
        "too_large": "{name} is too large",
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
        **kwargs,
    ):
        self.allow_negative = allow_negative
        self.places = places
        self.max_value = max_value
        self.blank_as_null = blank_as_null
        self.negative_first = negative_first
        self.quantize = quantize
        super().__init__(**kwargs)

    def fail(self, key, **kwargs):
        kwargs.setdefault("name", self.field_name)
        super().fail(key, **kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data == "" and self.blank_as_null:
            data = None
        return super().validate_empty_values(data)

    def _places(self) -> int:
        if self.places is not None:
            return self.places() if callable(self.places) else int(self.places)
        return int(self.context.get("places", 2)) if hasattr(self, "parent") else 2

    def to_internal_value(self, data) -> Decimal:
        if isinstance(data, bool) or data is None or data == "":
            self.fail("invalid")
        try:
            # JSON numbers arrive as int/float; their shortest repr is the number the client wrote.
            amount = Decimal(str(data).strip())
        except (InvalidOperation, ValueError):
            self.fail("invalid")
        if not amount.is_finite():
            self.fail("invalid")
        negative = amount < 0 and not self.allow_negative
        if negative and self.negative_first:
            self.fail("negative")
        places = self._places()
        if amount.as_tuple().exponent < -places:
            self.fail("places", places=places)
        if negative:
            self.fail("negative")
        if self.quantize:
            amount = amount.quantize(Decimal(1).scaleb(-places))
        if self.max_value is not None and amount > self.max_value:
            self.fail("too_large")
        return amount

    def to_representation(self, value) -> str:
        return str(value)


class _NamedMessagesMixin:
    """Formats ``{name}`` in every message with the field's name."""

    def fail(self, key, **kwargs):
        kwargs.setdefault("name", self.field_name)
        super().fail(key, **kwargs)


_TRUE_SPELLINGS = frozenset({"true", "1", "yes"})
_FALSE_SPELLINGS = frozenset({"false", "0", "no"})


class StrictBooleanField(_NamedMessagesMixin, serializers.BooleanField):
    """JSON true / false only; ``accept_strings`` adds ``true/false/1/0/yes/no`` in any case;
    ``blank_as_null`` reads "" (a query parameter left empty) like ``null``."""

    default_error_messages = {
        "invalid": "{name} must be true or false",
        "null": "{name} must be true or false",
    }
    default_empty_html = serializers.empty  # absent from a query string means not given

    def __init__(self, *, accept_strings: bool = False, blank_as_null: bool = False, **kwargs):
        self.accept_strings = accept_strings
        self.blank_as_null = blank_as_null
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data == "" and self.blank_as_null and self.allow_null:
            return (True, None)
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> bool:
        if isinstance(data, bool):
            return data
        if self.accept_strings and isinstance(data, (str, int)):
            text = str(data).strip().lower()
            if text in _TRUE_SPELLINGS:
                return True
            if text in _FALSE_SPELLINGS:
                return False
        self.fail("invalid")


class StrictCharField(_NamedMessagesMixin, serializers.CharField):
    """A JSON string (numbers are refused, not turned into text), trimmed unless
    ``trim_whitespace=False``; ``null_as_empty`` reads ``null`` as an empty string."""

    default_error_messages = {
        "invalid": "{name} must be a string",
        "null": "{name} must be a string",
        "blank": "{name} cannot be empty",
        "required": "{name} is required",
        "max_length": "{name} must be at most {max_length} characters",
    }

    def __init__(self, *, null_as_empty: bool = False, empty_as_none: bool = False, **kwargs):
        self.null_as_empty = null_as_empty
        self.empty_as_none = empty_as_none
        if empty_as_none:
            kwargs.setdefault("allow_null", True)
            kwargs.setdefault("allow_blank", True)
        limit = kwargs.pop("max_length", None)
        super().__init__(**kwargs)
        self.max_length = limit

    def bind(self, field_name, parent):
        super().bind(field_name, parent)
        if self.max_length is not None:
            message = self.error_messages["max_length"].format(
                name=field_name, max_length=self.max_length
            )
            self.validators.append(MaxLengthValidator(self.max_length, message=message))

    def run_validation(self, data=serializers.empty):
        if data is None and self.null_as_empty:
            data = ""
        value = super().run_validation(data)
        return None if self.empty_as_none and value == "" else value

    def to_internal_value(self, data) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return data.strip() if self.trim_whitespace else data


class StrictIntegerField(_NamedMessagesMixin, serializers.IntegerField):
    """A JSON integer within ``min_value``..``max_value``. ``accept_integral`` also reads whole
    numbers written as strings or decimals (``"5"``, ``5.0``); ``blank_as_null`` reads "" like
    ``null``. Messages: ``invalid`` (not an integer) and ``range`` (outside the bounds;
    ``{min_value}``/``{max_value}`` available)."""

    default_error_messages = {
        "invalid": "{name} must be an integer",
        "null": "{name} must be an integer",
        "range": "{name} must be an integer between {min_value} and {max_value}",
    }

    def __init__(self, *, accept_integral: bool = False, blank_as_null: bool = False, **kwargs):
        self.accept_integral = accept_integral
        self.blank_as_null = blank_as_null
        low = kwargs.pop("min_value", None)
        high = kwargs.pop("max_value", None)
        super().__init__(**kwargs)
        self.min_value, self.max_value = low, high

    def fail(self, key, **kwargs):
        kwargs.setdefault("min_value", self.min_value)
        kwargs.setdefault("max_value", self.max_value)
        super().fail(key, **kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data == "" and self.blank_as_null and self.allow_null:
            return (True, None)
        return super().validate_empty_values(data)

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


class StrictChoiceField(_NamedMessagesMixin, serializers.ChoiceField):
    """A value of ``choices`` (a ``TextChoices``) in any case and with surrounding spaces; the
    stored spelling is returned. ``invalid_choice`` may use ``{input}``, the value as given."""

    default_error_messages = {"invalid_choice": "Unknown {name}: {input}"}

    def __init__(self, choices, *, blank_as_null: bool = False, **kwargs):
        self.enum = choices
        self.blank_as_null = blank_as_null
        super().__init__(choices=choices.choices, **kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data == "" and self.blank_as_null and self.allow_null:
            return (True, None)
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> str:
        if isinstance(data, str):
            candidate = data.strip().upper()
            candidate = ENUM_ALIASES.get(candidate, candidate)
            for value in self.enum.values:
                if value.upper() == candidate:
                    return value
        self.fail("invalid_choice", input=data)


class StrictDecimalField(_NamedMessagesMixin, serializers.DecimalField):
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


class StrictDateField(_NamedMessagesMixin, serializers.DateField):
    """An ISO date (``2025-01-31``); ``blank_as_null`` reads "" like ``null``."""

    default_error_messages = {
        "invalid": "{name} must be a date (YYYY-MM-DD)",
        "null": "{name} must be a date (YYYY-MM-DD)",
        "datetime": "{name} must be a date (YYYY-MM-DD)",
    }

    def __init__(self, *, blank_as_null: bool = False, **kwargs):
        self.blank_as_null = blank_as_null
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data == "" and self.blank_as_null and self.allow_null:
            return (True, None)
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> datetime.date:
        if isinstance(data, datetime.datetime):
            self.fail("datetime")
        if isinstance(data, datetime.date):
            return data
        if isinstance(data, str):
            try:
                return datetime.date.fromisoformat(data.strip())
            except ValueError:
                pass
        self.fail("invalid")


class StrictDateTimeField(_NamedMessagesMixin, serializers.DateTimeField):
    """An ISO datetime; one without an offset is UTC. ``blank_as_null`` reads "" like ``null``."""

    default_error_messages = {
        "invalid": "{name} must be a datetime",
        "null": "{name} must be a datetime",
    }

    def __init__(self, *, blank_as_null: bool = False, **kwargs):
        self.blank_as_null = blank_as_null
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if data == "" and self.blank_as_null and self.allow_null:
            return (True, None)
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> datetime.datetime:
        moment = None
        if isinstance(data, str):
            try:
                moment = parse_datetime(data)
            except ValueError:
                moment = None
        if moment is None:
            self.fail("invalid")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, datetime.UTC)
        return moment


@extend_schema_field({"type": "string", "description": "a date (YYYY-MM-DD) or a datetime"})
class DateOrDateTimeField(_NamedMessagesMixin, serializers.Field):
    """A bound of a period filter: a ``datetime.date`` for ``YYYY-MM-DD`` (the whole UTC day),
    else an aware datetime (UTC when no offset is given); "" means not given."""

    default_error_messages = {"invalid": "{name} must be a date (YYYY-MM-DD) or a datetime"}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data.strip() == "":
            return (True, None)
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> datetime.date | datetime.datetime:
        text = str(data).strip()
        try:
            day = parse_date(text) if len(text) == 10 else None
            moment = None if day else parse_datetime(text)
        except ValueError:
            day = moment = None
        if day is not None:
            return day
        if moment is None:
            self.fail("invalid")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, datetime.UTC)
        return moment


@extend_schema_field(OpenApiTypes.STR)
class OrderingField(_NamedMessagesMixin, serializers.Field):
    """``ordering``: one of ``allowed``, ``-`` in front for descending; empty means ``default``."""

    default_error_messages = {
        "invalid": "{name} must be one of {allowed} (with - for descending)",
    }

    def __init__(self, *, allowed: tuple[str, ...], default: str, **kwargs):
        self.allowed = allowed
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault(
            "help_text", f"{', '.join(allowed)}; - for descending (default {default})"
        )
        super().__init__(default=default, **kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data.strip() == "":
            return (True, self.get_default())
        if data is None:
            return (True, self.get_default())
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> str:
        text = str(data).strip()
        if text.lstrip("-") not in self.allowed:
            self.fail("invalid", allowed=", ".join(self.allowed))
        return text

    def to_representation(self, value) -> str:
        return value
