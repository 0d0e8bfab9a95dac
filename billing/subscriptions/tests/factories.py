"""factory_boy factories of subscriptions and add-on subscriptions (rows only, no invoices; use
``billing.checkout`` or ``billing.invoices.tests.factories`` for purchases with invoices)."""

from __future__ import annotations

import datetime

import factory
from django.utils import timezone

from accounts.tests.factories import UserFactory
from billing.catalog.tests.factories import AddOnFactory, PlanFactory
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)


class SubscriptionFactory(factory.django.DjangoModelFactory):
    """An ACTIVE monthly-style subscription whose current period started now and ends in 30
    days; pass ``status`` and dates to build other states (the traits set consistent dates)."""

    class Meta:
        model = Subscription

    user = factory.SubFactory(UserFactory)
    plan = factory.SubFactory(PlanFactory)
    status = SubscriptionStatus.ACTIVE
    payment_method = "invoice"
    started_at = factory.LazyFunction(timezone.now)
    current_period_start = factory.LazyAttribute(lambda row: row.started_at)
    expires_at = factory.LazyAttribute(
        lambda row: (
            row.current_period_start + datetime.timedelta(days=30)
            if row.current_period_start
            else None
        )
    )

    class Params:
        pending = factory.Trait(
            status=SubscriptionStatus.PENDING,
            started_at=None,
            current_period_start=None,
            expires_at=None,
        )
        trialing = factory.Trait(
            status=SubscriptionStatus.TRIALING,
            trial_end_at=factory.LazyAttribute(
                lambda row: row.started_at + datetime.timedelta(days=14)
            ),
            expires_at=factory.LazyAttribute(lambda row: row.trial_end_at),
        )
        past_due = factory.Trait(
            status=SubscriptionStatus.PAST_DUE,
            started_at=factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=32)),
        )
        paused = factory.Trait(
            status=SubscriptionStatus.PAUSED, paused_at=factory.LazyFunction(timezone.now)
        )
        cancelled = factory.Trait(
            status=SubscriptionStatus.CANCELLED, cancelled_at=factory.LazyFunction(timezone.now)
        )
        expired = factory.Trait(
            status=SubscriptionStatus.EXPIRED,
            started_at=factory.LazyFunction(lambda: timezone.now() - datetime.timedelta(days=60)),
        )


class AddOnSubscriptionFactory(factory.django.DjangoModelFactory):
    """An ACTIVE add-on subscription running for 30 days from now, without a subscription or an
    invoice; ``pending=True`` builds one awaiting payment (no dates)."""

    class Meta:
        model = AddOnSubscription

    user = factory.SubFactory(UserFactory)
    addon = factory.SubFactory(AddOnFactory)
    subscription = None
    invoice = None
    status = AddOnSubscriptionStatus.ACTIVE
    starts_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(
        lambda row: row.starts_at + datetime.timedelta(days=30) if row.starts_at else None
    )

    class Params:
        pending = factory.Trait(
            status=AddOnSubscriptionStatus.PENDING, starts_at=None, expires_at=None
        )
        cancelled = factory.Trait(
            status=AddOnSubscriptionStatus.CANCELLED,
            cancelled_at=factory.LazyFunction(timezone.now),
        )
