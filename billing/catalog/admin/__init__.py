"""Back office of the catalog, one module per area."""

from billing.catalog.admin import geography, payment_methods, plans  # noqa: F401
