"""What every shared field type has in common."""

from __future__ import annotations


class NamedMessagesMixin:
    """Formats ``{name}`` in every message with the field's name."""

    def fail(self, key, **kwargs):
        kwargs.setdefault("name", self.field_name)
        super().fail(key, **kwargs)


class BlankAsNullMixin:
    """``blank_as_null``: "" (a query parameter left empty) reads like ``null`` when the field
    allows null."""

    def __init__(self, *args, blank_as_null: bool = False, **kwargs):
        self.blank_as_null = blank_as_null
        super().__init__(*args, **kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data == "" and self.blank_as_null and self.allow_null:
            return (True, None)
        return super().validate_empty_values(data)
