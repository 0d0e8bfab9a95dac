"""A discounted invoice refunded, printed and upgraded from: what was charged is what counts."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine

from accounts.tests.factories import AdminFactory
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import PlanFactory
from billing.checkout.services import checkout_create
from billing.coupons.models import CouponDuration, CouponRedemption, RedemptionStatus
from billing.coupons.tests.factories import CouponFactory, summer25
from billing.invoices.einvoice.model import einvoice_model
from billing.invoices.models import InvoiceStatus
from billing.invoices.pdf import invoice_pdf_context
from billing.invoices.services import invoice_mark_paid, invoice_refund
from billing.invoices.tests.factories import buyer, de_vat
from billing.subscriptions.models import Subscription
from billing.subscriptions.services.plan_change import subscription_upgrade
from billing.subscriptions.services.proration import proration_preview

pytestmark = pytest.mark.django_db
D = Decimal
UTC = datetime.UTC


def _paid_pro_with_summer25():
    de_vat()
    customer = buyer()
    plan = PlanFactory(name="Pro", price=D("29.99"), billing_period=BillingPeriod.MONTHLY)
    summer25()
    invoice = checkout_create(user=customer, plan_id=plan.pk, coupon_code="SUMMER25").invoice
    return invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="T-1").invoice


def test_a_full_refund_credits_the_discounted_amounts():
    invoice = _paid_pro_with_summer25()

    outcome = invoice_refund(invoice_id=invoice.pk, actor=AdminFactory())

    note = outcome.credit_note
    assert (note.net_amount, note.tax_amount, note.amount) == (D("22.49"), D("4.27"), D("26.76"))
    assert outcome.invoice.status == InvoiceStatus.REFUNDED
    # The coupon was used: its redemption stays applied.
    assert CouponRedemption.objects.get().status == RedemptionStatus.APPLIED
    # The structured credit note reverses the lines as invoiced, the discount included.
    model = einvoice_model(note)
    assert [(line.net_amount, line.tax_rate) for line in model.lines] == [(D("22.49"), D("19.00"))]


def test_a_partial_refund_splits_tax_in_the_proportion_of_the_discounted_invoice():
    invoice = _paid_pro_with_summer25()

    note = invoice_refund(invoice_id=invoice.pk, actor=AdminFactory(), amount=D("10.00"))
    note = note.credit_note

    # 10.00 × 4.27 ÷ 26.76 = 1.5956… → 1.60
    assert (note.net_amount, note.tax_amount) == (D("8.40"), D("1.60"))


def test_the_invoice_pdf_and_e_invoice_show_the_discount_line():
    invoice = _paid_pro_with_summer25()

    context = invoice_pdf_context(invoice)

    assert [(line["description"], line["net"], line["tax"]) for line in context["lines"]] == [
        ("Pro (monthly)", "29.99", "5.70"),
        ("Discount SUMMER25 (25 %) on Pro (monthly)", "-7.50", "-1.43"),
    ]
    assert (context["subtotal"], context["tax_total"], context["total"]) == (
        "22.49",
        "4.27",
        "26.76",
    )
    lines = einvoice_model(invoice).lines
    assert [(line.quantity, line.net_price, line.net_amount) for line in lines] == [
        (D("1"), D("29.99"), D("29.99")),
        (D("-1"), D("7.50"), D("-7.50")),
    ]


def test_an_upgrade_from_a_discounted_basic_credits_the_discounted_net():
    customer = buyer()
    basic = PlanFactory(name="Basic", price=D("9.99"), billing_period=BillingPeriod.MONTHLY)
    pro = PlanFactory(name="Pro", price=D("29.99"), billing_period=BillingPeriod.MONTHLY)
    CouponFactory(code="BASIC25", plan_ids=[str(basic.pk)], duration=CouponDuration.FOREVER)
    with time_machine.travel(datetime.datetime(2026, 1, 1, tzinfo=UTC), tick=False):
        invoice = checkout_create(user=customer, plan_id=basic.pk, coupon_code="BASIC25").invoice
        invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="T-1")
    assert invoice.subtotal == D("7.49")
    subscription = Subscription.objects.get()

    # Half of the 31-day period is left.
    with time_machine.travel(datetime.datetime(2026, 1, 16, 12, tzinfo=UTC), tick=False):
        preview = proration_preview(subscription=subscription, new_plan_id=pro.pk)
        result = subscription_upgrade(
            subscription_id=subscription.pk, actor=customer, plan_id=str(pro.pk)
        )

    # 7.49 × ½ = 3.745 → 3.75, not 9.99 × ½ = 5.00; the coupon does not cover Pro.
    assert preview.credit == D("3.75")
    assert [(line.type, line.amount) for line in result.invoice.lines.all()] == [
        ("SUBSCRIPTION", D("29.99")),
        ("PRORATION", D("-3.75")),
    ]


def test_an_upgrade_discounts_the_new_plan_when_the_discount_covers_it():
    customer = buyer()
    basic = PlanFactory(name="Basic", price=D("9.99"), billing_period=BillingPeriod.MONTHLY)
    pro = PlanFactory(name="Pro", price=D("29.99"), billing_period=BillingPeriod.MONTHLY)
    summer25()
    with time_machine.travel(datetime.datetime(2026, 1, 1, tzinfo=UTC), tick=False):
        invoice = checkout_create(user=customer, plan_id=basic.pk, coupon_code="SUMMER25").invoice
        invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="T-1")
    subscription = Subscription.objects.get()

    with time_machine.travel(datetime.datetime(2026, 1, 16, 12, tzinfo=UTC), tick=False):
        preview = proration_preview(subscription=subscription, new_plan_id=pro.pk)
        result = subscription_upgrade(
            subscription_id=subscription.pk, actor=customer, plan_id=str(pro.pk)
        )

    lines = [(line.type, line.amount) for line in result.invoice.lines.all()]
    assert lines == [
        ("SUBSCRIPTION", D("29.99")),
        ("DISCOUNT", D("-7.50")),
        ("PRORATION", D("-3.75")),
    ]
    assert [(line.type, line.amount) for line in preview.lines] == lines
    assert result.invoice.total_amount == D("18.74")
    # The upgrade started a new discounted period: one of the two left is used.
    assert Subscription.objects.get().discount_periods_remaining == 1
