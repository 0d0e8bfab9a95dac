"""The analytics routes: access, the answers' shapes and numbers, input errors, a constant number
of queries, and the schema."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
import time_machine
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from accounts.tests.factories import UserFactory
from billing.catalog.models import AddOn, BillingPeriod, Plan
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from conftest import bearer
from plugins import services
from plugins.analytics.tests.fixtures import NOW, build_business

pytestmark = pytest.mark.django_db

ROUTES = ("admin/analytics/dashboard", "admin/analytics/revenue")
ALIASES = ("plugins/analytics/dashboard", "plugins/analytics/revenue")
NOT_ENABLED = {"error": "Plugin 'analytics' is not enabled", "code": "not_found"}
PERIOD = {"start": "2026-03-01", "end": "2026-03-31"}


@pytest.fixture
def enabled():
    services.plugin_enable(name="analytics")


def _get(client, path: str, **query):
    return client.get(f"/api/v1/{path}", query)


def _staff_client() -> APIClient:
    """A staff member's client with a token issued at the current (travelled) time."""
    staff = UserFactory(role="ADMIN")
    User.objects.filter(pk=staff.pk).update(
        created_at=datetime.datetime(2025, 1, 1, tzinfo=datetime.UTC)
    )
    client = APIClient()
    client.credentials(**bearer(staff))
    return client


@pytest.mark.parametrize("path", ROUTES + ALIASES)
def test_a_disabled_plugin_answers_404_before_authentication(path, admin_client):
    anonymous = _get(APIClient(), path)
    staff = _get(admin_client, path)

    for response in (anonymous, staff):
        assert response.status_code == 404
        assert response.json() == NOT_ENABLED


@pytest.mark.parametrize("path", ROUTES + ALIASES)
def test_disabling_turns_the_routes_off_again(path, admin_client, enabled):
    assert _get(admin_client, path).status_code == 200

    services.plugin_disable(name="analytics")

    assert _get(admin_client, path).json() == NOT_ENABLED


@pytest.mark.parametrize("path", ROUTES + ALIASES)
def test_staff_only(path, enabled, user_client):
    anonymous = _get(APIClient(), path)
    customer = _get(user_client, path)

    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "error": "Authorization header is required",
        "code": "not_authenticated",
    }
    assert customer.status_code == 403
    assert customer.json() == {"error": "Admin access required", "code": "permission_denied"}


@pytest.mark.parametrize("path", [*ROUTES, *ALIASES, "admin/analytics/dashboard/"])
def test_trailing_slash_is_optional(path, admin_client, enabled):
    assert _get(admin_client, path).status_code == 200


def test_dashboard_answer(enabled):
    build_business()

    with time_machine.travel(NOW, tick=False):
        response = _get(_staff_client(), "admin/analytics/dashboard", **PERIOD)

    assert response.status_code == 200
    assert response.json() == {
        "mrr": {"total": 125.5, "change_percent": -1.6},
        "arr": {"total": 1506.0, "change_percent": -1.6},
        "revenue": {"total": 120.0, "change_percent": 300.0},
        "active_subscriptions": {"total": 9, "change_percent": 12.5},
        "user_growth": {"total": 4, "change_percent": 300.0},
        "churn": {"total": 12.5, "change_percent": 12.5},
        "conversion": {"total": 50.0, "change_percent": 100.0},
        "arpu": {"total": 15.69, "change_percent": -1.6},
        "currency": "EUR",
        "period": {
            "start": "2026-03-01",
            "end": "2026-03-31",
            "previous_start": "2026-01-29",
            "previous_end": "2026-02-28",
        },
    }
    assert b'"total":125.5' in response.content.replace(b" ", b"")


def test_revenue_answer_in_another_currency(enabled):
    build_business()

    with time_machine.travel(NOW, tick=False):
        response = _get(
            _staff_client(), "plugins/analytics/revenue", interval="Month", currency="usd",
            start="2026-02-01", end="2026-03-31",
        )  # fmt: skip

    assert response.status_code == 200
    assert response.json() == {
        "total": 187.5,
        "change_percent": 100.0,
        "currency": "USD",
        "interval": "month",
        "data": [{"date": "2026-02-01", "value": 37.5}, {"date": "2026-03-01", "value": 150.0}],
    }


def test_revenue_defaults_to_days_of_the_last_30_days(enabled):
    with time_machine.travel(datetime.datetime(2026, 3, 31, 10, tzinfo=datetime.UTC)):
        response = _get(_staff_client(), "admin/analytics/revenue", start="", end="", interval="")

    body = response.json()
    assert (body["interval"], body["currency"], body["total"]) == ("day", "EUR", 0.0)
    assert [point["date"] for point in body["data"]][::29] == ["2026-03-02", "2026-03-31"]
    assert len(body["data"]) == 30
    assert {point["value"] for point in body["data"]} == {0.0}


@pytest.mark.parametrize(
    ("path", "query", "field", "message"),
    [
        ("admin/analytics/dashboard", {"start": "2026-03-02", "end": "2026-03-01"}, "start",
         "start must not be after end"),
        ("admin/analytics/revenue", {"start": "2026-03-02", "end": "2026-03-01"}, "start",
         "start must not be after end"),
        ("admin/analytics/revenue", {"interval": "year"}, "interval",
         "interval must be day, week or month"),
        ("admin/analytics/dashboard", {"currency": "XYZ"}, "currency",
         "Currency 'XYZ' is not supported"),
        ("admin/analytics/revenue", {"currency": "xyz"}, "currency",
         "Currency 'xyz' is not supported"),
        ("admin/analytics/dashboard", {"currency": "EURO"}, "currency",
         "Currency 'EURO' is not supported"),
        ("admin/analytics/dashboard", {"start": "01.03.2026"}, "start",
         "start must be a date (YYYY-MM-DD)"),
        ("admin/analytics/dashboard", {"end": "2026-02-30"}, "end",
         "end must be a date (YYYY-MM-DD)"),
        ("admin/analytics/dashboard", {"currency": "EU\u0000"}, "currency", None),
        ("admin/analytics/dashboard", {"start": "1900-01-01", "end": "9998-12-31"}, "start",
         "The period is too long to be compared with the one before it"),
        ("admin/analytics/revenue", {"start": "1990-01-01", "end": "2026-01-01"}, "interval",
         "The range holds more than 3660 points of one day; choose a longer interval or a "
         "shorter range"),
    ],
)  # fmt: skip
def test_bad_input_is_a_400(admin_client, enabled, path, query, field, message):
    response = _get(admin_client, path, **query)

    body = response.json()
    assert response.status_code == 400
    assert body["code"] == "validation_error"
    assert list(body["errors"]) == [field]
    if message is not None:
        assert body["error"] == message
        assert body["errors"] == {field: [message]}


def _status(n: int) -> str:
    if n % 5 == 0:
        return SubscriptionStatus.TRIALING
    if n % 7 == 0:
        return SubscriptionStatus.CANCELLED
    return SubscriptionStatus.ACTIVE


def _customers(numbers: range) -> None:
    """A customer with a subscription per number (every fifth a trial, every seventh other one
    cancelled, a tenth with an add-on in another currency), written in bulk."""
    plan, _ = Plan.objects.get_or_create(
        slug="count-pro",
        defaults={"name": "Pro", "price": Decimal("9.00"), "currency": "EUR",
                  "billing_period": BillingPeriod.MONTHLY},
    )  # fmt: skip
    addon, _ = AddOn.objects.get_or_create(
        slug="count-seats",
        defaults={"name": "Seats", "price": Decimal("2.00"), "currency": "USD",
                  "billing_period": BillingPeriod.WEEKLY},
    )  # fmt: skip
    start = datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)
    users = User.objects.bulk_create(
        [User(email=f"count-{n}@example.com", password="!") for n in numbers]
    )
    subscriptions = Subscription.objects.bulk_create(
        [
            Subscription(
                user=user,
                plan=plan,
                status=_status(n),
                started_at=start,
                current_period_start=start,
                trial_end_at=start + datetime.timedelta(days=90) if n % 5 == 0 else None,
                cancelled_at=(
                    start + datetime.timedelta(days=40)
                    if _status(n) == SubscriptionStatus.CANCELLED
                    else None
                ),
                expires_at=start + datetime.timedelta(days=60),
            )
            for n, user in zip(numbers, users, strict=True)
        ]
    )
    AddOnSubscription.objects.bulk_create(
        [
            AddOnSubscription(
                user_id=subscription.user_id, addon=addon, subscription=subscription,
                status=AddOnSubscriptionStatus.ACTIVE, starts_at=start,
            )
            for subscription in subscriptions[::10]
        ]
    )  # fmt: skip


class QueryCounter:
    """Counts the statements run while it wraps the connection (the query log is emptied when
    each request starts, so it cannot count a request's queries)."""

    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, *args):
        self.count += 1
        return execute(sql, *args)


def _queries_of(client, path: str, **query) -> tuple[int, dict]:
    client.get(f"/api/v1/{path}", query)  # the plugin state is cached from here on
    queries = QueryCounter()
    with connection.execute_wrapper(queries):
        response = client.get(f"/api/v1/{path}", query)
    assert response.status_code == 200
    return queries.count, response.json()


@pytest.mark.parametrize(
    ("path", "query", "expected"),
    [
        # caller, currency check, currencies, coupons kept as recurring discounts, subscriptions
        # (figures and plans' MRR), add-ons' MRR, registrations, payments, credit notes
        ("admin/analytics/dashboard", {"currency": "USD"}, 9),
        # caller, currency check, currencies, payments, credit notes
        ("admin/analytics/revenue", {"currency": "USD", "interval": "week"}, 5),
    ],
)
def test_query_count_does_not_grow_with_the_data(enabled, path, query, expected):
    with time_machine.travel(datetime.datetime(2026, 3, 15, tzinfo=datetime.UTC)):
        admin_client = _staff_client()
        _customers(range(10))
        small, small_body = _queries_of(admin_client, path, **query)
        _customers(range(10, 1000))
        large, large_body = _queries_of(admin_client, path, **query)

    assert small == large == expected
    if path.endswith("dashboard"):
        # the figures did read every row: trials and active ones are live, cancelled ones not
        live = [n for n in range(1000) if _status(n) != SubscriptionStatus.CANCELLED]
        assert small_body["active_subscriptions"]["total"] == len([n for n in live if n < 10])
        assert large_body["active_subscriptions"]["total"] == len(live)


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    with django_db_blocker.unblock():
        response = Client().get("/api/v1/schema/", {"format": "json"})
    return json.loads(response.content)


@pytest.mark.parametrize("path", ROUTES + ALIASES)
def test_the_schema_documents_the_routes(schema, path):
    operation = schema["paths"][f"/api/v1/{path}/"]["get"]
    parameters = {parameter["name"]: parameter for parameter in operation["parameters"]}
    kind = path.rsplit("/", 1)[-1]
    component = "AnalyticsDashboard" if kind == "dashboard" else "AnalyticsRevenue"

    assert operation["tags"] == ["admin: analytics"]
    assert {"start", "end", "currency"} <= set(parameters)
    assert {"type": "string", "maxLength": 0} in parameters["start"]["schema"]["anyOf"]
    assert parameters["start"]["schema"]["anyOf"][0]["format"] == "date"
    assert parameters["start"]["allowEmptyValue"] is True
    assert operation["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": f"#/components/schemas/{component}"
    }
    assert {"200", "400", "401", "403", "404", "429"} <= set(operation["responses"])
    if kind == "revenue":
        assert set(parameters["interval"]["schema"]["enum"]) >= {"day", "week", "month"}


def test_the_schema_shapes_are_the_answers(schema):
    components = schema["components"]["schemas"]

    assert set(components["AnalyticsDashboard"]["required"]) == {
        "mrr", "arr", "revenue", "active_subscriptions", "user_growth", "churn", "conversion",
        "arpu", "currency", "period",
    }  # fmt: skip
    assert components["AnalyticsMetric"]["properties"]["total"]["type"] == "number"
    assert set(components["AnalyticsRevenue"]["required"]) == {
        "total", "change_percent", "currency", "interval", "data",
    }  # fmt: skip
    assert set(components["AnalyticsPeriod"]["required"]) == {
        "start", "end", "previous_start", "previous_end",
    }  # fmt: skip
