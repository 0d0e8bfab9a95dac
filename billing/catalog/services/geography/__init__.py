"""Currencies, countries and tax rates: every write of the three tables, for the API and the
back office alike, and the reads that serve them.

Each write runs in one transaction, locks the rows it changes first and writes one audit entry
when something changed. Input arrives validated by the input serializers of
``billing.catalog.serializers.geography_input``; ``check_*`` functions apply the rules that read
other rows, so the back office can show the same refusals on its forms before the locked write
repeats them.
"""

from billing.catalog.services.geography.countries import (
    DISABLED_POSITION,
    countries_reorder,
    country_disable,
    country_enable,
    country_update,
)
from billing.catalog.services.geography.currencies import (
    CURRENCY_CODE,
    CURRENCY_DEFAULTS,
    MAX_DECIMAL_PLACES,
    MAX_EXCHANGE_RATE,
    check_currency_delete,
    check_currency_update,
    currency_create,
    currency_delete,
    currency_set_default,
    currency_update,
)
from billing.catalog.services.geography.reads import (
    countries_disabled,
    countries_enabled,
    countries_ordered,
    country_get,
    currencies_ordered,
    currency_get,
    currency_usage,
    tax_rate_get,
    tax_rate_in_use,
    tax_rates_filtered,
)
from billing.catalog.services.geography.tax_rates import (
    TAX_RATE_DEFAULTS,
    TAX_RATE_FIELDS,
    TAX_RATE_FIELDS_AFTER_USE,
    check_tax_rate,
    check_tax_rate_delete,
    tax_rate_create,
    tax_rate_delete,
    tax_rate_set_active,
    tax_rate_update,
)

__all__ = [
    "CURRENCY_CODE",
    "CURRENCY_DEFAULTS",
    "DISABLED_POSITION",
    "MAX_DECIMAL_PLACES",
    "MAX_EXCHANGE_RATE",
    "TAX_RATE_DEFAULTS",
    "TAX_RATE_FIELDS",
    "TAX_RATE_FIELDS_AFTER_USE",
    "check_currency_delete",
    "check_currency_update",
    "check_tax_rate",
    "check_tax_rate_delete",
    "countries_disabled",
    "countries_enabled",
    "countries_ordered",
    "countries_reorder",
    "country_disable",
    "country_enable",
    "country_get",
    "country_update",
    "currencies_ordered",
    "currency_create",
    "currency_delete",
    "currency_get",
    "currency_set_default",
    "currency_update",
    "currency_usage",
    "tax_rate_create",
    "tax_rate_delete",
    "tax_rate_get",
    "tax_rate_in_use",
    "tax_rate_set_active",
    "tax_rate_update",
    "tax_rates_filtered",
]
