"""Text fields."""

from __future__ import annotations

from django.core.validators import MaxLengthValidator
from rest_framework import serializers

from vbwd.fields import characters
from vbwd.fields.base import NamedMessagesMixin


class StrictCharField(NamedMessagesMixin, serializers.CharField):
    """A JSON string (numbers are refused, not turned into text), trimmed, holding no control,
    bidirectional-formatting or invisible character (the rules of ``vbwd.fields.characters``);
    ``multiline`` allows line breaks and tabs. ``secret`` (a password, a token) takes the text
    exactly as sent: never trimmed, only NUL and lone surrogates refused. ``null_as_empty`` reads
    ``null`` as an empty string; ``empty_as_none`` reads ``null`` and blanks as None."""

    default_error_messages = {
        "invalid": "{name} must be a string",
        "null": "{name} must be a string",
        "blank": "{name} cannot be empty",
        "required": "{name} is required",
        "max_length": "{name} must be at most {max_length} characters",
        **characters.MESSAGES,
    }

    def __init__(
        self,
        *,
        null_as_empty: bool = False,
        empty_as_none: bool = False,
        multiline: bool = False,
        secret: bool = False,
        **kwargs,
    ):
        if "trim_whitespace" in kwargs:
            raise TypeError(
                "StrictCharField trims every text the same way; a password or a token is "
                "secret=True"
            )
        self.null_as_empty = null_as_empty
        self.empty_as_none = empty_as_none
        self.multiline = multiline
        self.secret = secret
        if empty_as_none:
            kwargs.setdefault("allow_null", True)
            kwargs.setdefault("allow_blank", True)
        limit = kwargs.pop("max_length", None)
        super().__init__(trim_whitespace=not secret, **kwargs)
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
        if self.secret:
            problem = characters.never_stored(data)
        else:
            data = characters.trimmed(data)
            problem = characters.text_problem(data, multiline=self.multiline)
        if problem is not None:
            self.fail(problem)
        return data
