"""Query-parameter conventions (API.md §1.6) shared by every list endpoint.

Empty values mean "not given"; enum filters accept any case and the alias ``canceled``; an unknown
non-empty value is ``400 validation_error`` "Unknown <name>: <value>"; UUID filters refuse
non-UUIDs; booleans read ``true/false/1/0/yes/no``.
"""

from __future__ import annotations

import uuid

import django_filters
from django import forms
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


class EnumFormField(forms.CharField):
    def __init__(self, *args, enum, label_name: str, **kwargs):
        self.enum = enum
        self.label_name = label_name
        super().__init__(*args, **kwargs)

    def clean(self, value):
        value = super().clean(value)
        if value in (None, ""):
            return None
        canonical = normalise_enum(value, self.enum)
        if canonical is None:
            raise forms.ValidationError(f"Unknown {self.label_name}: {value}")
        return canonical


class EnumFilter(django_filters.CharFilter):
    """Exact match on an enum column; case-insensitive input with aliases."""

    field_class = EnumFormField

    def __init__(self, *args, enum, **kwargs):
        self._enum = enum
        super().__init__(*args, **kwargs)

    @property
    def field(self):
        if not hasattr(self, "_field"):
            self._field = self.field_class(
                required=False,
                enum=self._enum,
                label_name=self.field_name.split("__")[-1],
                label=self.label,
            )
        return self._field


class UUIDFormField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        if value in (None, ""):
            return None
        try:
            return uuid.UUID(str(value))
        except ValueError:
            raise forms.ValidationError(f"{self.label or 'value'} must be a valid UUID") from None


class UUIDFilter(django_filters.CharFilter):
    field_class = UUIDFormField

    @property
    def field(self):
        if not hasattr(self, "_field"):
            self._field = self.field_class(required=False, label=self.field_name)
        return self._field


class BooleanFormField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        try:
            return parse_bool(value, name=self.label or "value")
        except ValidationFailed as error:
            raise forms.ValidationError(error.message) from None


class BooleanFilter(django_filters.CharFilter):
    field_class = BooleanFormField

    @property
    def field(self):
        if not hasattr(self, "_field"):
            self._field = self.field_class(required=False, label=self.field_name)
        return self._field

    def filter(self, qs, value):
        if value is None:
            return qs
        return qs.filter(**{self.field_name: value})


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
