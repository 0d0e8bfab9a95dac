"""Token bundle endpoints: the public catalog and the admin API."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from audit.models import AuditEntry
from tokens.models import TokenBundle
from tokens.tests.factories import TokenBundleFactory, bundle_purchases, currency

pytestmark = pytest.mark.django_db

PUBLIC = "/api/v1/token-bundles"
ADMIN = "/api/v1/admin/token-bundles"
BUNDLE_KEYS = {
    "id",
    "name",
    "description",
    "token_amount",
    "price",
    "currency",
    "is_active",
    "sort_order",
    "created_at",
    "updated_at",
}
PAGE_KEYS = {"items", "total", "page", "per_page", "pages", "limit", "offset"}
NOT_FOUND = {"error": "Token bundle not found", "code": "not_found"}


def send(client, method, url, body=None, **extra):
    if method == "get":
        return client.get(url, **extra)
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(url, data=data, content_type="application/json", **extra)


def assert_bundle_shape(data: dict) -> None:
    assert set(data) == BUNDLE_KEYS
    assert isinstance(data["id"], str)
    uuid.UUID(data["id"])
    assert isinstance(data["name"], str)
    assert data["description"] is None or isinstance(data["description"], str)
    assert type(data["token_amount"]) is int
    assert isinstance(data["price"], str)
    assert isinstance(data["currency"], str)
    assert isinstance(data["is_active"], bool)
    assert type(data["sort_order"]) is int
    for key in ("created_at", "updated_at"):
        assert isinstance(data[key], str)
        assert data[key].endswith("Z")


# --- public -------------------------------------------------------------------------------------


def test_public_list_shows_active_bundles_by_sort_order_then_name(api_client):
    TokenBundleFactory(name="Zeta", sort_order=1)
    TokenBundleFactory(name="Alpha", sort_order=2)
    TokenBundleFactory(name="Beta", sort_order=1, description="Second")
    TokenBundleFactory(name="Hidden", is_active=False)

    response = api_client.get(PUBLIC)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"bundles"}
    assert [row["name"] for row in body["bundles"]] == ["Beta", "Zeta", "Alpha"]
    for row in body["bundles"]:
        assert_bundle_shape(row)
    assert body["bundles"][0]["description"] == "Second"


def test_public_list_formats_each_price_with_its_currency_places(api_client):
    currency("JPY", decimal_places=0)
    currency("KWD", decimal_places=3)
    TokenBundleFactory(name="a", sort_order=1, price=Decimal("5"), currency="EUR")
    TokenBundleFactory(name="b", sort_order=2, price=Decimal("1200"), currency="JPY")
    TokenBundleFactory(name="c", sort_order=3, price=Decimal("1.234"), currency="KWD")
    TokenBundleFactory(name="d", sort_order=4, price=Decimal("0"), currency="USD")

    rows = api_client.get(PUBLIC).json()["bundles"]

    assert [(row["price"], row["currency"]) for row in rows] == [
        ("5.00", "EUR"),
        ("1200", "JPY"),
        ("1.234", "KWD"),
        ("0.00", "USD"),
    ]


def test_public_routes_ignore_a_bad_token_and_accept_a_trailing_slash():
    bundle = TokenBundleFactory()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    assert client.get(f"{PUBLIC}/").status_code == 200
    assert client.get(f"{PUBLIC}/{bundle.pk}/").status_code == 200


def test_public_list_is_empty_without_bundles(api_client):
    assert api_client.get(PUBLIC).json() == {"bundles": []}


def test_public_list_runs_a_constant_number_of_queries(api_client, django_assert_num_queries):
    TokenBundleFactory()
    with django_assert_num_queries(2):  # bundles, currencies
        assert len(api_client.get(PUBLIC).json()["bundles"]) == 1

    TokenBundleFactory.create_batch(49)
    with django_assert_num_queries(2):
        assert len(api_client.get(PUBLIC).json()["bundles"]) == 50


def test_public_detail_returns_inactive_bundles_too(api_client):
    bundle = TokenBundleFactory(is_active=False, price=Decimal("45"), token_amount=5000)

    response = api_client.get(f"{PUBLIC}/{bundle.pk}")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"bundle"}
    assert_bundle_shape(body["bundle"])
    assert body["bundle"]["id"] == str(bundle.pk)
    assert (body["bundle"]["price"], body["bundle"]["token_amount"]) == ("45.00", 5000)
    assert body["bundle"]["is_active"] is False


def test_public_detail_of_an_unknown_bundle_is_404(api_client):
    assert api_client.get(f"{PUBLIC}/{uuid.uuid4()}").json() == NOT_FOUND
    assert api_client.get(f"{PUBLIC}/{uuid.uuid4()}").status_code == 404
    malformed = api_client.get(f"{PUBLIC}/not-a-uuid")
    assert (malformed.status_code, malformed.json()) == (
        404,
        {"error": "Not found", "code": "not_found"},
    )


# --- admin: access ----------------------------------------------------------------------------


def _admin_routes(bundle_id) -> list[tuple[str, str]]:
    one = f"{ADMIN}/{bundle_id}"
    return [
        ("get", ADMIN),
        ("post", ADMIN),
        ("get", one),
        ("put", one),
        ("patch", one),
        ("delete", one),
        ("post", f"{one}/activate"),
        ("post", f"{one}/deactivate"),
    ]


def test_admin_routes_need_a_token(api_client):
    bundle = TokenBundleFactory()

    for method, url in _admin_routes(bundle.pk):
        response = send(api_client, method, url, {})
        assert response.status_code == 401, (method, url)
        assert response.json() == {
            "error": "Authorization header is required",
            "code": "not_authenticated",
        }


def test_admin_routes_refuse_non_admins(user_client):
    bundle = TokenBundleFactory(name="Untouched", is_active=True)

    for method, url in _admin_routes(bundle.pk):
        response = send(user_client, method, url, {"name": "Hacked", "token_amount": 1, "price": 1})
        assert response.status_code == 403, (method, url)
        assert response.json() == {"error": "Admin access required", "code": "permission_denied"}
    bundle.refresh_from_db()
    assert (bundle.name, bundle.is_active) == ("Untouched", True)
    assert TokenBundle.objects.count() == 1
    assert AuditEntry.objects.count() == 0


# --- admin: list --------------------------------------------------------------------------------


def test_admin_list_is_paginated_and_active_only_by_default(admin_client):
    for index in range(3):
        TokenBundleFactory(name=f"Active {index}", sort_order=index)
    TokenBundleFactory(name="Inactive", is_active=False, sort_order=-1)

    response = admin_client.get(ADMIN, {"per_page": 2, "page": 2})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == PAGE_KEYS
    assert (body["total"], body["page"], body["per_page"], body["pages"]) == (3, 2, 2, 2)
    assert (body["limit"], body["offset"]) == (2, 2)
    assert [row["name"] for row in body["items"]] == ["Active 2"]
    assert_bundle_shape(body["items"][0])


def test_admin_list_includes_inactive_on_request(admin_client):
    TokenBundleFactory(name="On", sort_order=2)
    TokenBundleFactory(name="Off", is_active=False, sort_order=1)

    def names(**query):
        response = admin_client.get(ADMIN, query)
        assert response.status_code == 200, response.json()
        return [row["name"] for row in response.json()["items"]]

    assert names(include_inactive="true") == ["Off", "On"]
    assert names(include_inactive="1") == ["Off", "On"]
    assert names(include_inactive="false") == ["On"]
    assert names(include_inactive="") == ["On"]
    assert names() == ["On"]
    assert names(limit=1, offset=1, include_inactive="yes") == ["On"]


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"include_inactive": "maybe"}, "include_inactive must be true or false"),
        ({"page": "two"}, "page must be an integer"),
        ({"limit": "x"}, "limit must be an integer"),
    ],
)
def test_admin_list_refuses_bad_parameters(admin_client, query, message):
    response = admin_client.get(ADMIN, query)

    assert response.status_code == 400
    assert response.json()["error"] == message
    assert response.json()["code"] == "validation_error"


def test_admin_list_runs_a_constant_number_of_queries(admin_client, django_assert_num_queries):
    TokenBundleFactory()
    # authentication, count, page, currencies
    with django_assert_num_queries(4):
        assert len(admin_client.get(ADMIN, {"per_page": 100}).json()["items"]) == 1

    TokenBundleFactory.create_batch(49)
    with django_assert_num_queries(4):
        assert len(admin_client.get(ADMIN, {"per_page": 100}).json()["items"]) == 50


# --- admin: create ------------------------------------------------------------------------------


def test_create_returns_201_with_the_bundle_and_defaults(admin_client):
    response = send(
        admin_client, "post", ADMIN, {"name": "Starter", "token_amount": 500, "price": 5}
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"bundle", "message"}
    assert body["message"] == "Token bundle created successfully"
    assert_bundle_shape(body["bundle"])
    bundle = body["bundle"]
    assert {key: bundle[key] for key in BUNDLE_KEYS - {"id", "created_at", "updated_at"}} == {
        "name": "Starter",
        "description": None,
        "token_amount": 500,
        "price": "5.00",
        "currency": "EUR",
        "is_active": True,
        "sort_order": 0,
    }
    row = TokenBundle.objects.get(pk=bundle["id"])
    assert row.price == Decimal("5.00")
    entry = AuditEntry.objects.get(action="token_bundle.created")
    assert (entry.object_id, entry.actor_id) == (bundle["id"], admin_client.user.pk)


def test_create_takes_every_write_field_and_ignores_unknown_ones(admin_client):
    currency("JPY", decimal_places=0)

    response = send(
        admin_client,
        "post",
        ADMIN,
        {
            "name": "Yen pack",
            "token_amount": 1000,
            "price": "1200",
            "currency": "jpy",
            "description": "Big",
            "is_active": False,
            "sort_order": 7,
            "id": str(uuid.uuid4()),
            "created_at": "2000-01-01T00:00:00Z",
            "color": "red",
        },
    )

    assert response.status_code == 201, response.json()
    bundle = response.json()["bundle"]
    assert (bundle["price"], bundle["currency"], bundle["description"]) == ("1200", "JPY", "Big")
    assert (bundle["is_active"], bundle["sort_order"]) == (False, 7)
    assert not bundle["created_at"].startswith("2000")


def test_create_reports_every_missing_field(admin_client):
    response = send(admin_client, "post", ADMIN, {})

    assert response.status_code == 400
    assert response.json() == {
        "error": "Name is required",
        "code": "validation_error",
        "errors": {
            "name": ["Name is required"],
            "token_amount": ["Token amount must be a positive integer"],
            "price": ["Price is required"],
        },
    }


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": ""}, "name", "Name is required"),
        ({"token_amount": 0}, "token_amount", "Token amount must be a positive integer"),
        ({"token_amount": "many"}, "token_amount", "Token amount must be a positive integer"),
        ({"price": None}, "price", "Price is required"),
        ({"price": "-1.00"}, "price", "Price cannot be negative"),
        ({"price": "1,00"}, "price", "Invalid price"),
        ({"price": "1.001"}, "price", "Price must have at most 2 decimal places"),
        ({"currency": "ABC"}, "currency", "Currency 'ABC' is not supported"),
    ],
)
def test_create_validation_messages_change_nothing(admin_client, body, field, message):
    response = send(
        admin_client, "post", ADMIN, {"name": "Pack", "token_amount": 1, "price": "1", **body}
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": message,
        "code": "validation_error",
        "errors": {field: [message]},
    }
    assert TokenBundle.objects.count() == 0
    assert AuditEntry.objects.count() == 0


# --- admin: detail, update ----------------------------------------------------------------------


def test_admin_detail(admin_client):
    bundle = TokenBundleFactory(is_active=False)

    response = admin_client.get(f"{ADMIN}/{bundle.pk}")

    assert response.status_code == 200
    assert set(response.json()) == {"bundle"}
    assert_bundle_shape(response.json()["bundle"])
    assert response.json()["bundle"]["id"] == str(bundle.pk)


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("put", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/activate"),
        ("post", "/deactivate"),
    ],
)
def test_admin_unknown_bundle_is_404(admin_client, method, suffix):
    response = send(admin_client, method, f"{ADMIN}/{uuid.uuid4()}{suffix}", {"name": "x"})

    assert (response.status_code, response.json()) == (404, NOT_FOUND)


@pytest.mark.parametrize("method", ["put", "patch"])
def test_update_is_partial(admin_client, method):
    bundle = TokenBundleFactory(name="Old", token_amount=10, price=Decimal("1.00"), sort_order=3)

    response = send(
        admin_client,
        method,
        f"{ADMIN}/{bundle.pk}/",
        {"price": 2.5, "description": "Now with more", "unknown": 1},
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"bundle", "message"}
    assert body["message"] == "Token bundle updated successfully"
    assert_bundle_shape(body["bundle"])
    assert (body["bundle"]["name"], body["bundle"]["token_amount"]) == ("Old", 10)
    assert (body["bundle"]["price"], body["bundle"]["description"]) == ("2.50", "Now with more")
    assert body["bundle"]["sort_order"] == 3
    entry = AuditEntry.objects.get(action="token_bundle.updated")
    assert entry.after == {"price": "2.5", "description": "Now with more"}
    assert entry.actor_id == admin_client.user.pk


def test_update_with_an_empty_body_changes_nothing(admin_client):
    bundle = TokenBundleFactory()

    response = admin_client.put(f"{ADMIN}/{bundle.pk}")

    assert response.status_code == 200
    assert response.json()["message"] == "Token bundle updated successfully"
    assert AuditEntry.objects.count() == 0


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": ""}, "name", "Name cannot be empty"),
        ({"name": None}, "name", "Name cannot be empty"),
        ({"token_amount": -1}, "token_amount", "Token amount must be a positive integer"),
        ({"price": "-0.01"}, "price", "Price cannot be negative"),
        ({"price": "free"}, "price", "Invalid price"),
        ({"price": None}, "price", "Price is required"),
        ({"currency": "XXX"}, "currency", "Currency 'XXX' is not supported"),
    ],
)
def test_update_errors_change_nothing(admin_client, body, field, message):
    bundle = TokenBundleFactory(name="Keep", price=Decimal("1.00"))

    response = send(admin_client, "put", f"{ADMIN}/{bundle.pk}", {"sort_order": 9, **body})

    assert response.status_code == 400
    assert response.json() == {
        "error": message,
        "code": "validation_error",
        "errors": {field: [message]},
    }
    bundle.refresh_from_db()
    assert (bundle.name, bundle.price, bundle.sort_order) == ("Keep", Decimal("1.00"), 0)
    assert AuditEntry.objects.count() == 0


def test_update_to_a_currency_the_price_does_not_fit(admin_client):
    currency("JPY", decimal_places=0)
    bundle = TokenBundleFactory(price=Decimal("4.99"))

    refused = send(admin_client, "put", f"{ADMIN}/{bundle.pk}", {"currency": "JPY"})
    accepted = send(admin_client, "put", f"{ADMIN}/{bundle.pk}", {"currency": "JPY", "price": 800})

    assert refused.status_code == 400
    assert refused.json()["errors"] == {"price": ["Price must have at most 0 decimal places"]}
    assert accepted.status_code == 200
    assert (accepted.json()["bundle"]["price"], accepted.json()["bundle"]["currency"]) == (
        "800",
        "JPY",
    )


# --- admin: delete, activate, deactivate --------------------------------------------------------


def test_delete(admin_client):
    bundle = TokenBundleFactory()

    response = admin_client.delete(f"{ADMIN}/{bundle.pk}")

    assert (response.status_code, response.json()) == (
        200,
        {"message": "Token bundle deleted successfully"},
    )
    assert not TokenBundle.objects.filter(pk=bundle.pk).exists()
    entry = AuditEntry.objects.get(action="token_bundle.deleted")
    assert (entry.object_id, entry.actor_id) == (str(bundle.pk), admin_client.user.pk)


def test_delete_of_a_bought_bundle_is_409(admin_client):
    bundle = TokenBundleFactory()
    bundle_purchases(bundle, 2)

    response = admin_client.delete(f"{ADMIN}/{bundle.pk}")

    assert (response.status_code, response.json()) == (
        409,
        {
            "error": "Cannot delete token bundle with existing purchases. Deactivate instead.",
            "code": "has_dependencies",
        },
    )
    assert TokenBundle.objects.filter(pk=bundle.pk).exists()
    assert AuditEntry.objects.count() == 0


def test_deactivate_then_activate(admin_client, api_client):
    bundle = TokenBundleFactory(is_active=True)

    off = admin_client.post(f"{ADMIN}/{bundle.pk}/deactivate")
    hidden = api_client.get(PUBLIC).json()["bundles"]
    on = admin_client.post(f"{ADMIN}/{bundle.pk}/activate/")

    assert off.status_code == 200
    assert set(off.json()) == {"bundle", "message"}
    assert off.json()["message"] == "Token bundle deactivated"
    assert_bundle_shape(off.json()["bundle"])
    assert off.json()["bundle"]["is_active"] is False
    assert hidden == []
    assert on.status_code == 200
    assert on.json()["message"] == "Token bundle activated"
    assert on.json()["bundle"]["is_active"] is True
    assert list(AuditEntry.objects.order_by("created_at").values_list("action", "actor_id")) == [
        ("token_bundle.deactivated", admin_client.user.pk),
        ("token_bundle.activated", admin_client.user.pk),
    ]


def test_activating_an_active_bundle_is_a_no_op(admin_client):
    bundle = TokenBundleFactory(is_active=True)

    response = admin_client.post(f"{ADMIN}/{bundle.pk}/activate")

    assert response.status_code == 200
    assert response.json()["bundle"]["is_active"] is True
    assert AuditEntry.objects.count() == 0


def test_create_with_an_idempotency_key_replays(admin_client):
    body = {"name": "Once", "token_amount": 1, "price": "1.00"}

    first = send(admin_client, "post", ADMIN, body, HTTP_IDEMPOTENCY_KEY="bundle-1")
    second = send(admin_client, "post", ADMIN, body, HTTP_IDEMPOTENCY_KEY="bundle-1")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second["Idempotent-Replayed"] == "true"
    assert first.json() == second.json()
    assert TokenBundle.objects.count() == 1
