"""Catalog reads shared by several callers (views, checkout, invoices, other apps)."""

from __future__ import annotations

import datetime
import time
import uuid
from functools import cache

from django.db import connections, router
from django.db.models import OuterRef, Subquery
from django.utils import timezone

from billing.catalog.models import Country, Currency, Plan, TaxRate
from vbwd.exceptions import NotFound, ValidationFailed


def default_currency() -> Currency:
    currency = Currency.objects.filter(is_default=True).first()
    if currency is None:  # the data migration creates EUR; only a broken database lacks one
        raise NotFound("No default currency is configured")
    return currency


def active_currency(code: str | None, *, field: str = "currency") -> Currency:
    """The active currency ``code`` (default currency when empty), else a 400."""
    if code in (None, ""):
        return default_currency()
    currency = Currency.objects.filter(code=str(code).strip().upper(), is_active=True).first()
    if currency is None:
        raise ValidationFailed(f"Currency '{code}' is not supported", field=field)
    return currency


def currencies_by_code() -> dict[str, Currency]:
    return {currency.code: currency for currency in Currency.objects.all()}


@cache
def _places_sql(alias: str) -> str:
    quote = connections[alias].ops.quote_name
    meta = Currency._meta
    code, places = meta.get_field("code").column, meta.get_field("decimal_places").column
    # Only quoted names from the model.
    return f"SELECT {quote(code)}, {quote(places)} FROM {quote(meta.db_table)}"  # noqa: S608


def currency_places_table() -> dict[str, int]:
    """``{code: decimal places}`` of every currency: one small query written once, since
    rendering any amount needs it and building it with the ORM (and a model per currency)
    costs several times its round trip."""
    alias = router.db_for_read(Currency)
    with connections[alias].cursor() as cursor:
        cursor.execute(_places_sql(alias))
        return {code: places for code, places in cursor.fetchall()}


def country_is_known(code: str) -> bool:
    return Country.objects.filter(code=code.upper()).exists()


def country_code_for_name(name: str) -> str | None:
    country = Country.objects.filter(name__iexact=name.strip()).first()
    return country.code if country else None


def known_country(code: str | None, *, field: str = "country") -> str | None:
    """Upper-cased code of a country in the table, None when empty, else a 400."""
    if code in (None, ""):
        return None
    value = str(code).strip().upper()
    if len(value) != 2 or not country_is_known(value):
        raise ValidationFailed(f"Unknown country code: {value}", field=field)
    return value


def tax_rate_for(
    country_code: str, on: datetime.date | None = None, region_code: str | None = None
):
    """The active rate valid on ``on`` (today) for the country and region (None: whole country).

    Falls back from a region to the country-wide rate.
    """
    on = on or timezone.now().date()
    candidates = TaxRate.objects.filter(
        country_code=country_code.upper(), is_active=True, valid_from__lte=on
    ).exclude(valid_to__lt=on)
    if region_code:
        regional = candidates.filter(region_code=region_code).order_by("-valid_from").first()
        if regional is not None:
            return regional
    return candidates.filter(region_code__isnull=True).order_by("-valid_from").first()


def plan_by_slug_or_id(value: str) -> Plan:
    try:
        lookup = {"pk": uuid.UUID(value)}
    except ValueError:
        lookup = {"slug": value}
    plan = Plan.objects.prefetch_related("categories").filter(**lookup).first()
    if plan is None:
        raise NotFound("Plan not found")
    return plan


def currency_places(code: str) -> int:
    """Decimal places of the currency ``code`` (2 for a code the table does not know)."""
    places = Currency.objects.filter(code=code).values_list("decimal_places", flat=True).first()
    return 2 if places is None else places


# Places of the currencies seen by this process, for text only (audit summaries, labels): a
# currency's places hardly ever change, and a stale entry would only shape a sentence, never an
# amount. Entries live PLACES_TEXT_TTL_SECONDS.
_places_for_text: dict[str, tuple[int, float]] = {}
PLACES_TEXT_TTL_SECONDS = 300


def currency_places_for_text(code: str) -> int:
    """``currency_places`` remembered for a while by this process: for formatting text."""
    now = time.monotonic()
    hit = _places_for_text.get(code)
    if hit is not None and hit[1] > now:
        return hit[0]
    places = Currency.objects.filter(code=code).values_list("decimal_places", flat=True).first()
    if places is None:
        return 2  # not remembered: the code may be created in a moment
    _places_for_text[code] = (places, now + PLACES_TEXT_TTL_SECONDS)
    return places


def currency_places_subquery(code_field: str = "currency"):
    """The decimal places of the currency named by the outer query's ``code_field``, for an
    annotation (None when the table does not know the code)."""
    return Subquery(Currency.objects.filter(code=OuterRef(code_field)).values("decimal_places")[:1])


def currency_places_for_text_forget() -> None:
    _places_for_text.clear()


def money_text(amount, code: str) -> str:
    """``"65.44 EUR"``: an amount for people, with the currency's places."""
    from billing.catalog.pricing import format_money

    return f"{format_money(amount, currency_places(code))} {code}"
