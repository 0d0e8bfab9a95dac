"""Periods of the figures: whole UTC days ``start`` to ``end``, the previous period of the same
length, and the intervals of a series."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from billing.catalog.periods import add_months
from vbwd.exceptions import ValidationFailed

DEFAULT_DAYS = 30
INTERVALS = ("day", "week", "month")
# A revenue series never holds more points than this (ten years of days).
MAX_POINTS = 3660

START_AFTER_END = "start must not be after end"
UNKNOWN_INTERVAL = "interval must be day, week or month"
TOO_LONG = "The period is too long to be compared with the one before it"


@dataclass(frozen=True)
class Period:
    """Whole UTC days ``start`` to ``end``; ``start_at`` is inclusive, ``end_at`` exclusive (the
    end of the last day, or now while that day lasts)."""

    start: datetime.date
    end: datetime.date
    start_at: datetime.datetime
    end_at: datetime.datetime


@dataclass(frozen=True)
class Periods:
    current: Period
    previous: Period

    def as_data(self) -> dict:
        return {
            "start": self.current.start,
            "end": self.current.end,
            "previous_start": self.previous.start,
            "previous_end": self.previous.end,
        }


def midnight(day: datetime.date) -> datetime.datetime:
    return datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)


def periods_for(
    *, start: datetime.date | None, end: datetime.date | None, now: datetime.datetime | None = None
) -> Periods:
    """The period asked for (default: the last 30 days ending today) and the one before it."""
    now = now or timezone.now()
    today = now.astimezone(datetime.UTC).date()
    end = end or (today if start is None else max(today, start))
    start = start or end - datetime.timedelta(days=DEFAULT_DAYS - 1)
    if start > end:
        raise ValidationFailed(START_AFTER_END, field="start")
    days = (end - start).days + 1
    previous_end = start - datetime.timedelta(days=1)
    try:
        previous_start = previous_end - datetime.timedelta(days=days - 1)
    except OverflowError:
        raise ValidationFailed(TOO_LONG, field="start") from None
    start_at = midnight(start)
    current = Period(start, end, start_at, min(midnight(end + datetime.timedelta(days=1)), now))
    previous = Period(previous_start, previous_end, midnight(previous_start), start_at)
    return Periods(current=current, previous=previous)


def _interval_start(day: datetime.date, interval: str) -> datetime.date:
    if interval == "week":
        return day - datetime.timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day


def _next_interval(day: datetime.date, interval: str) -> datetime.date:
    if interval == "week":
        return day + datetime.timedelta(days=7)
    if interval == "month":
        return add_months(midnight(day), 1).date()
    return day + datetime.timedelta(days=1)


def interval_starts(start: datetime.date, end: datetime.date, interval: str) -> list:
    """The first day of every ``interval`` (weeks start on Monday) that touches start..end."""
    if interval not in INTERVALS:
        raise ValidationFailed(UNKNOWN_INTERVAL, field="interval")
    first, last = _interval_start(start, interval), _interval_start(end, interval)
    approximate = {"day": 1, "week": 7, "month": 28}[interval]
    if (last - first).days // approximate + 1 > MAX_POINTS:
        raise ValidationFailed(
            f"The range holds more than {MAX_POINTS} points of one {interval}; choose a longer "
            "interval or a shorter range",
            field="interval",
        )
    days = []
    while first <= last:
        days.append(first)
        first = _next_interval(first, interval)
    return days
