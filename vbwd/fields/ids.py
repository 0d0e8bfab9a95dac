"""Identifier fields."""

from __future__ import annotations

import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vbwd.fields.base import NamedMessagesMixin


@extend_schema_field(OpenApiTypes.UUID)
class UUIDField(NamedMessagesMixin, serializers.Field):
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

    def to_internal_value(self, data) -> uuid.UUID:
        if not isinstance(data, str):
            self.fail("invalid")
        try:
            return uuid.UUID(data.strip())
        except ValueError:
            self.fail("invalid")

    def to_representation(self, value) -> str:
        return str(value)
