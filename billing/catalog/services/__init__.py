"""Catalog use cases, one module per area; callers use ``services.<area>.<function>``."""

from billing.catalog.services import addons, categories, geography, payment_methods, plans

__all__ = ["addons", "categories", "geography", "payment_methods", "plans"]
