"""Routes of currencies, countries and tax rates. The fixed country routes come
before the ``<code>`` ones; codes match any segment so an unknown one gets the documented 404."""

from billing.catalog.views import geography as views
from vbwd.api import UUID_PATTERN, route

COUNTRY = r"admin/countries/(?P<code>[^/]+)"
CURRENCY = r"admin/currencies/(?P<code>[^/]+)"
TAX_RATE = rf"admin/tax-rates/(?P<tax_rate_id>{UUID_PATTERN})"

urlpatterns = [
    route(r"config/currencies", views.PublicCurrenciesView.as_view(), name="config-currencies"),
    route(r"settings/countries", views.PublicCountriesView.as_view(), name="settings-countries"),
    route(
        r"admin/countries/reorder",
        views.AdminCountriesReorderView.as_view(),
        name="admin-countries-reorder",
    ),
    route(
        r"admin/countries/enabled",
        views.AdminEnabledCountriesView.as_view(),
        name="admin-countries-enabled",
    ),
    route(
        r"admin/countries/disabled",
        views.AdminDisabledCountriesView.as_view(),
        name="admin-countries-disabled",
    ),
    route(r"admin/countries", views.AdminCountriesView.as_view(), name="admin-countries"),
    route(
        rf"{COUNTRY}/enable", views.AdminCountryEnableView.as_view(), name="admin-country-enable"
    ),
    route(
        rf"{COUNTRY}/disable", views.AdminCountryDisableView.as_view(), name="admin-country-disable"
    ),
    route(r"admin/currencies", views.AdminCurrenciesView.as_view(), name="admin-currencies"),
    route(
        rf"{CURRENCY}/set-default",
        views.AdminCurrencySetDefaultView.as_view(),
        name="admin-currency-set-default",
    ),
    route(CURRENCY, views.AdminCurrencyDetailView.as_view(), name="admin-currency"),
    route(r"admin/tax-rates", views.AdminTaxRatesView.as_view(), name="admin-tax-rates"),
    route(TAX_RATE, views.AdminTaxRateDetailView.as_view(), name="admin-tax-rate"),
]
