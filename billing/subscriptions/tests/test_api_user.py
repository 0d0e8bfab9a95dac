"""The user subscription and add-on endpoints: shapes, messages, filters,
pagination, the primary subscription, 404 for another user's rows on every route, query counts."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from billing.catalog.tests.factories import AddOnFactory, CategoryFactory, PlanFactory
from billing.invoices.models import InvoiceStatus
from billing.invoices.tests.factories import addon_draft, addon_subscription, issue_invoice
from billing.subscriptions.models import AddOnSubscription, Subscription, SubscriptionStatus
from billing.subscriptions.tests.factories import AddOnSubscriptionFactory, SubscriptionFactory
from conftest import bearer
from platform_settings.selectors import platform_settings_get

pytestmark = pytest.mark.django_db

S = SubscriptionStatus
BASE = "/api/v1/user/subscriptions"
ADDONS = "/api/v1/user/addons"
# Rows are created at moments relative to the real clock (tokens are issued by it).
T0 = timezone.now().replace(microsecond=0) + datetime.timedelta(days=1)
DAY = datetime.timedelta(days=1)
NOT_FOUND = {"error": "Subscription not found", "code": "not_found"}
ADDON_NOT_FOUND = {"error": "Add-on subscription not found", "code": "not_found"}

SUBSCRIPTION_KEYS = [
    "id", "user_id", "tarif_plan_id", "plan", "pending_plan_id", "pending_plan", "status",
    "is_valid", "is_trialing", "is_recurring", "days_remaining", "started_at",
    "current_period_start", "current_period_end", "expires_at", "trial_end_at", "cancelled_at",
    "paused_at", "grace_until", "payment_method", "open_invoice_id", "discount", "created_at",
    "updated_at",
]  # fmt: skip
ADDON_KEYS = [
    "id", "user_id", "addon_id", "addon", "subscription_id", "invoice_id", "status", "is_valid",
    "starts_at", "expires_at", "cancelled_at", "created_at", "updated_at",
]  # fmt: skip


def mine(client, **kwargs) -> Subscription:
    return SubscriptionFactory(user=client.user, **kwargs)


def iso(moment: datetime.datetime) -> str:
    return moment.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ids(rows) -> list[str]:
    return [row["id"] for row in rows]


def reauthenticate(client) -> None:
    """A fresh access token issued at the (travelled) current time."""
    client.credentials(**bearer(client.user))


def query_count(client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    return len(queries)


# --- list ---------------------------------------------------------------------------------------


def test_list_returns_every_state_newest_first_with_total(user_client):
    with time_machine.travel(T0):
        older = mine(user_client, expired=True)
    with time_machine.travel(T0 + DAY):
        newer = mine(user_client)
    SubscriptionFactory()  # someone else's

    response = user_client.get(BASE)

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["subscriptions", "total"]
    assert body["total"] == 2
    assert ids(body["subscriptions"]) == [str(newer.pk), str(older.pk)]
    assert list(body["subscriptions"][0]) == SUBSCRIPTION_KEYS


def test_list_status_filter_any_case_alias_and_empty(user_client):
    active = mine(user_client)
    cancelled = mine(user_client, cancelled=True)

    def listed(query: str) -> list[str]:
        response = user_client.get(f"{BASE}?{query}")
        assert response.status_code == 200, response.json()
        return sorted(ids(response.json()["subscriptions"]))

    assert listed("status=active") == [str(active.pk)]
    assert listed("status=canceled") == [str(cancelled.pk)]
    assert listed("status=CANCELLED") == [str(cancelled.pk)]
    assert listed("status=") == sorted([str(active.pk), str(cancelled.pk)])


def test_list_unknown_status_is_a_validation_error(user_client):
    response = user_client.get(f"{BASE}?status=bogus")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Unknown status: bogus",
        "code": "validation_error",
        "errors": {"status": ["Unknown status: bogus"]},
    }


def test_list_pages_only_when_asked(user_client):
    rows = []
    for offset in range(3):
        with time_machine.travel(T0 + offset * DAY):
            rows.append(mine(user_client))
    newest_first = [str(row.pk) for row in reversed(rows)]

    paged = user_client.get(f"{BASE}?per_page=2&page=2").json()
    offset = user_client.get(f"{BASE}?limit=1&offset=1").json()

    keys = ("total", "page", "per_page", "pages", "limit", "offset")
    assert [paged[key] for key in keys] == [3, 2, 2, 2, 2, 2]
    assert ids(paged["subscriptions"]) == newest_first[2:]
    assert ids(offset["subscriptions"]) == newest_first[1:2]


def test_list_needs_a_token(api_client):
    response = api_client.get(BASE)

    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"


def test_list_query_count_is_constant(user_client):
    category = CategoryFactory()
    plan = PlanFactory()
    category.plans.add(plan)
    mine(user_client, plan=plan, past_due=True)
    platform_settings_get()  # read once, then cached (grace_until of PAST_DUE rows)
    one = query_count(user_client, BASE)
    for _ in range(19):
        mine(user_client, plan=PlanFactory(), past_due=True)

    twenty = query_count(user_client, BASE)

    assert one == twenty <= 4


def test_list_is_exactly_four_queries(user_client):
    category = CategoryFactory()
    plan, pending = PlanFactory(), PlanFactory()
    category.plans.add(plan)
    first = mine(user_client, plan=plan)
    Subscription.objects.filter(pk=first.pk).update(pending_plan=pending)
    for _ in range(2):
        mine(user_client, plan=PlanFactory())

    # The caller, the subscriptions with their plans and open invoices, the plans' categories,
    # the currencies' places.
    with CaptureQueriesContext(connection) as queries:
        response = user_client.get(BASE)

    assert len(queries) == 4
    row = next(row for row in response.json()["subscriptions"] if row["id"] == str(first.pk))
    assert row["plan"]["name"] == plan.name
    assert row["plan"]["categories"][0]["id"] == str(category.pk)
    assert row["pending_plan"] == {
        "id": str(pending.pk),
        "name": pending.name,
        "slug": pending.slug,
    }


# --- primary and current ------------------------------------------------------------------------


def test_active_is_null_without_a_current_subscription(user_client):
    mine(user_client, expired=True)
    mine(user_client, pending=True)

    response = user_client.get(f"{BASE}/active")

    assert response.status_code == 200
    assert response.json() == {"subscription": None}


def test_active_prefers_exclusive_then_status_then_newest(user_client):
    exclusive = CategoryFactory(is_single=True)
    shared = CategoryFactory(is_single=False)
    main_plan, extra_plan = PlanFactory(), PlanFactory()
    exclusive.plans.add(main_plan)
    shared.plans.add(extra_plan)
    with time_machine.travel(T0):
        in_exclusive = mine(user_client, plan=main_plan, paused=True)
    with time_machine.travel(T0 + DAY):
        mine(user_client, plan=extra_plan)
        mine(user_client, plan=extra_plan, trialing=True)

    assert user_client.get(f"{BASE}/active").json()["subscription"]["id"] == str(in_exclusive.pk)

    Subscription.objects.filter(pk=in_exclusive.pk).update(status=S.EXPIRED)
    with time_machine.travel(T0 + 2 * DAY):
        newest_active = mine(user_client, plan=extra_plan)
    body = user_client.get(f"{BASE}/active").json()
    assert body["subscription"]["id"] == str(newest_active.pk)
    assert body["subscription"]["status"] == "ACTIVE"


def test_active_ranks_trialing_over_cancelled(user_client):
    with time_machine.travel(T0):
        trial = mine(user_client, trialing=True)
    with time_machine.travel(T0 + DAY):
        mine(user_client, cancelled=True)

    assert user_client.get(f"{BASE}/active").json()["subscription"]["id"] == str(trial.pk)


def test_active_all_lists_current_ones_newest_first(user_client):
    with time_machine.travel(T0):
        past_due = mine(user_client, past_due=True)
    with time_machine.travel(T0 + DAY):
        cancelled_with_access = mine(user_client, cancelled=True)
    with time_machine.travel(T0 + 2 * DAY):
        paused = mine(user_client, paused=True)
    mine(user_client, expired=True)
    mine(user_client, pending=True)
    mine(user_client, cancelled=True, expires_at=timezone.now())  # access over
    SubscriptionFactory()

    response = user_client.get(f"{BASE}/active-all")

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["subscriptions"]
    assert ids(body["subscriptions"]) == [
        str(paused.pk),
        str(cancelled_with_access.pk),
        str(past_due.pk),
    ]


# --- detail and verbs ---------------------------------------------------------------------------


def test_detail(user_client):
    subscription = mine(user_client)

    response = user_client.get(f"{BASE}/{subscription.pk}")

    assert response.status_code == 200
    data = response.json()["subscription"]
    assert list(data) == SUBSCRIPTION_KEYS
    assert (data["id"], data["status"], data["is_valid"]) == (str(subscription.pk), "ACTIVE", True)


def test_cancel(user_client):
    subscription = mine(user_client)

    response = user_client.post(
        f"{BASE}/{subscription.pk}/cancel", {"reason": "Moving on"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["subscription", "message"]
    assert body["message"] == "Subscription cancelled. Access continues until expiration."
    assert (body["subscription"]["status"], body["subscription"]["is_valid"]) == (
        "CANCELLED",
        True,
    )
    assert Subscription.objects.get(pk=subscription.pk).cancel_reason == "Moving on"


def test_cancel_without_a_body(user_client):
    subscription = mine(user_client)

    response = user_client.post(f"{BASE}/{subscription.pk}/cancel")

    assert response.status_code == 200


def test_cancel_reason_is_limited_to_500_characters(user_client):
    subscription = mine(user_client)

    response = user_client.post(
        f"{BASE}/{subscription.pk}/cancel", {"reason": "x" * 501}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["error"] == "reason must be at most 500 characters"
    assert Subscription.objects.get(pk=subscription.pk).status == S.ACTIVE


@pytest.mark.parametrize(
    ("trait", "message"),
    [
        ({"pending": True}, "Subscription cannot be cancelled in status PENDING"),
        ({"cancelled": True}, "Subscription is already cancelled"),
        ({"expired": True}, "Subscription has already ended"),
    ],
)
def test_cancel_refusals(user_client, trait, message):
    subscription = mine(user_client, **trait)

    response = user_client.post(f"{BASE}/{subscription.pk}/cancel")

    assert response.status_code == 400
    assert response.json() == {"error": message, "code": "invalid_transition"}


def test_reactivate(user_client):
    subscription = mine(user_client)
    user_client.post(f"{BASE}/{subscription.pk}/cancel")

    response = user_client.post(f"{BASE}/{subscription.pk}/reactivate")

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Subscription reactivated. It will renew as usual."
    assert (body["subscription"]["status"], body["subscription"]["cancelled_at"]) == (
        "ACTIVE",
        None,
    )


def test_reactivate_refusals(user_client):
    active = mine(user_client)
    ended = mine(user_client, cancelled=True, expires_at=timezone.now())
    trial = mine(user_client, trialing=True)
    user_client.post(f"{BASE}/{trial.pk}/cancel")

    answers = [
        user_client.post(f"{BASE}/{row.pk}/reactivate").json() for row in (active, ended, trial)
    ]

    assert answers == [
        {"error": "Only cancelled subscriptions can be reactivated", "code": "invalid_transition"},
        {"error": "Subscription has already ended", "code": "invalid_transition"},
        {"error": "A cancelled trial cannot be reactivated", "code": "invalid_transition"},
    ]


def test_reactivate_exclusive_category_refusal(user_client):
    category = CategoryFactory(name="Readings", is_single=True)
    first, second = PlanFactory(), PlanFactory()
    category.plans.add(first, second)
    subscription = mine(user_client, plan=first, cancelled=True)
    mine(user_client, plan=second)

    response = user_client.post(f"{BASE}/{subscription.pk}/reactivate")

    assert response.status_code == 400
    assert response.json() == {
        "error": "You already have an active subscription in category 'Readings'. "
        "Upgrade or downgrade instead.",
        "code": "exclusive_category",
    }


def test_pause_and_resume(user_client):
    with time_machine.travel(T0, tick=False):
        subscription = mine(user_client)
        reauthenticate(user_client)
        paused = user_client.post(f"{BASE}/{subscription.pk}/pause")
    with time_machine.travel(T0 + 4 * DAY, tick=False):
        reauthenticate(user_client)
        resumed = user_client.post(f"{BASE}/{subscription.pk}/resume")

    assert paused.status_code == resumed.status_code == 200
    assert paused.json()["message"] == "Subscription paused."
    assert paused.json()["subscription"]["status"] == "PAUSED"
    assert paused.json()["subscription"]["paused_at"] == iso(T0)
    assert paused.json()["subscription"]["is_valid"] is False
    body = resumed.json()
    assert body["message"] == "Subscription resumed. Expiration extended by pause duration."
    assert body["subscription"]["status"] == "ACTIVE"
    assert body["subscription"]["expires_at"] == iso(T0 + 34 * DAY)  # 30 + 4 days


def test_pause_and_resume_refusals(user_client):
    trial = mine(user_client, trialing=True)
    paused = mine(user_client, paused=True)
    active = mine(user_client)

    assert user_client.post(f"{BASE}/{trial.pk}/pause").json() == {
        "error": "Only active subscriptions can be paused",
        "code": "invalid_transition",
    }
    assert user_client.post(f"{BASE}/{paused.pk}/pause").json() == {
        "error": "Subscription is already paused",
        "code": "invalid_transition",
    }
    assert user_client.post(f"{BASE}/{active.pk}/resume").json() == {
        "error": "Subscription is not paused",
        "code": "invalid_transition",
    }


# --- ownership ----------------------------------------------------------------------------------

SUBSCRIPTION_ROUTES = [
    ("get", ""),
    ("post", "/cancel"),
    ("post", "/reactivate"),
    ("post", "/pause"),
    ("post", "/resume"),
]


@pytest.mark.parametrize(("method", "suffix"), SUBSCRIPTION_ROUTES)
def test_another_users_subscription_is_not_found_on_every_route(user_client, method, suffix):
    foreign = SubscriptionFactory(cancelled=True)
    before = Subscription.objects.values().get(pk=foreign.pk)

    response = getattr(user_client, method)(f"{BASE}/{foreign.pk}{suffix}")
    unknown = getattr(user_client, method)(f"{BASE}/00000000-0000-0000-0000-000000000000{suffix}")

    assert (response.status_code, unknown.status_code) == (404, 404)
    assert response.json() == unknown.json() == NOT_FOUND
    assert Subscription.objects.values().get(pk=foreign.pk) == before


@pytest.mark.parametrize(("method", "suffix"), [("get", ""), ("post", "/cancel")])
def test_another_users_addon_is_not_found_on_every_route(user_client, method, suffix):
    foreign = AddOnSubscriptionFactory()

    response = getattr(user_client, method)(f"{ADDONS}/{foreign.pk}{suffix}")
    unknown = getattr(user_client, method)(f"{ADDONS}/00000000-0000-0000-0000-000000000000{suffix}")

    assert (response.status_code, unknown.status_code) == (404, 404)
    assert response.json() == unknown.json() == ADDON_NOT_FOUND
    assert AddOnSubscription.objects.get(pk=foreign.pk).status == "ACTIVE"


def test_a_path_id_that_is_not_a_uuid_is_not_found(user_client):
    assert user_client.get(f"{BASE}/123").status_code == 404
    assert user_client.get(f"{ADDONS}/abc/cancel").status_code == 404


# --- add-ons ------------------------------------------------------------------------------------


def test_addon_list_newest_first_with_filter_and_pagination(user_client):
    with time_machine.travel(T0):
        older = AddOnSubscriptionFactory(user=user_client.user, cancelled=True)
    with time_machine.travel(T0 + DAY):
        newer = AddOnSubscriptionFactory(user=user_client.user)
    AddOnSubscriptionFactory()

    body = user_client.get(ADDONS).json()
    assert list(body) == ["addon_subscriptions", "total"]
    assert body["total"] == 2
    assert ids(body["addon_subscriptions"]) == [str(newer.pk), str(older.pk)]
    assert list(body["addon_subscriptions"][0]) == ADDON_KEYS

    filtered = user_client.get(f"{ADDONS}?status=canceled").json()
    assert ids(filtered["addon_subscriptions"]) == [str(older.pk)]
    paged = user_client.get(f"{ADDONS}?per_page=1").json()
    assert (paged["total"], paged["pages"], ids(paged["addon_subscriptions"])) == (
        2,
        2,
        [str(newer.pk)],
    )
    assert user_client.get(f"{ADDONS}?status=nope").json()["error"] == "Unknown status: nope"


def test_addon_list_query_count_is_constant(user_client):
    AddOnSubscriptionFactory(user=user_client.user)
    one = query_count(user_client, ADDONS)
    for _ in range(19):
        AddOnSubscriptionFactory(user=user_client.user)

    assert query_count(user_client, ADDONS) == one <= 3


def test_addon_detail_includes_its_invoice(user_client):
    user = user_client.user
    item = addon_subscription(user, AddOnFactory())
    invoice = issue_invoice(user, [addon_draft(item)])
    AddOnSubscription.objects.filter(pk=item.pk).update(invoice=invoice)

    response = user_client.get(f"{ADDONS}/{item.pk}")

    assert response.status_code == 200
    data = response.json()["addon_subscription"]
    assert list(data) == [*ADDON_KEYS, "invoice"]
    assert data["invoice"]["id"] == str(invoice.pk)
    assert data["invoice"]["invoice_number"] == invoice.invoice_number
    assert data["invoice"]["status"] == "PENDING"


def test_addon_cancel(user_client):
    item = AddOnSubscriptionFactory(user=user_client.user)

    response = user_client.post(f"{ADDONS}/{item.pk}/cancel")

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["addon_subscription", "message"]
    assert body["message"] == "Add-on cancelled successfully"
    assert (body["addon_subscription"]["status"], body["addon_subscription"]["is_valid"]) == (
        "CANCELLED",
        True,
    )


def test_addon_cancel_of_a_pending_addon_voids_its_own_invoice(user_client):
    user = user_client.user
    item = addon_subscription(user, AddOnFactory())
    invoice = issue_invoice(user, [addon_draft(item)])
    AddOnSubscription.objects.filter(pk=item.pk).update(invoice=invoice)

    response = user_client.post(f"{ADDONS}/{item.pk}/cancel")

    assert response.status_code == 200
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED


def test_addon_cancel_refusals(user_client):
    user = user_client.user
    cancelled = AddOnSubscriptionFactory(user=user, cancelled=True)
    shared = addon_subscription(user, AddOnFactory())
    other = addon_subscription(user, AddOnFactory())
    invoice = issue_invoice(user, [addon_draft(shared), addon_draft(other)])
    AddOnSubscription.objects.filter(pk__in=[shared.pk, other.pk]).update(invoice=invoice)

    assert user_client.post(f"{ADDONS}/{cancelled.pk}/cancel").json() == {
        "error": "Add-on subscription cannot be cancelled",
        "code": "invalid_transition",
    }
    assert user_client.post(f"{ADDONS}/{shared.pk}/cancel").json() == {
        "error": "This add-on is part of an unpaid invoice with other items and cannot be "
        "cancelled separately",
        "code": "business_rule",
    }


# --- the public add-on catalog ------------------------------------------------------------------


def test_the_public_add_on_list_shows_those_bound_to_the_callers_valid_subscriptions(user_client):
    """The catalog asks this app which plans the caller holds: TRIALING, ACTIVE, PAST_DUE, and
    CANCELLED until its end; not an ended, expired or pending one, nor another user's."""
    names = ["Active", "Trial", "Past due", "Cancelled", "Ended", "Expired", "Pending", "Theirs"]
    plans = {name: PlanFactory() for name in names}
    AddOnFactory(name="Global")
    for name, plan in plans.items():
        AddOnFactory(name=f"For {name}").plans.add(plan)
    mine(user_client, plan=plans["Active"])
    mine(user_client, plan=plans["Trial"], trialing=True)
    mine(user_client, plan=plans["Past due"], past_due=True)
    mine(user_client, plan=plans["Cancelled"], cancelled=True)
    mine(
        user_client,
        plan=plans["Ended"],
        cancelled=True,
        expires_at=timezone.now() - datetime.timedelta(minutes=1),
    )
    mine(user_client, plan=plans["Expired"], expired=True)
    mine(user_client, plan=plans["Pending"], pending=True)
    SubscriptionFactory(plan=plans["Theirs"])

    listed = user_client.get("/api/v1/addons").json()["addons"]

    assert sorted(addon["name"] for addon in listed) == [
        "For Active",
        "For Cancelled",
        "For Past due",
        "For Trial",
        "Global",
    ]
