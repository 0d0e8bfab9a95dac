"""A cancelled add-on leaves the renewal already issued: the renewal is reissued without it (or
left alone when the add-on was not on it), and the voided one cannot be paid."""

from __future__ import annotations

import pytest
import time_machine

from billing.invoices.models import InvoiceStatus, LineType
from billing.invoices.tests.factories import buyer
from billing.subscriptions.models import (
    AddOnSubscription,
    Subscription,
)
from billing.subscriptions.services import (
    addon_subscription_cancel,
    addons_expire,
    renewals_issue_due,
    subscription_pause,
    subscriptions_mark_past_due,
)
from billing.subscriptions.tests.open_invoices import (
    APRIL_1,
    DAY,
    JUNE_1,
    MAY_1,
    A,
    D,
    S,
    line_items,
    monthly_addon,
    monthly_plan,
    voids_of,
    with_addon_and_renewal,
)
from billing.subscriptions.tests.test_renewal import activated, pay, renewals_of, run_at
from vbwd.exceptions import InvalidTransition

pytestmark = pytest.mark.django_db


# --- a cancelled add-on leaves the renewal already issued ----------------------------------


def test_cancelling_an_addon_billed_on_the_open_renewal_reissues_the_renewal_without_it():
    user, sub, item, renewal = with_addon_and_renewal()

    with time_machine.travel(MAY_1 - 2 * DAY, tick=False):
        result = addon_subscription_cancel(addon_subscription_id=item.pk, actor=user)

    assert (result.status, result.cancelled_at, result.expires_at) == (
        A.CANCELLED,
        MAY_1 - 2 * DAY,
        MAY_1,
    )
    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.CANCELLED
    [void] = voids_of(renewal)
    assert void.reason == "Add-on Storage cancelled; renewal issued without it"
    old, new = renewals_of(sub)
    assert old.pk == renewal.pk
    assert (new.status, new.period_start, new.period_end) == (InvoiceStatus.PENDING, MAY_1, JUNE_1)
    assert line_items(new) == [(LineType.SUBSCRIPTION, sub.pk, D("10.00"))]
    assert new.total_amount == D("10.00")

    pay(new, when=MAY_1 - DAY)
    sub.refresh_from_db()
    item.refresh_from_db()
    assert (sub.status, sub.expires_at) == (S.ACTIVE, JUNE_1)
    assert (item.status, item.expires_at) == (A.CANCELLED, MAY_1)
    assert run_at(addons_expire, MAY_1 + DAY) == 0
    assert not item.is_valid_at(MAY_1)


def test_the_voided_renewal_cannot_be_paid_any_more():
    user, _sub, item, renewal = with_addon_and_renewal()
    with time_machine.travel(MAY_1 - 2 * DAY, tick=False):
        addon_subscription_cancel(addon_subscription_id=item.pk, actor=user)

    with pytest.raises(InvalidTransition):
        pay(renewal, when=MAY_1 - DAY)


def test_a_past_due_subscription_gets_its_renewal_again_for_the_same_period():
    user, sub, item, renewal = with_addon_and_renewal()
    assert run_at(subscriptions_mark_past_due, MAY_1) == 1
    Subscription.objects.filter(pk=sub.pk).update(charge_attempts=2)

    with time_machine.travel(MAY_1 + 2 * DAY, tick=False):
        addon_subscription_cancel(addon_subscription_id=item.pk, actor=user)

    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.CANCELLED
    _old, new = renewals_of(sub)
    assert (new.status, new.period_start, new.period_end) == (InvoiceStatus.PENDING, MAY_1, JUNE_1)
    assert line_items(new) == [(LineType.SUBSCRIPTION, sub.pk, D("10.00"))]
    sub.refresh_from_db()
    assert (sub.status, sub.charge_attempts) == (S.PAST_DUE, 2)

    pay(new, when=MAY_1 + 3 * DAY)
    sub.refresh_from_db()
    assert (sub.status, sub.current_period_start, sub.expires_at) == (S.ACTIVE, MAY_1, JUNE_1)


def test_a_paused_subscription_keeps_a_payable_renewal_without_the_addon():
    user, sub, item, _renewal = with_addon_and_renewal()
    with time_machine.travel(MAY_1 - 2 * DAY, tick=False):
        subscription_pause(subscription_id=sub.pk, actor=user)
        addon_subscription_cancel(addon_subscription_id=item.pk, actor=user)

    old, new = renewals_of(sub)
    assert old.status == InvoiceStatus.CANCELLED
    assert (new.status, new.period_start) == (InvoiceStatus.PENDING, MAY_1)
    assert line_items(new) == [(LineType.SUBSCRIPTION, sub.pk, D("10.00"))]


def test_cancelling_an_addon_not_on_the_renewal_leaves_the_invoices_alone():
    user = buyer()
    sub = activated(user, monthly_plan(), when=APRIL_1, addons=[monthly_addon()])
    item = AddOnSubscription.objects.get(subscription=sub)

    with time_machine.travel(APRIL_1 + 5 * DAY, tick=False):
        addon_subscription_cancel(addon_subscription_id=item.pk, actor=user)
    assert renewals_of(sub) == []

    # The renewal issued later no longer bills it.
    assert run_at(renewals_issue_due, MAY_1 - 3 * DAY) == 1
    (renewal,) = renewals_of(sub)
    assert line_items(renewal) == [(LineType.SUBSCRIPTION, sub.pk, D("10.00"))]


def test_another_addon_stays_on_the_reissued_renewal():
    user = buyer()
    sub = activated(
        user, monthly_plan(), when=APRIL_1, addons=[monthly_addon(), monthly_addon("Support")]
    )
    storage = AddOnSubscription.objects.get(subscription=sub, addon__name="Storage")
    support = AddOnSubscription.objects.get(subscription=sub, addon__name="Support")
    assert run_at(renewals_issue_due, MAY_1 - 3 * DAY) == 1

    with time_machine.travel(MAY_1 - 2 * DAY, tick=False):
        addon_subscription_cancel(addon_subscription_id=storage.pk, actor=user)

    _old, new = renewals_of(sub)
    assert line_items(new) == [
        (LineType.SUBSCRIPTION, sub.pk, D("10.00")),
        (LineType.ADD_ON, support.pk, D("5.00")),
    ]
