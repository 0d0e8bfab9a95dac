"""A pause drops an unpaid upgrade: the open plan-change invoice is voided (an upgrade works
again after resuming), the open renewal stays payable, and a refused pause voids nothing."""

from __future__ import annotations

import pytest
import time_machine

from billing.invoices.models import InvoiceStatus, InvoiceType
from billing.invoices.tests.factories import buyer, issue_invoice, subscription_draft
from billing.subscriptions.services import (
    subscription_pause,
    subscription_resume,
    subscription_upgrade,
)
from billing.subscriptions.services.plan_change import MESSAGE_UPGRADE_INVOICED
from billing.subscriptions.tests.factories import SubscriptionFactory
from billing.subscriptions.tests.open_invoices import (
    APRIL_1,
    DAY,
    MAY_1,
    S,
    monthly_plan,
    voids_of,
    with_addon_and_renewal,
)
from billing.subscriptions.tests.test_renewal import activated, pay
from vbwd.exceptions import InvalidTransition

pytestmark = pytest.mark.django_db


# --- a pause drops an unpaid upgrade -------------------------------------------------------


def test_pause_voids_the_open_plan_change_invoice_and_an_upgrade_works_after_resuming():
    user = buyer()
    basic, pro = monthly_plan(), monthly_plan("Pro", "30.00")
    sub = activated(user, basic, when=APRIL_1)
    with time_machine.travel(APRIL_1 + 10 * DAY, tick=False):
        first = subscription_upgrade(subscription_id=sub.pk, actor=user, plan_id=str(pro.pk))
    assert first.message == MESSAGE_UPGRADE_INVOICED

    with time_machine.travel(APRIL_1 + 12 * DAY, tick=False):
        subscription_pause(subscription_id=sub.pk, actor=user)

    first.invoice.refresh_from_db()
    assert first.invoice.status == InvoiceStatus.CANCELLED
    [void] = voids_of(first.invoice)
    assert void.reason == "Subscription paused"
    with pytest.raises(InvalidTransition):
        pay(first.invoice, when=APRIL_1 + 13 * DAY)
    sub.refresh_from_db()
    assert (sub.status, sub.plan_id) == (S.PAUSED, basic.pk)

    with time_machine.travel(APRIL_1 + 15 * DAY, tick=False):
        subscription_resume(subscription_id=sub.pk, actor=user)
        second = subscription_upgrade(subscription_id=sub.pk, actor=user, plan_id=str(pro.pk))
    pay(second.invoice, when=APRIL_1 + 16 * DAY)
    sub.refresh_from_db()
    assert (sub.status, sub.plan_id, sub.current_period_start) == (
        S.ACTIVE,
        pro.pk,
        APRIL_1 + 16 * DAY,
    )


def test_pause_leaves_the_open_renewal_payable():
    user, sub, _item, renewal = with_addon_and_renewal()

    with time_machine.travel(MAY_1 - 2 * DAY, tick=False):
        subscription_pause(subscription_id=sub.pk, actor=user)

    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.PENDING
    assert voids_of(renewal) == []


def test_a_refused_pause_voids_nothing():
    sub = SubscriptionFactory(user=buyer(), past_due=True)
    invoice = issue_invoice(
        sub.user,
        [subscription_draft(sub, unit_price="5.00")],
        invoice_type=InvoiceType.PLAN_CHANGE,
        period_start=sub.current_period_start,
        period_end=sub.expires_at,
    )

    with pytest.raises(InvalidTransition) as refused:
        subscription_pause(subscription_id=sub.pk, actor=sub.user)

    assert refused.value.message == "Only active subscriptions can be paused"
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert voids_of(invoice) == []
