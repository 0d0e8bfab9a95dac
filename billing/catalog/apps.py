from django.apps import AppConfig


class CatalogConfig(AppConfig):
    """What can be bought and how: currencies, countries, tax, plans, add-ons, payment methods."""

    name = "billing.catalog"
    label = "catalog"
    verbose_name = "Catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from accounts.extensions import COUNTRY_LOOKUP, CountryLookupHooks
        from billing.catalog import receivers  # noqa: F401
        from billing.catalog.models import (
            AddOn,
            Category,
            Country,
            Currency,
            PaymentMethod,
            PaymentMethodTranslation,
            Plan,
            TaxRate,
        )
        from billing.catalog.selectors import country_code_for_name, country_is_known
        from vbwd import catalog_cache

        # The public catalog's cached answers follow every committed change of these.
        catalog_cache.track(
            Currency, Country, TaxRate, Plan, Category, AddOn, PaymentMethod,
            PaymentMethodTranslation,
        )  # fmt: skip

        # Billing details and seller settings now check against the Country table.
        COUNTRY_LOOKUP.register(
            CountryLookupHooks(is_known=country_is_known, code_for_name=country_code_for_name)
        )
