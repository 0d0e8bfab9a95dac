"""Query-parameter conventions shared by every list endpoint.

Empty values mean "not given"; enum values are read in any case with the alias ``canceled``;
UUIDs refuse non-UUIDs; booleans read ``true/false/1/0/yes/no``; ``ordering`` takes one listed
field.
"""

from __future__ import annotations

import uuid

from django.db.models import TextChoices

from vbwd.exceptions import ValidationFailed

ENUM_ALIASES = {"CANCELED": "CANCELLED"}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def normalise_enum(value: str, choices: type[TextChoices] | list[str]) -> str | None:
    """The canonical UPPERCASE value for ``value``, or None when it is not one of ``choices``."""
    allowed = set(choices.values) if isinstance(choices, type) else set(choices)
    candidate = str(value).strip().upper()
    candidate = ENUM_ALIASES.get(candidate, candidate)
    return candidate if candidate in allowed else None


def parse_bool(value, *, name: str) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValidationFailed(f"{name} must be true or false", field=name)


def parse_uuid(value, *, name: str) -> uuid.UUID | None:
    if value is None or value == "":
        return None
    try:
        return uuid.UUID(str(value))
    except ValueError:
        raise ValidationFailed(f"{name} must be a valid UUID", field=name) from None


def parse_ordering(value, *, allowed: tuple[str, ...], default: str) -> str:
    """``ordering`` takes one listed field, ``-`` for descending; anything else is a 400."""
    if value is None or str(value).strip() == "":
        return default
    text = str(value).strip()
    if text.lstrip("-") not in allowed:
        raise ValidationFailed(
            f"ordering must be one of {', '.join(allowed)} (with - for descending)",
            field="ordering",
        )
    return text
