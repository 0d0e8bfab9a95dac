"""What every shared field type has in common."""

from __future__ import annotations


class NamedMessagesMixin:
    """Formats ``{name}`` in every message with the field's name."""

    def fail(self, key, **kwargs):
        kwargs.setdefault("name", self.field_name)
        super().fail(key, **kwargs)
