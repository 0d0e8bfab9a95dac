"""Date and datetime fields (a datetime without an offset is UTC)."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from vbwd.fields.base import BlankAsNullMixin, NamedMessagesMixin


class StrictDateField(NamedMessagesMixin, BlankAsNullMixin, serializers.DateField):
    """An ISO date (``2025-01-31``); ``blank_as_null`` reads "" like ``null``."""

    default_error_messages = {
        "invalid": "{name} must be a date (YYYY-MM-DD)",
        "null": "{name} must be a date (YYYY-MM-DD)",
        "datetime": "{name} must be a date (YYYY-MM-DD)",
    }

    def to_internal_value(self, data) -> datetime.date:
        if isinstance(data, datetime.datetime):
            self.fail("datetime")
        if isinstance(data, datetime.date):
            return data
        if isinstance(data, str):
            try:
                return datetime.date.fromisoformat(data.strip())
            except ValueError:
                pass
        self.fail("invalid")


class StrictDateTimeField(NamedMessagesMixin, BlankAsNullMixin, serializers.DateTimeField):
    """An ISO datetime; one without an offset is UTC. ``blank_as_null`` reads "" like ``null``."""

    default_error_messages = {
        "invalid": "{name} must be a datetime",
        "null": "{name} must be a datetime",
    }

    def to_internal_value(self, data) -> datetime.datetime:
        moment = None
        if isinstance(data, str):
            try:
                moment = parse_datetime(data)
            except ValueError:
                moment = None
        if moment is None:
            self.fail("invalid")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, datetime.UTC)
        return moment


@extend_schema_field({"type": "string", "description": "a date (YYYY-MM-DD) or a datetime"})
class DateOrDateTimeField(NamedMessagesMixin, serializers.Field):
    """A bound of a period filter: a ``datetime.date`` for ``YYYY-MM-DD`` (the whole UTC day),
    else an aware datetime (UTC when no offset is given); "" means not given."""

    default_error_messages = {"invalid": "{name} must be a date (YYYY-MM-DD) or a datetime"}

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        super().__init__(**kwargs)

    def validate_empty_values(self, data):
        if isinstance(data, str) and data.strip() == "":
            return (True, None)
        return super().validate_empty_values(data)

    def to_internal_value(self, data) -> datetime.date | datetime.datetime:
        text = str(data).strip()
        try:
            day = parse_date(text) if len(text) == 10 else None
            moment = None if day else parse_datetime(text)
        except ValueError:
            day = moment = None
        if day is not None:
            return day
        if moment is None:
            self.fail("invalid")
        if timezone.is_naive(moment):
            moment = timezone.make_aware(moment, datetime.UTC)
        return moment
