"""Fields that take one of a fixed set of values: a yes/no, an enum member, an ordering."""

from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vbwd.fields.base import BlankAsNullMixin, NamedMessagesMixin
from vbwd.filters import ENUM_ALIASES

_TRUE_SPELLINGS = frozenset({"true", "1", "yes"})
_FALSE_SPELLINGS = frozenset({"false", "0", "no"})


class StrictBooleanField(NamedMessagesMixin, BlankAsNullMixin, serializers.BooleanField):
    """JSON true / false only; ``accept_strings`` adds ``true/false/1/0/yes/no`` in any case;
    ``blank_as_null`` reads "" (a query parameter left empty) like ``null``."""

    default_error_messages = {
        "invalid": "{name} must be true or false",
        "null": "{name} must be true or false",
    }
    default_empty_html = serializers.empty  # absent from a query string means not given

    def __init__(self, *, accept_strings: bool = False, **kwargs):
        self.accept_strings = accept_strings
        super().__init__(**kwargs)

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


def any_case_spellings(values) -> list[str]:
    """The spellings a choice field documents for ``values``: each as stored, in lower case,
    and the aliases that read as one of them (``canceled``)."""
    values = list(values)
    spellings = [*values, *(value.lower() for value in values)]
    for alias, value in ENUM_ALIASES.items():
        if value in values:
            spellings.extend([alias, alias.lower()])
    return list(dict.fromkeys(spellings))


class StrictChoiceField(NamedMessagesMixin, BlankAsNullMixin, serializers.ChoiceField):
    """A value of ``choices`` (a ``TextChoices``) in any case and with surrounding spaces; the
    stored spelling is returned. ``invalid_choice`` may use ``{input}``, the value as given."""

    default_error_messages = {"invalid_choice": "Unknown {name}: {input}"}

    def __init__(self, choices, **kwargs):
        self.enum = choices
        super().__init__(choices=choices.choices, **kwargs)

    def to_internal_value(self, data) -> str:
        if isinstance(data, str):
            candidate = data.strip().upper()
            candidate = ENUM_ALIASES.get(candidate, candidate)
            for value in self.enum.values:
                if value.upper() == candidate:
                    return value
        self.fail("invalid_choice", input=data)


@extend_schema_field(OpenApiTypes.STR)
class OrderingField(NamedMessagesMixin, serializers.Field):
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
