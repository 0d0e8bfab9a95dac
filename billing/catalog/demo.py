"""The demo catalog for `manage.py seed_demo` (idempotent: existing slugs and codes are kept)."""

import datetime
from decimal import Decimal

from billing.catalog.models import AddOn, Category, Plan, TaxRate
from billing.catalog.serializers.plan_input import (
    AddOnInputSerializer,
    CategoryInputSerializer,
    PlanInputSerializer,
)
from billing.catalog.services import addons, categories, plans

DEMO_PLANS = [
    {"name": "Basic", "slug": "basic", "price": "9.99", "features": {"default_tokens": 100},
     "sort_order": 1},
    {"name": "Pro", "slug": "pro", "price": "29.99", "trial_days": 14,
     "features": {"default_tokens": 500}, "sort_order": 2},
    {"name": "Enterprise", "slug": "enterprise", "price": "99.99",
     "features": {"default_tokens": 2000}, "sort_order": 3},
]  # fmt: skip
DEMO_ADDONS = [
    {"name": "Priority Support", "slug": "priority-support", "price": "15.00", "sort_order": 1},
    {"name": "Premium Analytics", "slug": "premium-analytics", "price": "25.00", "sort_order": 2},
]
DEMO_TAX_RATES = [
    {"code": "VAT_DE_STANDARD", "country_code": "DE", "name": "MwSt.", "rate": Decimal("19.00")},
    {"code": "VAT_AT_STANDARD", "country_code": "AT", "name": "USt.", "rate": Decimal("20.00")},
]


def _validated(serializer_class, data: dict) -> dict:
    serializer = serializer_class(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def seed_catalog() -> int:
    """Creates whatever of the demo catalog is missing; returns how many rows it created."""
    created = 0
    for spec in DEMO_PLANS:
        if not Plan.objects.filter(slug=spec["slug"]).exists():
            data = {**spec, "currency": "EUR", "billing_period": "MONTHLY"}
            plans.plan_create(data=_validated(PlanInputSerializer, data), actor=None)
            created += 1
    main = Category.objects.filter(slug="main").first()
    if main is None:
        data = {"name": "Main plans", "slug": "main", "is_single": True,
                "description": "One of these at a time"}  # fmt: skip
        main = categories.category_create(
            data=_validated(CategoryInputSerializer, data), actor=None
        )
        created += 1
    categories.category_attach_plans(
        category=main,
        plan_ids=list(Plan.objects.filter(slug__in=["basic", "pro", "enterprise"])
                      .values_list("pk", flat=True)),
        actor=None,
    )  # fmt: skip
    for spec in DEMO_ADDONS:
        if not AddOn.objects.filter(slug=spec["slug"]).exists():
            data = {**spec, "currency": "EUR", "billing_period": "MONTHLY"}
            addons.addon_create(data=_validated(AddOnInputSerializer, data), actor=None)
            created += 1
    for spec in DEMO_TAX_RATES:
        _, was_created = TaxRate.objects.get_or_create(
            code=spec["code"],
            defaults={**spec, "valid_from": datetime.date(2020, 1, 1), "is_inclusive": False},
        )
        created += was_created
    return created
