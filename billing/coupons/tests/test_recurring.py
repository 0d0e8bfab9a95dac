"""Recurring discounts: renewals carry the DISCOUNT lines while periods remain, the discount ends
at zero, and the subscription shows it."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine

from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import PlanFactory
from billing.checkout.services import checkout_create
from billing.coupons.models import CouponDuration
from billing.coupons.tests.factories import summer25
from billing.invoices.models import Invoice, InvoiceType
from billing.invoices.services import invoice_mark_paid
from billing.invoices.tests.factories import buyer, de_vat
from billing.subscriptions.models import Subscription
from billing.subscriptions.serializers import subscription_data
from billing.subscriptions.services import renewals_issue_due

pytestmark = pytest.mark.django_db
D = Decimal
UTC = datetime.UTC


def _renew_and_pay(when) -> Invoice:
    with time_machine.travel(when, tick=False):
        assert renewals_issue_due() == 1
        invoice = Invoice.objects.filter(invoice_type=InvoiceType.RENEWAL).latest("invoiced_at")
        invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference=f"R-{when:%m}")
    return invoice


def _amounts(invoice) -> list:
    return [(line.type, line.amount, line.tax_amount) for line in invoice.lines.all()]


def test_repeating_coupon_discounts_the_first_two_renewals_and_not_the_third():
    de_vat()
    customer = buyer()
    plan = PlanFactory(name="Pro", price=D("29.99"), billing_period=BillingPeriod.MONTHLY)
    summer25()
    start = datetime.datetime(2026, 1, 10, 12, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        checkout = checkout_create(user=customer, plan_id=plan.pk, coupon_code="SUMMER25")
        invoice_mark_paid(invoice_id=checkout.invoice.pk, actor=None, payment_reference="C-1")
    assert checkout.invoice.total_amount == D("26.76")

    discounted = [("SUBSCRIPTION", D("29.99"), D("5.70")), ("DISCOUNT", D("-7.50"), D("-1.43"))]
    first = _renew_and_pay(datetime.datetime(2026, 2, 9, 12, tzinfo=UTC))
    assert _amounts(first) == discounted
    assert first.total_amount == D("26.76")
    assert Subscription.objects.get().discount_periods_remaining == 1

    second = _renew_and_pay(datetime.datetime(2026, 3, 9, 12, tzinfo=UTC))
    assert _amounts(second) == discounted
    subscription = Subscription.objects.get()
    assert subscription.discount_coupon_id is None
    assert subscription_data(subscription)["discount"] is None
    assert AuditEntry.objects.filter(action="subscription.discount_ended").count() == 1

    third = _renew_and_pay(datetime.datetime(2026, 4, 9, 12, tzinfo=UTC))
    assert _amounts(third) == [("SUBSCRIPTION", D("29.99"), D("5.70"))]
    assert third.total_amount == D("35.69")


def test_forever_coupon_keeps_discounting_and_the_subscription_shows_it():
    customer = buyer()
    plan = PlanFactory(name="Basic", price=D("9.99"), billing_period=BillingPeriod.MONTHLY)
    summer25(code="ALWAYS", duration=CouponDuration.FOREVER, duration_periods=None)
    start = datetime.datetime(2026, 1, 10, 12, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        checkout = checkout_create(user=customer, plan_id=plan.pk, coupon_code="ALWAYS")
        invoice_mark_paid(invoice_id=checkout.invoice.pk, actor=None, payment_reference="C-1")

    for month in (2, 3, 4):
        renewal = _renew_and_pay(datetime.datetime(2026, month, 9, 12, tzinfo=UTC))
        assert [line.amount for line in renewal.lines.all()] == [D("9.99"), D("-2.50")]

    data = subscription_data(Subscription.objects.get())
    assert data["discount"]["coupon"]["code"] == "ALWAYS"
    assert data["discount"]["periods_remaining"] is None
    assert data["discount"]["coupon"]["percent_off"] == "25.00"


def test_a_scheduled_downgrade_keeps_the_discount_only_when_the_new_plan_is_covered():
    from billing.coupons.tests.factories import CouponFactory
    from billing.subscriptions.services.plan_change import subscription_downgrade

    customers = [buyer(), buyer()]
    pro = PlanFactory(name="Pro", price=D("29.99"), billing_period=BillingPeriod.MONTHLY)
    basic = PlanFactory(name="Basic", price=D("9.99"), billing_period=BillingPeriod.MONTHLY)
    starter = PlanFactory(name="Starter", price=D("4.99"), billing_period=BillingPeriod.MONTHLY)
    CouponFactory(
        code="LOYAL",
        duration=CouponDuration.FOREVER,
        plan_ids=[str(pro.pk), str(basic.pk)],
        once_per_customer=False,
    )
    start = datetime.datetime(2026, 1, 10, 12, tzinfo=UTC)
    subscriptions = []
    for customer, target in zip(customers, (basic, starter), strict=True):
        with time_machine.travel(start, tick=False):
            checkout = checkout_create(user=customer, plan_id=pro.pk, coupon_code="LOYAL")
            invoice_mark_paid(invoice_id=checkout.invoice.pk, actor=None, payment_reference="C")
            subscription_downgrade(
                subscription_id=checkout.subscription.pk, actor=customer, plan_id=str(target.pk)
            )
        subscriptions.append(checkout.subscription.pk)

    with time_machine.travel(datetime.datetime(2026, 2, 9, 12, tzinfo=UTC), tick=False):
        assert renewals_issue_due() == 2

    covered, uncovered = (
        Invoice.objects.get(invoice_type=InvoiceType.RENEWAL, subscription_id=pk)
        for pk in subscriptions
    )
    assert [line.amount for line in covered.lines.all()] == [D("9.99"), D("-2.50")]
    assert [line.amount for line in uncovered.lines.all()] == [D("4.99")]
    assert Subscription.objects.get(pk=subscriptions[0]).discount_coupon_id is not None
    assert Subscription.objects.get(pk=subscriptions[1]).discount_coupon_id is None
