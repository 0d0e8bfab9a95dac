"""Lifecycle verbs racing each other and a capture (row locks only PostgreSQL enforces)."""

from __future__ import annotations

import pytest

from billing.catalog.tests.factories import CategoryFactory, PlanFactory
from billing.invoices.models import InvoiceStatus, InvoiceType
from billing.invoices.services import invoice_mark_paid
from billing.invoices.tests.factories import buyer, issue_invoice, subscription_draft
from billing.subscriptions.models import Subscription, SubscriptionStatus
from billing.subscriptions.services import subscription_cancel, subscription_reactivate
from billing.subscriptions.tests.factories import SubscriptionFactory
from tests.support.race import run_together
from vbwd.exceptions import BusinessRuleError

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

S = SubscriptionStatus


def test_two_reactivations_in_one_exclusive_category_let_one_win():
    category = CategoryFactory(name="Main", is_single=True)
    first_plan, second_plan = PlanFactory(), PlanFactory()
    category.plans.add(first_plan, second_plan)
    user = buyer()
    first = SubscriptionFactory(user=user, plan=first_plan, cancelled=True)
    second = SubscriptionFactory(user=user, plan=second_plan, cancelled=True)

    results = run_together(
        [
            lambda: subscription_reactivate(subscription_id=first.pk, actor=user),
            lambda: subscription_reactivate(subscription_id=second.pk, actor=user),
        ]
    )

    refusals = [row for row in results if isinstance(row, BusinessRuleError)]
    assert len(refusals) == 1
    assert refusals[0].code == "exclusive_category"
    statuses = sorted(Subscription.objects.filter(user=user).values_list("status", flat=True))
    assert statuses == [S.ACTIVE, S.CANCELLED]


def test_cancel_racing_the_payment_of_the_renewal_ends_consistently():
    user = buyer()
    subscription = SubscriptionFactory(user=user)
    renewal = issue_invoice(
        user,
        [subscription_draft(subscription)],
        invoice_type=InvoiceType.RENEWAL,
        period_start=subscription.expires_at,
    )

    results = run_together(
        [
            lambda: subscription_cancel(subscription_id=subscription.pk, actor=user),
            lambda: invoice_mark_paid(invoice_id=renewal.pk, actor=None, payment_reference="T"),
        ]
    )

    assert not isinstance(results[0], Exception), results[0]
    renewal.refresh_from_db()
    subscription.refresh_from_db()
    assert subscription.status == S.CANCELLED
    if renewal.status == InvoiceStatus.PAID:
        # Paid first: the period was renewed, then the cancellation kept access to its end.
        assert not isinstance(results[1], Exception)
        assert subscription.expires_at > renewal.period_start
    else:
        # Cancelled first: the renewal was voided and could not be paid any more.
        assert renewal.status == InvoiceStatus.CANCELLED
        assert isinstance(results[1], Exception)
