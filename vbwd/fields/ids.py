"""Identifier fields."""

from __future__ import annotations

import re
import uuid

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vbwd.fields.base import NamedMessagesMixin
from vbwd.fields.characters import trimmed

# The spellings ``uuid.UUID`` reads, in ASCII hex digits only (it would also take digits of
# other scripts and underscores, through ``int``).
_UUID_TEXT = re.compile(
    r"(?:urn:uuid:)?\{?[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}\}?",
    re.ASCII | re.IGNORECASE,
)


def uuid_from_text(text: str) -> uuid.UUID | None:
    """``text`` (trimmed) as a UUID, or None when it is not one."""
    text = trimmed(text)
    if not _UUID_TEXT.fullmatch(text):
        return None
    return uuid.UUID(text)


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
        value = uuid_from_text(data) if isinstance(data, str) else None
        if value is None:
            self.fail("invalid")
        return value

    def to_representation(self, value) -> str:
        return str(value)
