"""Money and percentages of the figures: amounts of several currencies summed in one, and the
change against the previous period."""

from __future__ import annotations

import logging
from decimal import ROUND_HALF_UP, Decimal

from billing.catalog.models import Currency
from vbwd.exceptions import ValidationFailed
from vbwd.money import round_money

logger = logging.getLogger(__name__)

HUNDRED = Decimal(100)
ZERO = Decimal(0)


class Converter:
    """Sums amounts of several currencies in one target currency at the catalog's rates."""

    def __init__(self, currency: str | None):
        currencies = {row.code: row for row in Currency.objects.all()}
        code = (currency or "").strip().upper()
        if code:
            target = currencies.get(code)
            if target is None or not target.is_active:
                raise ValidationFailed(f"Currency '{currency}' is not supported", field="currency")
        else:
            target = next((row for row in currencies.values() if row.is_default), None)
            if target is None:
                raise ValidationFailed("No default currency is configured", field="currency")
        self.target = target
        self.rates = {row.code: row.exchange_rate for row in currencies.values()}

    @property
    def places(self) -> int:
        return self.target.decimal_places

    def convert(self, amount: Decimal | None, code: str) -> Decimal:
        """``amount`` of ``code`` in the target currency, not rounded."""
        if not amount:
            return ZERO
        rate = self.rates.get(code)
        if rate is None:
            logger.warning("Analytics: no exchange rate for %s; %s left out", code, amount)
            return ZERO
        if code == self.target.code:
            return Decimal(amount)
        return Decimal(amount) / rate * self.target.exchange_rate

    def round(self, amount: Decimal) -> Decimal:
        return round_money(amount, self.places)


def change_percent(current: Decimal | int, previous: Decimal | int) -> Decimal:
    """``(current − previous) ÷ previous × 100`` to one decimal; 0.0 when both are 0, 100.0 when
    only the previous one is. A negative previous value (more refunded than captured) is taken
    by its size, so that a rise is always a positive change."""
    current, previous = Decimal(current), Decimal(previous)
    if previous == 0:
        return Decimal("0.0") if current == 0 else Decimal("100.0")
    change = (current - previous) / abs(previous) * HUNDRED
    return change.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def percent(part: int, whole: int) -> Decimal:
    if not whole:
        return Decimal("0.00")
    return (Decimal(part) * HUNDRED / Decimal(whole)).quantize(
        Decimal("0.01"), rounding=ROUND_HALF_UP
    )
