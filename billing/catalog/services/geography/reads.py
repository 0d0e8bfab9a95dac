"""Reads of currencies, countries and tax rates, and what uses them."""

from __future__ import annotations

import datetime

from django.db.models import Case, F, Q, Value, When

from billing.catalog import extensions
from billing.catalog.models import AddOn, Country, Currency, Plan, TaxRate
from vbwd.exceptions import NotFound


def _by_code(model, label: str, code: str):
    """The row of ``model`` whose code is ``code`` trimmed and uppercased; 404 naming that code."""
    normalised = str(code).strip().upper()
    row = model.objects.filter(code=normalised).first()
    if row is None:
        raise NotFound(f"{label} '{normalised}' not found")
    return row


def currency_get(code: str) -> Currency:
    return _by_code(Currency, "Currency", code)


def country_get(code: str) -> Country:
    return _by_code(Country, "Country", code)


def tax_rate_get(tax_rate_id) -> TaxRate:
    tax_rate = TaxRate.objects.filter(pk=tax_rate_id).first()
    if tax_rate is None:
        raise NotFound("Tax rate not found")
    return tax_rate


def currencies_ordered():
    """Default first, then by code."""
    return Currency.objects.order_by("-is_default", "code")


def countries_ordered():
    """Enabled first by position (then name), then disabled by name."""
    enabled_position = Case(When(is_enabled=True, then=F("position")), default=Value(0))
    return Country.objects.order_by("-is_enabled", enabled_position, "name")


def countries_enabled():
    return Country.objects.filter(is_enabled=True).order_by("position", "name")


def countries_disabled():
    return Country.objects.filter(is_enabled=False).order_by("name")


def tax_rates_filtered(
    *,
    country: str | None = None,
    is_active: bool | None = None,
    valid_on: datetime.date | None = None,
):
    """By country, region (country-wide first) and valid_from, newest first."""
    queryset = TaxRate.objects.all()
    if country is not None:
        queryset = queryset.filter(country_code=country)
    if is_active is not None:
        queryset = queryset.filter(is_active=is_active)
    if valid_on is not None:
        queryset = queryset.filter(valid_from__lte=valid_on).filter(
            Q(valid_to__isnull=True) | Q(valid_to__gte=valid_on)
        )
    return queryset.order_by(
        "country_code", F("region_code").asc(nulls_first=True), "-valid_from", "code"
    )


def currency_usage(currency: Currency) -> int:
    """Plans and add-ons priced in the currency, plus what higher apps report (bundles,
    invoices)."""
    return (
        Plan.objects.filter(currency=currency.code).count()
        + AddOn.objects.filter(currency=currency.code).count()
        + extensions.usage_count("currency", currency)
    )


def tax_rate_in_use(tax_rate: TaxRate) -> bool:
    return extensions.usage_count("tax_rate", tax_rate) > 0
