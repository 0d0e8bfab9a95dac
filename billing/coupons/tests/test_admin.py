"""The back office for coupons and a subscription's discount: writes go through the services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory
from audit.models import AuditEntry
from billing.checkout.services import checkout_create
from billing.coupons.models import Coupon
from billing.coupons.tests.factories import CouponFactory, summer25
from billing.invoices.tests.factories import buyer
from billing.subscriptions.models import Subscription, SubscriptionStatus
from billing.subscriptions.tests.factories import SubscriptionFactory
from tokens.tests.factories import TokenBundleFactory

pytestmark = pytest.mark.django_db
CHANGELIST = "/admin/coupons/coupon/"
FORM = {
    "code": "autumn5",
    "name": "Autumn",
    "kind": "PERCENT",
    "percent_off": "5",
    "amount_off": "",
    "currency": "",
    "duration": "ONCE",
    "duration_periods": "",
    "once_per_customer": "on",
    "is_active": "on",
    "redemptions-TOTAL_FORMS": "0",
    "redemptions-INITIAL_FORMS": "0",
}


@pytest.fixture
def client() -> Client:
    staff = AdminFactory()
    client = Client()
    assert client.login(username=staff.email, password=DEFAULT_PASSWORD)
    return client


def test_the_list_shows_redemption_counts(client):
    used = CouponFactory(code="USED")
    CouponFactory(code="FRESH")
    checkout_create(user=buyer(), token_bundle_ids=[TokenBundleFactory().pk], coupon_code="USED")

    response = client.get(CHANGELIST)

    assert response.status_code == 200
    page = response.content.decode()
    assert "USED" in page
    assert "FRESH" in page
    assert client.get(f"{CHANGELIST}{used.pk}/change/").status_code == 200
    assert client.get("/admin/coupons/couponredemption/").status_code == 200


def test_adding_a_coupon_goes_through_the_service(client):
    response = client.post(f"{CHANGELIST}add/", FORM)

    assert response.status_code == 302, response.content.decode()[:2000]
    coupon = Coupon.objects.get()
    assert (coupon.code, coupon.percent_off) == ("AUTUMN5", Decimal("5.00"))
    assert AuditEntry.objects.filter(action="coupon.created").count() == 1


def test_the_form_refuses_what_the_api_refuses(client):
    response = client.post(f"{CHANGELIST}add/", {**FORM, "percent_off": "120"})

    assert response.status_code == 200
    assert "percent_off must be above 0 and at most 100" in response.content.decode()
    assert not Coupon.objects.exists()


def test_a_redeemed_coupons_amount_cannot_change_in_the_form(client):
    coupon = CouponFactory(code="FIXED", percent_off=Decimal("5"))
    checkout_create(user=buyer(), token_bundle_ids=[TokenBundleFactory().pk], coupon_code="FIXED")

    response = client.post(
        f"{CHANGELIST}{coupon.pk}/change/", {**FORM, "code": "FIXED", "percent_off": "50"}
    )

    assert response.status_code == 200
    assert "cannot change" in response.content.decode()
    coupon.refresh_from_db()
    assert coupon.percent_off == Decimal("5.00")


def test_the_subscription_page_gives_and_removes_a_discount(client):
    subscription = SubscriptionFactory(status=SubscriptionStatus.ACTIVE)
    summer25()
    base = f"/admin/subscriptions/subscription/{subscription.pk}"

    given = client.post(
        f"{base}/discount/", {"coupon_code": "summer25", "reason": "Loyalty", "confirm": "1"}
    )
    assert given.status_code == 302
    assert Subscription.objects.get().discount_coupon.code == "SUMMER25"
    assert client.get(f"{base}/change/").status_code == 200

    removed = client.post(f"{base}/remove-discount/", {"reason": "Ended", "confirm": "1"})
    assert removed.status_code == 302
    assert Subscription.objects.get().discount_coupon_id is None
    reasons = AuditEntry.objects.filter(action__startswith="subscription.discount_")
    assert sorted(reasons.values_list("reason", flat=True)) == ["Ended", "Loyalty"]
