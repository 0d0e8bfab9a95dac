"""``POST /user/checkout`` over HTTP and the shapes it returns: Subscription,
AddOnSubscription, TokenBundlePurchase, with the Invoice (docs/api/checkout.md)."""

from __future__ import annotations

import datetime
import json
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator
from rest_framework.test import APIClient

from accounts.models import UserStatus
from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import AddOnFactory, CategoryFactory, PlanFactory
from billing.checkout.order import NO_ITEMS
from billing.invoices.models import Invoice, InvoiceStatus
from billing.invoices.serializers import InvoiceSerializer
from billing.invoices.tests.factories import de_vat, issue_invoice, set_billing_details
from billing.subscriptions import selectors
from billing.subscriptions.models import Subscription
from billing.subscriptions.serializers import (
    addon_subscription_data,
    subscription_data,
    subscriptions_data,
)
from billing.subscriptions.tests.factories import AddOnSubscriptionFactory, SubscriptionFactory
from conftest import bearer
from tokens.models import TokenBundlePurchase, TokenTransaction
from tokens.services.ledger import balance_of
from tokens.tests.factories import TokenBundleFactory

pytestmark = pytest.mark.django_db
# The invoice and its lines are one statement on PostgreSQL, two elsewhere.
INVOICE_WRITES = 1 if connection.vendor == "postgresql" else 2

URL = "/api/v1/user/checkout"
D = Decimal
RESPONSE_KEYS = {
    "invoice",
    "subscription",
    "token_bundles",
    "add_ons",
    "discount",
    "coupon",
    "message",
}
SUBSCRIPTION_KEYS = [
    "id", "user_id", "tarif_plan_id", "plan", "pending_plan_id", "pending_plan", "status",
    "is_valid", "is_trialing", "is_recurring", "days_remaining", "started_at",
    "current_period_start", "current_period_end", "expires_at", "trial_end_at", "cancelled_at",
    "paused_at", "grace_until", "payment_method", "open_invoice_id", "discount", "created_at",
    "updated_at",
]  # fmt: skip
PLAN_SUMMARY_KEYS = [
    "id", "name", "slug", "price", "currency", "billing_period", "is_recurring", "categories",
]  # fmt: skip
ADDON_SUBSCRIPTION_KEYS = [
    "id", "user_id", "addon_id", "addon", "subscription_id", "invoice_id", "status", "is_valid",
    "starts_at", "expires_at", "cancelled_at", "created_at", "updated_at",
]  # fmt: skip
ADDON_SUMMARY_KEYS = ["id", "name", "slug", "description", "price", "currency", "billing_period"]
PURCHASE_KEYS = [
    "id", "user_id", "bundle_id", "bundle_name", "invoice_id", "status", "token_amount", "price",
    "currency", "tokens_credited", "completed_at", "created_at",
]  # fmt: skip
INVOICE_REF_KEYS = [
    "id", "invoice_number", "status", "amount", "total_amount", "currency", "created_at",
]  # fmt: skip


def post(client, body=None, **extra):
    data = json.dumps(body) if body is not None else None
    return client.post(URL, data=data, content_type="application/json", **extra)


def iso(value: datetime.datetime | None) -> str | None:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def pro(**kwargs):
    kwargs.setdefault("name", "Pro")
    kwargs.setdefault("slug", "pro")
    kwargs.setdefault("price", D("29.99"))
    kwargs.setdefault("billing_period", BillingPeriod.MONTHLY)
    return PlanFactory(**kwargs)


@pytest.fixture
def customer(user):
    set_billing_details(user)
    return user


# --- authentication, routing ----------------------------------------------------------------------


def test_checkout_needs_an_active_users_token(api_client, user):
    plan = pro()
    response = post(api_client, {"plan_id": str(plan.pk)})
    assert response.status_code == 401
    assert response.json() == {
        "error": "Authorization header is required",
        "code": "not_authenticated",
    }
    client = APIClient()
    client.credentials(**bearer(user))
    type(user).objects.filter(pk=user.pk).update(status=UserStatus.SUSPENDED)
    response = post(client, {"plan_id": str(plan.pk)})
    assert (response.status_code, response.json()) == (
        401, {"error": "User account is not active", "code": "account_inactive"})  # fmt: skip
    assert Invoice.objects.count() == 0


def test_the_trailing_slash_is_optional_and_other_methods_are_refused(user_client, customer):
    plan = pro()
    response = user_client.post(
        f"{URL}/", data=json.dumps({"plan_id": str(plan.pk)}), content_type="application/json"
    )
    assert response.status_code == 201
    response = user_client.get(URL)
    assert response.status_code == 405
    assert response.json() == {"error": "Method not allowed", "code": "method_not_allowed"}


# --- the 201 response -----------------------------------------------------------------------------


def test_a_trial_checkout_answers_201_with_every_shape(customer):
    de_vat()
    category = CategoryFactory(name="Main", slug="main", is_single=True)
    plan = pro(trial_days=14)
    category.plans.add(plan)
    bundle = TokenBundleFactory(name="Starter", token_amount=1000, price=D("9.99"))
    addon = AddOnFactory(name="Seats", slug="seats", price=D("3.00"), description="More seats")
    addon.plans.add(plan)

    with time_machine.travel(datetime.datetime(2026, 3, 14, 9, 30, tzinfo=datetime.UTC),
                             tick=False):  # fmt: skip
        client = APIClient()
        client.credentials(**bearer(customer))  # a token issued at that time
        response = post(
            client,
            {"plan_id": str(plan.pk), "token_bundle_ids": [str(bundle.pk)],
             "add_on_ids": [str(addon.pk)], "currency": "eur"},
        )  # fmt: skip

    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == RESPONSE_KEYS
    assert body["message"] == "Checkout created. Trial started."
    assert (body["discount"], body["coupon"]) == ("0.00", None)
    invoice = Invoice.objects.get()
    subscription = Subscription.objects.get()

    assert list(body["invoice"]) == list(InvoiceSerializer.Meta.fields)
    assert body["invoice"]["id"] == str(invoice.pk)
    assert body["invoice"]["status"] == "PENDING"
    assert body["invoice"]["due_date"] == "2026-03-28T09:30:00Z"
    assert (body["invoice"]["subtotal"], body["invoice"]["tax_amount"],
            body["invoice"]["total_amount"]) == ("42.98", "8.17", "51.15")  # fmt: skip
    assert [(line["type"], line["description"], line["unit_price"], line["tax_amount"],
             line["item_id"], line["period_start"], line["period_end"])
            for line in body["invoice"]["line_items"]] == [
        ("SUBSCRIPTION", "Pro (monthly)", "29.99", "5.70", str(subscription.pk),
         "2026-03-28T09:30:00Z", "2026-04-28T09:30:00Z"),
        ("TOKEN_BUNDLE", "Starter (1000 tokens)", "9.99", "1.90",
         body["token_bundles"][0]["id"], None, None),
        ("ADD_ON", "Seats (monthly)", "3.00", "0.57", body["add_ons"][0]["id"], None, None),
    ]  # fmt: skip

    data = body["subscription"]
    assert list(data) == SUBSCRIPTION_KEYS
    assert data == {
        "id": str(subscription.pk),
        "user_id": str(customer.pk),
        "tarif_plan_id": str(plan.pk),
        "plan": {
            "id": str(plan.pk),
            "name": "Pro",
            "slug": "pro",
            "price": "29.99",
            "currency": "EUR",
            "billing_period": "MONTHLY",
            "is_recurring": True,
            "categories": [
                {"id": str(category.pk), "name": "Main", "slug": "main", "is_single": True}
            ],
        },
        "pending_plan_id": None,
        "pending_plan": None,
        "status": "TRIALING",
        "is_valid": True,
        "is_trialing": True,
        "is_recurring": True,
        "days_remaining": 14,
        "started_at": "2026-03-14T09:30:00Z",
        "current_period_start": "2026-03-14T09:30:00Z",
        "current_period_end": "2026-03-28T09:30:00Z",
        "expires_at": "2026-03-28T09:30:00Z",
        "trial_end_at": "2026-03-28T09:30:00Z",
        "cancelled_at": None,
        "paused_at": None,
        "grace_until": None,
        "payment_method": "invoice",
        "open_invoice_id": str(invoice.pk),
        "discount": None,
        "created_at": iso(subscription.created_at),
        "updated_at": iso(subscription.updated_at),
    }
    assert list(data["plan"]) == PLAN_SUMMARY_KEYS

    (purchase,) = body["token_bundles"]
    assert list(purchase) == PURCHASE_KEYS
    assert {key: purchase[key] for key in PURCHASE_KEYS if key not in ("id", "created_at")} == {
        "user_id": str(customer.pk),
        "bundle_id": str(bundle.pk),
        "bundle_name": "Starter",
        "invoice_id": str(invoice.pk),
        "status": "PENDING",
        "token_amount": 1000,
        "price": "9.99",
        "currency": "EUR",
        "tokens_credited": False,
        "completed_at": None,
    }

    (item,) = body["add_ons"]
    assert list(item) == ADDON_SUBSCRIPTION_KEYS
    assert list(item["addon"]) == ADDON_SUMMARY_KEYS
    assert {key: item[key] for key in ADDON_SUBSCRIPTION_KEYS
            if key not in ("id", "created_at", "updated_at")} == {
        "user_id": str(customer.pk),
        "addon_id": str(addon.pk),
        "addon": {"id": str(addon.pk), "name": "Seats", "slug": "seats",
                  "description": "More seats", "price": "3.00", "currency": "EUR",
                  "billing_period": "MONTHLY"},
        "subscription_id": str(subscription.pk),
        "invoice_id": str(invoice.pk),
        "status": "PENDING",
        "is_valid": False,
        "starts_at": None,
        "expires_at": None,
        "cancelled_at": None,
    }  # fmt: skip


def test_a_free_plan_is_active_in_the_response(customer):
    free = pro(price=D("0"), trial_days=30)
    with time_machine.travel(datetime.datetime(2027, 1, 31, 8, 0, tzinfo=datetime.UTC),
                             tick=False):  # fmt: skip
        client = APIClient()
        client.credentials(**bearer(customer))
        response = post(client, {"plan_id": str(free.pk), "payment_method_code": "ignored"})
    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Checkout complete. Free plan activated."
    assert (body["invoice"]["status"], body["invoice"]["payment_ref"]) == ("PAID", "zero-price")
    assert body["invoice"]["amount_due"] == "0.00"
    subscription = body["subscription"]
    assert (subscription["status"], subscription["is_valid"], subscription["open_invoice_id"]) == (
        "ACTIVE", True, None)  # fmt: skip
    # One calendar month, clamped to the end of February.
    assert (subscription["expires_at"], subscription["days_remaining"]) == (
        "2027-02-28T08:00:00Z", 28)  # fmt: skip
    assert (body["token_bundles"], body["add_ons"]) == ([], [])


def test_bundles_only_checkout_has_no_subscription(user_client, customer):
    bundle = TokenBundleFactory(price=D("5.00"))
    response = post(user_client, {"token_bundle_ids": [str(bundle.pk), str(bundle.pk)],
                                  "currency": "USD"})  # fmt: skip
    assert response.status_code == 201
    body = response.json()
    assert body["subscription"] is None
    assert body["message"] == "Checkout created. Awaiting payment."
    assert [(row["price"], row["currency"]) for row in body["token_bundles"]] == [
        ("5.40", "USD"), ("5.40", "USD")]  # fmt: skip
    assert body["invoice"]["total_amount"] == "10.80"

    gift = TokenBundleFactory(price=D("0"))
    response = post(user_client, {"token_bundle_ids": [str(gift.pk)]})
    assert response.json()["message"] == "Checkout complete."
    assert response.json()["token_bundles"][0]["status"] == "COMPLETED"


# --- errors ---------------------------------------------------------------------------------------


def test_validation_failures_use_the_error_envelope(user_client, customer):
    assert post(user_client).json() == {
        "error": NO_ITEMS,
        "code": "validation_error",
        "errors": {"non_field_errors": [NO_ITEMS]},
    }
    assert post(user_client, {"plan_id": "nope"}).json() == {
        "error": "Invalid plan_id format",
        "code": "validation_error",
        "errors": {"plan_id": ["Invalid plan_id format"]},
    }
    missing = uuid.uuid4()
    response = post(user_client, {"plan_id": str(missing)})
    assert (response.status_code, response.json()) == (400, {
        "error": "Plan not found", "code": "validation_error",
        "errors": {"plan_id": ["Plan not found"]}})  # fmt: skip
    response = post(user_client, {"plan_id": str(pro(is_active=False).pk)})
    assert (response.status_code, response.json()) == (
        400, {"error": "Plan is not active", "code": "item_unavailable"})  # fmt: skip
    response = post(user_client, {"add_on_ids": [str(missing)]})
    assert response.json() == {
        "error": f"Add-on {missing} not found",
        "code": "validation_error",
        "errors": {"add_on_ids": [f"Add-on {missing} not found"]},
    }
    response = post(user_client, {"plan_id": str(pro(slug="x").pk), "currency": "ABC"})
    assert response.json() == {"error": "Currency 'ABC' is not supported",
                               "code": "item_unavailable"}  # fmt: skip
    assert Invoice.objects.count() == 0


def test_exclusive_category_refusal(user_client, customer):
    category = CategoryFactory(name="Main", is_single=True)
    basic, premium = pro(name="Basic", slug="basic"), pro(name="Premium", slug="premium")
    category.plans.add(basic, premium)
    SubscriptionFactory(user=customer, plan=basic)
    response = post(user_client, {"plan_id": str(premium.pk)})
    assert (response.status_code, response.json()) == (400, {
        "error": "You already have an active subscription in category 'Main'. "
                 "Upgrade or downgrade instead.",
        "code": "exclusive_category",
    })  # fmt: skip


def test_another_users_subscription_does_not_unlock_a_bound_add_on(user_client, customer):
    plan = pro()
    addon = AddOnFactory(name="Seats")
    addon.plans.add(plan)
    SubscriptionFactory(plan=plan)  # someone else's
    response = post(user_client, {"add_on_ids": [str(addon.pk)]})
    assert response.json() == {
        "error": "Add-on Seats requires a subscription to one of its plans",
        "code": "item_unavailable",
    }
    SubscriptionFactory(user=customer, plan=plan)
    assert post(user_client, {"add_on_ids": [str(addon.pk)]}).status_code == 201


# --- idempotency and rate limit -------------------------------------------------------------------


def test_an_idempotency_key_replays_the_checkout(user_client, customer):
    plan = pro()
    body = {"plan_id": str(plan.pk)}
    first = post(user_client, body, HTTP_IDEMPOTENCY_KEY="checkout-1")
    replay = post(user_client, body, HTTP_IDEMPOTENCY_KEY="checkout-1")
    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.content == first.content
    assert replay["Idempotent-Replayed"] == "true"
    assert (Invoice.objects.count(), Subscription.objects.count()) == (1, 1)

    other = post(user_client, {"plan_id": str(pro(slug="other").pk)},
                 HTTP_IDEMPOTENCY_KEY="checkout-1")  # fmt: skip
    assert (other.status_code, other.json()) == (409, {
        "error": "Idempotency-Key has already been used with a different request",
        "code": "idempotency_conflict",
    })  # fmt: skip
    assert post(user_client, body, HTTP_IDEMPOTENCY_KEY="checkout-2").status_code == 201
    assert Invoice.objects.count() == 2


def test_checkout_is_rate_limited_per_user(settings, customer):
    settings.VBWD_RATE_LIMIT_ENABLED = True
    settings.VBWD_RATE_LIMITS = {"payment_user": "2/minute"}
    with time_machine.travel(datetime.datetime(2026, 5, 1, 12, 0, 10, tzinfo=datetime.UTC),
                             tick=False):  # fmt: skip
        client = APIClient()
        client.credentials(**bearer(customer))
        statuses = [post(client, {}).status_code for _ in range(3)]
        blocked = post(client, {})
    assert statuses == [400, 400, 429]
    assert blocked.json() == {
        "error": "Rate limit exceeded. Try again in 50 seconds.",
        "code": "rate_limited",
        "retry_after": 50,
    }
    assert blocked["Retry-After"] == "50"


# --- query count ----------------------------------------------------------------------------------


def test_the_endpoint_runs_a_bounded_number_of_queries(
    user_client, customer, django_assert_max_num_queries
):
    plan = pro()
    bundle = TokenBundleFactory()
    addon = AddOnFactory()
    addon.plans.add(plan)
    category = CategoryFactory(is_single=False)
    category.plans.add(plan)
    body = {"plan_id": str(plan.pk), "token_bundle_ids": [str(bundle.pk)] * 3,
            "add_on_ids": [str(addon.pk)]}  # fmt: skip
    post(user_client, {"token_bundle_ids": [str(bundle.pk)]})  # warm the caches
    with django_assert_max_num_queries(20 + INVOICE_WRITES):
        response = post(user_client, body)
    assert response.status_code == 201


def test_a_one_bundle_checkout_answers_in_twelve_queries(
    user_client, customer, django_assert_num_queries
):
    bundle = TokenBundleFactory()
    post(user_client, {"token_bundle_ids": [str(bundle.pk)]})  # warm the caches
    # The user; validation: currencies, billing details, tax rate, bundle, default payment
    # method; the transaction (a savepoint inside the test's, 2 queries): the purchase, the
    # invoice number, the invoice with its lines, the audit rows. The answer reads nothing more.
    with django_assert_num_queries(11 + INVOICE_WRITES):
        response = post(user_client, {"token_bundle_ids": [str(bundle.pk)]})
    assert response.status_code == 201
    assert response.json()["invoice"]["status"] == "PENDING"


def test_marking_a_one_bundle_checkout_paid_runs_twelve_queries(
    user_client, customer, admin_client, django_assert_num_queries
):
    bundle = TokenBundleFactory(token_amount=100)
    invoice_id = post(user_client, {"token_bundle_ids": [str(bundle.pk)]}).json()["invoice"]["id"]
    url = f"/api/v1/admin/invoices/{invoice_id}/mark-paid"
    # The staff user; the invoice's currency places (for the input). The transaction (a
    # savepoint inside the test's, 2 queries): the invoice locked with its owner, billing
    # details and currency places, its lines; the payment inserted captured (INSERT … ON
    # CONFLICT DO NOTHING), the invoice marked paid, the purchase completed and locked
    # (UPDATE … RETURNING), the balance raised (one upsert that creates and locks it), the
    # ledger row, the 4 audit rows in one insert. The answer reads nothing more.
    with django_assert_num_queries(12):
        response = admin_client.post(url, {"payment_reference": "SEPA-1"}, format="json")
    assert response.status_code == 200
    assert response.json()["invoice"]["status"] == "PAID"
    assert balance_of(customer) == 100


# The whole request as a server runs it: no transaction around the test, so the service's own
# transaction is the outermost one (its BEGIN and COMMIT are counted, where a test inside a
# transaction counts a savepoint and its release), and the work queued for after the commit
# runs inside the request.


def _request_queries(send) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as context:
        response = send()
    return len(context), response


def _bundle_flow_counts(user_client, admin_client, bundles: int) -> tuple[int, int]:
    bundle = TokenBundleFactory(token_amount=100)
    body = {"token_bundle_ids": [str(bundle.pk)] * bundles}
    checkout_queries, created = _request_queries(lambda: post(user_client, body))
    assert created.status_code == 201
    url = f"/api/v1/admin/invoices/{created.json()['invoice']['id']}/mark-paid"
    capture_queries, paid = _request_queries(
        lambda: admin_client.post(url, {"payment_reference": "SEPA-1"}, format="json")
    )
    assert paid.status_code == 200
    assert paid.json()["invoice"]["status"] == "PAID"
    return checkout_queries, capture_queries


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_bundle_checkout_and_its_capture_run_twelve_queries_each_however_many_bundles(
    user_client, customer, admin_client
):
    # Warm what a running process holds (the catalog cache version, the places for texts).
    _bundle_flow_counts(user_client, admin_client, 1)
    # Checkout: the user; currencies, billing details, tax rate, bundle, default payment
    # method; BEGIN, the purchases, the invoice number, the invoice with its lines, the audit
    # rows, COMMIT. Mark-paid: the staff user; the invoice's currency places; BEGIN, the invoice
    # locked with its owner, billing details and places, its lines; the payment, the invoice
    # marked paid, the purchases completed, the balance raised, the ledger rows, the audit
    # rows, COMMIT. Each further bundle adds rows to these statements, no statement.
    assert _bundle_flow_counts(user_client, admin_client, 1) == (12, 12)
    assert _bundle_flow_counts(user_client, admin_client, 3) == (12, 12)
    assert balance_of(customer) == 500
    purchases = TokenBundlePurchase.objects.filter(user=customer)
    assert sorted(purchases.values_list("status", flat=True)) == ["COMPLETED"] * 5
    ledger = TokenTransaction.objects.filter(user=customer).order_by("balance_after")
    assert list(ledger.values_list("balance_after", flat=True)) == [100, 200, 300, 400, 500]
    assert (
        AuditEntry.objects.filter(
            subject_user_id=customer.pk, action="token_balance.credited"
        ).count()
        == 5
    )


# --- the shapes outside checkout ------------------------------------------------------------------


def test_grace_until_is_only_shown_while_past_due(customer):
    past_due = SubscriptionFactory(user=customer, past_due=True)
    active = SubscriptionFactory(user=customer)
    data = subscription_data(past_due)
    assert data["status"] == "PAST_DUE"
    assert data["grace_until"] == iso(past_due.expires_at + datetime.timedelta(days=7))
    assert data["days_remaining"] == 0  # never negative
    assert data["is_valid"] is True
    assert subscription_data(active)["grace_until"] is None


def test_pending_plan_and_one_time_plans_are_shown(customer):
    basic = pro(name="Basic", slug="basic")
    lifetime = pro(name="Lifetime", slug="lifetime", billing_period=BillingPeriod.ONE_TIME)
    subscription = SubscriptionFactory(user=customer, pending_plan=basic)
    data = subscription_data(subscription)
    assert (data["pending_plan_id"], data["pending_plan"]) == (
        str(basic.pk), {"id": str(basic.pk), "name": "Basic", "slug": "basic"})  # fmt: skip
    forever = SubscriptionFactory(user=customer, plan=lifetime, expires_at=None)
    data = subscription_data(forever)
    assert (data["is_recurring"], data["days_remaining"], data["current_period_end"]) == (
        False, None, None)  # fmt: skip
    assert data["plan"]["is_recurring"] is False


def test_open_invoice_id_is_the_newest_unpaid_invoice_of_the_subscription(
    customer, django_assert_max_num_queries
):
    subscriptions = [SubscriptionFactory(user=customer) for _ in range(3)]
    first, second, _third = subscriptions
    older = issue_invoice(customer, subscription_id=first.pk)
    newer = issue_invoice(customer, subscription_id=first.pk,
                          now=timezone.now() + datetime.timedelta(minutes=1))  # fmt: skip
    paid = issue_invoice(customer, subscription_id=second.pk)
    Invoice.objects.filter(pk=paid.pk).update(status=InvoiceStatus.PAID)
    Invoice.objects.filter(pk=older.pk).update(status=InvoiceStatus.OVERDUE)

    queryset = selectors.subscriptions_for_output(
        Subscription.objects.filter(user=customer).order_by("created_at")
    )
    with django_assert_max_num_queries(3):  # subscriptions, categories, currencies
        rows = subscriptions_data(queryset)
    assert [row["open_invoice_id"] for row in rows] == [str(newer.pk), None, None]
    # Unannotated rows read it on their own.
    assert subscription_data(first)["open_invoice_id"] == str(newer.pk)
    Invoice.objects.filter(pk=newer.pk).update(status=InvoiceStatus.CANCELLED)
    assert subscription_data(first)["open_invoice_id"] == str(older.pk)


def test_add_on_subscription_detail_carries_its_invoice_ref(customer):
    invoice = issue_invoice(customer)
    item = AddOnSubscriptionFactory(user=customer, invoice=invoice)
    loaded = selectors.addon_subscriptions_for_output(with_invoice=True).get(pk=item.pk)
    data = addon_subscription_data(loaded, detail=True)
    assert list(data) == [*ADDON_SUBSCRIPTION_KEYS, "invoice"]
    assert list(data["invoice"]) == INVOICE_REF_KEYS
    assert (data["invoice"]["id"], data["invoice"]["amount"], data["is_valid"]) == (
        str(invoice.pk), "9.99", True)  # fmt: skip
    assert (
        addon_subscription_data(AddOnSubscriptionFactory(user=customer), detail=True)["invoice"]
        is None
    )
    assert "invoice" not in addon_subscription_data(loaded)


def test_schema_documents_the_checkout_shapes():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]
    assert list(components["Subscription"]["properties"]) == SUBSCRIPTION_KEYS
    assert list(components["PlanSummary"]["properties"]) == PLAN_SUMMARY_KEYS
    assert list(components["AddOnSubscription"]["properties"]) == ADDON_SUBSCRIPTION_KEYS
    assert list(components["AddOnSummary"]["properties"]) == ADDON_SUMMARY_KEYS
    assert list(components["TokenBundlePurchase"]["properties"]) == PURCHASE_KEYS
    assert set(components["CheckoutResponse"]["properties"]) == RESPONSE_KEYS
    assert set(components["CheckoutRequest"]["properties"]) == {
        "plan_id", "token_bundle_ids", "add_on_ids", "currency", "payment_method_code",
        "coupon_code"}  # fmt: skip
    operation = schema["paths"]["/api/v1/user/checkout/"]["post"]
    assert set(operation["responses"]) == {"201", "400", "401", "409", "413", "415", "429"}
