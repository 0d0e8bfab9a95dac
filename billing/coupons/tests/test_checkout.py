"""Coupons at checkout: the DISCOUNT lines and their tax, the checks and their messages, the
redemption's life with its invoice, and the preview."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod, Currency
from billing.catalog.tests.factories import PlanFactory
from billing.checkout.services import checkout_create, coupon_preview
from billing.coupons.models import CouponRedemption, RedemptionStatus
from billing.coupons.signals import coupon_redeemed
from billing.coupons.tests.factories import CouponFactory, summer25, ten_euros
from billing.invoices.models import Invoice, InvoiceStatus
from billing.invoices.services import invoice_mark_paid, invoice_void
from billing.invoices.tests.factories import buyer, de_vat
from billing.subscriptions.models import Subscription
from tokens.tests.factories import TokenBundleFactory
from vbwd.exceptions import DomainError

pytestmark = pytest.mark.django_db
D = Decimal


def pro(**kwargs):
    kwargs.setdefault("name", "Pro")
    kwargs.setdefault("price", D("29.99"))
    kwargs.setdefault("billing_period", BillingPeriod.MONTHLY)
    return PlanFactory(**kwargs)


def basic(**kwargs):
    kwargs.setdefault("name", "Basic")
    kwargs.setdefault("price", D("9.99"))
    kwargs.setdefault("billing_period", BillingPeriod.MONTHLY)
    return PlanFactory(**kwargs)


def lines_of(invoice):
    return [
        (line.type, line.amount, line.tax_rate, line.tax_amount, line.gross_amount)
        for line in invoice.lines.all()
    ]


def refusal(call) -> tuple[str, str]:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value.code, caught.value.message


def test_percent_coupon_discounts_the_plan_line_and_tax_is_on_the_discounted_base():
    de_vat()
    customer = buyer()
    coupon = summer25()

    result = checkout_create(user=customer, plan_id=pro().pk, coupon_code="summer25")

    invoice = result.invoice
    assert lines_of(invoice) == [
        ("SUBSCRIPTION", D("29.99"), D("19.00"), D("5.70"), D("35.69")),
        ("DISCOUNT", D("-7.50"), D("19.00"), D("-1.43"), D("-8.93")),
    ]
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (
        D("22.49"),
        D("4.27"),
        D("26.76"),
    )
    discount = invoice.lines.all()[1]
    assert discount.description == "Discount SUMMER25 (25 %) on Pro (monthly)"
    assert discount.catalog_item_id == coupon.pk
    assert discount.item_id == result.subscription.pk
    redemption = CouponRedemption.objects.get()
    assert (redemption.status, redemption.invoice_id, redemption.discount) == (
        RedemptionStatus.PENDING,
        invoice.pk,
        D("7.50"),
    )
    subscription = Subscription.objects.get()
    assert subscription.discount_coupon_id == coupon.pk
    assert subscription.discount_periods_remaining == 2
    assert result.coupon == coupon


def test_amount_coupon_is_split_in_proportion_with_the_remainder_on_the_largest_line():
    customer = buyer()
    bundle = TokenBundleFactory(price=D("5.00"))
    ten_euros()

    invoice = checkout_create(
        user=customer, plan_id=basic().pk, token_bundle_ids=[bundle.pk], coupon_code="TENOFF"
    ).invoice

    assert [(line.type, line.amount) for line in invoice.lines.all()] == [
        ("SUBSCRIPTION", D("9.99")),
        ("DISCOUNT", D("-6.66")),
        ("TOKEN_BUNDLE", D("5.00")),
        ("DISCOUNT", D("-3.34")),
    ]
    assert invoice.total_amount == D("4.99")


def test_amount_coupon_never_takes_more_than_the_covered_net():
    customer = buyer()
    ten_euros(amount_off=D("50.00"))

    result = checkout_create(user=customer, plan_id=basic().pk, coupon_code="TENOFF")

    invoice = result.invoice
    assert [(line.type, line.amount) for line in invoice.lines.all()] == [
        ("SUBSCRIPTION", D("9.99")),
        ("DISCOUNT", D("-9.99")),
    ]
    # A zero total is captured at once, and the redemption with it.
    assert invoice.total_amount == D("0.00")
    assert invoice.status == InvoiceStatus.PAID
    assert CouponRedemption.objects.get().status == RedemptionStatus.APPLIED


def test_amount_coupon_in_another_currency_is_refused():
    Currency.objects.filter(code="USD").update(is_active=True)
    customer = buyer()
    ten_euros()

    code, message = refusal(
        lambda: checkout_create(
            user=customer, plan_id=basic().pk, currency="USD", coupon_code="TENOFF"
        )
    )

    assert (code, message) == ("business_rule", "Coupon TENOFF is not valid for USD")
    assert not Invoice.objects.exists()


def test_coupon_covers_only_the_listed_items():
    customer = buyer()
    plan = basic()
    bundle = TokenBundleFactory(price=D("5.00"))
    CouponFactory(code="BUNDLES", token_bundle_ids=[str(bundle.pk)], percent_off=D("10"))

    invoice = checkout_create(
        user=customer, plan_id=plan.pk, token_bundle_ids=[bundle.pk], coupon_code="BUNDLES"
    ).invoice

    assert [(line.type, line.amount) for line in invoice.lines.all()] == [
        ("SUBSCRIPTION", D("9.99")),
        ("TOKEN_BUNDLE", D("5.00")),
        ("DISCOUNT", D("-0.50")),
    ]
    # Not recurring: the subscription keeps no discount.
    assert Subscription.objects.get().discount_coupon_id is None


# --- the checks, in order --------------------------------------------------------------------


def test_unknown_or_inactive_coupon_is_not_found():
    customer = buyer()
    plan = basic()
    CouponFactory(code="OFF", is_active=False)

    for code in ("NOPE", "off"):
        assert refusal(
            lambda code=code: checkout_create(user=customer, plan_id=plan.pk, coupon_code=code)
        ) == ("validation_error", "Coupon not found")
    assert not Invoice.objects.exists()


def test_coupon_outside_its_validity_is_refused():
    customer = buyer()
    plan = basic()
    now = timezone.now()
    CouponFactory(code="LATER", valid_from=now + datetime.timedelta(days=1))
    CouponFactory(code="GONE", valid_until=now - datetime.timedelta(days=1))

    for code in ("LATER", "GONE"):
        assert refusal(
            lambda code=code: checkout_create(user=customer, plan_id=plan.pk, coupon_code=code)
        ) == ("item_unavailable", f"Coupon {code} is not valid now")


def test_coupon_at_its_limit_is_refused_and_a_released_redemption_frees_a_place():
    plan = basic()
    CouponFactory(code="ONE", max_redemptions=1)
    first = checkout_create(user=buyer(), plan_id=plan.pk, coupon_code="ONE").invoice

    second = buyer()
    assert refusal(lambda: checkout_create(user=second, plan_id=plan.pk, coupon_code="ONE")) == (
        "item_unavailable",
        "Coupon ONE has reached its redemption limit",
    )

    invoice_void(invoice_id=first.pk)
    assert CouponRedemption.objects.get().status == RedemptionStatus.RELEASED
    assert AuditEntry.objects.filter(action="coupon.redemption_released").count() == 1
    checkout_create(user=second, plan_id=plan.pk, coupon_code="ONE")


def test_once_per_customer_coupon_is_refused_the_second_time():
    customer = buyer()
    CouponFactory(code="HELLO")
    checkout_create(user=customer, token_bundle_ids=[TokenBundleFactory().pk], coupon_code="HELLO")

    assert refusal(
        lambda: checkout_create(
            user=customer, token_bundle_ids=[TokenBundleFactory().pk], coupon_code="hello"
        )
    ) == ("business_rule", "Coupon HELLO has already been used")


def test_first_purchase_coupon_is_refused_to_a_paying_customer():
    customer = buyer()
    paid = checkout_create(user=customer, token_bundle_ids=[TokenBundleFactory().pk]).invoice
    invoice_mark_paid(invoice_id=paid.pk, actor=None)
    CouponFactory(code="WELCOME", first_purchase_only=True)

    assert refusal(
        lambda: checkout_create(
            user=customer, token_bundle_ids=[TokenBundleFactory().pk], coupon_code="WELCOME"
        )
    ) == ("business_rule", "Coupon WELCOME is only for first purchases")


def test_coupon_that_covers_no_item_is_refused():
    customer = buyer()
    CouponFactory(code="PLANS", plan_ids=[str(pro().pk)])

    assert refusal(
        lambda: checkout_create(user=customer, plan_id=basic().pk, coupon_code="PLANS")
    ) == ("business_rule", "Coupon PLANS does not apply to this order")


def test_coupon_is_checked_after_the_add_ons_and_before_the_payment_method():
    customer = buyer()
    plan = basic()

    # A missing add-on is reported before an unknown coupon …
    assert refusal(
        lambda: checkout_create(
            user=customer,
            plan_id=plan.pk,
            add_on_ids=["00000000-0000-0000-0000-000000000001"],
            coupon_code="NOPE",
        )
    ) == ("validation_error", "Add-on 00000000-0000-0000-0000-000000000001 not found")
    # … and an unknown coupon before an unknown payment method.
    assert refusal(
        lambda: checkout_create(
            user=customer, plan_id=plan.pk, coupon_code="NOPE", payment_method_code="nope"
        )
    ) == ("validation_error", "Coupon not found")


# --- capture, void, preview --------------------------------------------------------------------


def test_paying_the_invoice_applies_the_redemption_and_sends_coupon_redeemed(
    django_capture_on_commit_callbacks,
):
    customer = buyer()
    summer25()
    received = []

    def receiver(sender, **kwargs):
        received.append(kwargs)

    coupon_redeemed.connect(receiver, dispatch_uid="test-coupon-redeemed")
    try:
        invoice = checkout_create(user=customer, plan_id=pro().pk, coupon_code="SUMMER25").invoice
        with django_capture_on_commit_callbacks(execute=True):
            invoice_mark_paid(invoice_id=invoice.pk, actor=None)
    finally:
        coupon_redeemed.disconnect(dispatch_uid="test-coupon-redeemed")

    redemption = CouponRedemption.objects.get()
    assert redemption.status == RedemptionStatus.APPLIED
    assert redemption.applied_at is not None
    assert len(received) == 1
    assert received[0]["redemption"] == redemption
    assert received[0]["invoice"].pk == invoice.pk
    assert AuditEntry.objects.filter(action="coupon.redemption_applied").count() == 1


def test_preview_answers_exactly_the_lines_checkout_writes():
    de_vat()
    customer = buyer()
    bundle = TokenBundleFactory(price=D("5.00"))
    plan = basic()
    ten_euros()

    preview = coupon_preview(
        user=customer, coupon_code="tenoff", plan_id=plan.pk, token_bundle_ids=[bundle.pk]
    )
    assert not CouponRedemption.objects.exists()
    invoice = checkout_create(
        user=customer, plan_id=plan.pk, token_bundle_ids=[bundle.pk], coupon_code="TENOFF"
    ).invoice

    written = [
        {
            "type": line.type,
            "description": line.description,
            "amount": f"{line.amount:.2f}",
            "tax_rate": f"{line.tax_rate:.2f}",
            "tax_amount": f"{line.tax_amount:.2f}",
            "gross_amount": f"{line.gross_amount:.2f}",
        }
        for line in invoice.lines.all()
        if line.type == "DISCOUNT"
    ]
    assert preview["lines"] == written
    assert preview["lines"][0]["amount"] == "-6.66"
    assert preview["lines"][1]["tax_amount"] == "-0.63"
    assert preview["discount"] == "10.00"
    assert preview["currency"] == "EUR"
    assert preview["coupon"]["code"] == "TENOFF"
