import datetime
from decimal import Decimal

import factory

from billing.catalog.models import Currency, TaxRate


class CurrencyFactory(factory.django.DjangoModelFactory):
    """A non-default active currency with two decimals; codes QAA, QAB, … (ISO's private range)."""

    class Meta:
        model = Currency

    code = factory.Sequence(lambda n: f"Q{chr(65 + (n // 26) % 26)}{chr(65 + n % 26)}")
    name = factory.Sequence(lambda n: f"Test currency {n}")
    symbol = "¤"
    decimal_places = 2
    exchange_rate = Decimal("2.000000")
    is_default = False
    is_active = True


class TaxRateFactory(factory.django.DjangoModelFactory):
    """An active German rate valid from 2024-01-01, open-ended."""

    class Meta:
        model = TaxRate

    country_code = "DE"
    region_code = None
    name = "MwSt."
    code = factory.Sequence(lambda n: f"VAT_TEST_{n}")
    rate = Decimal("19.00")
    is_inclusive = False
    is_active = True
    valid_from = datetime.date(2024, 1, 1)
    valid_to = None
