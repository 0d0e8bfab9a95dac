"""Subscription rules that tie add-ons, pauses, reactivations and plan changes to the open
invoices: a cancelled add-on leaves the renewal already issued, a pause drops an unpaid upgrade,
a reactivation brings back the add-ons cancelled with the subscription, stale plan-change
invoices follow the subscription's current period, and every verb locks the open invoices
before the subscription (the order capture locks in)."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
import time_machine
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext

from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import AddOnFactory, PlanFactory
from billing.invoices.models import Invoice, InvoiceStatus, InvoiceType, LineType
from billing.invoices.services import invoice_mark_paid
from billing.invoices.tests.factories import buyer, issue_invoice, subscription_draft
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services import (
    addon_subscription_cancel,
    addons_expire,
    plan_change_invoices_void_stale,
    renewal_invoice_issue,
    renewals_issue_due,
    subscription_cancel,
    subscription_cancel_downgrade,
    subscription_downgrade,
    subscription_extend,
    subscription_pause,
    subscription_reactivate,
    subscription_resume,
    subscription_staff_activate,
    subscription_upgrade,
    subscriptions_expire,
    subscriptions_mark_past_due,
)
from billing.subscriptions.services import plan_change as plan_change_module
from billing.subscriptions.services.plan_change import MESSAGE_UPGRADE_INVOICED
from billing.subscriptions.tests.factories import AddOnSubscriptionFactory, SubscriptionFactory
from billing.subscriptions.tests.test_renewal import activated, at, pay, renewals_of, run_at
from vbwd.exceptions import InvalidTransition

pytestmark = pytest.mark.django_db

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


# --- 1. a cancelled add-on leaves the renewal already issued ----------------------------------


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


# --- 2. a pause drops an unpaid upgrade -------------------------------------------------------


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


# --- 4. reactivation restores the add-ons cancelled with the subscription ---------------------


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


# --- 5. the bound add-ons move with the end ---------------------------------------------------


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


# --- 6. the upgrade reads the clock after the row lock ----------------------------------------


def test_the_upgrade_is_computed_at_the_time_the_lock_was_obtained(monkeypatch):
    user = buyer()
    pro = monthly_plan("Pro", "30.00")
    sub = activated(user, monthly_plan(), when=APRIL_1)
    original = plan_change_module._locked
    with time_machine.travel(APRIL_1 + 10 * DAY, tick=False) as clock:

        def waits_for_the_lock(subscription_id):
            row = original(subscription_id)
            clock.move_to(APRIL_1 + 20 * DAY)  # another transaction held the row meanwhile
            return row

        monkeypatch.setattr(plan_change_module, "_locked", waits_for_the_lock)
        result = subscription_upgrade(subscription_id=sub.pk, actor=user, plan_id=str(pro.pk))

    assert result.proration.computed_at == APRIL_1 + 20 * DAY
    assert result.proration.remaining_seconds == 10 * 86400
    assert result.invoice.invoiced_at == APRIL_1 + 20 * DAY


# --- 7. stale plan-change invoices follow the current period ----------------------------------


def plan_change_invoice(sub, *, when):
    with time_machine.travel(when, tick=False):
        return issue_invoice(
            sub.user,
            [subscription_draft(sub, unit_price="5.00")],
            invoice_type=InvoiceType.PLAN_CHANGE,
            period_start=sub.current_period_start,
            period_end=sub.expires_at,
        )


def test_a_plan_change_invoice_lives_until_the_end_moved_by_an_extension(admin_user):
    sub = activated(buyer(), monthly_plan(), when=APRIL_1)
    invoice = plan_change_invoice(sub, when=APRIL_1 + 10 * DAY)
    with time_machine.travel(APRIL_1 + 11 * DAY, tick=False):
        subscription_extend(subscription_id=sub.pk, actor=admin_user, days=10)

    assert run_at(plan_change_invoices_void_stale, MAY_1) == 0
    assert (
        run_at(plan_change_invoices_void_stale, MAY_1 + 10 * DAY - datetime.timedelta(seconds=1))
        == 0
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert run_at(plan_change_invoices_void_stale, MAY_1 + 10 * DAY) == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED


def test_a_plan_change_invoice_is_stale_once_the_next_period_has_started():
    sub = activated(buyer(), monthly_plan(), when=APRIL_1)
    invoice = plan_change_invoice(sub, when=APRIL_1 + 10 * DAY)
    assert run_at(renewals_issue_due, MAY_1 - 3 * DAY) == 1
    pay(renewals_of(sub)[0], when=MAY_1 - 2 * DAY)
    sub.refresh_from_db()
    assert (sub.current_period_start, sub.expires_at) == (MAY_1, JUNE_1)

    # The subscription's period has not ended, but it is not the one the invoice priced.
    assert run_at(plan_change_invoices_void_stale, MAY_1 - DAY) == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED


def test_an_invoice_without_a_period_falls_back_to_its_own_period_end():
    sub = activated(buyer(), monthly_plan(), when=APRIL_1)
    with time_machine.travel(APRIL_1 + DAY, tick=False):
        invoice = issue_invoice(
            sub.user,
            [subscription_draft(sub, unit_price="5.00")],
            invoice_type=InvoiceType.PLAN_CHANGE,
            period_end=APRIL_1 + 20 * DAY,
        )
    assert run_at(plan_change_invoices_void_stale, APRIL_1 + 19 * DAY) == 0
    assert run_at(plan_change_invoices_void_stale, APRIL_1 + 20 * DAY) == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED


# --- 3. lock order: invoices before the subscription ------------------------------------------


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


def _race(actions) -> list[object]:
    """Starts every callable at the same instant; returns what each returned or raised."""
    barrier = threading.Barrier(len(actions))
    results: list[object] = [None] * len(actions)

    def run(index, action):
        try:
            barrier.wait()
            try:
                results[index] = action()
            except Exception as error:  # recorded for the assertions
                results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, a)) for i, a in enumerate(actions)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


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

        upgraded, paid = _race(
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
