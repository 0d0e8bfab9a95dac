"""Currencies, countries and tax rates: the public lists, the staff routes, the
rules of the services, the back office and the overlap lock under concurrency."""

from __future__ import annotations

import datetime
import json
from decimal import Decimal
from functools import partial

import pytest
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory
from audit.models import AuditEntry
from billing.catalog import extensions, pricing
from billing.catalog.models import AddOn, Country, Currency, Plan, TaxRate
from billing.catalog.serializers.geography_input import TaxRateInputSerializer
from billing.catalog.services import geography
from billing.catalog.tests.factories_geography import CurrencyFactory, TaxRateFactory
from tests.support.race import run_together
from vbwd.exceptions import Conflict

pytestmark = pytest.mark.django_db

CURRENCY_KEYS = {
    "id",
    "code",
    "name",
    "symbol",
    "decimal_places",
    "exchange_rate",
    "is_default",
    "is_active",
    "created_at",
    "updated_at",
}
PUBLIC_CURRENCY_KEYS = {"code", "name", "symbol", "decimal_places", "is_default"}
COUNTRY_KEYS = {"id", "code", "name", "is_enabled", "position", "is_eu"}
TAX_RATE_KEYS = {
    "id",
    "country_code",
    "region_code",
    "name",
    "code",
    "rate",
    "is_inclusive",
    "is_active",
    "valid_from",
    "valid_to",
    "description",
    "in_use",
    "created_at",
    "updated_at",
}
SEEDED_ENABLED = ["DE", "AT", "CH"]


def send(client, method, url, body=None):
    if method == "get":
        return client.get(url)
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(url, data=data, content_type="application/json")


def assert_error(response, status, code, message):
    assert response.status_code == status, response.content
    body = response.json()
    assert (body["error"], body["code"]) == (message, code)


def enabled_codes() -> list[str]:
    return list(
        Country.objects.filter(is_enabled=True).order_by("position").values_list("code", flat=True)
    )


def rates() -> dict[str, str]:
    return {currency.code: str(currency.exchange_rate) for currency in Currency.objects.all()}


@pytest.fixture
def usage():
    """Registers usage counters as the invoice and token apps do: {kind: {pk: count}}."""
    counts: dict[str, dict] = {"currency": {}, "tax_rate": {}}
    counters = {
        kind: (lambda obj, kind=kind: counts[kind].get(obj.pk, 0))
        for kind in ("currency", "tax_rate")
    }
    with (
        extensions.CURRENCY_USAGE.answered_by(counters["currency"]),
        extensions.TAX_RATE_USAGE.answered_by(counters["tax_rate"]),
    ):
        yield counts


def _plan(currency: str) -> Plan:
    return Plan.objects.create(name="P", slug=f"p-{currency.lower()}", price=1, currency=currency)


def _addon(currency: str) -> AddOn:
    return AddOn.objects.create(name="A", slug=f"a-{currency.lower()}", price=1, currency=currency)


# --- public settings ------------------------------------------------------------------------


def test_public_currencies_list_active_ones_default_first_then_by_code(api_client):
    CurrencyFactory(code="AUD", name="Australian Dollar", symbol="A$")
    CurrencyFactory(code="CHF", is_active=False)

    response = api_client.get("/api/v1/config/currencies", HTTP_AUTHORIZATION="Bearer broken")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"currencies", "default"}
    assert body["default"] == "EUR"
    assert [item["code"] for item in body["currencies"]] == ["EUR", "AUD", "USD"]
    assert body["currencies"][0] == {
        "code": "EUR",
        "name": "Euro",
        "symbol": "€",
        "decimal_places": 2,
        "is_default": True,
    }
    assert all(set(item) == PUBLIC_CURRENCY_KEYS for item in body["currencies"])


def test_public_countries_are_the_enabled_ones_by_position_then_name(api_client):
    Country.objects.filter(code="FR").update(is_enabled=True, position=2)  # ties with CH

    response = api_client.get("/api/v1/settings/countries/")

    assert response.status_code == 200
    assert response.json() == {
        "countries": [
            {"code": "DE", "name": "Germany"},
            {"code": "AT", "name": "Austria"},
            {"code": "FR", "name": "France"},
            {"code": "CH", "name": "Switzerland"},
        ]
    }


def test_public_lists_run_constant_queries(api_client, django_assert_num_queries):
    with django_assert_num_queries(1):
        api_client.get("/api/v1/config/currencies")
    with django_assert_num_queries(1):
        api_client.get("/api/v1/settings/countries")
    CurrencyFactory.create_batch(50)
    Country.objects.update(is_enabled=True, position=5)

    with django_assert_num_queries(1):
        currencies = api_client.get("/api/v1/config/currencies")
    with django_assert_num_queries(1):
        countries = api_client.get("/api/v1/settings/countries")

    assert len(currencies.json()["currencies"]) == 52
    assert len(countries.json()["countries"]) == 36


# --- admin: permissions ---------------------------------------------------------------------

ADMIN_CALLS = [
    ("get", "/api/v1/admin/countries"),
    ("get", "/api/v1/admin/countries/enabled"),
    ("get", "/api/v1/admin/countries/disabled"),
    ("post", "/api/v1/admin/countries/FR/enable"),
    ("post", "/api/v1/admin/countries/DE/disable"),
    ("put", "/api/v1/admin/countries/reorder"),
    ("patch", "/api/v1/admin/countries/reorder"),
    ("get", "/api/v1/admin/currencies"),
    ("post", "/api/v1/admin/currencies"),
    ("get", "/api/v1/admin/currencies/USD"),
    ("put", "/api/v1/admin/currencies/USD"),
    ("patch", "/api/v1/admin/currencies/USD"),
    ("delete", "/api/v1/admin/currencies/USD"),
    ("post", "/api/v1/admin/currencies/USD/set-default"),
    ("get", "/api/v1/admin/tax-rates"),
    ("post", "/api/v1/admin/tax-rates"),
    ("get", "/api/v1/admin/tax-rates/{id}"),
    ("put", "/api/v1/admin/tax-rates/{id}"),
    ("patch", "/api/v1/admin/tax-rates/{id}"),
    ("delete", "/api/v1/admin/tax-rates/{id}"),
]


@pytest.mark.parametrize(("method", "path"), ADMIN_CALLS)
def test_admin_routes_refuse_customers_and_anonymous_callers(method, path, user_client):
    url = path.format(id=TaxRateFactory().pk)

    forbidden = send(user_client, method, url, {})
    anonymous = send(APIClient(), method, url, {})

    assert_error(forbidden, 403, "permission_denied", "Admin access required")
    assert_error(anonymous, 401, "not_authenticated", "Authorization header is required")
    assert not AuditEntry.objects.exists()
    assert enabled_codes() == SEEDED_ENABLED


# --- admin: countries -----------------------------------------------------------------------


def test_country_list_is_enabled_by_position_then_disabled_by_name(admin_client):
    response = admin_client.get("/api/v1/admin/countries")

    assert response.status_code == 200
    countries = response.json()["countries"]
    assert set(response.json()) == {"countries"}
    assert len(countries) == 36
    assert [c["code"] for c in countries[:3]] == SEEDED_ENABLED
    disabled_names = [c["name"] for c in countries[3:]]
    assert disabled_names == sorted(disabled_names)
    assert disabled_names[:3] == ["Australia", "Belgium", "Bulgaria"]
    germany = countries[0]
    assert set(germany) == COUNTRY_KEYS
    assert germany == {
        "id": str(Country.objects.get(code="DE").pk),
        "code": "DE",
        "name": "Germany",
        "is_enabled": True,
        "position": 0,
        "is_eu": True,
    }
    assert countries[2]["is_eu"] is False  # Switzerland
    assert all(c["position"] == 999 and c["is_enabled"] is False for c in countries[3:])


def test_enabled_and_disabled_lists(admin_client):
    enabled = admin_client.get("/api/v1/admin/countries/enabled").json()["countries"]
    disabled = admin_client.get("/api/v1/admin/countries/disabled/").json()["countries"]

    assert [c["code"] for c in enabled] == SEEDED_ENABLED
    assert len(disabled) == 33
    assert [c["name"] for c in disabled] == sorted(c["name"] for c in disabled)
    assert all(set(c) == COUNTRY_KEYS for c in enabled + disabled)


def test_country_lists_run_constant_queries(admin_client, django_assert_num_queries):
    paths = ["/api/v1/admin/countries", "/api/v1/admin/countries/enabled"]
    for path in paths:
        with django_assert_num_queries(2):  # authentication, countries
            admin_client.get(path)
    letters = [chr(code) for code in range(ord("A"), ord("Z") + 1)]
    Country.objects.bulk_create(
        Country(code=f"{first}{second}", name=f"Test {first}{second}", is_enabled=True, position=9)
        for first in "XY"
        for second in letters[:25]
    )

    for path in paths:
        with django_assert_num_queries(2):
            response = admin_client.get(path)
        assert len(response.json()["countries"]) >= 53


def test_enable_appends_the_country_and_returns_it_unwrapped(admin_client, admin_user):
    response = admin_client.post("/api/v1/admin/countries/fr/enable")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == COUNTRY_KEYS
    assert (body["code"], body["is_enabled"], body["position"]) == ("FR", True, 3)
    assert enabled_codes() == [*SEEDED_ENABLED, "FR"]
    entry = AuditEntry.objects.get(action="country.enabled")
    assert (entry.actor_id, entry.object_id) == (admin_user.pk, body["id"])
    assert (entry.before, entry.after) == (
        {"is_enabled": False, "position": 999},
        {"is_enabled": True, "position": 3},
    )


def test_enable_after_a_gap_takes_the_highest_position_plus_one(admin_client):
    admin_client.post("/api/v1/admin/countries/AT/disable")

    body = admin_client.post("/api/v1/admin/countries/GB/enable/").json()

    assert body["position"] == 3
    assert enabled_codes() == ["DE", "CH", "GB"]


def test_enable_an_enabled_country_changes_nothing(admin_client):
    response = admin_client.post("/api/v1/admin/countries/AT/enable")

    assert response.status_code == 200
    assert (response.json()["position"], response.json()["is_enabled"]) == (1, True)
    assert not AuditEntry.objects.exists()


def test_enable_when_nothing_is_enabled_starts_at_zero(admin_client):
    Country.objects.update(is_enabled=False, position=999)

    assert admin_client.post("/api/v1/admin/countries/JP/enable").json()["position"] == 0


def test_disable_resets_the_position(admin_client, admin_user):
    response = admin_client.post("/api/v1/admin/countries/at/disable")

    assert response.status_code == 200
    assert set(response.json()) == COUNTRY_KEYS
    assert (response.json()["is_enabled"], response.json()["position"]) == (False, 999)
    assert enabled_codes() == ["DE", "CH"]
    entry = AuditEntry.objects.get(action="country.disabled")
    assert entry.actor_id == admin_user.pk
    assert entry.before == {"is_enabled": True, "position": 1}
    again = admin_client.post("/api/v1/admin/countries/AT/disable")
    assert again.status_code == 200
    assert AuditEntry.objects.count() == 1


@pytest.mark.parametrize("action", ["enable", "disable"])
def test_enable_or_disable_an_unknown_country_is_404(admin_client, action):
    response = admin_client.post(f"/api/v1/admin/countries/xx/{action}")

    assert_error(response, 404, "not_found", "Country 'XX' not found")


def test_reorder_sets_each_position_to_its_index(admin_client, admin_user):
    admin_client.post("/api/v1/admin/countries/FR/enable")

    response = send(admin_client, "put", "/api/v1/admin/countries/reorder", {"codes": ["ch", "DE"]})

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"countries"}
    assert all(set(c) == COUNTRY_KEYS for c in body["countries"])
    assert [(c["code"], c["position"]) for c in body["countries"]] == [
        ("CH", 0),
        ("AT", 1),
        ("DE", 1),
        ("FR", 3),
    ]
    entry = AuditEntry.objects.get(action="countries.reordered")
    assert entry.actor_id == admin_user.pk
    assert (entry.before, entry.after) == ({"CH": 2, "DE": 0}, {"CH": 0, "DE": 1})


def test_reorder_accepts_patch_and_writes_nothing_when_unchanged(admin_client):
    response = send(admin_client, "patch", "/api/v1/admin/countries/reorder/", {"codes": ["DE"]})

    assert response.status_code == 200
    assert [c["code"] for c in response.json()["countries"]] == SEEDED_ENABLED
    assert not AuditEntry.objects.exists()


@pytest.mark.parametrize(
    ("body", "status", "code", "message"),
    [
        ({}, 400, "validation_error", "codes list required"),
        ({"codes": None}, 400, "validation_error", "codes list required"),
        ({"codes": []}, 400, "validation_error", "codes list required"),
        ({"codes": "DE,AT"}, 400, "validation_error", "codes must be a list"),
        ({"codes": {"DE": 0}}, 400, "validation_error", "codes must be a list"),
        ({"codes": ["AT", "fr"]}, 400, "validation_error", "Country 'FR' is not enabled"),
        ({"codes": ["AT", "xx"]}, 404, "not_found", "Country 'XX' not found"),
        ({"codes": ["AT", 7]}, 400, "validation_error", "codes must be a list of country codes"),
        ({"codes": ["AT", "at"]}, 400, "validation_error", "Country 'AT' is listed twice"),
    ],
)
def test_reorder_errors_change_nothing(admin_client, body, status, code, message):
    response = send(admin_client, "put", "/api/v1/admin/countries/reorder", body)

    assert_error(response, status, code, message)
    if status == 400:
        assert response.json()["errors"] == {"codes": [message]}
    assert enabled_codes() == SEEDED_ENABLED
    assert sorted(Country.objects.filter(is_enabled=True).values_list("position", flat=True)) == [
        0,
        1,
        2,
    ]
    assert not AuditEntry.objects.exists()


def test_the_fixed_country_routes_win_over_codes(admin_client):
    assert admin_client.get("/api/v1/admin/countries/enabled").status_code == 200
    assert admin_client.post("/api/v1/admin/countries/enabled").status_code == 405
    reorder = admin_client.post("/api/v1/admin/countries/reorder")
    assert reorder.status_code == 405


# --- admin: currencies ----------------------------------------------------------------------


def test_currency_list_shape_default_first_then_by_code(admin_client):
    CurrencyFactory(code="AUD", exchange_rate=Decimal("1.65"))

    response = admin_client.get("/api/v1/admin/currencies")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"currencies"}
    assert [c["code"] for c in body["currencies"]] == ["EUR", "AUD", "USD"]
    eur, aud, usd = body["currencies"]
    assert all(set(c) == CURRENCY_KEYS for c in body["currencies"])
    assert (eur["exchange_rate"], aud["exchange_rate"], usd["exchange_rate"]) == (
        "1.000000",
        "1.650000",
        "1.080000",
    )
    assert (eur["is_default"], eur["is_active"], eur["decimal_places"]) == (True, True, 2)
    assert isinstance(eur["id"], str)
    assert eur["created_at"].endswith("Z")


def test_currency_list_runs_constant_queries(admin_client, django_assert_num_queries):
    with django_assert_num_queries(2):
        admin_client.get("/api/v1/admin/currencies")
    CurrencyFactory.create_batch(50)

    with django_assert_num_queries(2):
        response = admin_client.get("/api/v1/admin/currencies")

    assert len(response.json()["currencies"]) == 52


def test_create_currency(admin_client, admin_user):
    response = send(
        admin_client,
        "post",
        "/api/v1/admin/currencies",
        {"code": "gbp", "name": " Pound Sterling ", "symbol": "£", "exchange_rate": 0.85, "x": 1},
    )

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"currency", "message"}
    assert body["message"] == "Currency created successfully"
    currency = body["currency"]
    assert set(currency) == CURRENCY_KEYS
    assert {key: currency[key] for key in CURRENCY_KEYS - {"id", "created_at", "updated_at"}} == {
        "code": "GBP",
        "name": "Pound Sterling",
        "symbol": "£",
        "decimal_places": 2,
        "exchange_rate": "0.850000",
        "is_default": False,
        "is_active": True,
    }
    entry = AuditEntry.objects.get(action="currency.created")
    assert (entry.actor_id, entry.object_id) == (admin_user.pk, currency["id"])
    assert entry.after["exchange_rate"] == "0.850000"


def test_create_currency_defaults_to_rate_one(admin_client):
    body = send(
        admin_client,
        "post",
        "/api/v1/admin/currencies",
        {"code": "XTS", "name": "T", "symbol": "T"},
    ).json()["currency"]

    assert (body["exchange_rate"], body["decimal_places"], body["is_active"]) == (
        "1.000000",
        2,
        True,
    )


@pytest.mark.parametrize(("code", "places"), [("JPY", 0), ("kwd", 3), ("CHF", 2)])
def test_a_new_currency_takes_its_iso_minor_unit_as_decimal_places(admin_client, code, places):
    # Payment providers count amounts in the ISO minor unit: 999 JPY is sent as 999, not 99900.
    body = send(
        admin_client,
        "post",
        "/api/v1/admin/currencies",
        {"code": code, "name": "N", "symbol": "N"},
    ).json()["currency"]

    assert (body["code"], body["decimal_places"]) == (code.upper(), places)


def test_a_zero_decimal_currency_converts_to_whole_units(admin_client):
    response = send(
        admin_client,
        "post",
        "/api/v1/admin/currencies",
        {
            "code": "JPY",
            "name": "Yen",
            "symbol": "¥",
            "decimal_places": 0,
            "exchange_rate": "160.5",
        },
    )

    assert response.status_code == 201
    body = response.json()["currency"]
    assert (body["decimal_places"], body["exchange_rate"]) == (0, "160.500000")
    jpy = Currency.objects.get(code="JPY")
    # 9.99 EUR × 160.5 = 1603.395 → 1603 yen; 29.99 × 160.5 = 4813.395 → 4813; 0.01 → 2
    converted = [
        pricing.convert(
            Decimal(amount),
            from_rate=Decimal(1),
            to_rate=jpy.exchange_rate,
            places=jpy.decimal_places,
        )
        for amount in ("9.99", "29.99", "0.01")
    ]
    assert [pricing.format_money(amount, 0) for amount in converted] == ["1603", "4813", "2"]
    # and back: 1603 yen ÷ 160.5 = 9.98753… → 9.99 EUR
    back = pricing.convert(Decimal(1603), from_rate=jpy.exchange_rate, to_rate=1, places=2)
    assert pricing.format_money(back, 2) == "9.99"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "X", "symbol": "X"}, "code", "Code is required"),
        ({"code": "EURO", "name": "X", "symbol": "X"}, "code", "code must be a 3-letter code"),
        ({"code": "E1R", "name": "X", "symbol": "X"}, "code", "code must be a 3-letter code"),
        ({"code": 123, "name": "X", "symbol": "X"}, "code", "code must be a 3-letter code"),
        ({"code": "XTS", "symbol": "X"}, "name", "Name is required"),
        ({"code": "XTS", "name": "  ", "symbol": "X"}, "name", "Name is required"),
        ({"code": "XTS", "name": "X"}, "symbol", "Symbol is required"),
        (
            {"code": "XTS", "name": "X", "symbol": "X", "decimal_places": 5},
            "decimal_places",
            "decimal_places must be a whole number from 0 to 4",
        ),
        (
            {"code": "XTS", "name": "X", "symbol": "X", "decimal_places": 1.5},
            "decimal_places",
            "decimal_places must be a whole number from 0 to 4",
        ),
        (
            {"code": "XTS", "name": "X", "symbol": "X", "exchange_rate": 0},
            "exchange_rate",
            "exchange_rate must be greater than 0",
        ),
        (
            {"code": "XTS", "name": "X", "symbol": "X", "exchange_rate": "-1.5"},
            "exchange_rate",
            "exchange_rate must be greater than 0",
        ),
        (
            {"code": "XTS", "name": "X", "symbol": "X", "exchange_rate": "1.0000001"},
            "exchange_rate",
            "exchange_rate must have at most 6 decimal places",
        ),
        (
            {"code": "XTS", "name": "X", "symbol": "X", "exchange_rate": "abc"},
            "exchange_rate",
            "exchange_rate must be a number",
        ),
        (
            {"code": "XTS", "name": "X", "symbol": "X", "is_active": "perhaps"},
            "is_active",
            "is_active must be true or false",
        ),
    ],
)
def test_create_currency_validation(admin_client, body, field, message):
    response = send(admin_client, "post", "/api/v1/admin/currencies", body)

    assert_error(response, 400, "validation_error", message)
    assert response.json()["errors"] == {field: [message]}
    assert Currency.objects.count() == 2
    assert not AuditEntry.objects.exists()


def test_create_currency_with_an_existing_code_is_409(admin_client):
    response = send(
        admin_client,
        "post",
        "/api/v1/admin/currencies",
        {"code": "usd", "name": "Dollar", "symbol": "$"},
    )

    assert_error(response, 409, "conflict", "Currency code already exists")


def test_currency_detail_by_code_in_any_case(admin_client):
    response = admin_client.get("/api/v1/admin/currencies/usd/")

    assert response.status_code == 200
    assert set(response.json()) == {"currency"}
    assert response.json()["currency"]["exchange_rate"] == "1.080000"
    assert set(response.json()["currency"]) == CURRENCY_KEYS


@pytest.mark.parametrize(
    ("method", "suffix"),
    [("get", ""), ("put", ""), ("patch", ""), ("delete", ""), ("post", "/set-default")],
)
def test_unknown_currency_is_404(admin_client, method, suffix):
    response = send(admin_client, method, f"/api/v1/admin/currencies/xyz{suffix}", {})

    assert_error(response, 404, "not_found", "Currency 'XYZ' not found")


def test_update_currency_is_partial(admin_client, admin_user):
    response = send(
        admin_client,
        "put",
        "/api/v1/admin/currencies/USD",
        {"code": "usd", "symbol": "US$", "exchange_rate": "1.1"},
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"currency", "message"}
    assert body["message"] == "Currency updated successfully"
    assert (body["currency"]["name"], body["currency"]["symbol"]) == ("US Dollar", "US$")
    assert body["currency"]["exchange_rate"] == "1.100000"
    entry = AuditEntry.objects.get(action="currency.updated")
    assert entry.actor_id == admin_user.pk
    assert entry.before == {"symbol": "$", "exchange_rate": "1.080000"}
    assert entry.after == {"symbol": "US$", "exchange_rate": "1.100000"}


def test_patch_is_put_and_an_unchanged_update_writes_no_audit(admin_client):
    response = send(admin_client, "patch", "/api/v1/admin/currencies/USD", {"name": "US Dollar"})

    assert response.status_code == 200
    assert not AuditEntry.objects.exists()


def test_the_default_currency_keeps_rate_one_and_stays_active(admin_client):
    accepted = send(admin_client, "put", "/api/v1/admin/currencies/EUR", {"exchange_rate": "1.0"})
    other_rate = send(admin_client, "put", "/api/v1/admin/currencies/EUR", {"exchange_rate": 1.2})
    deactivate = send(admin_client, "put", "/api/v1/admin/currencies/eur", {"is_active": False})

    assert accepted.status_code == 200
    assert_error(
        other_rate, 400, "business_rule", "The exchange rate of the default currency is always 1"
    )
    assert_error(deactivate, 400, "business_rule", "Cannot deactivate the default currency")
    eur = Currency.objects.get(code="EUR")
    assert (eur.exchange_rate, eur.is_active) == (Decimal(1), True)


def test_the_code_of_a_currency_cannot_change(admin_client):
    response = send(admin_client, "put", "/api/v1/admin/currencies/USD", {"code": "USN"})

    assert_error(response, 400, "validation_error", "code cannot be changed")
    assert Currency.objects.filter(code="USD").exists()


@pytest.mark.parametrize("user_of_currency", ["plan", "addon", "counter"])
def test_decimal_places_are_fixed_once_the_currency_is_used(admin_client, usage, user_of_currency):
    usd = Currency.objects.get(code="USD")
    if user_of_currency == "plan":
        _plan("USD")
    elif user_of_currency == "addon":
        _addon("USD")
    else:
        usage["currency"][usd.pk] = 1

    refused = send(admin_client, "put", "/api/v1/admin/currencies/USD", {"decimal_places": 3})
    same = send(admin_client, "put", "/api/v1/admin/currencies/USD", {"decimal_places": 2})

    assert_error(
        refused, 400, "business_rule", "decimal_places cannot change once the currency is used"
    )
    assert same.status_code == 200
    assert Currency.objects.get(code="USD").decimal_places == 2


def test_decimal_places_of_an_unused_currency_change(admin_client):
    response = send(admin_client, "put", "/api/v1/admin/currencies/USD", {"decimal_places": "0"})

    assert response.status_code == 200
    assert response.json()["currency"]["decimal_places"] == 0


def test_set_default_rebases_every_rate(admin_client, admin_user):
    CurrencyFactory(code="GBP", exchange_rate=Decimal("0.850000"))

    response = admin_client.post("/api/v1/admin/currencies/usd/set-default")

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"currencies", "message"}
    assert body["message"] == "Default currency updated"
    assert all(set(c) == CURRENCY_KEYS for c in body["currencies"])
    listed = [(c["code"], c["exchange_rate"], c["is_default"]) for c in body["currencies"]]
    # EUR: 1 ÷ 1.08 = 0.9259259… → 0.925926; GBP: 0.85 ÷ 1.08 = 0.7870370… → 0.787037
    assert listed == [
        ("USD", "1.000000", True),
        ("EUR", "0.925926", False),
        ("GBP", "0.787037", False),
    ]
    assert rates() == {"USD": "1.000000", "EUR": "0.925926", "GBP": "0.787037"}
    entry = AuditEntry.objects.get(action="currency.default_changed")
    assert entry.actor_id == admin_user.pk
    assert entry.before == {
        "default": "EUR",
        "rates": {"EUR": "1.000000", "USD": "1.080000", "GBP": "0.850000"},
    }
    assert entry.after["default"] == "USD"
    public = APIClient().get("/api/v1/config/currencies").json()
    assert public["default"] == "USD"
    assert [c["code"] for c in public["currencies"]] == ["USD", "EUR", "GBP"]


def test_conversions_after_rebasing_are_exact_to_the_cent(admin_client):
    admin_client.post("/api/v1/admin/currencies/USD/set-default")
    eur = Currency.objects.get(code="EUR")
    usd = Currency.objects.get(code="USD")

    def convert(amount, source, target):
        converted = pricing.convert(
            Decimal(amount),
            from_rate=source.exchange_rate,
            to_rate=target.exchange_rate,
            places=target.decimal_places,
        )
        return pricing.format_money(converted, target.decimal_places)

    # 100 EUR ÷ 0.925926 = 107.99999… USD → 108.00; 9.99 EUR → 10.789199… → 10.79
    assert convert("100.00", eur, usd) == "108.00"
    assert convert("9.99", eur, usd) == "10.79"
    # 10.00 USD × 0.925926 = 9.25926 → 9.26 EUR; 0.01 USD → 0.00925926 → 0.01
    assert convert("10.00", usd, eur) == "9.26"
    assert convert("0.01", usd, eur) == "0.01"


def test_set_default_back_and_forth(admin_client):
    admin_client.post("/api/v1/admin/currencies/USD/set-default")
    admin_client.post("/api/v1/admin/currencies/EUR/set-default")

    # 1 ÷ 0.925926 = 1.0799999… → 1.080000: the round trip keeps six places exactly here
    assert rates() == {"EUR": "1.000000", "USD": "1.080000"}
    assert Currency.objects.get(is_default=True).code == "EUR"


def test_set_default_on_the_default_changes_nothing(admin_client):
    response = admin_client.post("/api/v1/admin/currencies/EUR/set-default")

    assert response.status_code == 200
    assert rates() == {"EUR": "1.000000", "USD": "1.080000"}
    assert not AuditEntry.objects.exists()


def test_only_an_active_currency_becomes_the_default(admin_client):
    CurrencyFactory(code="GBP", is_active=False)

    response = admin_client.post("/api/v1/admin/currencies/GBP/set-default")

    assert_error(response, 400, "business_rule", "Only an active currency can be the default")
    assert Currency.objects.get(is_default=True).code == "EUR"


def test_delete_currency(admin_client, admin_user):
    gbp = CurrencyFactory(code="GBP")

    response = send(admin_client, "delete", "/api/v1/admin/currencies/gbp")

    assert response.status_code == 200
    assert response.json() == {"message": "Currency deleted successfully"}
    assert not Currency.objects.filter(code="GBP").exists()
    entry = AuditEntry.objects.get(action="currency.deleted")
    assert (entry.actor_id, entry.object_id, entry.before["code"]) == (
        admin_user.pk,
        str(gbp.pk),
        "GBP",
    )


def test_the_default_currency_cannot_be_deleted(admin_client):
    response = send(admin_client, "delete", "/api/v1/admin/currencies/EUR")

    assert_error(response, 400, "business_rule", "Cannot delete the default currency")
    assert Currency.objects.filter(code="EUR").exists()


@pytest.mark.parametrize("user_of_currency", ["plan", "addon", "counter"])
def test_a_used_currency_cannot_be_deleted(admin_client, usage, user_of_currency):
    usd = Currency.objects.get(code="USD")
    if user_of_currency == "plan":
        _plan("USD")
    elif user_of_currency == "addon":
        _addon("USD")
    else:
        usage["currency"][usd.pk] = 3

    response = send(admin_client, "delete", "/api/v1/admin/currencies/USD")

    assert_error(
        response,
        409,
        "has_dependencies",
        "Currency is used by plans, add-ons, bundles or invoices. Deactivate it instead.",
    )
    assert Currency.objects.filter(code="USD").exists()


# --- admin: tax rates -----------------------------------------------------------------------

TAX_RATES = "/api/v1/admin/tax-rates"
DE_STANDARD = {"country_code": "de", "name": "MwSt.", "code": "VAT_DE_STANDARD", "rate": "19"}


def test_create_tax_rate(admin_client, admin_user):
    response = send(admin_client, "post", TAX_RATES, {**DE_STANDARD, "unknown": True})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"tax_rate", "message"}
    assert body["message"] == "Tax rate created successfully"
    tax_rate = body["tax_rate"]
    assert set(tax_rate) == TAX_RATE_KEYS
    assert {key: tax_rate[key] for key in TAX_RATE_KEYS - {"id", "created_at", "updated_at"}} == {
        "country_code": "DE",
        "region_code": None,
        "name": "MwSt.",
        "code": "VAT_DE_STANDARD",
        "rate": "19.00",
        "is_inclusive": False,
        "is_active": True,
        "valid_from": timezone.now().date().isoformat(),
        "valid_to": None,
        "description": None,
        "in_use": False,
    }
    entry = AuditEntry.objects.get(action="tax_rate.created")
    assert (entry.actor_id, entry.object_id) == (admin_user.pk, tax_rate["id"])
    assert entry.after["rate"] == "19.00"


def test_create_tax_rate_with_every_field(admin_client):
    response = send(
        admin_client,
        "post",
        TAX_RATES,
        {
            "country_code": "US",
            "region_code": "ca",
            "name": "Sales tax",
            "code": "US_CA",
            "rate": 7.25,
            "is_inclusive": True,
            "is_active": "false",
            "valid_from": "2025-01-01",
            "valid_to": "2025-12-31",
            "description": "California",
        },
    )

    assert response.status_code == 201
    tax_rate = response.json()["tax_rate"]
    assert (tax_rate["region_code"], tax_rate["rate"], tax_rate["is_inclusive"]) == (
        "CA",
        "7.25",
        True,
    )
    assert (tax_rate["is_active"], tax_rate["valid_from"], tax_rate["valid_to"]) == (
        False,
        "2025-01-01",
        "2025-12-31",
    )
    assert tax_rate["description"] == "California"


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"country_code": None}, "country_code", "country_code is required"),
        ({"country_code": "XX"}, "country_code", "Unknown country code: XX"),
        ({"country_code": "DEU"}, "country_code", "Unknown country code: DEU"),
        ({"name": ""}, "name", "Name is required"),
        ({"code": None}, "code", "Code is required"),
        ({"rate": None}, "rate", "Rate is required"),
        ({"rate": "100.01"}, "rate", "rate must be between 0 and 100"),
        ({"rate": -1}, "rate", "rate must be between 0 and 100"),
        ({"rate": "19.125"}, "rate", "rate must have at most 2 decimal places"),
        ({"rate": "nineteen"}, "rate", "rate must be a number"),
        ({"rate": True}, "rate", "rate must be a number"),
        ({"valid_from": "2026-13-01"}, "valid_from", "valid_from must be a date (YYYY-MM-DD)"),
        ({"valid_to": "soon"}, "valid_to", "valid_to must be a date (YYYY-MM-DD)"),
        (
            {"valid_from": "2025-06-01", "valid_to": "2025-05-31"},
            "valid_to",
            "valid_to must be on or after valid_from",
        ),
        ({"is_inclusive": "sometimes"}, "is_inclusive", "is_inclusive must be true or false"),
        ({"region_code": 5}, "region_code", "region_code must be a string"),
        ({"description": []}, "description", "description must be a string"),
    ],
)
def test_create_tax_rate_validation(admin_client, changes, field, message):
    response = send(admin_client, "post", TAX_RATES, {**DE_STANDARD, **changes})

    assert_error(response, 400, "validation_error", message)
    assert response.json()["errors"] == {field: [message]}
    assert not TaxRate.objects.exists()
    assert not AuditEntry.objects.exists()


def test_rate_zero_and_hundred_are_allowed(admin_client):
    zero = send(admin_client, "post", TAX_RATES, {**DE_STANDARD, "rate": 0})
    hundred = send(
        admin_client,
        "post",
        TAX_RATES,
        {**DE_STANDARD, "country_code": "AT", "code": "AT", "rate": 100},
    )

    assert (zero.json()["tax_rate"]["rate"], hundred.json()["tax_rate"]["rate"]) == (
        "0.00",
        "100.00",
    )


def test_valid_to_equal_to_valid_from_is_a_one_day_rate(admin_client):
    response = send(
        admin_client,
        "post",
        TAX_RATES,
        {**DE_STANDARD, "valid_from": "2025-03-01", "valid_to": "2025-03-01"},
    )

    assert response.status_code == 201


def test_create_tax_rate_with_a_taken_code_is_409(admin_client):
    TaxRateFactory(code="VAT_DE_STANDARD", country_code="AT")

    response = send(admin_client, "post", TAX_RATES, DE_STANDARD)

    assert_error(response, 409, "conflict", "Tax rate code already exists")


@pytest.mark.parametrize(
    ("existing", "new", "message"),
    [
        # open-ended existing rate, later start
        ({}, {"valid_from": "2025-01-01"}, "Overlapping tax rate for DE from 2024-01-01"),
        # new rate ends on the day the existing one starts (both days inclusive)
        (
            {"valid_from": datetime.date(2025, 1, 1)},
            {"valid_from": "2024-01-01", "valid_to": "2025-01-01"},
            "Overlapping tax rate for DE from 2025-01-01",
        ),
        # the existing rate ends on the day the new one starts
        (
            {"valid_to": datetime.date(2024, 12, 31)},
            {"valid_from": "2024-12-31"},
            "Overlapping tax rate for DE from 2024-01-01",
        ),
        (
            {"region_code": "BY"},
            {"region_code": "by", "valid_from": "2030-01-01"},
            "Overlapping tax rate for DE/BY from 2024-01-01",
        ),
    ],
)
def test_overlapping_active_rates_are_409(admin_client, existing, new, message):
    TaxRateFactory(**existing)

    response = send(admin_client, "post", TAX_RATES, {**DE_STANDARD, **new})

    assert_error(response, 409, "conflict", message)
    assert TaxRate.objects.count() == 1


@pytest.mark.parametrize(
    ("existing", "new"),
    [
        ({"valid_to": datetime.date(2024, 12, 31)}, {"valid_from": "2025-01-01"}),
        (
            {"valid_from": datetime.date(2025, 1, 1)},
            {"valid_from": "2024-01-01", "valid_to": "2024-12-31"},
        ),
        ({"is_active": False}, {"valid_from": "2025-01-01"}),
        ({}, {"valid_from": "2025-01-01", "is_active": False}),
        ({}, {"valid_from": "2025-01-01", "region_code": "BY"}),
        ({"region_code": "BY"}, {"valid_from": "2025-01-01"}),
        ({"country_code": "AT"}, {"valid_from": "2025-01-01"}),
    ],
)
def test_rates_that_do_not_overlap_are_accepted(admin_client, existing, new):
    TaxRateFactory(**existing)

    response = send(admin_client, "post", TAX_RATES, {**DE_STANDARD, **new})

    assert response.status_code == 201, response.content


def test_tax_rate_list_order_shape_and_filters(admin_client):
    de_old = TaxRateFactory(valid_to=datetime.date(2024, 12, 31), code="DE_OLD")
    de_new = TaxRateFactory(valid_from=datetime.date(2025, 1, 1), code="DE_NEW", rate=Decimal(20))
    de_by = TaxRateFactory(region_code="BY", code="DE_BY", rate=Decimal("7.5"))
    at = TaxRateFactory(country_code="AT", code="AT", is_active=False)

    everything = admin_client.get(TAX_RATES, {"country": "", "is_active": "", "valid_on": ""})
    german = admin_client.get(TAX_RATES, {"country": "de"})
    active = admin_client.get(TAX_RATES, {"is_active": "false"})
    on_day = admin_client.get(TAX_RATES, {"country": "DE", "valid_on": "2024-06-30"})

    assert everything.status_code == 200
    body = everything.json()
    assert set(body) == {"tax_rates", "total"}
    assert body["total"] == 4
    assert [r["code"] for r in body["tax_rates"]] == ["AT", "DE_NEW", "DE_OLD", "DE_BY"]
    assert all(set(r) == TAX_RATE_KEYS for r in body["tax_rates"])
    assert [r["rate"] for r in body["tax_rates"]] == ["19.00", "20.00", "19.00", "7.50"]
    assert german.json()["total"] == 3
    assert [r["id"] for r in active.json()["tax_rates"]] == [str(at.pk)]
    assert {r["id"] for r in on_day.json()["tax_rates"]} == {str(de_old.pk), str(de_by.pk)}
    assert de_new.pk


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"country": "XX"}, "country", "Unknown country code: XX"),
        ({"is_active": "maybe"}, "is_active", "is_active must be true or false"),
        ({"valid_on": "2025-02-30"}, "valid_on", "valid_on must be a date (YYYY-MM-DD)"),
    ],
)
def test_tax_rate_list_filter_errors(admin_client, query, field, message):
    response = admin_client.get(TAX_RATES, query)

    assert_error(response, 400, "validation_error", message)
    assert response.json()["errors"] == {field: [message]}


def test_tax_rate_list_runs_constant_queries(admin_client, django_assert_num_queries):
    TaxRateFactory()
    with django_assert_num_queries(2):  # authentication, rates
        admin_client.get(TAX_RATES)
    TaxRateFactory.create_batch(49, is_active=False)

    with django_assert_num_queries(2):
        response = admin_client.get(TAX_RATES)

    assert response.json()["total"] == 50


def test_tax_rate_detail(admin_client, usage):
    tax_rate = TaxRateFactory()
    usage["tax_rate"][tax_rate.pk] = 2

    response = admin_client.get(f"{TAX_RATES}/{tax_rate.pk}/")

    assert response.status_code == 200
    assert set(response.json()) == {"tax_rate"}
    body = response.json()["tax_rate"]
    assert set(body) == TAX_RATE_KEYS
    assert (body["in_use"], body["valid_from"], body["rate"]) == (True, "2024-01-01", "19.00")


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_unknown_tax_rate_is_404(admin_client, method):
    missing = send(admin_client, method, f"{TAX_RATES}/00000000-0000-0000-0000-000000000000", {})
    not_a_uuid = send(admin_client, method, f"{TAX_RATES}/vat-de", {})

    assert_error(missing, 404, "not_found", "Tax rate not found")
    assert_error(not_a_uuid, 404, "not_found", "Not found")


def test_update_tax_rate_is_partial(admin_client, admin_user):
    tax_rate = TaxRateFactory(description="old")

    response = send(
        admin_client,
        "put",
        f"{TAX_RATES}/{tax_rate.pk}",
        {"rate": "19.5", "valid_to": "2026-12-31", "description": ""},
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"tax_rate", "message"}
    assert body["message"] == "Tax rate updated successfully"
    assert (body["tax_rate"]["rate"], body["tax_rate"]["valid_to"]) == ("19.50", "2026-12-31")
    assert (body["tax_rate"]["description"], body["tax_rate"]["name"]) == (None, "MwSt.")
    entry = AuditEntry.objects.get(action="tax_rate.updated")
    assert entry.actor_id == admin_user.pk
    assert entry.before == {"rate": "19.00", "valid_to": None, "description": "old"}
    assert entry.after == {"rate": "19.50", "valid_to": "2026-12-31", "description": None}


def test_update_checks_dates_and_overlap(admin_client):
    current = TaxRateFactory(valid_from=datetime.date(2025, 1, 1))
    old = TaxRateFactory(valid_to=datetime.date(2024, 12, 31), code="OLD")
    inactive = TaxRateFactory(valid_from=datetime.date(2026, 1, 1), is_active=False, code="FUTURE")

    before_start = send(
        admin_client, "put", f"{TAX_RATES}/{current.pk}", {"valid_to": "2024-12-31"}
    )
    stretch = send(admin_client, "patch", f"{TAX_RATES}/{old.pk}", {"valid_to": "2025-01-01"})
    activate = send(admin_client, "put", f"{TAX_RATES}/{inactive.pk}", {"is_active": True})
    move = send(
        admin_client, "put", f"{TAX_RATES}/{inactive.pk}", {"country_code": "at", "is_active": True}
    )

    assert_error(before_start, 400, "validation_error", "valid_to must be on or after valid_from")
    assert_error(stretch, 409, "conflict", "Overlapping tax rate for DE from 2025-01-01")
    assert_error(activate, 409, "conflict", "Overlapping tax rate for DE from 2025-01-01")
    assert move.status_code == 200
    inactive.refresh_from_db()
    assert (inactive.country_code, inactive.is_active) == ("AT", True)


def test_a_rate_can_keep_its_own_dates_without_overlapping_itself(admin_client):
    tax_rate = TaxRateFactory()

    response = send(
        admin_client,
        "put",
        f"{TAX_RATES}/{tax_rate.pk}",
        {"valid_from": "2024-01-01", "is_active": True, "code": tax_rate.code},
    )

    assert response.status_code == 200
    assert not AuditEntry.objects.exists()


def test_update_to_a_taken_code_is_409(admin_client):
    TaxRateFactory(code="TAKEN", country_code="AT")
    tax_rate = TaxRateFactory()

    response = send(admin_client, "put", f"{TAX_RATES}/{tax_rate.pk}", {"code": "TAKEN"})

    assert_error(response, 409, "conflict", "Tax rate code already exists")


@pytest.mark.parametrize(
    "change",
    [
        {"rate": "20"},
        {"country_code": "AT"},
        {"region_code": "BY"},
        {"code": "OTHER"},
        {"is_inclusive": True},
        {"valid_from": "2024-02-01"},
    ],
)
def test_a_rate_on_invoices_keeps_its_terms(admin_client, usage, change):
    tax_rate = TaxRateFactory()
    usage["tax_rate"][tax_rate.pk] = 1

    response = send(admin_client, "put", f"{TAX_RATES}/{tax_rate.pk}", {"name": "VAT", **change})

    assert_error(
        response,
        400,
        "business_rule",
        "This rate is used on invoices; create a new rate with a later valid_from instead",
    )
    tax_rate.refresh_from_db()
    assert (tax_rate.name, tax_rate.rate) == ("MwSt.", Decimal("19.00"))


def test_a_rate_on_invoices_may_change_its_name_description_end_and_state(admin_client, usage):
    tax_rate = TaxRateFactory()
    usage["tax_rate"][tax_rate.pk] = 1

    response = send(
        admin_client,
        "put",
        f"{TAX_RATES}/{tax_rate.pk}",
        {
            "name": "VAT",
            "description": "ends",
            "valid_to": "2025-12-31",
            "is_active": False,
            # the unchanged terms may be sent back as they are
            "rate": "19.00",
            "country_code": "de",
            "valid_from": "2024-01-01",
            "code": tax_rate.code,
        },
    )

    assert response.status_code == 200
    body = response.json()["tax_rate"]
    assert (body["name"], body["description"], body["valid_to"], body["is_active"]) == (
        "VAT",
        "ends",
        "2025-12-31",
        False,
    )
    assert body["in_use"] is True


def test_delete_tax_rate(admin_client, admin_user):
    tax_rate = TaxRateFactory()

    response = send(admin_client, "delete", f"{TAX_RATES}/{tax_rate.pk}")

    assert response.status_code == 200
    assert response.json() == {"message": "Tax rate deleted successfully"}
    assert not TaxRate.objects.exists()
    entry = AuditEntry.objects.get(action="tax_rate.deleted")
    assert (entry.actor_id, entry.object_id, entry.before["code"]) == (
        admin_user.pk,
        str(tax_rate.pk),
        tax_rate.code,
    )


def test_a_rate_on_invoices_cannot_be_deleted(admin_client, usage):
    tax_rate = TaxRateFactory()
    usage["tax_rate"][tax_rate.pk] = 1

    response = send(admin_client, "delete", f"{TAX_RATES}/{tax_rate.pk}")

    assert_error(
        response, 409, "has_dependencies", "This rate is used on invoices. Set valid_to instead."
    )
    assert TaxRate.objects.filter(pk=tax_rate.pk).exists()


def test_tax_on_a_created_rate_is_exact_to_the_cent(admin_client):
    body = send(admin_client, "post", TAX_RATES, {**DE_STANDARD, "rate": "19.00"}).json()
    rate = Decimal(body["tax_rate"]["rate"])

    exclusive = pricing.apply_tax(Decimal("9.99"), rate=rate, inclusive=False, places=2)
    inclusive = pricing.apply_tax(Decimal("9.99"), rate=rate, inclusive=True, places=2)
    yen = pricing.apply_tax(Decimal("1603"), rate=rate, inclusive=False, places=0)

    # 9.99 × 19 % = 1.8981 → 1.90; inside 9.99: 9.99 × 19 / 119 = 1.59496… → 1.60
    assert (exclusive.net, exclusive.tax, exclusive.gross) == (
        Decimal("9.99"),
        Decimal("1.90"),
        Decimal("11.89"),
    )
    assert (inclusive.net, inclusive.tax, inclusive.gross) == (
        Decimal("8.39"),
        Decimal("1.60"),
        Decimal("9.99"),
    )
    # 1603 × 19 % = 304.57 → 305 yen
    assert (yen.tax, yen.gross) == (Decimal(305), Decimal(1908))


# --- services: the overlap lock -------------------------------------------------------------


def test_check_tax_rate_reports_the_earliest_overlapping_rate():
    TaxRateFactory(valid_from=datetime.date(2023, 1, 1), valid_to=datetime.date(2023, 12, 31))
    TaxRateFactory(valid_from=datetime.date(2024, 1, 1))
    serializer = TaxRateInputSerializer(
        data={**DE_STANDARD, "valid_from": "2023-06-01"}, context={"creating": True}
    )
    assert serializer.is_valid(), serializer.errors
    values = {**geography.TAX_RATE_DEFAULTS, **serializer.validated_data}

    with pytest.raises(Conflict) as raised:
        geography.check_tax_rate(values)

    assert raised.value.message == "Overlapping tax rate for DE from 2023-01-01"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_overlapping_creates_give_one_rate_and_one_conflict():
    # Transactional tests flush the tables afterwards, so the seeded rows may be gone.
    Country.objects.get_or_create(code="CH", defaults={"name": "Switzerland"})
    actor = AdminFactory()

    def create(code, valid_from, round_number):
        geography.tax_rate_create(
            data={
                "country_code": "CH",
                "region_code": f"R{round_number}",
                "name": "MWST",
                "code": code,
                "rate": "8.1",
                "valid_from": valid_from,
            },
            actor=actor,
        )
        return "created"

    def outcome(result):
        if isinstance(result, Conflict):
            return result.message
        if isinstance(result, Exception):
            raise result
        return result

    for round_number in range(5):
        results = run_together(
            [
                partial(create, f"CH_A_{round_number}", "2025-01-01", round_number),
                partial(create, f"CH_B_{round_number}", "2025-06-01", round_number),
            ]
        )
        outcomes = [outcome(result) for result in results]

        assert len(outcomes) == 2
        assert outcomes.count("created") == 1, outcomes
        (conflict,) = [outcome for outcome in outcomes if outcome != "created"]
        assert conflict.startswith(f"Overlapping tax rate for CH/R{round_number} from 2025-")
        assert TaxRate.objects.filter(region_code=f"R{round_number}").count() == 1
    assert AuditEntry.objects.filter(action="tax_rate.created").count() == 5


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_enables_take_different_positions():
    for code, name in (("FR", "France"), ("IT", "Italy")):
        Country.objects.update_or_create(
            code=code, defaults={"name": name, "is_enabled": False, "position": 999}
        )
    last = max(
        Country.objects.filter(is_enabled=True).values_list("position", flat=True), default=-1
    )
    actor = AdminFactory()

    def enable(code):
        geography.country_enable(country=Country.objects.get(code=code), actor=actor)

    results = run_together([partial(enable, code) for code in ("FR", "IT")])
    errors = [result for result in results if isinstance(result, Exception)]

    assert errors == []
    positions = dict(Country.objects.filter(code__in=["FR", "IT"]).values_list("code", "position"))
    assert sorted(positions.values()) == [last + 1, last + 2]


# --- Django admin ---------------------------------------------------------------------------


def _staff_client() -> tuple[Client, object]:
    staff = AdminFactory()
    client = Client()
    assert client.login(username=staff.email, password=DEFAULT_PASSWORD)
    return client, staff


CURRENCY_FORM = {
    "code": "gbp",
    "name": "Pound Sterling",
    "symbol": "£",
    "decimal_places": "2",
    "exchange_rate": "0.85",
    "is_active": "on",
}


def test_back_office_currency_pages_list_and_search():
    client, _staff = _staff_client()

    listing = client.get("/admin/catalog/currency/")
    found = client.get("/admin/catalog/currency/", {"q": "dollar"})
    add_page = client.get("/admin/catalog/currency/add/")
    change_page = client.get(
        f"/admin/catalog/currency/{Currency.objects.get(code='EUR').pk}/change/"
    )

    assert listing.status_code == 200
    assert listing.context["cl"].result_count == 2
    assert [c.code for c in found.context["cl"].result_list] == ["USD"]
    assert add_page.status_code == 200
    assert change_page.status_code == 200


def test_back_office_creates_a_currency_through_the_service():
    client, staff = _staff_client()

    response = client.post("/admin/catalog/currency/add/", CURRENCY_FORM)

    assert response.status_code == 302, response.content[:3000]
    gbp = Currency.objects.get(code="GBP")
    assert (gbp.exchange_rate, gbp.is_default) == (Decimal("0.850000"), False)
    assert AuditEntry.objects.get(action="currency.created").actor_id == staff.pk


def test_back_office_currency_form_shows_the_service_refusals(usage):
    client, _staff = _staff_client()
    usd = Currency.objects.get(code="USD")
    _plan("USD")

    bad_code = client.post("/admin/catalog/currency/add/", {**CURRENCY_FORM, "code": "G1P"})
    places = client.post(
        f"/admin/catalog/currency/{usd.pk}/change/",
        {
            **CURRENCY_FORM,
            "name": "US Dollar",
            "symbol": "$",
            "exchange_rate": "1.08",
            "decimal_places": "3",
        },
    )

    assert bad_code.status_code == 200
    assert "code must be a 3-letter code" in bad_code.content.decode()
    assert places.status_code == 200
    assert "decimal_places cannot change once the currency is used" in places.content.decode()
    assert Currency.objects.get(code="USD").decimal_places == 2
    assert not Currency.objects.filter(code="G1P").exists()
    assert not AuditEntry.objects.exists()


def test_back_office_edits_a_currency_through_the_service():
    client, staff = _staff_client()
    usd = Currency.objects.get(code="USD")

    response = client.post(
        f"/admin/catalog/currency/{usd.pk}/change/",
        {
            "name": "US Dollar",
            "symbol": "US$",
            "decimal_places": "2",
            "exchange_rate": "1.09",
            "is_active": "on",
        },
    )

    assert response.status_code == 302, response.content[:3000]
    usd.refresh_from_db()
    assert (usd.symbol, usd.exchange_rate) == ("US$", Decimal("1.090000"))
    entry = AuditEntry.objects.get(action="currency.updated")
    assert (entry.actor_id, entry.after) == (
        staff.pk,
        {"symbol": "US$", "exchange_rate": "1.090000"},
    )


def test_back_office_make_default_action_rebases():
    client, staff = _staff_client()
    usd = Currency.objects.get(code="USD")

    response = client.post(
        "/admin/catalog/currency/", {"action": "make_default", "_selected_action": [str(usd.pk)]}
    )

    assert response.status_code == 302
    assert rates() == {"USD": "1.000000", "EUR": "0.925926"}
    assert AuditEntry.objects.get(action="currency.default_changed").actor_id == staff.pk


def test_back_office_deactivating_the_default_is_refused_with_a_message():
    client, _staff = _staff_client()
    currencies = [str(pk) for pk in Currency.objects.values_list("pk", flat=True)]

    response = client.post(
        "/admin/catalog/currency/",
        {"action": "deactivate_currencies", "_selected_action": currencies},
        follow=True,
    )

    page = response.content.decode()
    assert "EUR: Cannot deactivate the default currency" in page
    assert "1 currency(ies) deactivated." in page
    assert dict(Currency.objects.values_list("code", "is_active")) == {"EUR": True, "USD": False}


def test_back_office_deletes_only_an_unused_currency(usage):
    client, staff = _staff_client()
    gbp = CurrencyFactory(code="GBP")
    usd = Currency.objects.get(code="USD")
    usage["currency"][usd.pk] = 1

    refused = client.post(f"/admin/catalog/currency/{usd.pk}/delete/", {"post": "yes"})
    deleted = client.post(f"/admin/catalog/currency/{gbp.pk}/delete/", {"post": "yes"})

    assert refused.status_code == 200
    assert "Deactivate it instead." in refused.content.decode()
    assert Currency.objects.filter(code="USD").exists()
    assert deleted.status_code == 302
    assert not Currency.objects.filter(code="GBP").exists()
    assert AuditEntry.objects.get(action="currency.deleted").actor_id == staff.pk


def test_back_office_country_actions_and_edit():
    client, staff = _staff_client()
    france, austria = Country.objects.get(code="FR"), Country.objects.get(code="AT")

    listing = client.get("/admin/catalog/country/", {"is_enabled__exact": "1"})
    enabled = client.post(
        "/admin/catalog/country/",
        {"action": "enable_countries", "_selected_action": [str(france.pk)]},
    )
    disabled = client.post(
        "/admin/catalog/country/",
        {"action": "disable_countries", "_selected_action": [str(austria.pk)]},
    )
    edited = client.post(
        f"/admin/catalog/country/{france.pk}/change/",
        {"name": "France", "is_eu": "on", "position": "0"},
    )

    assert listing.context["cl"].result_count == 3
    assert (enabled.status_code, disabled.status_code, edited.status_code) == (302, 302, 302)
    france.refresh_from_db()
    austria.refresh_from_db()
    assert (france.is_enabled, france.position) == (True, 0)
    assert (austria.is_enabled, austria.position) == (False, 999)
    assert set(AuditEntry.objects.values_list("action", flat=True)) == {
        "country.enabled",
        "country.disabled",
        "country.updated",
    }
    assert set(AuditEntry.objects.values_list("actor_id", flat=True)) == {staff.pk}
    assert client.get("/admin/catalog/country/add/").status_code == 403


def test_back_office_country_position_is_bounded():
    client, _staff = _staff_client()
    germany = Country.objects.get(code="DE")

    response = client.post(
        f"/admin/catalog/country/{germany.pk}/change/",
        {"name": "Germany", "is_eu": "on", "position": "999"},
    )

    assert response.status_code == 200
    assert "position must be a whole number from 0 to 998" in response.content.decode()
    germany.refresh_from_db()
    assert germany.position == 0


TAX_RATE_FORM = {
    "country_code": "DE",
    "region_code": "",
    "name": "MwSt.",
    "code": "VAT_DE",
    "rate": "19.00",
    "is_active": "on",
    "valid_from": "2024-01-01",
    "valid_to": "",
    "description": "",
}


def test_back_office_creates_and_edits_tax_rates_through_the_service():
    client, staff = _staff_client()

    add_page = client.get("/admin/catalog/taxrate/add/")
    created = client.post("/admin/catalog/taxrate/add/", TAX_RATE_FORM)
    overlapping = client.post(
        "/admin/catalog/taxrate/add/",
        {**TAX_RATE_FORM, "code": "VAT_DE_2", "valid_from": "2025-01-01"},
    )
    tax_rate = TaxRate.objects.get(code="VAT_DE")
    edited = client.post(
        f"/admin/catalog/taxrate/{tax_rate.pk}/change/",
        {**TAX_RATE_FORM, "valid_to": "2024-12-31"},
    )
    listing = client.get("/admin/catalog/taxrate/", {"q": "VAT_DE"})

    assert add_page.status_code == 200
    assert created.status_code == 302, created.content[:3000]
    assert overlapping.status_code == 200
    assert "Overlapping tax rate for DE from 2024-01-01" in overlapping.content.decode()
    assert edited.status_code == 302, edited.content[:3000]
    tax_rate.refresh_from_db()
    assert (tax_rate.rate, tax_rate.region_code, tax_rate.description) == (
        Decimal("19.00"),
        None,
        None,
    )
    assert tax_rate.valid_to == datetime.date(2024, 12, 31)
    assert listing.context["cl"].result_count == 1
    assert list(AuditEntry.objects.order_by("created_at").values_list("action", "actor_id")) == [
        ("tax_rate.created", staff.pk),
        ("tax_rate.updated", staff.pk),
    ]


def test_back_office_tax_rate_actions_and_protected_delete(usage):
    client, staff = _staff_client()
    used = TaxRateFactory(code="USED")
    spare = TaxRateFactory(
        code="SPARE",
        is_active=False,
        valid_from=datetime.date(2020, 1, 1),
        valid_to=datetime.date(2020, 12, 31),
    )
    usage["tax_rate"][used.pk] = 1

    change_page = client.get(f"/admin/catalog/taxrate/{used.pk}/change/")
    deactivated = client.post(
        "/admin/catalog/taxrate/",
        {"action": "deactivate_tax_rates", "_selected_action": [str(used.pk)]},
    )
    activated = client.post(
        "/admin/catalog/taxrate/",
        {"action": "activate_tax_rates", "_selected_action": [str(spare.pk)]},
    )
    refused = client.post(f"/admin/catalog/taxrate/{used.pk}/delete/", {"post": "yes"})
    deleted = client.post(f"/admin/catalog/taxrate/{spare.pk}/delete/", {"post": "yes"})

    assert change_page.status_code == 200
    assert "rate" not in change_page.context["adminform"].form.fields  # read-only once used
    assert (deactivated.status_code, activated.status_code) == (302, 302)
    used.refresh_from_db()
    assert used.is_active is False
    assert refused.status_code == 200
    assert "Set valid_to instead." in refused.content.decode()
    assert TaxRate.objects.filter(pk=used.pk).exists()
    assert deleted.status_code == 302
    assert not TaxRate.objects.filter(pk=spare.pk).exists()
    assert set(AuditEntry.objects.values_list("action", flat=True)) == {
        "tax_rate.updated",
        "tax_rate.deleted",
    }
    assert AuditEntry.objects.filter(action="tax_rate.updated").count() == 2
    assert set(AuditEntry.objects.values_list("actor_id", flat=True)) == {staff.pk}


def test_customers_cannot_open_the_back_office_pages():
    client = Client()
    client.force_login(UserFactory())

    response = client.get("/admin/catalog/taxrate/")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
