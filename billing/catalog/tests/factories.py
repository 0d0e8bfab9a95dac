from decimal import Decimal

import factory

from billing.catalog.models import AddOn, Category, Plan


class PlanFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Plan

    name = factory.Sequence(lambda n: f"Plan {n}")
    slug = factory.Sequence(lambda n: f"plan-{n}")
    price = Decimal("10.00")
    currency = "EUR"
    features = factory.LazyFunction(lambda: {"default_tokens": 0})


class CategoryFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Category

    name = factory.Sequence(lambda n: f"Category {n}")
    slug = factory.Sequence(lambda n: f"category-{n}")


class AddOnFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AddOn

    name = factory.Sequence(lambda n: f"Add-on {n}")
    slug = factory.Sequence(lambda n: f"addon-{n}")
    price = Decimal("5.00")
    currency = "EUR"
