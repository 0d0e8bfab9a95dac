"""The one calendar-aware period function."""

from __future__ import annotations

import calendar
import datetime
from decimal import Decimal

from billing.catalog.models import BillingPeriod

MONTHS = {BillingPeriod.MONTHLY: 1, BillingPeriod.QUARTERLY: 3, BillingPeriod.YEARLY: 12}
DAYS = {BillingPeriod.DAILY: 1, BillingPeriod.WEEKLY: 7}
LABELS = {
    BillingPeriod.DAILY: "daily",
    BillingPeriod.WEEKLY: "weekly",
    BillingPeriod.MONTHLY: "monthly",
    BillingPeriod.QUARTERLY: "quarterly",
    BillingPeriod.YEARLY: "yearly",
    BillingPeriod.ONE_TIME: "one-time",
}

# How many of a period's prices make one month's: DAILY x 365/12, WEEKLY x 52/12, QUARTERLY / 3,
# YEARLY / 12, as (numerator, denominator) so prices compare exactly.
PER_MONTH = {
    BillingPeriod.DAILY: (365, 12),
    BillingPeriod.WEEKLY: (52, 12),
    BillingPeriod.MONTHLY: (1, 1),
    BillingPeriod.QUARTERLY: (1, 3),
    BillingPeriod.YEARLY: (1, 12),
}


def monthly_price(price: Decimal, billing_period: str) -> Decimal:
    """``price`` of one ``billing_period`` normalised to a month (a recurring period only)."""
    numerator, denominator = PER_MONTH[billing_period]
    return Decimal(price) * numerator / denominator


def add_months(moment: datetime.datetime, months: int, *, anchor_day: int | None = None):
    """``moment`` + ``months`` calendar months on ``anchor_day`` (default: moment's day), clamped
    to the target month's last day: Jan 31 → Feb 28/29 → Mar 31 with anchor 31."""
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    day = min(anchor_day or moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_end(
    start: datetime.datetime, billing_period: str, *, anchor_day: int | None = None
) -> datetime.datetime | None:
    """End of the period that starts at ``start``; None for ONE_TIME (never expires).
    Pass the first period's start day as ``anchor_day`` when renewing, so months do not drift."""
    if billing_period in DAYS:
        return start + datetime.timedelta(days=DAYS[billing_period])
    if billing_period in MONTHS:
        return add_months(start, MONTHS[billing_period], anchor_day=anchor_day)
    if billing_period == BillingPeriod.ONE_TIME:
        return None
    raise ValueError(f"Unknown billing period: {billing_period}")


def period_label(billing_period: str) -> str:
    """The period as invoice lines name it ("monthly", "one-time"); an unknown one in lower case."""
    return LABELS.get(billing_period, billing_period.lower())
