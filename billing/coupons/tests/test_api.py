"""The coupon routes: checkout with ``coupon_code``, the preview, the staff API and the
subscription discount routes (shapes, messages, query counts, rate limit)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import PlanFactory
from billing.checkout.services import checkout_create
from billing.coupons.models import Coupon, CouponRedemption, RedemptionStatus
from billing.coupons.tests.factories import CouponFactory, summer25, ten_euros
from billing.invoices.tests.factories import buyer, de_vat, set_billing_details
from billing.subscriptions.models import Subscription, SubscriptionStatus
from billing.subscriptions.tests.factories import SubscriptionFactory
from tokens.tests.factories import TokenBundleFactory

pytestmark = pytest.mark.django_db
D = Decimal
CHECKOUT = "/api/v1/user/checkout"
PREVIEW = "/api/v1/coupons/preview"
ADMIN = "/api/v1/admin/coupons"
PUBLIC_KEYS = ["code", "name", "kind", "percent_off", "amount_off", "currency", "duration",
               "duration_periods"]  # fmt: skip
COUPON_KEYS = ["id", *PUBLIC_KEYS, "applies_to", "valid_from", "valid_until", "max_redemptions",
               "redemptions_count", "once_per_customer", "first_purchase_only", "is_active",
               "created_at", "updated_at"]  # fmt: skip


@pytest.fixture
def customer(user):
    set_billing_details(user)
    return user


def pro():
    return PlanFactory(name="Pro", price=D("29.99"), billing_period=BillingPeriod.MONTHLY)


# --- checkout and preview ----------------------------------------------------------------------


def test_checkout_with_a_coupon_answers_the_discount_and_the_coupon(user_client, customer):
    de_vat()
    plan = pro()
    summer25()

    response = user_client.post(
        CHECKOUT, {"plan_id": str(plan.pk), "coupon_code": "summer25"}, format="json"
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert body["discount"] == "7.50"
    assert body["coupon"] == {
        "code": "SUMMER25",
        "name": "Coupon SUMMER25",
        "kind": "PERCENT",
        "percent_off": "25.00",
        "amount_off": None,
        "currency": None,
        "duration": "REPEATING",
        "duration_periods": 3,
    }
    invoice = body["invoice"]
    assert (invoice["subtotal"], invoice["tax_amount"], invoice["total_amount"]) == (
        "22.49",
        "4.27",
        "26.76",
    )
    discount_line = invoice["line_items"][1]
    assert discount_line["type"] == "DISCOUNT"
    assert discount_line["amount"] == "-7.50"
    assert discount_line["item_id"] == body["subscription"]["id"]
    assert body["subscription"]["discount"]["periods_remaining"] == 2
    assert body["subscription"]["discount"]["coupon"]["code"] == "SUMMER25"


def test_checkout_refuses_an_unknown_coupon_with_400_and_writes_nothing(user_client, customer):
    response = user_client.post(
        CHECKOUT, {"plan_id": str(pro().pk), "coupon_code": "NOPE"}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "Coupon not found"
    assert response.json()["code"] == "validation_error"
    assert not Subscription.objects.exists()


def test_checkout_query_count_is_the_same_however_many_lines_a_coupon_discounts(
    user_client, customer, django_assert_num_queries
):
    """With a coupon, checkout runs a fixed number of queries more than without (the coupon,
    its counts, its lock, the redemption and its audit row), whatever the number of lines."""
    de_vat()
    CouponFactory(code="ALL", once_per_customer=False, max_redemptions=100)
    bundle = TokenBundleFactory(price=D("5.00"))

    def count(body) -> int:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        with CaptureQueriesContext(connection) as context:
            response = user_client.post(CHECKOUT, body, format="json")
        assert response.status_code == 201, response.content
        return len(context)

    one = {"token_bundle_ids": [str(bundle.pk)]}
    many = {"token_bundle_ids": [str(bundle.pk)] * 5}
    warm = count(one)  # caches filled
    without_one, without_many = count(one), count(many)
    with_one = count({**one, "coupon_code": "ALL"})
    with_many = count({**many, "coupon_code": "ALL"})
    assert warm >= without_one
    assert without_one == without_many
    assert with_one == with_many
    # the coupon read and its redemption count (validation); the coupon row locked and its
    # count again; the redemption inserted (its audit row joins the checkout's one insert).
    assert with_one - without_one == 5


def test_preview_answers_the_discount_lines_and_writes_nothing(user_client, customer):
    de_vat()
    plan = pro()
    summer25()

    response = user_client.get(PREVIEW, {"code": "summer25", "plan_id": str(plan.pk)})

    assert response.status_code == 200, response.content
    assert response.json() == {
        "coupon": {
            "code": "SUMMER25",
            "name": "Coupon SUMMER25",
            "kind": "PERCENT",
            "percent_off": "25.00",
            "amount_off": None,
            "currency": None,
            "duration": "REPEATING",
            "duration_periods": 3,
        },
        "discount": "7.50",
        "currency": "EUR",
        "lines": [
            {
                "type": "DISCOUNT",
                "description": "Discount SUMMER25 (25 %) on Pro (monthly)",
                "amount": "-7.50",
                "tax_rate": "19.00",
                "tax_amount": "-1.43",
                "gross_amount": "-8.93",
            }
        ],
    }
    assert not CouponRedemption.objects.exists()
    assert not Subscription.objects.exists()


def test_preview_takes_comma_separated_ids_and_reports_the_coupon_checks(user_client, customer):
    bundle = TokenBundleFactory(price=D("5.00"))
    ten_euros()

    ok = user_client.get(
        PREVIEW, {"code": "TENOFF", "token_bundle_ids": f"{bundle.pk},{bundle.pk}"}
    )
    usd = user_client.get(
        PREVIEW, {"code": "TENOFF", "token_bundle_ids": str(bundle.pk), "currency": "USD"}
    )
    missing = user_client.get(PREVIEW, {"code": "NOPE", "token_bundle_ids": str(bundle.pk)})

    assert [line["amount"] for line in ok.json()["lines"]] == ["-5.00", "-5.00"]
    assert usd.status_code == 400
    assert usd.json()["error"] in (
        "Coupon TENOFF is not valid for USD",
        "Currency 'USD' is not supported",
    )
    assert (missing.status_code, missing.json()["error"]) == (400, "Coupon not found")


def test_preview_is_limited_to_ten_a_minute_per_user(user_client, customer, settings):
    settings.VBWD_RATE_LIMIT_ENABLED = True
    bundle = TokenBundleFactory()
    query = {"code": "NOPE", "token_bundle_ids": str(bundle.pk)}

    answers = [user_client.get(PREVIEW, query).status_code for _ in range(11)]

    assert answers == [400] * 10 + [429]


# --- staff API -----------------------------------------------------------------------------------


def test_staff_create_list_read_and_count_redemptions(admin_client):
    plan = pro()
    response = admin_client.post(
        ADMIN,
        {
            "code": "spring-10",
            "name": "Spring",
            "kind": "percent",
            "percent_off": "10",
            "duration": "REPEATING",
            "duration_periods": 2,
            "applies_to": {"plan_ids": [str(plan.pk)]},
            "max_redemptions": 100,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["message"] == "Coupon created"
    coupon = body["coupon"]
    assert list(coupon) == COUPON_KEYS
    assert (coupon["code"], coupon["percent_off"], coupon["redemptions_count"]) == (
        "SPRING-10",
        "10.00",
        0,
    )
    assert coupon["applies_to"] == {
        "plan_ids": [str(plan.pk)],
        "add_on_ids": [],
        "token_bundle_ids": [],
    }
    checkout_create(user=buyer(), plan_id=plan.pk, coupon_code="spring-10")

    listed = admin_client.get(ADMIN, {"search": "spring"}).json()
    assert listed["total"] == 1
    assert listed["coupons"][0]["redemptions_count"] == 1
    one = admin_client.get(f"{ADMIN}/{coupon['id']}").json()["coupon"]
    assert one["redemptions_count"] == 1
    redemptions = admin_client.get(f"{ADMIN}/{coupon['id']}/redemptions").json()
    assert redemptions["total"] == 1
    row = redemptions["redemptions"][0]
    assert (row["status"], row["discount"], row["currency"]) == ("PENDING", "3.00", "EUR")
    assert AuditEntry.objects.filter(action="coupon.created").count() == 1


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"code": "a b"}, "code must be 3-40 characters of A-Z, 0-9, - and _"),
        ({"percent_off": "0"}, "percent_off must be above 0 and at most 100"),
        ({"percent_off": "100.01"}, "percent_off must be above 0 and at most 100"),
        (
            {"kind": "AMOUNT", "percent_off": None},
            "amount_off and currency are required for AMOUNT coupons",
        ),
        ({"duration": "REPEATING"}, "duration_periods is required for REPEATING coupons"),
        (
            {"applies_to": {"plan_ids": ["00000000-0000-0000-0000-000000000001"]}},
            "Unknown plan id: 00000000-0000-0000-0000-000000000001",
        ),
    ],
)
def test_staff_create_refusals(admin_client, body, message):
    base = {"code": "GOOD", "name": "Good", "kind": "PERCENT", "percent_off": "5",
            "duration": "ONCE"}  # fmt: skip

    response = admin_client.post(ADMIN, {**base, **body}, format="json")

    assert response.status_code == 400
    assert response.json()["error"] == message
    assert response.json()["code"] == "validation_error"
    assert not Coupon.objects.exists()


def test_staff_create_refuses_a_taken_code_with_409(admin_client):
    CouponFactory(code="TAKEN")
    body = {"code": "taken", "name": "x", "kind": "PERCENT", "percent_off": "5", "duration": "ONCE"}

    response = admin_client.post(ADMIN, body, format="json")

    assert (response.status_code, response.json()["error"]) == (409, "Coupon code already exists")


def test_a_redeemed_coupon_keeps_its_code_kind_and_amounts_but_can_be_renamed(admin_client):
    coupon = CouponFactory(code="USED")
    checkout_create(user=buyer(), token_bundle_ids=[TokenBundleFactory().pk], coupon_code="USED")
    url = f"{ADMIN}/{coupon.pk}"

    refused = admin_client.put(url, {"percent_off": "50"}, format="json")
    renamed = admin_client.put(url, {"name": "Renamed", "max_redemptions": 5}, format="json")

    assert refused.status_code == 400
    assert refused.json() == {
        "error": "A redeemed coupon's code, kind, amounts and currency cannot change",
        "code": "business_rule",
    } | {key: value for key, value in refused.json().items() if key not in ("error", "code")}
    assert renamed.status_code == 200
    assert renamed.json()["message"] == "Coupon updated"
    assert renamed.json()["coupon"]["name"] == "Renamed"


def test_staff_deactivate_activate_and_delete(admin_client):
    coupon = CouponFactory(code="GONE")
    used = CouponFactory(code="KEPT")
    checkout_create(user=buyer(), token_bundle_ids=[TokenBundleFactory().pk], coupon_code="KEPT")

    off = admin_client.post(f"{ADMIN}/{coupon.pk}/deactivate")
    on = admin_client.post(f"{ADMIN}/{coupon.pk}/activate")
    kept = admin_client.delete(f"{ADMIN}/{used.pk}")
    deleted = admin_client.delete(f"{ADMIN}/{coupon.pk}")
    missing = admin_client.get(f"{ADMIN}/{coupon.pk}")

    assert (off.json()["message"], off.json()["coupon"]["is_active"]) == (
        "Coupon deactivated",
        False,
    )
    assert (on.json()["message"], on.json()["coupon"]["is_active"]) == ("Coupon activated", True)
    assert (kept.status_code, kept.json()["error"]) == (
        400,
        "Coupon has redemptions; deactivate it instead",
    )
    assert deleted.json() == {"message": "Coupon deleted"}
    assert (missing.status_code, missing.json()["error"]) == (404, "Coupon not found")


def test_coupon_list_runs_a_constant_number_of_queries(admin_client, django_assert_num_queries):
    for index in range(5):
        CouponFactory(code=f"MANY{index}")
    admin_client.get(ADMIN)

    with django_assert_num_queries(3):  # the staff user, the count, the page
        response = admin_client.get(ADMIN)
    assert response.json()["total"] == 5


# --- subscription discount -----------------------------------------------------------------------


def test_staff_give_and_remove_a_subscription_discount(admin_client):
    plan = pro()
    subscription = SubscriptionFactory(plan=plan, status=SubscriptionStatus.ACTIVE)
    summer25()
    url = f"/api/v1/admin/subscriptions/{subscription.pk}/discount"

    given = admin_client.post(url, {"coupon_code": "summer25"}, format="json")
    removed = admin_client.delete(url)
    again = admin_client.delete(url)

    assert given.status_code == 200, given.content
    assert given.json()["message"] == "Discount applied from the next renewal"
    discount = given.json()["subscription"]["discount"]
    # From the next renewal: all three periods are still ahead.
    assert (discount["coupon"]["code"], discount["periods_remaining"]) == ("SUMMER25", 3)
    assert CouponRedemption.objects.get().status == RedemptionStatus.APPLIED
    assert removed.json()["message"] == "Discount removed"
    assert removed.json()["subscription"]["discount"] is None
    assert (again.status_code, again.json()["error"]) == (400, "Subscription has no discount")
    assert [entry.action for entry in AuditEntry.objects.order_by("created_at")][-2:] == [
        "subscription.discount_applied",
        "subscription.discount_removed",
    ]


def test_a_cancelled_subscription_cannot_be_given_a_discount(admin_client):
    subscription = SubscriptionFactory(status=SubscriptionStatus.CANCELLED)
    summer25()

    response = admin_client.post(
        f"/api/v1/admin/subscriptions/{subscription.pk}/discount",
        {"coupon_code": "SUMMER25"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "invalid_transition"
