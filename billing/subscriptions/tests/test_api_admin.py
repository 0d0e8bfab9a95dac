"""The staff subscription endpoints and a user's add-ons: permissions,
shapes, filters, ordering, pagination, messages and constant query counts."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import UserStatus
from accounts.tests.factories import UserFactory
from billing.catalog.models import BillingPeriod
from billing.catalog.periods import period_end
from billing.catalog.tests.factories import AddOnFactory, CategoryFactory, PlanFactory
from billing.invoices.models import Invoice, InvoiceStatus, InvoiceType
from billing.invoices.services import invoice_mark_paid
from billing.invoices.tests.factories import (
    addon_draft,
    addon_subscription,
    buyer,
    custom_draft,
    issue_invoice,
    paid_invoice,
    subscription_draft,
)
from billing.subscriptions.models import AddOnSubscription, Subscription, SubscriptionStatus
from billing.subscriptions.tests.factories import AddOnSubscriptionFactory, SubscriptionFactory
from conftest import bearer
from platform_settings.selectors import platform_settings_get
from tokens.services.ledger import balance_of

pytestmark = pytest.mark.django_db

S = SubscriptionStatus
BASE = "/api/v1/admin/subscriptions"
DAY = datetime.timedelta(days=1)
NOT_FOUND = {"error": "Subscription not found", "code": "not_found"}
PAGE_KEYS = ["total", "page", "per_page", "pages", "limit", "offset"]
SUBSCRIPTION_KEYS = [
    "id", "user_id", "tarif_plan_id", "plan", "pending_plan_id", "pending_plan", "status",
    "is_valid", "is_trialing", "is_recurring", "days_remaining", "started_at",
    "current_period_start", "current_period_end", "expires_at", "trial_end_at", "cancelled_at",
    "paused_at", "grace_until", "payment_method", "open_invoice_id", "discount", "created_at",
    "updated_at",
]  # fmt: skip
ADMIN_KEYS = [*SUBSCRIPTION_KEYS, "user_email", "user_name", "plan_name"]
DETAIL_KEYS = [
    *ADMIN_KEYS, "plan_description", "plan_price", "plan_billing_period", "payment_history",
    "invoices", "addons",
]  # fmt: skip
USER_ADDON_KEYS = [
    "id", "user_id", "addon_id", "addon", "subscription_id", "invoice_id", "status", "is_valid",
    "starts_at", "expires_at", "cancelled_at", "created_at", "updated_at", "addon_name",
    "invoice_status", "first_invoice", "last_invoice",
]  # fmt: skip


def url(subscription, suffix: str = "") -> str:
    return f"{BASE}/{subscription.pk}{suffix}"


def ids(rows) -> list[str]:
    return [row["id"] for row in rows]


def count_queries(call) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as queries:
        response = call()
    assert response.status_code == 200, response.json()
    return len(queries), response


def error(response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["error"]


# --- permissions --------------------------------------------------------------------------------


def test_staff_only(user_client, api_client):
    subscription = SubscriptionFactory(user=user_client.user)

    assert user_client.get(BASE).status_code == 403
    assert user_client.get(url(subscription)).json() == {
        "error": "Admin access required",
        "code": "permission_denied",
    }
    assert user_client.post(url(subscription, "/cancel")).status_code == 403
    assert api_client.get(BASE).status_code == 401


# --- list ---------------------------------------------------------------------------------------


def test_list_shape_and_default_order(admin_client):
    customer = buyer(email="erika@example.com")
    older = SubscriptionFactory(user=customer)
    newer = SubscriptionFactory()

    response = admin_client.get(BASE)

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["subscriptions", *PAGE_KEYS]
    assert [body[key] for key in PAGE_KEYS] == [2, 1, 20, 1, 20, 0]
    assert ids(body["subscriptions"]) == [str(newer.pk), str(older.pk)]
    row = body["subscriptions"][1]
    assert list(row) == ADMIN_KEYS
    assert (row["user_email"], row["user_name"], row["plan_name"]) == (
        "erika@example.com",
        "Erika Mustermann",
        older.plan.name,
    )


def test_list_filters(admin_client):
    gold = PlanFactory(name="Gold")
    alice = UserFactory(email="alice@example.com")
    on_gold = SubscriptionFactory(plan=gold, user=alice)
    paused = SubscriptionFactory(paused=True)
    cancelled = SubscriptionFactory(cancelled=True, user=alice)

    def listed(query: str) -> list[str]:
        response = admin_client.get(f"{BASE}?{query}")
        assert response.status_code == 200, response.json()
        return sorted(ids(response.json()["subscriptions"]))

    assert listed("status=paused") == [str(paused.pk)]
    assert listed("status=canceled") == [str(cancelled.pk)]
    assert listed(f"user_id={alice.pk}") == sorted([str(on_gold.pk), str(cancelled.pk)])
    assert listed(f"plan_id={gold.pk}") == [str(on_gold.pk)]
    assert listed("plan=gOLD") == [str(on_gold.pk)]
    assert listed("plan=Gol") == []
    assert listed("search=ALICE@") == sorted([str(on_gold.pk), str(cancelled.pk)])
    assert listed("status=&user_id=&plan_id=&plan=&search=") == sorted(
        str(row.pk) for row in (on_gold, paused, cancelled)
    )


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("status=gone", "Unknown status: gone"),
        ("user_id=42", "user_id must be a valid UUID"),
        ("plan_id=x", "plan_id must be a valid UUID"),
        ("ordering=price", "ordering must be one of created_at, expires_at, status (with - for "
         "descending)"),
        ("page=x", "page must be an integer"),
        ("page=x&ordering=price&plan_id=x&user_id=42&status=gone", "Unknown status: gone"),
        ("page=x&ordering=price&plan_id=x&user_id=42", "user_id must be a valid UUID"),
        ("page=x&ordering=price&plan_id=x", "plan_id must be a valid UUID"),
        ("page=x&ordering=price", "ordering must be one of created_at, expires_at, status "
         "(with - for descending)"),
        ("status=%20&user_id=&ordering=%20&page=x", "page must be an integer"),
    ],
)  # fmt: skip
def test_list_bad_filters(admin_client, query, message):
    assert error(admin_client.get(f"{BASE}?{query}")) == (400, "validation_error", message)


def test_list_ordering(admin_client):
    now = timezone.now()
    late = SubscriptionFactory(expires_at=now + 50 * DAY)
    early = SubscriptionFactory(expires_at=now + 5 * DAY)
    middle = SubscriptionFactory(expires_at=now + 20 * DAY, status=S.PAST_DUE)

    def order(value: str) -> list[str]:
        return ids(admin_client.get(f"{BASE}?ordering={value}").json()["subscriptions"])

    assert order("expires_at") == [str(early.pk), str(middle.pk), str(late.pk)]
    assert order("-expires_at") == [str(late.pk), str(middle.pk), str(early.pk)]
    assert order("created_at") == [str(late.pk), str(early.pk), str(middle.pk)]
    # Ties are broken newest first.
    assert order("status") == [str(early.pk), str(late.pk), str(middle.pk)]
    assert order("-status") == [str(middle.pk), str(early.pk), str(late.pk)]


def test_list_pagination(admin_client):
    rows = [SubscriptionFactory() for _ in range(5)]
    newest_first = [str(row.pk) for row in reversed(rows)]

    paged = admin_client.get(f"{BASE}?page=2&per_page=2").json()
    offset = admin_client.get(f"{BASE}?limit=3&offset=3").json()
    past = admin_client.get(f"{BASE}?page=9").json()

    assert [paged[key] for key in PAGE_KEYS] == [5, 2, 2, 3, 2, 2]
    assert ids(paged["subscriptions"]) == newest_first[2:4]
    assert [offset[key] for key in PAGE_KEYS] == [5, 2, 3, 2, 3, 3]
    assert ids(offset["subscriptions"]) == newest_first[3:]
    assert past["subscriptions"] == []


def test_list_query_count_is_constant(admin_client):
    category = CategoryFactory()
    platform_settings_get()
    plan = PlanFactory()
    category.plans.add(plan)
    SubscriptionFactory(user=buyer(), plan=plan, past_due=True)
    one, _ = count_queries(lambda: admin_client.get(BASE))
    for _ in range(19):
        SubscriptionFactory(user=buyer(), plan=PlanFactory(), past_due=True)

    twenty, response = count_queries(lambda: admin_client.get(BASE))

    assert len(response.json()["subscriptions"]) == 20
    assert one == twenty <= 5


def test_the_admin_plan_list_counts_the_subscriptions_holding_each_plan(admin_client):
    """The catalog's subscriber count comes from this app's counter: TRIALING, ACTIVE,
    PAST_DUE and PAUSED subscriptions hold a plan; PENDING, CANCELLED and EXPIRED do not."""
    held, other, empty = PlanFactory(name="Held"), PlanFactory(name="Other"), PlanFactory()
    SubscriptionFactory(plan=held)
    SubscriptionFactory(plan=held, trialing=True)
    SubscriptionFactory(plan=held, past_due=True)
    SubscriptionFactory(plan=held, paused=True)
    SubscriptionFactory(plan=held, pending=True)
    SubscriptionFactory(plan=held, cancelled=True)
    SubscriptionFactory(plan=held, expired=True)
    SubscriptionFactory(plan=other)

    plans = admin_client.get("/api/v1/admin/tarif-plans").json()["plans"]

    counts = {row["id"]: row["subscriber_count"] for row in plans}
    assert counts == {str(held.pk): 4, str(other.pk): 1, str(empty.pk): 0}


# --- detail -------------------------------------------------------------------------------------


def test_detail_with_payments_invoices_and_addons(admin_client):
    user = buyer()
    plan = PlanFactory(description="All readings", price=Decimal("12.5000"))
    subscription = SubscriptionFactory(user=user, plan=plan, pending=True)
    with time_machine.travel(timezone.now() - 2 * DAY):
        first = paid_invoice(user, [subscription_draft(subscription)], reference="A-1")
    renewal = issue_invoice(
        user, [subscription_draft(subscription)], invoice_type=InvoiceType.RENEWAL
    )
    item = AddOnSubscriptionFactory(user=user, subscription=subscription)
    AddOnSubscriptionFactory(user=user)  # not bound

    response = admin_client.get(url(subscription))

    assert response.status_code == 200
    data = response.json()["subscription"]
    assert list(data) == DETAIL_KEYS
    assert (data["plan_description"], data["plan_price"], data["plan_billing_period"]) == (
        "All readings",
        "12.50",
        "MONTHLY",
    )
    assert ids(data["invoices"]) == [str(renewal.pk), str(first.pk)]
    assert list(data["invoices"][0]) == [
        "id", "invoice_number", "status", "amount", "total_amount", "currency", "created_at",
    ]  # fmt: skip
    assert [row["external_id"] for row in data["payment_history"]] == ["A-1"]
    assert "provider_data" not in data["payment_history"][0]
    assert ids(data["addons"]) == [str(item.pk)]
    assert data["open_invoice_id"] == str(renewal.pk)


def test_detail_not_found(admin_client):
    response = admin_client.get(f"{BASE}/00000000-0000-0000-0000-000000000000")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


def test_detail_query_count_is_constant(admin_client):
    platform_settings_get()
    user = buyer()
    small = SubscriptionFactory(user=user, pending=True)
    paid_invoice(user, [subscription_draft(small)])
    AddOnSubscriptionFactory(user=user, subscription=small)
    big = SubscriptionFactory(user=user, pending=True)
    paid_invoice(user, [subscription_draft(big)])
    AddOnSubscriptionFactory(user=user, subscription=big)
    for _ in range(19):
        paid_invoice(user, [custom_draft()], subscription_id=big.pk)
        AddOnSubscriptionFactory(user=user, subscription=big)

    one, _ = count_queries(lambda: admin_client.get(url(small)))
    twenty, response = count_queries(lambda: admin_client.get(url(big)))

    data = response.json()["subscription"]
    assert (len(data["invoices"]), len(data["payment_history"]), len(data["addons"])) == (
        20,
        20,
        20,
    )
    assert one == twenty <= 8


# --- create -------------------------------------------------------------------------------------


def test_create_active_complimentary_with_tokens(admin_client):
    user = buyer()
    plan = PlanFactory(features={"default_tokens": 250}, billing_period=BillingPeriod.MONTHLY)
    started = (timezone.now() - 3 * DAY).replace(microsecond=0)

    response = admin_client.post(
        BASE,
        {"user_id": str(user.pk), "plan_id": str(plan.pk), "started_at": started.isoformat()},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert list(body) == [*SUBSCRIPTION_KEYS, "subscription", "invoice", "message"]
    assert body["message"] == "Subscription created"
    assert body["invoice"] is None
    assert body["id"] == body["subscription"]["id"]
    assert {key: body[key] for key in SUBSCRIPTION_KEYS} == body["subscription"]
    subscription = Subscription.objects.get(pk=body["id"])
    assert subscription.status == S.ACTIVE
    assert subscription.started_at == subscription.current_period_start == started
    assert subscription.expires_at == period_end(started, BillingPeriod.MONTHLY)
    assert subscription.anchor_day == started.day
    assert not Invoice.objects.filter(user=user).exists()
    assert balance_of(user) == 250


def test_create_active_with_overrides_and_without_tokens(admin_client):
    user = buyer()
    plan = PlanFactory(features={"default_tokens": 250})
    until = (timezone.now() + 100 * DAY).replace(microsecond=0)

    with_end = admin_client.post(
        BASE,
        {"user_id": str(user.pk), "tarif_plan_id": str(plan.pk), "expires_at": until.isoformat(),
         "billing_period_months": 12, "grant_tokens": False, "status": "ACTIVE"},
        format="json",
    )  # fmt: skip
    other_plan = PlanFactory()
    with time_machine.travel(datetime.datetime(2027, 1, 31, 10, 0, tzinfo=datetime.UTC)):
        admin_client.credentials(**bearer(admin_client.user))
        months = admin_client.post(
            BASE,
            {"user_id": str(user.pk), "plan_id": str(other_plan.pk), "billing_period_months": 1},
            format="json",
        )

    assert with_end.status_code == months.status_code == 201
    with_end_row = Subscription.objects.get(pk=with_end.json()["id"])
    assert (with_end_row.expires_at, with_end_row.anchor_day) == (until, until.day)
    assert months.json()["expires_at"] == "2027-02-28T10:00:00Z"
    assert balance_of(user) == 0


def test_create_trialing_issues_the_trial_invoice(admin_client):
    user = buyer()
    plan = PlanFactory(trial_days=14, price=Decimal("20.00"))

    response = admin_client.post(
        BASE,
        {"user_id": str(user.pk), "plan_id": str(plan.pk), "status": "trialing",
         "payment_method_code": "invoice", "reason": "Sales call"},
        format="json",
    )  # fmt: skip

    assert response.status_code == 201, response.json()
    body = response.json()
    subscription = Subscription.objects.get(pk=body["subscription"]["id"])
    assert subscription.status == S.TRIALING
    invoice = Invoice.objects.get(pk=body["invoice"]["id"])
    assert (invoice.invoice_type, invoice.status, invoice.subscription_id) == (
        InvoiceType.CHECKOUT,
        InvoiceStatus.PENDING,
        subscription.pk,
    )
    assert invoice.due_date == subscription.trial_end_at
    assert body["invoice"]["line_items"][0]["type"] == "SUBSCRIPTION"
    assert body["subscription"]["open_invoice_id"] == str(invoice.pk)
    user.refresh_from_db()
    assert user.has_used_trial is True


def test_create_pending_issues_a_checkout_invoice_that_activates_when_paid(admin_client):
    user = buyer()
    plan = PlanFactory(price=Decimal("9.00"))

    response = admin_client.post(
        BASE,
        {"user_id": str(user.pk), "plan_id": str(plan.pk), "status": "Pending"},
        format="json",
    )

    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "PENDING"
    invoice = Invoice.objects.get(pk=body["invoice"]["id"])
    terms = platform_settings_get().payment_terms_days
    assert invoice.due_date == invoice.invoiced_at + terms * DAY
    invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="T-1")
    assert Subscription.objects.get(pk=body["id"]).status == S.ACTIVE


def test_create_pending_of_a_free_plan_is_active_at_once(admin_client):
    user = buyer()
    plan = PlanFactory(price=Decimal("0.00"))

    response = admin_client.post(
        BASE, {"user_id": str(user.pk), "plan_id": str(plan.pk), "status": "pending"}, format="json"
    )

    assert response.status_code == 201
    assert response.json()["status"] == "ACTIVE"
    assert response.json()["invoice"]["status"] == "PAID"


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("no_user", "validation_error", "user_id is required"),
        ("no_plan", "validation_error", "plan_id is required"),
        ("unknown_user", "validation_error", "User not found"),
        ("unknown_plan", "validation_error", "Plan not found"),
        ("bad_status", "validation_error", "Unknown status: frozen"),
        ("future_start", "validation_error", "started_at cannot be in the future"),
        ("ended", "validation_error", "The computed period has already ended"),
        ("past_end", "validation_error", "expires_at must be in the future"),
        ("months", "validation_error",
         "billing_period_months must be an integer between 1 and 1200"),
        ("inactive_plan", "item_unavailable", "Plan is not active"),
        ("inactive_user", "business_rule", "User account is not active"),
        ("used_trial", "business_rule", "User has already used a trial"),
        ("no_trial", "business_rule", "Plan has no trial period"),
        ("method", "validation_error", "Payment method 'nope' not found"),
    ],
)  # fmt: skip
def test_create_refusals(admin_client, case, code, message):
    user = buyer()
    plan = PlanFactory(trial_days=7)
    now = timezone.now()
    body = {"user_id": str(user.pk), "plan_id": str(plan.pk)}
    changes = {
        "no_user": {"user_id": None},
        "no_plan": {"plan_id": ""},
        "unknown_user": {"user_id": "00000000-0000-0000-0000-000000000000"},
        "unknown_plan": {"plan_id": "00000000-0000-0000-0000-000000000000"},
        "bad_status": {"status": "frozen"},
        "future_start": {"started_at": (now + DAY).isoformat()},
        "ended": {"started_at": (now - 40 * DAY).isoformat()},
        "past_end": {"expires_at": (now - DAY).isoformat()},
        "months": {"billing_period_months": 0},
        "inactive_plan": {},
        "inactive_user": {},
        "used_trial": {"status": "trialing"},
        "no_trial": {"status": "trialing"},
        "method": {"status": "pending", "payment_method_code": "nope"},
    }[case]
    body.update(changes)
    if case == "inactive_plan":
        plan.is_active = False
        plan.save()
    elif case == "inactive_user":
        user.status = UserStatus.SUSPENDED
        user.save()
    elif case == "used_trial":
        user.has_used_trial = True
        user.save()
    elif case == "no_trial":
        plan.trial_days = 0
        plan.save()

    response = admin_client.post(BASE, body, format="json")

    assert error(response) == (400, code, message)
    assert not Subscription.objects.exists()
    assert not Invoice.objects.exists()


def test_create_respects_exclusive_categories(admin_client):
    category = CategoryFactory(name="Main", is_single=True)
    held, wanted = PlanFactory(), PlanFactory()
    category.plans.add(held, wanted)
    existing = SubscriptionFactory(plan=held, paused=True)

    response = admin_client.post(
        BASE, {"user_id": str(existing.user_id), "plan_id": str(wanted.pk)}, format="json"
    )

    assert error(response) == (
        400,
        "exclusive_category",
        "The user already has an active subscription in category 'Main'. "
        "Upgrade or downgrade instead.",
    )
    assert Subscription.objects.count() == 1


# --- actions ------------------------------------------------------------------------------------


def test_extend(admin_client):
    subscription = SubscriptionFactory()
    end = subscription.expires_at

    default = admin_client.post(url(subscription, "/extend"))
    days = admin_client.post(
        url(subscription, "/extend"), {"days": 5, "reason": "x"}, format="json"
    )
    until = (end + 40 * DAY).replace(microsecond=0) + datetime.timedelta(hours=1)
    moved = admin_client.post(
        url(subscription, "/extend"), {"until": until.isoformat()}, format="json"
    )

    assert default.status_code == days.status_code == moved.status_code == 200
    assert default.json()["message"] == "Subscription extended by 30 days"
    assert days.json()["message"] == "Subscription extended by 5 days"
    assert moved.json()["message"] == "Subscription extended by 6 days"
    assert list(moved.json()) == ["subscription", "message"]
    assert list(moved.json()["subscription"]) == ADMIN_KEYS
    assert Subscription.objects.get(pk=subscription.pk).expires_at == until


@pytest.mark.parametrize(
    ("body", "trait", "status", "code", "message"),
    [
        ({"days": 0}, {}, 400, "validation_error", "days must be an integer between 1 and 3650"),
        ({"days": "many"}, {}, 400, "validation_error",
         "days must be an integer between 1 and 3650"),
        ({"until": "soon"}, {}, 400, "validation_error", "until must be a datetime"),
        ({}, {"expired": True}, 400, "invalid_transition", "Subscription has already ended"),
        ({}, {"pending": True}, 400, "invalid_transition",
         "Pending subscriptions cannot be extended; they start when their invoice is paid"),
    ],
)  # fmt: skip
def test_extend_refusals(admin_client, body, trait, status, code, message):
    subscription = SubscriptionFactory(**trait)

    response = admin_client.post(url(subscription, "/extend"), body, format="json")

    assert error(response) == (status, code, message)


def test_extend_one_time(admin_client):
    plan = PlanFactory(billing_period=BillingPeriod.ONE_TIME)
    subscription = SubscriptionFactory(plan=plan, expires_at=None)

    response = admin_client.post(url(subscription, "/extend"))

    assert error(response) == (400, "business_rule", "One-time subscriptions do not expire")


def test_cancel_with_and_without_immediate(admin_client):
    later = SubscriptionFactory()
    now = SubscriptionFactory()

    first = admin_client.post(url(later, "/cancel"), {"reason": "Fraud check"}, format="json")
    second = admin_client.post(url(now, "/cancel"), {"immediate": True}, format="json")

    assert first.status_code == second.status_code == 200
    assert first.json()["message"] == second.json()["message"] == "Subscription cancelled"
    assert first.json()["subscription"]["is_valid"] is True
    assert second.json()["subscription"]["is_valid"] is False
    assert error(admin_client.post(url(later, "/cancel"))) == (
        400,
        "invalid_transition",
        "Subscription is already cancelled",
    )
    assert error(admin_client.post(url(now, "/cancel"))) == (
        400,
        "invalid_transition",
        "Subscription has already ended",
    )


def test_pause_resume_and_activate(admin_client):
    subscription = SubscriptionFactory()

    paused = admin_client.post(url(subscription, "/pause"))
    again = admin_client.post(url(subscription, "/pause"))
    resumed = admin_client.post(url(subscription, "/resume"))
    not_paused = admin_client.post(url(subscription, "/resume"))
    admin_client.post(url(subscription, "/pause"))
    activated = admin_client.post(url(subscription, "/activate"), {"reason": "ok"}, format="json")
    already = admin_client.post(url(subscription, "/activate"))

    assert paused.json()["message"] == "Subscription paused."
    assert error(again) == (400, "invalid_transition", "Subscription is already paused")
    assert resumed.json()["message"] == (
        "Subscription resumed. Expiration extended by pause duration."
    )
    assert error(not_paused) == (400, "invalid_transition", "Subscription is not paused")
    assert activated.status_code == 200
    assert activated.json()["message"] == "Subscription activated"
    assert activated.json()["subscription"]["status"] == "ACTIVE"
    assert error(already) == (400, "invalid_transition", "Subscription is already active")


@pytest.mark.parametrize(
    ("trait", "message"),
    [
        ({"pending": True}, "Pending subscriptions are activated by paying their invoice"),
        ({"trialing": True}, "Trialing subscriptions are activated by paying their invoice"),
        ({"expired": True}, "Expired subscriptions cannot be activated; create a new one"),
    ],
)
def test_activate_refusals(admin_client, trait, message):
    subscription = SubscriptionFactory(**trait)

    assert error(admin_client.post(url(subscription, "/activate"))) == (
        400,
        "invalid_transition",
        message,
    )


def test_activate_reverses_a_cancellation(admin_client):
    subscription = SubscriptionFactory(cancelled=True)

    response = admin_client.post(url(subscription, "/activate"))

    assert response.status_code == 200
    assert response.json()["subscription"]["cancelled_at"] is None


def test_refund(admin_client):
    user = buyer()
    subscription = SubscriptionFactory(user=user, pending=True)
    invoice = paid_invoice(user, [subscription_draft(subscription)])

    response = admin_client.post(url(subscription, "/refund"), {"reason": "Unhappy"}, format="json")

    assert response.status_code == 200, response.json()
    body = response.json()
    assert list(body) == ["subscription", "invoice", "credit_note", "message"]
    assert body["message"] == "Refund processed"
    assert body["invoice"]["id"] == str(invoice.pk)
    assert body["invoice"]["status"] == "REFUNDED"
    assert "user_email" in body["invoice"]
    assert body["credit_note"]["amount"] == body["invoice"]["total_amount"]
    assert body["credit_note"]["reason"] == "Unhappy"
    assert (body["subscription"]["status"], body["subscription"]["is_valid"]) == (
        "CANCELLED",
        False,
    )


def test_partial_refund_keeps_the_subscription(admin_client):
    user = buyer()
    subscription = SubscriptionFactory(user=user, pending=True)
    paid_invoice(user, [subscription_draft(subscription, unit_price="10.00")])

    response = admin_client.post(url(subscription, "/refund"), {"amount": "4.00"}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert body["credit_note"]["amount"] == "4.00"
    assert body["invoice"]["status"] == "PAID"
    assert body["subscription"]["status"] == "ACTIVE"


def test_refund_without_a_paid_invoice(admin_client):
    subscription = SubscriptionFactory()

    assert error(admin_client.post(url(subscription, "/refund"))) == (
        400,
        "business_rule",
        "No paid invoice to refund for this subscription",
    )


@pytest.mark.parametrize(
    "suffix", ["", "/extend", "/cancel", "/pause", "/resume", "/activate", "/refund"]
)
def test_unknown_subscription_is_not_found_on_every_route(admin_client, suffix):
    method = admin_client.get if suffix == "" else admin_client.post

    response = method(f"{BASE}/00000000-0000-0000-0000-000000000000{suffix}")

    assert response.status_code == 404
    assert response.json() == NOT_FOUND


# --- a user's add-ons ---------------------------------------------------------------------------


def user_addons_url(user, suffix: str = "") -> str:
    return f"/api/v1/admin/users/{user.pk}/addons{suffix}"


def test_user_addons_list(admin_client):
    user = buyer()
    addon = AddOnFactory(name="Priority")
    item = addon_subscription(user, addon)
    with time_machine.travel(timezone.now() - DAY):
        first = issue_invoice(user, [addon_draft(item)])
    AddOnSubscription.objects.filter(pk=item.pk).update(invoice=first)
    invoice_mark_paid(invoice_id=first.pk, actor=None, payment_reference="T-9")
    last = issue_invoice(user, [addon_draft(item)], invoice_type=InvoiceType.RENEWAL)
    granted = AddOnSubscriptionFactory(user=user)
    AddOnSubscriptionFactory()  # someone else's

    response = admin_client.get(user_addons_url(user))

    assert response.status_code == 200
    rows = response.json()["addon_subscriptions"]
    assert ids(rows) == [str(granted.pk), str(item.pk)]
    assert list(rows[1]) == USER_ADDON_KEYS
    assert (rows[1]["addon_name"], rows[1]["invoice_status"]) == ("Priority", "PAID")
    assert rows[1]["first_invoice"]["id"] == str(first.pk)
    assert rows[1]["first_invoice"]["invoice_number"] == first.invoice_number
    assert rows[1]["last_invoice"]["id"] == str(last.pk)
    assert (rows[0]["invoice_status"], rows[0]["first_invoice"], rows[0]["last_invoice"]) == (
        None,
        None,
        None,
    )


def test_user_addons_query_count_is_constant(admin_client):
    user = buyer()
    item = addon_subscription(user, AddOnFactory())
    issue_invoice(user, [addon_draft(item)])
    one, _ = count_queries(lambda: admin_client.get(user_addons_url(user)))
    for _ in range(19):
        item = addon_subscription(user, AddOnFactory())
        issue_invoice(user, [addon_draft(item)])

    twenty, response = count_queries(lambda: admin_client.get(user_addons_url(user)))

    assert len(response.json()["addon_subscriptions"]) == 20
    assert one == twenty <= 5


def test_user_addons_of_an_unknown_user(admin_client):
    missing = "/api/v1/admin/users/00000000-0000-0000-0000-000000000000/addons"

    for response in (admin_client.get(missing), admin_client.post(missing, {}, format="json")):
        assert response.status_code == 404
        assert response.json() == {"error": "User not found", "code": "not_found"}


def test_grant(admin_client):
    user = buyer()
    addon = AddOnFactory(name="Extra")
    until = (timezone.now() + 10 * DAY).replace(microsecond=0)

    response = admin_client.post(
        user_addons_url(user),
        {"addon_id": str(addon.pk), "expires_at": until.isoformat(), "reason": "Promo"},
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert list(body) == ["addon_subscription", "message"]
    assert body["message"] == "Add-on granted"
    data = body["addon_subscription"]
    assert list(data) == USER_ADDON_KEYS
    assert (data["status"], data["invoice_id"], data["addon_name"]) == ("ACTIVE", None, "Extra")
    assert AddOnSubscription.objects.get(pk=data["id"]).expires_at == until


@pytest.mark.parametrize(
    ("case", "code", "message"),
    [
        ("unknown", "validation_error", "Add-on not found"),
        ("inactive", "item_unavailable", "Add-on Closed is not active"),
        ("binding", "business_rule", "Add-on Bound requires a subscription to one of its plans"),
        ("subscription", "validation_error", "Subscription not found"),
        ("expires", "validation_error", "expires_at must be a datetime"),
    ],
)
def test_grant_refusals(admin_client, case, code, message):
    user = buyer()
    body = {"addon_id": str(AddOnFactory().pk)}
    if case == "unknown":
        body["addon_id"] = "00000000-0000-0000-0000-000000000000"
    elif case == "inactive":
        body["addon_id"] = str(AddOnFactory(name="Closed", is_active=False).pk)
    elif case == "binding":
        bound = AddOnFactory(name="Bound")
        bound.plans.add(PlanFactory())
        body["addon_id"] = str(bound.pk)
    elif case == "subscription":
        body["subscription_id"] = str(SubscriptionFactory().pk)
    else:
        body["expires_at"] = "tomorrow"

    response = admin_client.post(user_addons_url(user), body, format="json")

    assert error(response) == (400, code, message)
    assert not AddOnSubscription.objects.filter(user=user).exists()


def test_staff_cancel_of_a_users_addon(admin_client):
    user = buyer()
    later = AddOnSubscriptionFactory(user=user)
    now = AddOnSubscriptionFactory(user=user)

    first = admin_client.post(user_addons_url(user, f"/{later.pk}/cancel"))
    second = admin_client.post(
        user_addons_url(user, f"/{now.pk}/cancel"), {"immediate": "true"}, format="json"
    )
    again = admin_client.post(user_addons_url(user, f"/{now.pk}/cancel"))

    assert first.status_code == second.status_code == 200
    assert first.json()["message"] == "Add-on cancelled"
    assert first.json()["addon_subscription"]["is_valid"] is True
    assert second.json()["addon_subscription"]["is_valid"] is False
    assert error(again) == (400, "invalid_transition", "Add-on subscription cannot be cancelled")


def test_staff_cancel_of_another_users_addon_is_not_found(admin_client):
    user = buyer()
    foreign = AddOnSubscriptionFactory()

    response = admin_client.post(user_addons_url(user, f"/{foreign.pk}/cancel"))

    assert response.status_code == 404
    assert response.json() == {"error": "Add-on subscription not found", "code": "not_found"}
    assert AddOnSubscription.objects.get(pk=foreign.pk).status == "ACTIVE"


# --- input checks, in the order they are reported -------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "body", "message"),
    [
        ("/extend", {"days": "x", "until": "soon", "reason": 5},
         "days must be an integer between 1 and 3650"),
        ("/extend", {"until": "soon", "reason": 5}, "until must be a datetime"),
        ("/extend", {"days": "2", "reason": 5}, "reason must be a string"),
        ("/cancel", {"reason": 5, "immediate": "maybe"}, "reason must be a string"),
        ("/cancel", {"immediate": "maybe"}, "immediate must be true or false"),
        ("/activate", {"reason": "x" * 501}, "reason must be at most 500 characters"),
        ("/refund", {"amount": "1", "reason": [], "force": "maybe"}, "reason must be a string"),
        ("/refund", {"force": "maybe"}, "force must be true or false"),
    ],
)  # fmt: skip
def test_staff_subscription_input_refusals(admin_client, suffix, body, message):
    subscription = SubscriptionFactory()

    response = admin_client.post(url(subscription, suffix), body, format="json")

    assert error(response) == (400, "validation_error", message)
    assert response.json()["errors"][message.split(" ")[0]] == [message]
    assert Subscription.objects.get(pk=subscription.pk).status == "ACTIVE"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"expires_at": "tomorrow", "reason": 5}, "expires_at must be a datetime"),
        ({"reason": 5}, "reason must be a string"),
        ({}, "addon_id is required"),
        ({"addon_id": None}, "addon_id is required"),
        ({"addon_id": "nope"}, "Add-on not found"),
    ],
)
def test_grant_input_refusals_in_order(admin_client, body, message):
    user = buyer()

    response = admin_client.post(user_addons_url(user), body, format="json")

    assert error(response) == (400, "validation_error", message)


def test_staff_addon_cancel_reports_immediate_before_reason(admin_client):
    user = buyer()
    item = AddOnSubscriptionFactory(user=user)

    response = admin_client.post(
        user_addons_url(user, f"/{item.pk}/cancel"),
        {"reason": 5, "immediate": "maybe"},
        format="json",
    )

    assert error(response) == (400, "validation_error", "immediate must be true or false")
    assert AddOnSubscription.objects.get(pk=item.pk).status == "ACTIVE"
