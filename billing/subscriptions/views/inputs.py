"""Input fields of the subscription endpoints' input serializers. Each reads its value with the
rule the endpoint has always applied, so the messages stay word for word: blank means "not
given", a refused value answers ``<name> must be …``. Values the service resolves itself (ids it
looks up, an amount it parses) pass through unchanged, for the service to report in its order.
"""

from __future__ import annotations

from rest_framework import serializers
from rest_framework.fields import empty

from billing.subscriptions.services.common import parse_int, parse_moment
from vbwd.exceptions import ValidationFailed
from vbwd.filters import parse_bool, parse_ordering, parse_uuid

MAX_REASON_LENGTH = 500


def text_value(value, name: str, *, max_length: int = MAX_REASON_LENGTH) -> str | None:
    """An optional text: null and blank mean "not given"; trimmed."""
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return None
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} must be a string", field=name)
    value = value.strip()
    if len(value) > max_length:
        raise ValidationFailed(f"{name} must be at most {max_length} characters", field=name)
    return value


class _ReadMixin:
    """The field's value is ``self.read(value)``; a ValidationFailed becomes the field's error.
    A missing field is left out of ``validated_data``."""

    def run_validation(self, data=empty):
        if data is empty:
            return super().run_validation(data)
        try:
            return self.read(data)
        except ValidationFailed as error:
            raise serializers.ValidationError(error.message) from None

    def read(self, data):
        raise NotImplementedError


class ReasonField(_ReadMixin, serializers.CharField):
    def read(self, data):
        return text_value(data, self.field_name, max_length=self.max_length or MAX_REASON_LENGTH)


class FlagField(_ReadMixin, serializers.BooleanField):
    """true / false (also "true", "1", "yes" …); blank means false."""

    def read(self, data) -> bool:
        return bool(parse_bool(data, name=self.field_name))


class WholeNumberField(_ReadMixin, serializers.IntegerField):
    """A whole number in ``min_value..max_value`` (numeric strings and whole floats too)."""

    def read(self, data):
        return parse_int(data, name=self.field_name, minimum=self.min_value, maximum=self.max_value)


class MomentField(_ReadMixin, serializers.DateTimeField):
    """An ISO-8601 datetime, read as UTC without an offset."""

    def read(self, data):
        return parse_moment(data, name=self.field_name)


class PassedUUIDField(_ReadMixin, serializers.UUIDField):
    """An id the service looks up and reports on itself."""

    def read(self, data):
        return data


class PassedMoneyField(_ReadMixin, serializers.CharField):
    """An amount the service parses and reports on itself; blank means "not given"."""

    def read(self, data):
        return None if data in (None, "") else data


# --- list filters -------------------------------------------------------------------------------


class StatusFilterField(_ReadMixin, serializers.CharField):
    """A status of ``statuses`` in any case (``canceled`` = CANCELLED); blank = every status."""

    def __init__(self, *, read_status, **kwargs):
        self.read_status = read_status
        super().__init__(**kwargs)

    def read(self, data):
        return self.read_status(data)


class UUIDFilterField(_ReadMixin, serializers.UUIDField):
    """An id to filter by; blank = no filter."""

    def read(self, data):
        return parse_uuid(data, name=self.field_name)


class SearchField(_ReadMixin, serializers.CharField):
    """A text to filter by, trimmed; blank = no filter."""

    def read(self, data):
        return (data or "").strip() if isinstance(data, str) else data


class OrderingFilterField(_ReadMixin, serializers.CharField):
    """One of ``allowed``, ``-`` for descending; blank = the field's ``default``."""

    def __init__(self, *, allowed: tuple[str, ...], **kwargs):
        self.allowed = allowed
        super().__init__(**kwargs)

    def read(self, data):
        return parse_ordering(data, allowed=self.allowed, default=self.default)


class PassedValueField(_ReadMixin, serializers.CharField):
    """A value the service looks up and reports on itself (a code); blank means "not given"."""

    def read(self, data):
        return None if data in (None, "") else data
