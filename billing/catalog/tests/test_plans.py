"""Plans: the public catalog with conversion and tax (docs/api/catalog.md) and the staff routes
(docs/api/admin-catalog.md)."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from billing.catalog import extensions
from billing.catalog.models import Currency, Plan, TaxRate
from billing.catalog.tests.factories import CategoryFactory, PlanFactory

pytestmark = pytest.mark.django_db

PLAN_KEYS = {
    "id",
    "name",
    "slug",
    "description",
    "price",
    "price_float",
    "currency",
    "billing_period",
    "is_recurring",
    "trial_days",
    "features",
    "is_active",
    "sort_order",
    "categories",
    "created_at",
    "updated_at",
}
TAX_KEYS = {"net_price", "tax_amount", "gross_price", "tax_rate", "tax_inclusive"}
PRICED_KEYS = PLAN_KEYS | {"display_currency", "display_price", "exchange_rate"}


def send(client, method, url, body=None):
    return getattr(client, method)(
        url, data=json.dumps(body or {}), content_type="application/json"
    )


def _tax(country: str, rate: str, *, inclusive: bool = False, **extra) -> TaxRate:
    return TaxRate.objects.create(
        country_code=country,
        name="VAT",
        code=f"VAT_{country}_{rate}_{inclusive}",
        rate=Decimal(rate),
        is_inclusive=inclusive,
        valid_from=extra.pop("valid_from", datetime.date(2020, 1, 1)),
        **extra,
    )


# --- public list ----------------------------------------------------------------------------


def test_public_list_shape_and_types(api_client):
    category = CategoryFactory(is_single=True)
    plan = PlanFactory(name="Pro", slug="pro", price=Decimal("29.99"), trial_days=14)
    plan.categories.add(category)
    PlanFactory(is_active=False)

    response = api_client.get("/api/v1/tarif-plans", HTTP_AUTHORIZATION="Bearer expired")

    assert response.status_code == 200
    body = response.json()
    assert (body["currency"], body["country"]) == ("EUR", None)
    assert len(body["plans"]) == 1
    item = body["plans"][0]
    assert set(item) == PRICED_KEYS
    assert item["price"] == {
        "price_decimal": "29.99",
        "price_float": 29.99,
        "currency_code": "EUR",
        "currency_symbol": "€",
    }
    assert item["price_float"] == 29.99
    assert isinstance(item["display_price"], float)
    assert item["display_price"] == 29.99
    assert item["exchange_rate"] == "1.000000"
    assert (item["billing_period"], item["is_recurring"], item["trial_days"]) == (
        "MONTHLY",
        True,
        14,
    )
    assert item["categories"] == [
        {"id": str(category.pk), "name": category.name, "slug": category.slug, "is_single": True}
    ]


def test_display_currency_conversion_is_exact_to_the_cent(api_client):
    PlanFactory(price=Decimal("29.99"))

    body = api_client.get("/api/v1/tarif-plans", {"currency": "usd"}).json()

    # 29.99 × 1.08 = 32.3892 → 32.39 (ROUND_HALF_UP)
    assert body["currency"] == "USD"
    assert body["plans"][0]["display_price"] == 32.39
    assert body["plans"][0]["exchange_rate"] == "1.080000"
    assert body["plans"][0]["price"]["price_decimal"] == "29.99"


def test_conversion_into_a_currency_without_minor_units(api_client):
    Currency.objects.create(code="JPY", name="Yen", symbol="¥", decimal_places=0,
                            exchange_rate=Decimal("161.530000"))  # fmt: skip
    PlanFactory(price=Decimal("9.99"))

    body = api_client.get("/api/v1/tarif-plans", {"currency": "JPY", "country": "DE"}).json()

    # 9.99 × 161.53 = 1613.6847 → 1614 yen; no tax rate: gross = net
    plan = body["plans"][0]
    assert plan["display_price"] == 1614
    assert isinstance(plan["display_price"], int)
    assert (plan["net_price"], plan["tax_amount"], plan["gross_price"]) == ("1614", "0", "1614")
    assert plan["tax_rate"] == "0.00"


def test_conversion_from_a_plan_in_another_currency(api_client):
    PlanFactory(price=Decimal("10.00"), currency="USD")

    body = api_client.get("/api/v1/tarif-plans").json()

    # 10.00 ÷ 1.08 = 9.259259… → 9.26 EUR
    assert body["plans"][0]["display_price"] == 9.26
    assert body["plans"][0]["exchange_rate"] == "0.925926"


def test_exclusive_tax_is_added(api_client):
    _tax("DE", "19.00")
    PlanFactory(price=Decimal("9.99"))

    plan = api_client.get("/api/v1/tarif-plans", {"country": "de"}).json()["plans"][0]

    # 9.99 × 19 % = 1.8981 → 1.90; gross 11.89
    assert set(plan) == PRICED_KEYS | TAX_KEYS
    assert (plan["net_price"], plan["tax_amount"], plan["gross_price"]) == ("9.99", "1.90", "11.89")
    assert (plan["tax_rate"], plan["tax_inclusive"]) == ("19.00", False)
    assert plan["display_price"] == 11.89


def test_inclusive_tax_is_extracted(api_client):
    _tax("AT", "20.00", inclusive=True)
    PlanFactory(price=Decimal("29.99"))

    plan = api_client.get("/api/v1/tarif-plans", {"country": "AT"}).json()["plans"][0]

    # 29.99 × 20 ÷ 120 = 4.99833… → 5.00; net 24.99
    assert (plan["net_price"], plan["tax_amount"], plan["gross_price"]) == (
        "24.99",
        "5.00",
        "29.99",
    )
    assert (plan["tax_rate"], plan["tax_inclusive"]) == ("20.00", True)
    assert plan["display_price"] == 29.99


def test_the_rate_valid_today_is_used(api_client):
    _tax("DE", "16.00", valid_from=datetime.date(2020, 7, 1), valid_to=datetime.date(2020, 12, 31))
    _tax("DE", "19.00", valid_from=datetime.date(2021, 1, 1))
    _tax("DE", "25.00", valid_from=datetime.date(2099, 1, 1))
    _tax("DE", "30.00", is_active=False, valid_from=datetime.date(2021, 1, 1))
    PlanFactory(price=Decimal("100.00"))

    plan = api_client.get("/api/v1/tarif-plans", {"country": "DE"}).json()["plans"][0]

    assert plan["tax_rate"] == "19.00"
    assert plan["gross_price"] == "119.00"


def test_category_filter_and_ordering(api_client):
    category = CategoryFactory(slug="main")
    second = PlanFactory(name="B", sort_order=2)
    first = PlanFactory(name="Z", sort_order=1)
    same_order = PlanFactory(name="A", sort_order=2)
    PlanFactory(name="Outside")
    category.plans.add(second, first, same_order)

    body = api_client.get("/api/v1/tarif-plans", {"category": "main"}).json()

    assert [plan["name"] for plan in body["plans"]] == ["Z", "A", "B"]


@pytest.mark.parametrize(
    ("query", "status", "body"),
    [
        (
            {"currency": "XYZ"},
            400,
            {"error": "Currency 'XYZ' is not supported", "code": "validation_error"},
        ),
        ({"country": "XX"}, 400, {"error": "Unknown country code: XX", "code": "validation_error"}),
        ({"category": "nope"}, 404, {"error": "Category 'nope' not found", "code": "not_found"}),
    ],
)
def test_public_list_errors(api_client, query, status, body):
    response = api_client.get("/api/v1/tarif-plans", query)

    assert response.status_code == status
    assert {key: response.json()[key] for key in ("error", "code")} == body


def test_an_inactive_currency_is_not_supported(api_client):
    Currency.objects.filter(code="USD").update(is_active=False)

    response = api_client.get("/api/v1/tarif-plans", {"currency": "USD"})

    assert response.json()["error"] == "Currency 'USD' is not supported"


def test_public_list_runs_a_constant_number_of_queries(api_client, django_assert_num_queries):
    _tax("DE", "19.00")
    category = CategoryFactory(slug="main")
    category.plans.add(PlanFactory())

    # display currency, currencies, country, tax rate, category, plans, their categories
    with django_assert_num_queries(7):
        api_client.get("/api/v1/tarif-plans", {"country": "DE", "category": "main"})
    for plan in PlanFactory.create_batch(49):
        category.plans.add(plan)
    with django_assert_num_queries(7):
        response = api_client.get("/api/v1/tarif-plans", {"country": "DE", "category": "main"})

    assert len(response.json()["plans"]) == 50


def test_plan_by_slug_or_id_includes_inactive_plans(api_client):
    plan = PlanFactory(slug="legacy", is_active=False)

    by_slug = api_client.get("/api/v1/tarif-plans/legacy", {"currency": "USD"})
    by_id = api_client.get(f"/api/v1/tarif-plans/{plan.pk}/")
    missing = api_client.get("/api/v1/tarif-plans/no-such-plan")

    assert by_slug.status_code == 200
    assert by_slug.json()["id"] == str(plan.pk)
    assert by_slug.json()["is_active"] is False
    assert by_slug.json()["display_currency"] == "USD"
    assert by_id.json()["slug"] == "legacy"
    assert missing.status_code == 404
    assert missing.json() == {"error": "Plan not found", "code": "not_found"}


# --- staff ----------------------------------------------------------------------------------

ADMIN = "/api/v1/admin/tarif-plans"


def test_admin_list_hides_archived_and_counts_subscribers(admin_client):
    plan = PlanFactory(name="Live")
    PlanFactory(name="Old", is_archived=True, is_active=False)
    with extensions.SUBSCRIBER_COUNTS.answered_by(lambda plans: {plan.pk: 7}):
        listing = admin_client.get(ADMIN).json()
        everything = admin_client.get(ADMIN, {"include_archived": "true"}).json()

    assert listing["total"] == 1
    assert set(listing["plans"][0]) == PLAN_KEYS | {"is_archived", "subscriber_count"}
    assert listing["plans"][0]["subscriber_count"] == 7
    assert everything["total"] == 2


def test_admin_list_filters(admin_client):
    category = CategoryFactory(slug="gold")
    inside = PlanFactory(name="Gold Plan", slug="gold-plan")
    category.plans.add(inside)
    PlanFactory(name="Silver", is_active=False)

    def names(**query):
        return [plan["name"] for plan in admin_client.get(ADMIN, query).json()["plans"]]

    assert names(category="gold") == ["Gold Plan"]
    assert names(search="GOLD-") == ["Gold Plan"]
    assert names(is_active="false") == ["Silver"]
    assert admin_client.get(ADMIN, {"is_active": "maybe"}).status_code == 400


def test_admin_list_runs_a_constant_number_of_queries(admin_client, django_assert_num_queries):
    # user, plans, categories, currencies, and one batch of subscriber counts for the page
    category = CategoryFactory()
    category.plans.add(PlanFactory())
    with django_assert_num_queries(5):
        admin_client.get(ADMIN)
    for plan in PlanFactory.create_batch(49):
        category.plans.add(plan)
    with django_assert_num_queries(5):
        assert admin_client.get(ADMIN).json()["total"] == 50


def test_create_with_defaults_derived_slug_and_feature_list(admin_client):
    category = CategoryFactory()

    response = send(
        admin_client,
        "post",
        ADMIN,
        {
            "name": "Team Plan!",
            "price": 19.5,
            "features": ["sso", "audit"],
            "category_ids": [str(category.pk)],
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Plan created successfully"
    plan = body["plan"]
    assert (plan["slug"], plan["currency"], plan["billing_period"]) == (
        "team-plan",
        "EUR",
        "MONTHLY",
    )
    assert plan["price"]["price_decimal"] == "19.50"
    assert plan["features"] == {"default_tokens": 0, "sso": True, "audit": True}
    assert [ref["id"] for ref in plan["categories"]] == [str(category.pk)]
    assert AuditEntry.objects.get(action="plan.created").actor_id == admin_client.user.pk


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"price": "1"}, "Name is required"),
        ({"name": "   ", "price": "1"}, "Name is required"),
        ({"name": "X"}, "Price is required"),
        ({"name": "X", "price": "-1"}, "Price cannot be negative"),
        ({"name": "X", "price": "abc"}, "Invalid price"),
        ({"name": "X", "price": "1.999"}, "Price must have at most 2 decimal places"),
        ({"name": "X", "price": "1", "billing_period": "hourly"}, "Invalid billing period: hourly"),
        ({"name": "X", "price": "1", "currency": "XYZ"}, "Currency 'XYZ' is not supported"),
        (
            {"name": "X", "price": "1", "trial_days": 400},
            "trial_days must be an integer between 0 and 365",
        ),
        (
            {"name": "X", "price": "1", "features": {"default_tokens": -1}},
            "default_tokens must be an integer at least 0",
        ),
        (
            {"name": "X", "price": "1", "slug": "Bad Slug"},
            "Slug must be lower-case letters and digits separated by single dashes (at most 100)",
        ),
    ],
)
def test_create_validation(admin_client, body, message):
    response = send(admin_client, "post", ADMIN, body)

    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["error"] == message
    assert not Plan.objects.exists()


def test_create_with_an_unknown_category(admin_client):
    missing = "2b1b0f8e-0000-4000-8000-000000000000"

    response = send(
        admin_client, "post", ADMIN, {"name": "X", "price": "1", "category_ids": [missing]}
    )

    assert response.json()["error"] == f"Category not found: {missing}"


def test_create_with_a_taken_slug_is_409(admin_client):
    PlanFactory(slug="pro")

    response = send(admin_client, "post", ADMIN, {"name": "Pro", "price": "1"})

    assert response.status_code == 409
    assert response.json() == {"error": "Slug already exists", "code": "conflict"}


def test_update_is_partial_and_audited(admin_client):
    plan = PlanFactory(name="Old", price=Decimal("5.00"), description="keep")

    response = send(admin_client, "put", f"{ADMIN}/{plan.pk}", {"name": "New", "price": "6.50"})

    assert response.json()["message"] == "Plan updated successfully"
    plan.refresh_from_db()
    assert (plan.name, plan.price, plan.description) == ("New", Decimal("6.50"), "keep")
    entry = AuditEntry.objects.get(action="plan.updated")
    assert entry.before == {"name": "Old", "price": "5.0000"}
    assert entry.after == {"name": "New", "price": "6.50"}


def test_currency_and_period_are_fixed_once_subscribed(admin_client):
    plan = PlanFactory()
    counter = lambda obj: 1  # noqa: E731 - a subscription exists
    with extensions.PLAN_USAGE.answered_by(counter):
        currency = send(admin_client, "put", f"{ADMIN}/{plan.pk}", {"currency": "USD"})
        period = send(admin_client, "put", f"{ADMIN}/{plan.pk}", {"billing_period": "YEARLY"})
        deletion = admin_client.delete(f"{ADMIN}/{plan.pk}")
        price = send(admin_client, "put", f"{ADMIN}/{plan.pk}", {"price": "12.00"})

    assert currency.json() == {
        "error": "Currency cannot be changed while the plan has subscriptions",
        "code": "business_rule",
    }
    assert (
        period.json()["error"]
        == "Billing period cannot be changed while the plan has subscriptions"
    )
    assert deletion.status_code == 409
    assert deletion.json() == {
        "error": "Cannot delete plan with existing subscriptions. Deactivate instead.",
        "code": "has_dependencies",
    }
    assert price.status_code == 200
    assert Plan.objects.filter(pk=plan.pk).exists()


def test_state_actions(admin_client):
    plan = PlanFactory()

    archived = admin_client.post(f"{ADMIN}/{plan.pk}/archive")
    activated = admin_client.post(f"{ADMIN}/{plan.pk}/activate")
    deactivated = admin_client.post(f"{ADMIN}/{plan.pk}/deactivate")

    assert archived.json()["message"] == "Plan archived"
    assert (archived.json()["plan"]["is_active"], archived.json()["plan"]["is_archived"]) == (
        False,
        True,
    )
    assert activated.json()["message"] == "Plan activated"
    assert (activated.json()["plan"]["is_active"], activated.json()["plan"]["is_archived"]) == (
        True,
        False,
    )
    assert deactivated.json()["message"] == "Plan deactivated"
    assert deactivated.json()["plan"]["is_active"] is False
    assert list(
        AuditEntry.objects.filter(object_id=str(plan.pk))
        .order_by("created_at")
        .values_list("action", flat=True)
    ) == ["plan.archived", "plan.activated", "plan.deactivated"]


def test_copy_makes_an_inactive_copy_with_a_free_slug(admin_client):
    category = CategoryFactory()
    plan = PlanFactory(name="Pro", slug="pro", trial_days=7, features={"default_tokens": 5})
    plan.categories.add(category)
    PlanFactory(slug="pro-copy")

    response = admin_client.post(f"{ADMIN}/{plan.pk}/copy")

    assert response.status_code == 201
    assert response.json()["message"] == "Plan copied successfully"
    copy = response.json()["plan"]
    assert (copy["name"], copy["slug"], copy["is_active"]) == ("Pro (copy)", "pro-copy-2", False)
    assert (copy["trial_days"], copy["features"]) == (7, {"default_tokens": 5})
    assert [ref["id"] for ref in copy["categories"]] == [str(category.pk)]


def test_delete_an_unused_plan(admin_client):
    plan = PlanFactory()

    response = admin_client.delete(f"{ADMIN}/{plan.pk}")

    assert response.json() == {"message": "Plan deleted successfully"}
    assert not Plan.objects.filter(pk=plan.pk).exists()
    assert AuditEntry.objects.filter(action="plan.deleted").count() == 1


def test_unknown_plan_is_404(admin_client):
    url = f"{ADMIN}/2b1b0f8e-0000-4000-8000-000000000000"
    responses = (admin_client.get(url), send(admin_client, "put", url), admin_client.delete(url))
    for response in responses:
        assert response.status_code == 404
        assert response.json() == {"error": "Plan not found", "code": "not_found"}


def test_staff_routes_need_an_admin(user_client):
    assert user_client.get(ADMIN).status_code == 403
    assert APIClient().get(ADMIN).status_code == 401
