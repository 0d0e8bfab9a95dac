"""Add-on subscription verbs: cancel by the customer or staff, staff grants."""

from __future__ import annotations

import datetime

import pytest
import time_machine

from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import AddOnFactory, PlanFactory
from billing.invoices.models import InvoiceStatus, LineType
from billing.invoices.services import LineDraft, invoice_mark_paid
from billing.invoices.tests.factories import (
    addon_draft,
    addon_subscription,
    bundle_draft,
    bundle_purchase,
    buyer,
    custom_draft,
    issue_invoice,
)
from billing.subscriptions.models import AddOnSubscription, AddOnSubscriptionStatus
from billing.subscriptions.services import addon_subscription_cancel, addon_subscription_grant
from billing.subscriptions.tests.factories import AddOnSubscriptionFactory, SubscriptionFactory
from vbwd.exceptions import BusinessRuleError, InvalidTransition, NotFound, ValidationFailed

pytestmark = pytest.mark.django_db

A = AddOnSubscriptionStatus
T0 = datetime.datetime(2026, 1, 31, 9, 0, tzinfo=datetime.UTC)
DAY = datetime.timedelta(days=1)


def pending_on_invoice(user, *extra_drafts, addon=None):
    """A PENDING add-on subscription on an issued invoice with ``extra_drafts``."""
    item = addon_subscription(user, addon or AddOnFactory())
    invoice = issue_invoice(user, [addon_draft(item), *extra_drafts])
    AddOnSubscription.objects.filter(pk=item.pk).update(invoice=invoice)
    item.refresh_from_db()
    return item, invoice


def audit_actions(item) -> list[str]:
    return list(
        AuditEntry.objects.filter(object_type="addon_subscription", object_id=str(item.pk))
        .order_by("created_at")
        .values_list("action", flat=True)
    )


# --- cancel -------------------------------------------------------------------------------------


def test_cancel_an_active_addon_keeps_access_until_its_end():
    with time_machine.travel(T0, tick=False):
        item = AddOnSubscriptionFactory()
        result = addon_subscription_cancel(addon_subscription_id=item.pk, actor=item.user)

    item.refresh_from_db()
    assert result.status == item.status == A.CANCELLED
    assert item.cancelled_at == T0
    assert item.expires_at == T0 + 30 * DAY
    assert item.is_valid_at(T0 + 29 * DAY) is True
    assert item.is_valid_at(T0 + 30 * DAY) is False
    assert audit_actions(item) == ["addon_subscription.cancelled"]


def test_staff_immediate_cancel_ends_access_now(admin_user):
    with time_machine.travel(T0, tick=False):
        item = AddOnSubscriptionFactory()
        addon_subscription_cancel(
            addon_subscription_id=item.pk, actor=admin_user, immediate=True, reason="Abuse"
        )

    item.refresh_from_db()
    assert (item.status, item.expires_at) == (A.CANCELLED, T0)
    entry = AuditEntry.objects.get(object_id=str(item.pk))
    assert (entry.actor_type, entry.reason) == ("STAFF", "Abuse")


def test_cancel_a_one_time_addon_ends_access_now():
    with time_machine.travel(T0, tick=False):
        item = AddOnSubscriptionFactory(
            addon=AddOnFactory(billing_period=BillingPeriod.ONE_TIME), expires_at=None
        )
        addon_subscription_cancel(addon_subscription_id=item.pk, actor=None)

    item.refresh_from_db()
    assert (item.status, item.expires_at) == (A.CANCELLED, T0)


def test_cancel_a_pending_addon_alone_on_its_invoice_voids_the_invoice():
    user = buyer()
    item, invoice = pending_on_invoice(user)

    addon_subscription_cancel(addon_subscription_id=item.pk, actor=user)

    item.refresh_from_db()
    invoice.refresh_from_db()
    assert item.status == A.CANCELLED
    assert invoice.status == InvoiceStatus.CANCELLED


def test_a_fee_line_does_not_count_as_another_item():
    user = buyer()
    fee = LineDraft(
        type=LineType.FEE, description="Fee", unit_price=custom_draft("1.00").unit_price
    )
    item, invoice = pending_on_invoice(user, fee)

    addon_subscription_cancel(addon_subscription_id=item.pk, actor=user)

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED


@pytest.mark.parametrize("other", ["bundle", "addon", "custom"])
def test_a_pending_addon_sharing_its_invoice_cannot_be_cancelled_separately(other):
    user = buyer()
    if other == "bundle":
        draft = bundle_draft(bundle_purchase(user))
    elif other == "addon":
        draft = addon_draft(addon_subscription(user, AddOnFactory()))
    else:
        draft = custom_draft()
    item, invoice = pending_on_invoice(user, draft)

    with pytest.raises(BusinessRuleError) as raised:
        addon_subscription_cancel(addon_subscription_id=item.pk, actor=user)

    assert raised.value.code == "business_rule"
    assert raised.value.message == (
        "This add-on is part of an unpaid invoice with other items and cannot be cancelled "
        "separately"
    )
    item.refresh_from_db()
    invoice.refresh_from_db()
    assert (item.status, invoice.status) == (A.PENDING, InvoiceStatus.PENDING)


def test_a_pending_addon_without_an_open_invoice_is_cancelled_on_its_own():
    item = AddOnSubscriptionFactory(pending=True)

    addon_subscription_cancel(addon_subscription_id=item.pk, actor=None)

    assert AddOnSubscription.objects.get(pk=item.pk).status == A.CANCELLED


@pytest.mark.parametrize("state", ["cancelled", "expired"])
def test_cancelled_and_expired_addons_cannot_be_cancelled(state):
    if state == "cancelled":
        item = AddOnSubscriptionFactory(cancelled=True)
    else:
        item = AddOnSubscriptionFactory(status=A.EXPIRED)

    with pytest.raises(InvalidTransition) as raised:
        addon_subscription_cancel(addon_subscription_id=item.pk, actor=None)

    assert raised.value.message == "Add-on subscription cannot be cancelled"
    assert audit_actions(item) == []


def test_cancel_of_a_paid_addon_after_capture_is_an_active_cancel():
    user = buyer()
    item, invoice = pending_on_invoice(user)
    invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="T-1")

    addon_subscription_cancel(addon_subscription_id=item.pk, actor=user)

    item.refresh_from_db()
    invoice.refresh_from_db()
    assert item.status == A.CANCELLED
    assert item.expires_at > item.cancelled_at
    assert invoice.status == InvoiceStatus.PAID


def test_unknown_addon_subscription_is_not_found():
    with pytest.raises(NotFound) as raised:
        addon_subscription_cancel(
            addon_subscription_id="00000000-0000-0000-0000-000000000000", actor=None
        )
    assert raised.value.message == "Add-on subscription not found"


# --- grant --------------------------------------------------------------------------------------


def test_grant_an_open_addon_for_one_period(admin_user):
    user = buyer()
    addon = AddOnFactory(billing_period=BillingPeriod.MONTHLY)
    with time_machine.travel(T0, tick=False):
        item = addon_subscription_grant(
            user=user, addon_id=str(addon.pk), actor=admin_user, reason="Gift"
        )

    assert item.status == A.ACTIVE
    assert (item.starts_at, item.expires_at) == (
        T0,
        datetime.datetime(2026, 2, 28, 9, 0, tzinfo=datetime.UTC),
    )
    assert (item.subscription_id, item.invoice_id) == (None, None)
    entry = AuditEntry.objects.get(object_id=str(item.pk))
    assert (entry.action, entry.actor_type, entry.reason) == (
        "addon_subscription.granted",
        "STAFF",
        "Gift",
    )


def test_grant_with_an_explicit_end_and_a_one_time_addon(admin_user):
    user = buyer()
    with time_machine.travel(T0, tick=False):
        until = addon_subscription_grant(
            user=user, addon_id=AddOnFactory().pk, actor=admin_user, expires_at=T0 + 3 * DAY
        )
        forever = addon_subscription_grant(
            user=user,
            addon_id=AddOnFactory(billing_period=BillingPeriod.ONE_TIME).pk,
            actor=admin_user,
        )

    assert until.expires_at == T0 + 3 * DAY
    assert forever.expires_at is None
    assert forever.is_valid is True


def test_a_bound_addon_is_attached_to_the_users_valid_subscription(admin_user):
    plan = PlanFactory()
    addon = AddOnFactory()
    addon.plans.add(plan)
    subscription = SubscriptionFactory(plan=plan)

    item = addon_subscription_grant(user=subscription.user, addon_id=addon.pk, actor=admin_user)

    assert item.subscription_id == subscription.pk


def test_a_bound_addon_needs_a_subscription_to_one_of_its_plans(admin_user):
    plan = PlanFactory()
    addon = AddOnFactory(name="Extra readings")
    addon.plans.add(plan)
    other = SubscriptionFactory()  # another plan
    SubscriptionFactory(user=other.user, plan=plan, expired=True)

    for subscription_id in (None, other.pk):
        with pytest.raises(BusinessRuleError) as raised:
            addon_subscription_grant(
                user=other.user,
                addon_id=addon.pk,
                actor=admin_user,
                subscription_id=subscription_id,
            )
        assert raised.value.message == (
            "Add-on Extra readings requires a subscription to one of its plans"
        )
    assert not AddOnSubscription.objects.exists()


def test_grant_to_a_named_subscription(admin_user):
    plan = PlanFactory()
    addon = AddOnFactory()
    addon.plans.add(plan)
    subscription = SubscriptionFactory(plan=plan)
    SubscriptionFactory(user=subscription.user, plan=plan)  # newer, not chosen

    item = addon_subscription_grant(
        user=subscription.user,
        addon_id=addon.pk,
        actor=admin_user,
        subscription_id=str(subscription.pk),
    )

    assert item.subscription_id == subscription.pk


@pytest.mark.parametrize(
    ("case", "error", "code", "message"),
    [
        ("missing", ValidationFailed, "validation_error", "addon_id is required"),
        ("unknown", ValidationFailed, "validation_error", "Add-on not found"),
        ("inactive", BusinessRuleError, "item_unavailable", "Add-on Old is not active"),
        ("foreign", ValidationFailed, "validation_error", "Subscription not found"),
        ("past", ValidationFailed, "validation_error", "expires_at must be in the future"),
    ],
)
def test_grant_refusals(admin_user, case, error, code, message):
    user = buyer()
    addon_id = AddOnFactory().pk
    kwargs = {}
    if case == "missing":
        addon_id = None
    elif case == "unknown":
        addon_id = "00000000-0000-0000-0000-000000000000"
    elif case == "inactive":
        addon_id = AddOnFactory(name="Old", is_active=False).pk
    elif case == "foreign":
        kwargs["subscription_id"] = SubscriptionFactory().pk
    else:
        kwargs["expires_at"] = datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC)

    with pytest.raises(error) as raised:
        addon_subscription_grant(user=user, addon_id=addon_id, actor=admin_user, **kwargs)

    assert (raised.value.code, raised.value.message) == (code, message)
    assert not AddOnSubscription.objects.filter(user=user).exists()
