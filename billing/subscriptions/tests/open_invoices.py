"""Scenarios shared by the tests of the open invoices around a subscription: a monthly plan and
add-on, and an ACTIVE subscription with its add-on and the renewal of May already issued."""

from __future__ import annotations

import datetime
from decimal import Decimal

from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import AddOnFactory, PlanFactory
from billing.invoices.models import LineType
from billing.invoices.tests.factories import buyer
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    SubscriptionStatus,
)
from billing.subscriptions.services import (
    renewals_issue_due,
)
from billing.subscriptions.tests.test_renewal import activated, at, renewals_of, run_at

A = AddOnSubscriptionStatus
S = SubscriptionStatus
D = Decimal
DAY = datetime.timedelta(days=1)
APRIL_1, MAY_1, JUNE_1 = at(2027, 4, 1), at(2027, 5, 1), at(2027, 6, 1)


def monthly_plan(name: str = "Basic", price: str = "10.00", **kwargs):
    kwargs.setdefault("features", {"default_tokens": 0})
    return PlanFactory(name=name, price=D(price), billing_period=BillingPeriod.MONTHLY, **kwargs)


def monthly_addon(name: str = "Storage", price: str = "5.00"):
    return AddOnFactory(name=name, price=D(price), billing_period=BillingPeriod.MONTHLY)


def line_items(invoice) -> list[tuple[str, object, Decimal]]:
    return [(line.type, line.item_id, line.amount) for line in invoice.lines.order_by("position")]


def with_addon_and_renewal(*, when=APRIL_1):
    """An ACTIVE monthly subscription (10.00) from ``when`` with a monthly add-on (5.00) bought
    with it, and the renewal of May issued three days before the end."""
    user = buyer()
    sub = activated(user, monthly_plan(), when=when, addons=[monthly_addon()])
    item = AddOnSubscription.objects.get(subscription=sub)
    assert run_at(renewals_issue_due, MAY_1 - 3 * DAY) == 1
    (renewal,) = renewals_of(sub)
    assert line_items(renewal) == [
        (LineType.SUBSCRIPTION, sub.pk, D("10.00")),
        (LineType.ADD_ON, item.pk, D("5.00")),
    ]
    return user, sub, item, renewal


def voids_of(invoice) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(action="invoice.voided", object_id=str(invoice.pk)))
