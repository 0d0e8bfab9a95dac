"""Add-ons bound to a subscription follow it: a reactivation (by the user or staff) restores
the add-ons cancelled with the subscription and bills them on the renewal, and an extension
moves the active ones with the end."""

from __future__ import annotations

import pytest
import time_machine

from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import AddOnFactory
from billing.invoices.models import InvoiceStatus, LineType
from billing.invoices.tests.factories import buyer
from billing.subscriptions.models import (
    AddOnSubscription,
)
from billing.subscriptions.services import (
    addon_subscription_cancel,
    subscription_cancel,
    subscription_extend,
    subscription_reactivate,
    subscription_staff_activate,
)
from billing.subscriptions.tests.factories import AddOnSubscriptionFactory, SubscriptionFactory
from billing.subscriptions.tests.open_invoices import (
    APRIL_1,
    DAY,
    MAY_1,
    A,
    D,
    line_items,
    monthly_addon,
    monthly_plan,
)
from billing.subscriptions.tests.test_renewal import activated, at, renewals_of

pytestmark = pytest.mark.django_db


# --- reactivation restores the add-ons cancelled with the subscription ---------------------


T0 = at(2026, 3, 10, 12)


def test_reactivation_restores_the_addons_cancelled_with_the_subscription():
    with time_machine.travel(T0, tick=False):
        sub = SubscriptionFactory(expires_at=T0 + 30 * DAY)
        user = sub.user
        longer = AddOnSubscriptionFactory(user=user, subscription=sub, expires_at=T0 + 45 * DAY)
        short = AddOnSubscriptionFactory(user=user, subscription=sub, expires_at=T0 + 2 * DAY)
        lifetime = AddOnSubscriptionFactory(
            user=user,
            subscription=sub,
            addon=AddOnFactory(billing_period=BillingPeriod.ONE_TIME),
            expires_at=None,
        )
        on_its_own = AddOnSubscriptionFactory(user=user, subscription=sub)
    with time_machine.travel(T0 + DAY / 2, tick=False):
        addon_subscription_cancel(addon_subscription_id=on_its_own.pk, actor=user)
    with time_machine.travel(T0 + DAY, tick=False):
        subscription_cancel(subscription_id=sub.pk, actor=user)
    lifetime.refresh_from_db()
    assert (lifetime.status, lifetime.expires_at) == (A.CANCELLED, T0 + 30 * DAY)

    with time_machine.travel(T0 + 5 * DAY, tick=False):
        subscription_reactivate(subscription_id=sub.pk, actor=user)

    rows = {row.pk: row for row in AddOnSubscription.objects.all()}
    assert (rows[longer.pk].status, rows[longer.pk].cancelled_at, rows[longer.pk].expires_at) == (
        A.ACTIVE,
        None,
        T0 + 45 * DAY,
    )
    assert (rows[lifetime.pk].status, rows[lifetime.pk].expires_at) == (A.ACTIVE, None)
    # Its access had ended: stays cancelled.
    assert (rows[short.pk].status, rows[short.pk].expires_at) == (A.CANCELLED, T0 + 2 * DAY)
    # Cancelled before, on its own: stays cancelled.
    assert rows[on_its_own.pk].status == A.CANCELLED
    restored = AuditEntry.objects.filter(action="addon_subscription.reactivated")
    assert sorted(restored.values_list("object_id", flat=True)) == sorted(
        [str(longer.pk), str(lifetime.pk)]
    )
    entry = restored.get(object_id=str(longer.pk))
    assert (entry.before["status"], entry.after["status"]) == ("CANCELLED", "ACTIVE")
    assert entry.actor_id == user.pk


def test_staff_activation_of_a_cancelled_subscription_restores_its_addons(admin_user):
    with time_machine.travel(T0, tick=False):
        sub = SubscriptionFactory()
        item = AddOnSubscriptionFactory(user=sub.user, subscription=sub)
        subscription_cancel(subscription_id=sub.pk, actor=sub.user)
    with time_machine.travel(T0 + DAY, tick=False):
        subscription_staff_activate(subscription_id=sub.pk, actor=admin_user, reason="Goodwill")

    item.refresh_from_db()
    assert (item.status, item.cancelled_at) == (A.ACTIVE, None)
    entry = AuditEntry.objects.get(action="addon_subscription.reactivated")
    assert (entry.actor_type, entry.reason) == ("STAFF", "Goodwill")


def test_the_renewal_issued_on_reactivation_bills_the_restored_addon():
    user = buyer()
    sub = activated(user, monthly_plan(), when=APRIL_1, addons=[monthly_addon()])
    item = AddOnSubscription.objects.get(subscription=sub)
    with time_machine.travel(MAY_1 - 5 * DAY, tick=False):
        subscription_cancel(subscription_id=sub.pk, actor=user)
    with time_machine.travel(MAY_1 - 2 * DAY, tick=False):
        subscription_reactivate(subscription_id=sub.pk, actor=user)

    (renewal,) = renewals_of(sub)
    assert renewal.status == InvoiceStatus.PENDING
    assert line_items(renewal) == [
        (LineType.SUBSCRIPTION, sub.pk, D("10.00")),
        (LineType.ADD_ON, item.pk, D("5.00")),
    ]


# --- the bound add-ons move with the end ---------------------------------------------------


def test_extend_moves_the_bound_active_addons_with_the_end(admin_user):
    with time_machine.travel(T0, tick=False):
        sub = SubscriptionFactory()
        bound = AddOnSubscriptionFactory(user=sub.user, subscription=sub)
        unbound = AddOnSubscriptionFactory(user=sub.user)
        subscription_extend(subscription_id=sub.pk, actor=admin_user, days=10)

    bound.refresh_from_db()
    unbound.refresh_from_db()
    assert bound.expires_at == T0 + 40 * DAY
    assert unbound.expires_at == T0 + 30 * DAY
