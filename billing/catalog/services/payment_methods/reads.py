"""The reads of payment methods: the admin lists, the public list and detail, and what
checkout asks (does a method admit this order)."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Prefetch

from billing.catalog.models import Currency, PaymentMethod, PaymentMethodTranslation
from billing.catalog.pricing import convert
from billing.catalog.selectors import default_currency
from billing.catalog.services.payment_methods.rules import (
    NOT_FOUND,
    TRANSLATED_FIELDS,
    locale_chain,
    payment_method_is_available,
)
from vbwd.exceptions import NotFound, ValidationFailed


def payment_methods_all() -> list[PaymentMethod]:
    return list(PaymentMethod.objects.order_by("position", "name"))


def payment_method_by_id(method_id) -> PaymentMethod:
    method = PaymentMethod.objects.filter(pk=method_id).first()
    if method is None:
        raise NotFound(NOT_FOUND)
    return method


def payment_method_by_code(code: str) -> PaymentMethod:
    method = PaymentMethod.objects.filter(code=code).first()
    if method is None:
        raise NotFound(NOT_FOUND)
    return method


def payment_method_chosen(code) -> PaymentMethod:
    """The method an order names by ``code`` (a string, trimmed); ValidationFailed on
    ``payment_method_code`` when no method has that code or ``code`` is not a string."""
    method = (
        PaymentMethod.objects.filter(code=code.strip()).first() if isinstance(code, str) else None
    )
    if method is None:
        raise ValidationFailed(f"Payment method '{code}' not found", field="payment_method_code")
    return method


def localized_texts(method: PaymentMethod, locale: str | None) -> dict[str, str | None]:
    """The four texts for ``locale``, each falling back from the exact locale to its language
    part, then to the base text. Reads ``method.locale_translations`` when prefetched."""
    texts = {field: getattr(method, field) for field in TRANSLATED_FIELDS}
    chain = locale_chain(locale)
    if not chain:
        return texts
    translations = getattr(method, "locale_translations", None)
    if translations is None:
        translations = list(method.translations.filter(locale__in=chain))
    by_locale = {translation.locale: translation for translation in translations}
    for field in TRANSLATED_FIELDS:
        for candidate in chain:
            translation = by_locale.get(candidate)
            value = getattr(translation, field) if translation is not None else None
            if value:
                texts[field] = value
                break
    return texts


def _with_translations(queryset, locale: str | None):
    chain = locale_chain(locale)
    if not chain:
        return queryset
    return queryset.prefetch_related(
        Prefetch(
            "translations",
            queryset=PaymentMethodTranslation.objects.filter(locale__in=chain),
            to_attr="locale_translations",
        )
    )


def amount_in_default_currency(amount: Decimal, currency: str | None) -> Decimal:
    """``amount`` in ``currency`` converted at the current rate; an unknown currency (or none)
    is taken to be the default currency."""
    default = default_currency()
    if not currency or currency == default.code:
        return amount
    row = Currency.objects.filter(code=currency).first()
    if row is None:
        return amount
    return convert(
        amount,
        from_rate=row.exchange_rate,
        to_rate=default.exchange_rate,
        places=default.decimal_places,
    )


def payment_method_accepts(
    method: PaymentMethod,
    *,
    currency: str | None = None,
    country: str | None = None,
    amount_in_default: Decimal | None = None,
) -> bool:
    """Whether the method's allow-lists (empty = all) and amount limits admit the order; the
    amount is in the default currency (``amount_in_default_currency``)."""
    if currency and method.currencies and currency.upper() not in method.currencies:
        return False
    if country and method.countries and country.upper() not in method.countries:
        return False
    if amount_in_default is not None:
        if method.min_amount is not None and amount_in_default < method.min_amount:
            return False
        if method.max_amount is not None and amount_in_default > method.max_amount:
            return False
    return True


def payment_methods_public(
    *,
    locale: str | None = None,
    currency: str | None = None,
    country: str | None = None,
    amount: Decimal | None = None,
) -> list[PaymentMethod]:
    """Available methods (active, gateway plugin enabled) that admit the order, by position;
    ``amount`` is in ``currency`` (the default currency when not given); translations for
    ``locale`` are prefetched (a constant number of queries)."""
    amount_in_default = amount_in_default_currency(amount, currency) if amount is not None else None
    methods = _with_translations(
        PaymentMethod.objects.filter(is_active=True).order_by("position", "name"), locale
    )
    return [
        method
        for method in methods
        if payment_method_is_available(method)
        and payment_method_accepts(
            method, currency=currency, country=country, amount_in_default=amount_in_default
        )
    ]


def payment_method_public(*, code: str, locale: str | None) -> PaymentMethod:
    """An available method by code; 404 when unknown, inactive or its plugin is disabled."""
    method = _with_translations(PaymentMethod.objects.filter(code=code), locale).first()
    if method is None or not payment_method_is_available(method):
        raise NotFound(NOT_FOUND)
    return method
