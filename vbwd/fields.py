"""Input field types shared by every endpoint's input serializer, so each rule about a kind of
value (an id, an amount, a yes/no) is written once and the OpenAPI schema is the validation.

- ``UUIDField``: a lowercase or uppercase hyphenated UUID; ``required`` and ``invalid`` messages
  name the field the way the API always has ("invoice_id is required", "Invalid invoice_id
  format").
- ``MoneyField``: a decimal string or JSON number with at most the currency's places (the
  currency's places come from the serializer's context, ``places``, or default to 2); never a
  float inside.
- ``StrictBooleanField``: JSON ``true``/``false`` only (a string "false" is not a yes/no).
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vbwd.exceptions import ValidationFailed
from vbwd.money import parse_money


@extend_schema_field(OpenApiTypes.UUID)
class UUIDField(serializers.Field):
    """A UUID; ``"Invalid <name> format"`` when malformed, ``"<name> is required"`` when
    missing, null or empty."""

    default_error_messages = {
        "required": "{name} is required",
        "null": "{name} is required",
        "invalid": "Invalid {name} format",
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("allow_null", False)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
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
    """An amount with at most the currency's decimal places (``context["places"]``, else 2)."""

    def __init__(self, *, allow_negative: bool = False, **kwargs):
        self.allow_negative = allow_negative
        super().__init__(**kwargs)

    def to_internal_value(self, data) -> Decimal:
        places = int(self.context.get("places", 2)) if hasattr(self, "parent") else 2
        try:
            return parse_money(
                data, field=self.field_name, places=places, allow_negative=self.allow_negative
            )
        except ValidationFailed as error:
            raise serializers.ValidationError(error.message) from None

    def to_representation(self, value) -> str:
        return str(value)


class StrictBooleanField(serializers.BooleanField):
    """JSON true / false only."""

    default_error_messages = {
        "invalid": "{name} must be true or false",
        "null": "{name} must be true or false",
    }

    def fail(self, key, **kwargs):
        kwargs.setdefault("name", self.field_name)
        super().fail(key, **kwargs)

    def to_internal_value(self, data) -> bool:
        if isinstance(data, bool):
            return data
        self.fail("invalid")
