"""Query parameters of the analytics routes and the shapes of their answers.

The figures are JSON numbers: money rounded to the requested currency's places, percentages to
two decimals, ``change_percent`` to one, counts as integers.
"""

from __future__ import annotations

from django.db import models
from rest_framework import serializers

from billing.catalog import selectors as catalog
from billing.catalog.pricing import as_json_number
from plugins.analytics.periods import START_AFTER_END, UNKNOWN_INTERVAL
from vbwd.exceptions import ValidationFailed
from vbwd.fields import StrictCharField, StrictChoiceField, StrictDateField

METRICS = (
    "mrr",
    "arr",
    "revenue",
    "active_subscriptions",
    "user_growth",
    "churn",
    "conversion",
    "arpu",
)
MONEY_METRICS = ("mrr", "arr", "revenue", "arpu")
COUNT_METRICS = ("active_subscriptions", "user_growth")


class Interval(models.TextChoices):
    DAY = "day"
    WEEK = "week"
    MONTH = "month"


def _date(help_text: str) -> StrictDateField:
    return StrictDateField(
        required=False, allow_null=True, blank_as_null=True, default=None, help_text=help_text
    )


class DashboardQuerySerializer(serializers.Serializer):
    start = _date("first day of the period (default: 29 days before end)")
    end = _date("last day of the period, inclusive (default: today)")
    currency = StrictCharField(
        required=False,
        allow_blank=True,
        allow_null=True,
        default=None,
        # Longer than any code, so a wrong code is answered as unsupported, not as too long.
        max_length=32,
        help_text="currency of the figures (default: the default currency)",
    )

    def validate_currency(self, value) -> str | None:
        if not value:
            return None
        try:
            return catalog.active_currency(value).code
        except ValidationFailed as error:
            raise serializers.ValidationError(error.message) from None

    def validate(self, attrs: dict) -> dict:
        start, end = attrs.get("start"), attrs.get("end")
        if start is not None and end is not None and start > end:
            raise serializers.ValidationError({"start": [START_AFTER_END]})
        return attrs


class RevenueQuerySerializer(DashboardQuerySerializer):
    interval = StrictChoiceField(
        Interval,
        required=False,
        allow_null=True,
        blank_as_null=True,
        default=None,
        error_messages={"invalid_choice": UNKNOWN_INTERVAL},
        help_text="length of one point of the series (default: day)",
    )

    def validate_interval(self, value) -> str:
        return value or Interval.DAY


class AnalyticsMetricSerializer(serializers.Serializer):
    total = serializers.FloatField()
    change_percent = serializers.FloatField(
        help_text="change against the previous period of the same length, in percent"
    )


class AnalyticsPeriodSerializer(serializers.Serializer):
    start = serializers.DateField()
    end = serializers.DateField()
    previous_start = serializers.DateField()
    previous_end = serializers.DateField()


class AnalyticsDashboardSerializer(serializers.Serializer):
    mrr = AnalyticsMetricSerializer()
    arr = AnalyticsMetricSerializer()
    revenue = AnalyticsMetricSerializer()
    active_subscriptions = AnalyticsMetricSerializer()
    user_growth = AnalyticsMetricSerializer()
    churn = AnalyticsMetricSerializer()
    conversion = AnalyticsMetricSerializer()
    arpu = AnalyticsMetricSerializer()
    currency = serializers.CharField()
    period = AnalyticsPeriodSerializer()


class AnalyticsRevenuePointSerializer(serializers.Serializer):
    date = serializers.DateField(help_text="first day of the interval")
    value = serializers.FloatField()


class AnalyticsRevenueSerializer(serializers.Serializer):
    total = serializers.FloatField()
    change_percent = serializers.FloatField()
    currency = serializers.CharField()
    interval = serializers.ChoiceField(choices=Interval.choices)
    data = AnalyticsRevenuePointSerializer(many=True)


def _total(name: str, value, places: int) -> float | int:
    if name in MONEY_METRICS:
        return as_json_number(value, places)
    if name in COUNT_METRICS:
        return int(value)
    return float(value)


def dashboard_data(figures: dict) -> dict:
    """The dashboard as the API answers it (``figures`` from ``selectors.dashboard``)."""
    places = figures["places"]
    body: dict = {
        name: {
            "total": _total(name, figures[name]["total"], places),
            "change_percent": float(figures[name]["change_percent"]),
        }
        for name in METRICS
    }
    body["currency"] = figures["currency"]
    body["period"] = {key: day.isoformat() for key, day in figures["period"].items()}
    return body


def revenue_data(figures: dict) -> dict:
    """The revenue series as the API answers it (``figures`` from ``selectors.revenue``)."""
    places = figures["places"]
    return {
        "total": as_json_number(figures["total"], places),
        "change_percent": float(figures["change_percent"]),
        "currency": figures["currency"],
        "interval": figures["interval"],
        "data": [
            {"date": point["date"].isoformat(), "value": as_json_number(point["value"], places)}
            for point in figures["data"]
        ],
    }
