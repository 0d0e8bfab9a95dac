"""Concurrent checkouts with one coupon, on PostgreSQL with real row locks: the coupon's limit
and its once-per-customer rule hold however many checkouts run at once."""

from __future__ import annotations

from decimal import Decimal
from functools import partial

import pytest

from billing.checkout.services import checkout_create
from billing.coupons.models import CouponRedemption, RedemptionStatus
from billing.coupons.tests.factories import CouponFactory
from billing.invoices.models import Invoice, InvoiceStatus
from billing.invoices.services import invoice_void
from billing.invoices.tests.factories import buyer
from tests.support.race import run_together
from tokens.tests.factories import TokenBundleFactory
from vbwd.exceptions import DomainError

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _checkout(user, bundle_id, code):
    return checkout_create(user=user, token_bundle_ids=[bundle_id], coupon_code=code)


def test_fifty_concurrent_checkouts_redeem_a_coupon_limited_to_ten_exactly_ten_times():
    bundle = TokenBundleFactory(price=Decimal("5.00"))
    CouponFactory(code="TEN", max_redemptions=10)
    customers = [buyer() for _ in range(50)]

    results = run_together(
        [partial(_checkout, customer, bundle.pk, "TEN") for customer in customers], timeout=120
    )

    succeeded = [result for result in results if not isinstance(result, Exception)]
    refused = [result for result in results if isinstance(result, Exception)]
    assert len(succeeded) == 10
    assert {(type(error), error.message) for error in refused} == {
        (type(refused[0]), "Coupon TEN has reached its redemption limit")
    }
    assert all(isinstance(error, DomainError) for error in refused)
    assert CouponRedemption.objects.filter(status=RedemptionStatus.PENDING).count() == 10
    # The refused checkouts wrote nothing.
    assert Invoice.objects.count() == 10


def test_one_customers_two_concurrent_checkouts_use_a_once_per_customer_coupon_once():
    bundle = TokenBundleFactory(price=Decimal("5.00"))
    CouponFactory(code="ONCE", once_per_customer=True)
    customer = buyer()

    results = run_together([partial(_checkout, customer, bundle.pk, "ONCE")] * 2, timeout=60)

    errors = [result for result in results if isinstance(result, Exception)]
    assert len(errors) == 1
    assert errors[0].message == "Coupon ONCE has already been used"
    assert CouponRedemption.objects.count() == 1
    assert Invoice.objects.count() == 1


def test_voiding_the_invoice_releases_its_redemption_for_someone_else():
    bundle = TokenBundleFactory(price=Decimal("5.00"))
    CouponFactory(code="SOLO", max_redemptions=1)
    invoice = _checkout(buyer(), bundle.pk, "SOLO").invoice

    invoice_void(invoice_id=invoice.pk)

    assert CouponRedemption.objects.get().status == RedemptionStatus.RELEASED
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.CANCELLED
    _checkout(buyer(), bundle.pk, "SOLO")
    assert CouponRedemption.objects.filter(status=RedemptionStatus.PENDING).count() == 1
