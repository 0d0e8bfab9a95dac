"""Money arithmetic of the catalog: conversion between currencies and tax, all in Decimal.

One rounding rule (ROUND_HALF_UP to the currency's places, vbwd.money.round_money); a float
appears only where the API asks for a JSON number, at the very edge (``as_json_number``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from vbwd.money import round_money

HUNDRED = Decimal(100)


def convert(amount: Decimal, *, from_rate: Decimal, to_rate: Decimal, places: int) -> Decimal:
    """``amount ÷ rate(from) × rate(to)``, rounded to the target currency's places."""
    if from_rate == to_rate:
        return round_money(amount, places)
    return round_money(amount / from_rate * to_rate, places)


@dataclass(frozen=True)
class TaxedPrice:
    net: Decimal
    tax: Decimal
    gross: Decimal
    rate: Decimal  # percent


def apply_tax(amount: Decimal, *, rate: Decimal | None, inclusive: bool, places: int) -> TaxedPrice:
    """Net, tax and gross of a price that does (inclusive) or does not include the tax."""
    amount = round_money(amount, places)
    if rate is None:
        return TaxedPrice(net=amount, tax=round_money(Decimal(0), places), gross=amount,
                          rate=Decimal("0.00"))  # fmt: skip
    if inclusive:
        tax = round_money(amount * rate / (HUNDRED + rate), places)
        return TaxedPrice(net=amount - tax, tax=tax, gross=amount, rate=rate)
    tax = round_money(amount * rate / HUNDRED, places)
    return TaxedPrice(net=amount, tax=tax, gross=amount + tax, rate=rate)


def format_money(amount: Decimal, places: int) -> str:
    """The API's money string: exactly the currency's places ("9.99", "1200" for JPY)."""
    return str(round_money(amount, places))


def as_json_number(amount: Decimal, places: int) -> float | int:
    """For the few fields typed `number` (display_price, price_float): from the rounded Decimal."""
    rounded = round_money(amount, places)
    return int(rounded) if places == 0 else float(rounded)
