"""Tax of invoice lines.

The buyer's country (billing details; else the seller's country) picks the rate valid on the issue
date. Catalog prices are net unless that rate says the country's prices include tax. A business
buyer in another EU member state than the seller, with a VAT id that passes format validation for
that country (python-stdnum), is taxed at 0 % under the EU reverse charge; a tax-inclusive price
is then reduced to its net part. Tax is computed and rounded per line (ROUND_HALF_UP to the
currency's places); invoice totals are sums of the lines.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from stdnum.eu import vat as eu_vat

from billing.catalog.models import Country
from billing.catalog.selectors import tax_rate_for
from vbwd.money import round_money

HUNDRED = Decimal(100)
ZERO_RATE = Decimal("0.00")
# VAT ids of Greece start with EL, not the ISO code GR.
VAT_PREFIX = {"GR": "EL"}


@dataclass(frozen=True)
class TaxTreatment:
    country: str  # the country whose rate applies
    rate: Decimal  # percent applied to the lines (0 under reverse charge or without a rate)
    name: str | None  # the rate's name for the breakdown ("MwSt.")
    prices_include_tax: bool  # the catalog prices of this country are gross
    reverse_charge: bool
    # the rate a tax-inclusive catalog price contains (stripped under reverse charge)
    included_rate: Decimal = ZERO_RATE


@dataclass(frozen=True)
class LineAmounts:
    unit_price: Decimal  # net
    amount: Decimal  # net total
    tax_rate: Decimal
    tax_amount: Decimal
    gross_amount: Decimal


def vat_id_is_valid_for(vat_id: str | None, country: str) -> bool:
    """Format and check digits of an EU VAT id of ``country`` (no online VIES lookup)."""
    if not vat_id:
        return False
    try:
        compact = eu_vat.compact(vat_id)
    except Exception:
        return False
    if not compact.startswith(VAT_PREFIX.get(country, country)):
        return False
    return bool(eu_vat.is_valid(compact))


def tax_treatment(
    *, buyer_country: str | None, buyer_vat_id: str | None, seller_country: str, on: datetime.date
) -> TaxTreatment:
    """The rate and reverse-charge status for a buyer on ``on`` (the issue date)."""
    country = (buyer_country or seller_country or "").upper()
    rate = tax_rate_for(country, on) if country else None
    rate_value = rate.rate if rate is not None else ZERO_RATE
    inclusive = bool(rate and rate.is_inclusive)
    if (
        country
        and country != (seller_country or "").upper()
        and vat_id_is_valid_for(buyer_vat_id, country)
    ):
        eu = set(
            Country.objects.filter(code__in=[country, seller_country.upper()], is_eu=True)
            .values_list("code", flat=True)
        )  # fmt: skip
        if len(eu) == 2:
            return TaxTreatment(
                country=country,
                rate=ZERO_RATE,
                name="Reverse charge",
                prices_include_tax=inclusive,
                reverse_charge=True,
                included_rate=rate_value if inclusive else ZERO_RATE,
            )
    return TaxTreatment(
        country=country,
        rate=rate_value,
        name=rate.name if rate is not None else None,
        prices_include_tax=inclusive,
        reverse_charge=False,
        included_rate=rate_value if inclusive else ZERO_RATE,
    )


def line_amounts(
    unit_price: Decimal,
    quantity: int,
    *,
    rate: Decimal,
    price_includes_tax: bool,
    places: int,
    included_rate: Decimal | None = None,
) -> LineAmounts:
    """Net, tax and gross of one line. ``unit_price`` is gross when ``price_includes_tax``
    (the tax it contains is at ``included_rate``, default ``rate``), else net."""
    quantity = int(quantity)
    if not price_includes_tax:
        unit = round_money(unit_price, places)
        amount = round_money(unit * quantity, places)
        tax = round_money(amount * rate / HUNDRED, places)
        return LineAmounts(unit, amount, rate, tax, amount + tax)
    # A gross unit price is split per unit, so amount = quantity × unit_price holds and the
    # gross total is exactly quantity × the catalog price.
    contained = rate if included_rate is None else included_rate
    unit_gross = round_money(unit_price, places)
    contained_unit_tax = round_money(unit_gross * contained / (HUNDRED + contained), places)
    unit = unit_gross - contained_unit_tax
    amount = unit * quantity
    if rate == contained:
        tax = contained_unit_tax * quantity
    else:  # reverse charge: the net part only, taxed at the (zero) rate applied
        tax = round_money(amount * rate / HUNDRED, places)
    return LineAmounts(unit, amount, rate, tax, amount + tax)
