"""Date and datetime fields (a datetime without an offset is UTC).

Dates are written with ASCII digits and lie from ``EARLIEST`` to ``LATEST``: every column and
Python can hold them, and a year of headroom is left for the arithmetic done on them (a day's
end, a period added, a timezone converted) to stay representable.
"""

from __future__ import annotations

import datetime
import re

from django.utils import timezone
from django.utils.dateparse import parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vbwd.fields.base import BlankAsNullMixin, NamedMessagesMixin
from vbwd.fields.characters import trimmed

EARLIEST = datetime.date(1900, 1, 1)
LATEST = datetime.date(9998, 12, 31)
DATE_RANGE_MESSAGE = f"{{name}} must be between {EARLIEST} and {LATEST}"

_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}", re.ASCII)


def date_from_text(text: str) -> datetime.date | None:
    """``YYYY-MM-DD`` in ASCII digits as a date, or None (out-of-range dates included: see
    ``in_range``)."""
    text = trimmed(text)
    if not _DATE_TEXT.fullmatch(text):
        return None
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return None


def moment_from_text(text: str) -> datetime.datetime | None:
    """An ISO-8601 datetime in ASCII as an aware datetime (UTC when it names no offset), or
    None."""
    text = trimmed(text)
    if not text.isascii():
        return None
    try:
        moment = parse_datetime(text)
    except ValueError:
        return None
    if moment is None:
        return None
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, datetime.UTC)
    return moment


def in_range(value: datetime.date | datetime.datetime) -> bool:
    """Whether ``value`` (a date, or a datetime's own calendar day) is within the range."""
    day = value.date() if isinstance(value, datetime.datetime) else value
    return EARLIEST <= day <= LATEST


class StrictDateField(NamedMessagesMixin, BlankAsNullMixin, serializers.DateField):
    """An ISO date (``2025-01-31``); ``blank_as_null`` reads "" like ``null``."""

    default_error_messages = {
        "invalid": "{name} must be a date (YYYY-MM-DD)",
        "null": "{name} must be a date (YYYY-MM-DD)",
        "datetime": "{name} must be a date (YYYY-MM-DD)",
        "range": DATE_RANGE_MESSAGE,
    }

    def to_internal_value(self, data) -> datetime.date:
        if isinstance(data, datetime.datetime):
            self.fail("datetime")
        day = data if isinstance(data, datetime.date) else None
        if isinstance(data, str):
            day = date_from_text(data)
        if day is None:
            self.fail("invalid")
        if not in_range(day):
            self.fail("range")
        return day


class StrictDateTimeField(NamedMessagesMixin, BlankAsNullMixin, serializers.DateTimeField):
    """An ISO datetime; one without an offset is UTC. ``blank_as_null`` reads "" like ``null``."""

    default_error_messages = {
        "invalid": "{name} must be a datetime",
        "null": "{name} must be a datetime",
        "range": DATE_RANGE_MESSAGE,
    }

    def to_internal_value(self, data) -> datetime.datetime:
        moment = moment_from_text(data) if isinstance(data, str) else None
        if moment is None:
            self.fail("invalid")
        if not in_range(moment):
            self.fail("range")
        return moment


@extend_schema_field({"type": "string", "description": "a date (YYYY-MM-DD) or a datetime"})
class DateOrDateTimeField(NamedMessagesMixin, serializers.Field):
    """A bound of a period filter: a ``datetime.date`` for ``YYYY-MM-DD`` (the whole UTC day),
    else an aware datetime (UTC when no offset is given); "" means not given."""

    default_error_messages = {
        "invalid": "{name} must be a date (YYYY-MM-DD) or a datetime",
        "range": DATE_RANGE_MESSAGE,
    }

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data.strip() == "":
            return (True, None)
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> datetime.date | datetime.datetime:
        if not isinstance(data, str):
            self.fail("invalid")
        value = date_from_text(data) or moment_from_text(data)
        if value is None:
            self.fail("invalid")
        if not in_range(value):
            self.fail("range")
        return value
