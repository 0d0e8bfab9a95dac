"""Every verb locks the open invoices before the subscription (the order capture locks in): the
plan-change verbs, the pause, the add-on cancellation and the expire job, and an upgrade racing
the payment of the renewal never deadlocks."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from billing.invoices.models import Invoice, InvoiceStatus
from billing.invoices.services import invoice_mark_paid
from billing.invoices.tests.factories import buyer
from billing.subscriptions.models import (
    AddOnSubscription,
    Subscription,
)
from billing.subscriptions.services import (
    addon_subscription_cancel,
    renewal_invoice_issue,
    subscription_cancel_downgrade,
    subscription_downgrade,
    subscription_pause,
    subscription_upgrade,
    subscriptions_expire,
    subscriptions_mark_past_due,
)
from billing.subscriptions.tests.factories import SubscriptionFactory
from billing.subscriptions.tests.open_invoices import (
    DAY,
    MAY_1,
    A,
    S,
    monthly_plan,
    with_addon_and_renewal,
)
from billing.subscriptions.tests.test_renewal import run_at
from tests.support.race import run_together
from vbwd.exceptions import InvalidTransition

pytestmark = pytest.mark.django_db


# --- lock order: invoices before the subscription ------------------------------------------


def test_expire_still_voids_the_open_invoices_and_expires_the_addons():
    _user, sub, item, renewal = with_addon_and_renewal()
    assert run_at(subscriptions_mark_past_due, MAY_1) == 1

    assert run_at(subscriptions_expire, MAY_1 + 7 * DAY, batch_size=1) == 1
    assert run_at(subscriptions_expire, MAY_1 + 8 * DAY) == 0

    sub.refresh_from_db()
    item.refresh_from_db()
    renewal.refresh_from_db()
    assert (sub.status, item.status) == (S.EXPIRED, A.EXPIRED)
    assert renewal.status == InvoiceStatus.CANCELLED


def lock_order(call) -> list[str]:
    """The tables of the rows ``call`` locks, in the order it first locks them."""
    tables = {
        Invoice._meta.db_table: "invoice",
        Subscription._meta.db_table: "subscription",
        AddOnSubscription._meta.db_table: "addon",
    }
    with CaptureQueriesContext(connection) as captured:
        call()
    order: list[str] = []
    for query in captured.captured_queries:
        sql = query["sql"]
        if "FOR UPDATE" not in sql:
            continue
        source = sql.split(" FROM ", 1)[1].split()[0].strip('"')
        name = tables.get(source)
        if name is not None and name not in order:
            order.append(name)
    return order


@pytest.mark.postgres
def test_plan_change_verbs_and_the_expire_job_lock_invoices_before_the_subscription():
    user, sub, item, _renewal = with_addon_and_renewal()
    lite = monthly_plan("Lite", "5.00")
    with time_machine.travel(MAY_1 - 2 * DAY, tick=False):
        assert lock_order(
            lambda: subscription_downgrade(subscription_id=sub.pk, actor=user, plan_id=lite.pk)
        )[:2] == ["invoice", "subscription"]
        assert lock_order(
            lambda: subscription_cancel_downgrade(subscription_id=sub.pk, actor=user)
        )[:2] == ["invoice", "subscription"]
        assert lock_order(
            lambda: subscription_upgrade(
                subscription_id=sub.pk, actor=user, plan_id=monthly_plan("Pro", "30.00").pk
            )
        )[:2] == ["invoice", "subscription"]
        assert lock_order(lambda: subscription_pause(subscription_id=sub.pk, actor=user))[:2] == [
            "invoice",
            "subscription",
        ]
        assert lock_order(
            lambda: addon_subscription_cancel(addon_subscription_id=item.pk, actor=user)
        ) == ["invoice", "subscription", "addon"]

    _other, past_due, _item, _renewal = with_addon_and_renewal()
    assert run_at(subscriptions_mark_past_due, MAY_1) == 1
    with time_machine.travel(MAY_1 + 7 * DAY, tick=False):
        assert lock_order(subscriptions_expire)[:2] == ["invoice", "subscription"]
    past_due.refresh_from_db()
    assert past_due.status == S.EXPIRED


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_upgrade_racing_the_payment_of_the_renewal_never_deadlocks():
    pro, lite = monthly_plan("Pro", "30.00"), monthly_plan("Lite", "5.00")
    now = datetime.datetime.now(datetime.UTC)
    for _round in range(5):
        user = buyer()
        sub = SubscriptionFactory(
            user=user,
            plan=monthly_plan(),
            started_at=now - 28 * DAY,
            current_period_start=now - 28 * DAY,
            expires_at=now + 2 * DAY,
            anchor_day=(now - 28 * DAY).day,
        )
        # A downgrade scheduled with its renewal issued: the upgrade voids that renewal.
        subscription_downgrade(subscription_id=sub.pk, actor=user, plan_id=lite.pk)
        renewal = renewal_invoice_issue(subscription_id=sub.pk)
        assert renewal.tarif_plan_id == lite.pk

        upgraded, paid = run_together(
            [
                lambda sub=sub, user=user: subscription_upgrade(
                    subscription_id=sub.pk, actor=user, plan_id=pro.pk
                ),
                lambda renewal=renewal: invoice_mark_paid(
                    invoice_id=renewal.pk, actor=None, payment_reference="T"
                ),
            ]
        )

        assert not isinstance(upgraded, DatabaseError), upgraded
        assert not isinstance(paid, DatabaseError), paid
        assert not isinstance(upgraded, Exception), upgraded
        renewal.refresh_from_db()
        sub.refresh_from_db()
        if renewal.status == InvoiceStatus.PAID:
            # Paid first: the downgrade took effect with the new period, then the upgrade was
            # invoiced from it.
            assert not isinstance(paid, Exception), paid
            assert (sub.plan_id, sub.current_period_start) == (lite.pk, renewal.period_start)
        else:
            # Upgraded first: the renewal for the downgrade was voided and could not be paid.
            assert renewal.status == InvoiceStatus.CANCELLED
            assert isinstance(paid, InvalidTransition)
            assert sub.pending_plan_id is None
        assert upgraded.invoice.status == InvoiceStatus.PENDING
