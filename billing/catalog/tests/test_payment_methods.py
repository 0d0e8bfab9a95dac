"""Payment methods: the public list, the staff routes, the services and the back office."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from functools import partial
from types import SimpleNamespace

import pytest
from django.test import Client
from django.urls import get_resolver

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory
from audit.models import AuditEntry
from billing.catalog import extensions
from billing.catalog.models import Currency, PaymentMethod, PaymentMethodTranslation
from billing.catalog.services import payment_methods as services
from billing.catalog.tests.factories_payment_methods import (
    PaymentMethodFactory,
    PaymentMethodTranslationFactory,
)
from plugins import registry, state
from tests.support.race import run_together
from vbwd.exceptions import BusinessRuleError

pytestmark = pytest.mark.django_db

PUBLIC = "/api/v1/settings/payment-methods"
ADMIN = "/api/v1/admin/payment-methods"
PUBLIC_KEYS = {
    "code",
    "name",
    "description",
    "short_description",
    "instructions",
    "icon",
    "kind",
    "is_default",
    "position",
    "fee_type",
    "fee_amount",
    "fee_charged_to",
}
ADMIN_KEYS = {
    "id",
    "code",
    "name",
    "description",
    "short_description",
    "instructions",
    "icon",
    "plugin_id",
    "kind",
    "is_active",
    "is_default",
    "position",
    "min_amount",
    "max_amount",
    "currencies",
    "countries",
    "fee_type",
    "fee_amount",
    "fee_charged_to",
    "config",
    "is_available",
    "created_at",
    "updated_at",
}
TRANSLATION_KEYS = {
    "id",
    "payment_method_id",
    "locale",
    "name",
    "description",
    "short_description",
    "instructions",
    "created_at",
    "updated_at",
}


def send(client, method, url, body=None, **extra):
    data = json.dumps(body) if body is not None else None
    return getattr(client, method)(url, data=data, content_type="application/json", **extra)


def invoice_method() -> PaymentMethod:
    return PaymentMethod.objects.get(code="invoice")


def audit_actions(method) -> list[str]:
    return list(
        AuditEntry.objects.filter(object_type="payment_method", object_id=str(method.pk))
        .order_by("created_at")
        .values_list("action", flat=True)
    )


@pytest.fixture
def gateway(monkeypatch):
    """An installed plugin ``fakepay`` with the payment-gateway capability; toggle
    ``gateway["fakepay"]`` to enable or disable it."""
    enabled = {"fakepay": True}
    # The process builds its URL routes from the installed plugins on the first request; build
    # them from the real plugins before faking one, so no test depends on which ran first.
    get_resolver().url_patterns  # noqa: B018
    config = SimpleNamespace(
        key="fakepay", capabilities=SimpleNamespace(payment_gateway="x.Gateway"), urls=None
    )
    real_installed = registry.installed
    monkeypatch.setattr(registry, "installed", lambda: {**real_installed(), "fakepay": config})
    monkeypatch.setattr(state, "is_enabled", lambda name: enabled.get(name, False))
    return enabled


@pytest.fixture
def usage(monkeypatch):
    """Registers a usage counter for payment methods, as invoices and subscriptions do."""
    counts: dict = {}

    def counter(method):
        return counts.get(method.pk, 0)

    with extensions.PAYMENT_METHOD_USAGE.answered_by(counter):
        yield counts


# --- public list -----------------------------------------------------------------------------


def test_public_list_shape_with_the_seeded_invoice_method(api_client):
    response = api_client.get(PUBLIC)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"methods"}
    assert body["methods"] == [
        {
            "code": "invoice",
            "name": "Invoice",
            "description": "Pay by bank transfer within 14 days of the invoice date.",
            "short_description": "Bank transfer",
            "instructions": "Transfer the invoice total to the bank account on the invoice, "
            "quoting the invoice number.",
            "icon": None,
            "kind": "OFFLINE",
            "is_default": True,
            "position": 0,
            "fee_type": "none",
            "fee_amount": "0.00",
            "fee_charged_to": "customer",
        }
    ]
    assert set(body["methods"][0]) == PUBLIC_KEYS


def test_public_list_ignores_an_invalid_token(api_client):
    response = api_client.get(PUBLIC, HTTP_AUTHORIZATION="Bearer broken")

    assert response.status_code == 200
    assert [row["code"] for row in response.json()["methods"]] == ["invoice"]


def test_public_list_keeps_available_methods_by_position(api_client, gateway):
    PaymentMethodFactory(code="card", plugin_id="fakepay", position=2)
    PaymentMethodFactory(code="wire", position=1, fee_type="percentage", fee_amount="2.5")
    PaymentMethodFactory(code="old", is_active=False, position=3)
    PaymentMethodFactory(code="gone", plugin_id="notinstalled", position=4)

    first = api_client.get(PUBLIC).json()["methods"]
    gateway["fakepay"] = False
    second = api_client.get(PUBLIC).json()["methods"]

    assert [(row["code"], row["kind"]) for row in first] == [
        ("invoice", "OFFLINE"),
        ("wire", "OFFLINE"),
        ("card", "GATEWAY"),
    ]
    assert first[1]["fee_type"] == "percentage"
    assert first[1]["fee_amount"] == "2.50"
    assert [row["code"] for row in second] == ["invoice", "wire"]


def test_public_list_filters_by_currency_country_and_amount(api_client):
    PaymentMethodFactory(code="eur-only", currencies=["EUR"])
    PaymentMethodFactory(code="de-only", countries=["DE"])
    PaymentMethodFactory(code="small", max_amount=Decimal("50.00"))
    PaymentMethodFactory(code="large", min_amount=Decimal("100.00"))

    def codes(**query):
        response = api_client.get(PUBLIC, query)
        assert response.status_code == 200, response.json()
        return [row["code"] for row in response.json()["methods"]]

    everything = ["invoice", "eur-only", "de-only", "small", "large"]
    assert codes() == everything
    assert codes(currency="", country="", amount="", locale="") == everything
    assert codes(currency="usd") == ["invoice", "de-only", "small", "large"]
    assert codes(currency="EUR") == everything
    assert codes(country="at") == ["invoice", "eur-only", "small", "large"]
    assert codes(amount="50") == ["invoice", "eur-only", "de-only", "small"]
    assert codes(amount="50.01") == ["invoice", "eur-only", "de-only"]
    assert codes(amount="100.00") == ["invoice", "eur-only", "de-only", "large"]
    assert codes(amount=75) == ["invoice", "eur-only", "de-only"]


def test_public_amount_in_another_currency_is_converted_to_the_default(api_client):
    # 1 EUR = 1.08 USD: 54.00 USD = 50.00 EUR, 54.01 USD = 50.01 EUR.
    PaymentMethodFactory(code="small", max_amount=Decimal("50.00"))

    at_limit = api_client.get(PUBLIC, {"amount": "54.00", "currency": "USD"}).json()
    above = api_client.get(PUBLIC, {"amount": "54.02", "currency": "USD"}).json()
    unknown_currency = api_client.get(PUBLIC, {"amount": "50.00", "currency": "XYZ"}).json()

    assert [row["code"] for row in at_limit["methods"]] == ["invoice", "small"]
    assert [row["code"] for row in above["methods"]] == ["invoice"]
    assert [row["code"] for row in unknown_currency["methods"]] == ["invoice", "small"]


def test_public_amount_uses_the_places_of_the_currency(api_client):
    Currency.objects.create(
        code="JPY", name="Yen", symbol="¥", decimal_places=0, exchange_rate=Decimal("160")
    )
    PaymentMethodFactory(code="small", max_amount=Decimal("10.00"))

    whole = api_client.get(PUBLIC, {"amount": "1600", "currency": "jpy"})
    fraction = api_client.get(PUBLIC, {"amount": "1600.5", "currency": "JPY"})

    assert [row["code"] for row in whole.json()["methods"]] == ["invoice", "small"]
    assert fraction.status_code == 400
    assert fraction.json()["error"] == "amount must have at most 0 decimal places"


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"currency": "EURO"}, "currency", "currency must be a 3-letter code"),
        ({"currency": "E1R"}, "currency", "currency must be a 3-letter code"),
        ({"country": "DEU"}, "country", "country must be a 2-letter code"),
        ({"amount": "ten"}, "amount", "amount must be an amount"),
        ({"amount": "-1"}, "amount", "amount cannot be negative"),
        ({"amount": "1.234"}, "amount", "amount must have at most 2 decimal places"),
        (
            {"locale": "x"},
            "locale",
            "locale must be a language code such as de or pt-BR (2-10 characters)",
        ),
        (
            {"locale": "de-DE-x-very-long"},
            "locale",
            "locale must be a language code such as de or pt-BR (2-10 characters)",
        ),
    ],
)
def test_public_list_refuses_malformed_filters(api_client, query, field, message):
    response = api_client.get(PUBLIC, query)

    assert response.status_code == 400
    assert response.json() == {
        "error": message,
        "code": "validation_error",
        "errors": {field: [message]},
    }


def test_public_texts_fall_back_from_locale_to_language_to_base(api_client):
    method = PaymentMethodFactory(
        code="pix", name="Pix", description="Instant", short_description="Fast", position=1
    )
    PaymentMethodTranslationFactory(
        payment_method=method, locale="pt", name="Pix PT", description="Instantâneo"
    )
    PaymentMethodTranslationFactory(
        payment_method=method, locale="pt-BR", name="Pix BR", description=None
    )

    def texts(locale):
        rows = api_client.get(PUBLIC, {"locale": locale}).json()["methods"]
        row = next(row for row in rows if row["code"] == "pix")
        return row["name"], row["description"], row["short_description"]

    assert texts("pt-BR") == ("Pix BR", "Instantâneo", "Fast")
    assert texts("pt_br") == ("Pix BR", "Instantâneo", "Fast")
    assert texts("pt-PT") == ("Pix PT", "Instantâneo", "Fast")
    assert texts("pt") == ("Pix PT", "Instantâneo", "Fast")
    assert texts("de") == ("Pix", "Instant", "Fast")


def test_public_list_runs_the_same_queries_for_1_and_50_methods(
    api_client, gateway, django_assert_num_queries
):
    def run():
        response = api_client.get(PUBLIC, {"locale": "de", "amount": "10", "currency": "USD"})
        assert response.status_code == 200
        return len(response.json()["methods"])

    method = PaymentMethodFactory(plugin_id="fakepay")
    PaymentMethodTranslationFactory(payment_method=method)
    run()  # warms the caches
    with django_assert_num_queries(5):  # currency, default, target rate, methods, translations
        assert run() == 2
    for _ in range(49):
        PaymentMethodTranslationFactory(payment_method=PaymentMethodFactory(plugin_id="fakepay"))
    with django_assert_num_queries(5):
        assert run() == 51


def test_public_detail_by_code(api_client, gateway):
    method = PaymentMethodFactory(code="card", plugin_id="fakepay", icon="card.svg")
    PaymentMethodTranslationFactory(payment_method=method, locale="de", name="Karte")

    plain = api_client.get(f"{PUBLIC}/card")
    german = api_client.get(f"{PUBLIC}/card/", {"locale": "de-AT"})

    assert plain.status_code == 200
    assert set(plain.json()) == {"method"}
    assert set(plain.json()["method"]) == PUBLIC_KEYS
    assert plain.json()["method"]["name"] == method.name
    assert plain.json()["method"]["icon"] == "card.svg"
    assert plain.json()["method"]["kind"] == "GATEWAY"
    assert german.json()["method"]["name"] == "Karte"


def test_public_detail_is_404_for_unknown_inactive_or_disabled_plugin(api_client, gateway):
    PaymentMethodFactory(code="off", is_active=False)
    PaymentMethodFactory(code="card", plugin_id="fakepay")
    gateway["fakepay"] = False

    for code in ("nope", "off", "card"):
        response = api_client.get(f"{PUBLIC}/{code}")
        assert response.status_code == 404
        assert response.json() == {"error": "Payment method not found", "code": "not_found"}


# --- admin: list, detail -----------------------------------------------------------------------


def test_admin_list_shape_and_types(admin_client, gateway):
    PaymentMethodFactory(
        code="card",
        plugin_id="fakepay",
        position=1,
        min_amount=Decimal("1.5"),
        max_amount=Decimal("1000"),
        currencies=["EUR"],
        countries=["DE", "AT"],
        fee_type="fixed",
        fee_amount=Decimal("0.3500"),
        config={"statement": "VBWD"},
    )

    response = admin_client.get(ADMIN)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"payment_methods"}
    invoice, card = body["payment_methods"]
    assert set(invoice) == ADMIN_KEYS
    assert invoice["code"] == "invoice"
    assert (invoice["kind"], invoice["plugin_id"], invoice["is_available"]) == (
        "OFFLINE",
        None,
        True,
    )
    assert (invoice["min_amount"], invoice["max_amount"]) == (None, None)
    assert (invoice["currencies"], invoice["countries"], invoice["config"]) == ([], [], {})
    assert card["kind"] == "GATEWAY"
    assert card["is_available"] is True
    assert (card["min_amount"], card["max_amount"]) == ("1.50", "1000.00")
    assert (card["fee_type"], card["fee_amount"], card["fee_charged_to"]) == (
        "fixed",
        "0.35",
        "customer",
    )
    assert card["countries"] == ["DE", "AT"]
    assert card["config"] == {"statement": "VBWD"}
    assert uuid.UUID(card["id"])
    assert card["created_at"].endswith("Z")
    assert isinstance(card["position"], int)


def test_admin_list_is_available_follows_the_plugin(admin_client, gateway):
    PaymentMethodFactory(code="card", plugin_id="fakepay")
    gateway["fakepay"] = False

    rows = {row["code"]: row for row in admin_client.get(ADMIN).json()["payment_methods"]}

    assert rows["card"]["is_active"] is True
    assert rows["card"]["is_available"] is False


def test_admin_list_runs_the_same_queries_for_1_and_50_methods(
    admin_client, gateway, django_assert_num_queries
):
    PaymentMethodFactory(plugin_id="fakepay")
    admin_client.get(ADMIN)
    with django_assert_num_queries(3):  # caller, methods, default currency
        assert len(admin_client.get(ADMIN).json()["payment_methods"]) == 2
    PaymentMethodFactory.create_batch(49, plugin_id="fakepay")
    with django_assert_num_queries(3):
        assert len(admin_client.get(ADMIN).json()["payment_methods"]) == 51


def test_admin_detail_and_by_code(admin_client):
    method = PaymentMethodFactory(code="wire")

    by_id = admin_client.get(f"{ADMIN}/{method.pk}")
    by_code = admin_client.get(f"{ADMIN}/code/wire/")

    assert by_id.status_code == 200
    assert set(by_id.json()) == {"payment_method"}
    assert by_id.json()["payment_method"]["id"] == str(method.pk)
    assert by_code.json() == by_id.json()


@pytest.mark.parametrize(
    "url",
    [
        f"{ADMIN}/5d8e2c1a-0f3b-4a6e-8c7d-2b1e9f4a6c30",
        f"{ADMIN}/code/nothing",
        f"{ADMIN}/not-a-uuid",
    ],
)
def test_admin_detail_404(admin_client, url):
    response = admin_client.get(url)

    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_admin_detail_404_message(admin_client):
    response = admin_client.get(f"{ADMIN}/{uuid.uuid4()}")

    assert response.json() == {"error": "Payment method not found", "code": "not_found"}


# --- admin: create -----------------------------------------------------------------------------


def test_create_with_defaults(admin_client):
    response = send(admin_client, "post", ADMIN, {"code": "wire", "name": "Wire", "junk": 1})

    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"payment_method", "message"}
    assert body["message"] == "Payment method created successfully"
    created = body["payment_method"]
    assert set(created) == ADMIN_KEYS
    assert {key: created[key] for key in ADMIN_KEYS - {"id", "created_at", "updated_at"}} == {
        "code": "wire",
        "name": "Wire",
        "description": None,
        "short_description": None,
        "instructions": None,
        "icon": None,
        "plugin_id": None,
        "kind": "OFFLINE",
        "is_active": True,
        "is_default": False,
        "position": 0,
        "min_amount": None,
        "max_amount": None,
        "currencies": [],
        "countries": [],
        "fee_type": "none",
        "fee_amount": "0.00",
        "fee_charged_to": "customer",
        "config": {},
        "is_available": True,
    }
    method = PaymentMethod.objects.get(code="wire")
    entry = AuditEntry.objects.get(action="payment_method.created", object_id=str(method.pk))
    assert entry.actor_id == admin_client.user.pk
    assert entry.after["code"] == "wire"


def test_create_with_every_field_normalised(admin_client):
    response = send(
        admin_client,
        "post",
        ADMIN,
        {
            "code": "sepa_dd-1",
            "name": "  SEPA  ",
            "description": "",
            "short_description": "Direct debit",
            "instructions": None,
            "icon": "sepa.svg",
            "plugin_id": "",
            "is_active": "false",
            "position": 7,
            "min_amount": 1,
            "max_amount": "99.9",
            "currencies": ["eur", "EUR", "usd"],
            "countries": ["de"],
            "fee_type": "PERCENTAGE",
            "fee_amount": 1.2345,
            "fee_charged_to": "Merchant",
            "config": {"creditor_id": "DE98ZZZ09999999999"},
        },
    )

    assert response.status_code == 201, response.json()
    created = response.json()["payment_method"]
    assert created["name"] == "SEPA"
    assert created["description"] is None
    assert created["is_active"] is False
    assert created["is_available"] is False
    assert (created["min_amount"], created["max_amount"]) == ("1.00", "99.90")
    assert created["currencies"] == ["EUR", "USD"]
    assert created["countries"] == ["DE"]
    assert (created["fee_type"], created["fee_amount"], created["fee_charged_to"]) == (
        "percentage",
        "1.2345",
        "merchant",
    )


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"name": "X"}, "code", "Code is required"),
        ({"code": "", "name": "X"}, "code", "Code is required"),
        ({"code": "wire"}, "name", "Name is required"),
        ({"code": "wire", "name": "  "}, "name", "Name is required"),
        ({"code": "Wire", "name": "X"}, "code", "Invalid code format"),
        ({"code": "w", "name": "X"}, "code", "Invalid code format"),
        ({"code": "a b", "name": "X"}, "code", "Invalid code format"),
        ({"code": "a" * 51, "name": "X"}, "code", "Invalid code format"),
        ({"code": 12, "name": "X"}, "code", "Invalid code format"),
        ({"code": "wire", "name": "X" * 101}, "name", "Name must be at most 100 characters"),
        ({"code": "wire", "name": "X", "plugin_id": "acmepay"}, "plugin_id",
         "Unknown payment plugin: acmepay"),
        ({"code": "wire", "name": "X", "plugin_id": "alpha"}, "plugin_id",
         "Unknown payment plugin: alpha"),
        ({"code": "wire", "name": "X", "currencies": ["GBP"]}, "currencies",
         "Unknown currency code: GBP"),
        ({"code": "wire", "name": "X", "currencies": "EUR"}, "currencies",
         "currencies must be a list of codes"),
        ({"code": "wire", "name": "X", "countries": ["XX"]}, "countries",
         "Unknown country code: XX"),
        ({"code": "wire", "name": "X", "fee_type": "flat"}, "fee_type", "Unknown fee_type: flat"),
        ({"code": "wire", "name": "X", "fee_charged_to": "bank"}, "fee_charged_to",
         "Unknown fee_charged_to: bank"),
        ({"code": "wire", "name": "X", "fee_amount": "-1"}, "fee_amount",
         "fee_amount cannot be negative"),
        ({"code": "wire", "name": "X", "fee_amount": "0.00001"}, "fee_amount",
         "fee_amount must have at most 4 decimal places"),
        ({"code": "wire", "name": "X", "fee_amount": "1e12"}, "fee_amount",
         "fee_amount is too large"),
        ({"code": "wire", "name": "X", "fee_type": "percentage", "fee_amount": "100.01"},
         "fee_amount", "A percentage fee_amount cannot exceed 100"),
        ({"code": "wire", "name": "X", "min_amount": "1.001"}, "min_amount",
         "min_amount must have at most 2 decimal places"),
        ({"code": "wire", "name": "X", "max_amount": "-5"}, "max_amount",
         "max_amount cannot be negative"),
        ({"code": "wire", "name": "X", "min_amount": "10", "max_amount": "5"}, "min_amount",
         "min_amount cannot be greater than max_amount"),
        ({"code": "wire", "name": "X", "position": "first"}, "position",
         "position must be an integer"),
        ({"code": "wire", "name": "X", "is_active": "maybe"}, "is_active",
         "is_active must be true or false"),
        ({"code": "wire", "name": "X", "config": []}, "config", "config must be an object"),
        ({"code": "wire", "name": "X", "config": {"api_secret": "x"}}, "config",
         "config holds non-secret values only; keep 'api_secret' in the plugin's settings"),
        ({"code": "wire", "name": "X", "icon": 5}, "icon", "icon must be a string"),
    ],
)  # fmt: skip
def test_create_validation_errors(admin_client, body, field, message):
    response = send(admin_client, "post", ADMIN, body)

    assert response.status_code == 400
    assert response.json() == {
        "error": message,
        "code": "validation_error",
        "errors": {field: [message]},
    }
    assert PaymentMethod.objects.count() == 1


def test_create_duplicate_code_is_409(admin_client):
    response = send(admin_client, "post", ADMIN, {"code": "invoice", "name": "Again"})

    assert response.status_code == 409
    assert response.json() == {"error": "Payment method code already exists", "code": "conflict"}


def test_create_gateway_method(admin_client, gateway):
    gateway["fakepay"] = False

    response = send(
        admin_client, "post", ADMIN, {"code": "card", "name": "Card", "plugin_id": "fakepay"}
    )

    assert response.status_code == 201
    created = response.json()["payment_method"]
    assert (created["plugin_id"], created["kind"], created["is_available"]) == (
        "fakepay",
        "GATEWAY",
        False,
    )


def test_create_as_default_clears_the_previous_default(admin_client):
    response = send(admin_client, "post", ADMIN, {"code": "wire", "name": "W", "is_default": 1})

    assert response.status_code == 201
    assert response.json()["payment_method"]["is_default"] is True
    assert list(PaymentMethod.objects.filter(is_default=True).values_list("code", flat=True)) == [
        "wire"
    ]
    wire = PaymentMethod.objects.get(code="wire")
    assert audit_actions(wire) == ["payment_method.created", "payment_method.default_set"]
    entry = AuditEntry.objects.get(action="payment_method.default_set")
    assert (entry.before, entry.after) == ({"default": "invoice"}, {"default": "wire"})


def test_create_inactive_default_is_refused(admin_client):
    response = send(
        admin_client,
        "post",
        ADMIN,
        {"code": "wire", "name": "W", "is_default": True, "is_active": False},
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "Only an active payment method can be the default",
        "code": "business_rule",
    }
    assert not PaymentMethod.objects.filter(code="wire").exists()


# --- admin: update -----------------------------------------------------------------------------


def test_update_is_partial_and_audited(admin_client):
    method = PaymentMethodFactory(code="wire", name="Wire", description="Old", position=4)

    response = send(
        admin_client,
        "put",
        f"{ADMIN}/{method.pk}",
        {"code": "wire", "name": "Bank wire", "fee_type": "fixed", "fee_amount": "1.5"},
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"payment_method", "message"}
    assert body["message"] == "Payment method updated successfully"
    assert body["payment_method"]["name"] == "Bank wire"
    assert body["payment_method"]["description"] == "Old"
    assert body["payment_method"]["position"] == 4
    assert body["payment_method"]["fee_amount"] == "1.50"
    entry = AuditEntry.objects.get(action="payment_method.updated", object_id=str(method.pk))
    assert entry.before == {"name": "Wire", "fee_type": "none", "fee_amount": "0.0000"}
    assert entry.after == {"name": "Bank wire", "fee_type": "fixed", "fee_amount": "1.5000"}


def test_patch_is_an_alias_and_no_change_writes_no_audit(admin_client):
    method = PaymentMethodFactory(name="Same")

    response = send(admin_client, "patch", f"{ADMIN}/{method.pk}/", {"name": "Same"})

    assert response.status_code == 200
    assert audit_actions(method) == []


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"code": "other"}, "code", "Payment method code cannot be changed"),
        ({"name": ""}, "name", "Name cannot be empty"),
        ({"name": None}, "name", "Name cannot be empty"),
        ({"max_amount": "5"}, "min_amount", "min_amount cannot be greater than max_amount"),
        ({"fee_amount": "150"}, "fee_amount", "A percentage fee_amount cannot exceed 100"),
    ],
)
def test_update_validation_errors(admin_client, body, field, message):
    method = PaymentMethodFactory(
        code="wire", name="Wire", min_amount=Decimal("10"), fee_type="percentage"
    )

    response = send(admin_client, "put", f"{ADMIN}/{method.pk}", body)

    assert response.status_code == 400
    assert response.json() == {
        "error": message,
        "code": "validation_error",
        "errors": {field: [message]},
    }
    method.refresh_from_db()
    assert (method.code, method.name) == ("wire", "Wire")


def test_update_cannot_deactivate_or_unflag_the_default(admin_client):
    url = f"{ADMIN}/{invoice_method().pk}"

    deactivate = send(admin_client, "put", url, {"is_active": False, "name": "Changed"})
    unflag = send(admin_client, "put", url, {"is_default": False})

    assert deactivate.status_code == 400
    assert deactivate.json() == {
        "error": "Cannot deactivate the default payment method",
        "code": "business_rule",
    }
    assert unflag.status_code == 400
    assert unflag.json()["code"] == "business_rule"
    method = invoice_method()
    assert (method.is_active, method.is_default, method.name) == (True, True, "Invoice")


def test_update_keeps_an_uninstalled_plugin_but_refuses_a_new_unknown_one(admin_client):
    method = PaymentMethodFactory(plugin_id="removed")
    url = f"{ADMIN}/{method.pk}"

    kept = send(admin_client, "put", url, {"plugin_id": "removed", "name": "Renamed"})
    changed = send(admin_client, "put", url, {"plugin_id": "other"})
    offline = send(admin_client, "put", url, {"plugin_id": None})

    assert kept.status_code == 200
    assert kept.json()["payment_method"]["is_available"] is False
    assert changed.status_code == 400
    assert changed.json()["error"] == "Unknown payment plugin: other"
    assert offline.json()["payment_method"]["kind"] == "OFFLINE"
    assert offline.json()["payment_method"]["is_available"] is True


def test_update_can_make_a_method_the_default(admin_client):
    method = PaymentMethodFactory(code="wire")

    response = send(admin_client, "put", f"{ADMIN}/{method.pk}", {"is_default": "true"})

    assert response.status_code == 200
    assert response.json()["payment_method"]["is_default"] is True
    assert invoice_method().is_default is False


def test_update_unknown_method_is_404(admin_client):
    response = send(admin_client, "put", f"{ADMIN}/{uuid.uuid4()}", {"name": "X"})

    assert response.status_code == 404
    assert response.json()["error"] == "Payment method not found"


# --- admin: delete -----------------------------------------------------------------------------


def test_delete_removes_the_method_and_its_translations(admin_client, usage):
    method = PaymentMethodFactory()
    PaymentMethodTranslationFactory(payment_method=method)

    response = admin_client.delete(f"{ADMIN}/{method.pk}")

    assert response.status_code == 200
    assert response.json() == {"message": "Payment method deleted successfully"}
    assert not PaymentMethod.objects.filter(pk=method.pk).exists()
    assert not PaymentMethodTranslation.objects.exists()
    assert audit_actions(method) == ["payment_method.deleted"]


def test_delete_default_is_refused(admin_client):
    response = admin_client.delete(f"{ADMIN}/{invoice_method().pk}")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Cannot delete the default payment method",
        "code": "business_rule",
    }


def test_delete_in_use_is_409(admin_client, usage):
    method = PaymentMethodFactory()
    usage[method.pk] = 2

    response = admin_client.delete(f"{ADMIN}/{method.pk}")

    assert response.status_code == 409
    assert response.json() == {
        "error": "Payment method is used by unpaid invoices or subscriptions. "
        "Deactivate it instead.",
        "code": "has_dependencies",
    }
    assert PaymentMethod.objects.filter(pk=method.pk).exists()


def test_delete_unknown_is_404(admin_client):
    assert admin_client.delete(f"{ADMIN}/{uuid.uuid4()}").status_code == 404


# --- admin: activate, deactivate, set-default --------------------------------------------------


def test_deactivate_and_activate(admin_client):
    method = PaymentMethodFactory()

    off = admin_client.post(f"{ADMIN}/{method.pk}/deactivate")
    off_again = admin_client.post(f"{ADMIN}/{method.pk}/deactivate")
    on = admin_client.post(f"{ADMIN}/{method.pk}/activate/")

    assert off.status_code == 200
    assert set(off.json()) == {"payment_method", "message"}
    assert off.json()["message"] == "Payment method deactivated"
    assert off.json()["payment_method"]["is_active"] is False
    assert off_again.status_code == 200
    assert on.json()["message"] == "Payment method activated"
    assert on.json()["payment_method"]["is_active"] is True
    assert audit_actions(method) == ["payment_method.deactivated", "payment_method.activated"]


def test_deactivate_default_is_refused(admin_client):
    response = admin_client.post(f"{ADMIN}/{invoice_method().pk}/deactivate")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Cannot deactivate the default payment method",
        "code": "business_rule",
    }
    assert invoice_method().is_active is True


def test_set_default_moves_the_flag(admin_client):
    method = PaymentMethodFactory(code="wire")

    response = admin_client.post(f"{ADMIN}/{method.pk}/set-default")
    again = admin_client.post(f"{ADMIN}/{method.pk}/set-default")

    assert response.status_code == 200
    assert response.json()["message"] == "Default payment method updated"
    assert response.json()["payment_method"]["is_default"] is True
    assert again.status_code == 200
    assert list(PaymentMethod.objects.filter(is_default=True)) == [method]
    assert audit_actions(method) == ["payment_method.default_set"]


def test_set_default_needs_an_active_method(admin_client):
    method = PaymentMethodFactory(is_active=False)

    response = admin_client.post(f"{ADMIN}/{method.pk}/set-default")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Only an active payment method can be the default",
        "code": "business_rule",
    }
    assert invoice_method().is_default is True


def test_set_default_needs_an_enabled_plugin(admin_client, gateway):
    method = PaymentMethodFactory(plugin_id="fakepay")
    gateway["fakepay"] = False

    refused = admin_client.post(f"{ADMIN}/{method.pk}/set-default")
    gateway["fakepay"] = True
    accepted = admin_client.post(f"{ADMIN}/{method.pk}/set-default")

    assert refused.status_code == 400
    assert refused.json()["code"] == "business_rule"
    assert accepted.status_code == 200


@pytest.mark.parametrize("action", ["activate", "deactivate", "set-default"])
def test_actions_on_unknown_method_are_404(admin_client, action):
    response = admin_client.post(f"{ADMIN}/{uuid.uuid4()}/{action}")

    assert response.status_code == 404
    assert response.json()["error"] == "Payment method not found"


# --- admin: reorder ----------------------------------------------------------------------------


def test_reorder(admin_client):
    first = PaymentMethodFactory(code="first", position=1)
    second = PaymentMethodFactory(code="second", position=2)

    response = send(
        admin_client,
        "put",
        f"{ADMIN}/reorder",
        {"order": [{"id": str(second.pk), "position": 0}, {"id": str(first.pk), "position": 5}]},
    )

    assert response.status_code == 200
    rows = response.json()["payment_methods"]
    assert set(response.json()) == {"payment_methods"}
    assert [(row["code"], row["position"]) for row in rows] == [
        ("invoice", 0),
        ("second", 0),
        ("first", 5),
    ]
    assert set(rows[0]) == ADMIN_KEYS
    assert audit_actions(first) == ["payment_method.reordered"]
    entry = AuditEntry.objects.get(object_id=str(second.pk))
    assert (entry.before, entry.after) == ({"position": 2}, {"position": 0})


@pytest.mark.parametrize(
    "order",
    [
        None,
        "abc",
        [1],
        [{"id": "x"}],
        [{"position": 1}],
        [{"id": "INVOICE", "position": "1"}],
        [{"id": "INVOICE", "position": True}],
    ],
)
def test_reorder_refuses_a_malformed_order(admin_client, order):
    body = {"order": order} if order is not None else {}
    body = json.loads(json.dumps(body).replace("INVOICE", str(invoice_method().pk)))

    response = send(admin_client, "put", f"{ADMIN}/reorder", body)

    assert response.status_code == 400
    assert response.json() == {
        "error": "order must be a list of {id, position}",
        "code": "validation_error",
        "errors": {"order": ["order must be a list of {id, position}"]},
    }


@pytest.mark.parametrize("missing", ["0b4f5e52-7d0c-4f43-9a1e-3c2d8f6a9b10", "not-a-uuid"])
def test_reorder_unknown_id_changes_nothing(admin_client, missing):
    method = PaymentMethodFactory(position=3)

    response = send(
        admin_client,
        "patch",
        f"{ADMIN}/reorder/",
        {"order": [{"id": str(method.pk), "position": 9}, {"id": missing, "position": 1}]},
    )

    assert response.status_code == 400
    assert response.json()["error"] == f"Payment method not found: {missing}"
    method.refresh_from_db()
    assert method.position == 3


# --- admin: translations -----------------------------------------------------------------------


def test_translations_upsert_list_and_delete(admin_client):
    method = PaymentMethodFactory()
    url = f"{ADMIN}/{method.pk}/translations"

    inserted = send(admin_client, "post", url, {"locale": "pt_br", "name": "Boleto", "x": 1})
    updated = send(admin_client, "post", url, {"locale": "pt-BR", "description": "Pague"})
    send(admin_client, "post", url, {"locale": "DE", "name": "Rechnung"})
    listed = admin_client.get(url)
    deleted = admin_client.delete(f"{url}/pt-br")

    assert inserted.status_code == 200
    assert set(inserted.json()) == {"translation", "message"}
    assert inserted.json()["message"] == "Translation saved"
    assert set(inserted.json()["translation"]) == TRANSLATION_KEYS
    assert inserted.json()["translation"]["locale"] == "pt-BR"
    assert inserted.json()["translation"]["payment_method_id"] == str(method.pk)
    assert updated.json()["translation"]["id"] == inserted.json()["translation"]["id"]
    assert (
        updated.json()["translation"]["name"],
        updated.json()["translation"]["description"],
    ) == (
        "Boleto",
        "Pague",
    )
    assert listed.status_code == 200
    assert set(listed.json()) == {"translations"}
    assert [row["locale"] for row in listed.json()["translations"]] == ["de", "pt-BR"]
    assert deleted.status_code == 200
    assert deleted.json() == {"message": "Translation deleted"}
    assert list(method.translations.values_list("locale", flat=True)) == ["de"]
    assert audit_actions(method) == [
        "payment_method.translation_saved",
        "payment_method.translation_saved",
        "payment_method.translation_saved",
        "payment_method.translation_deleted",
    ]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "Locale is required"),
        ({"locale": ""}, "Locale is required"),
        ({"locale": "1"}, "locale must be a language code such as de or pt-BR (2-10 characters)"),
        ({"locale": "de", "name": "N" * 101}, "name must be at most 100 characters"),
    ],
)
def test_translation_validation(admin_client, body, message):
    method = PaymentMethodFactory()

    response = send(admin_client, "post", f"{ADMIN}/{method.pk}/translations", body)

    assert response.status_code == 400
    assert response.json()["error"] == message
    assert response.json()["code"] == "validation_error"


def test_translation_routes_404(admin_client):
    method = PaymentMethodFactory()
    missing = uuid.uuid4()

    no_translation = admin_client.delete(f"{ADMIN}/{method.pk}/translations/fr")
    bad_locale = admin_client.delete(f"{ADMIN}/{method.pk}/translations/!!")
    no_method_list = admin_client.get(f"{ADMIN}/{missing}/translations")
    no_method_post = send(admin_client, "post", f"{ADMIN}/{missing}/translations", {"locale": "de"})

    assert no_translation.status_code == 404
    assert no_translation.json() == {"error": "Translation not found", "code": "not_found"}
    assert bad_locale.json() == {"error": "Translation not found", "code": "not_found"}
    assert no_method_list.json() == {"error": "Payment method not found", "code": "not_found"}
    assert no_method_post.status_code == 404


# --- admin: access -----------------------------------------------------------------------------

ADMIN_ROUTES = [
    ("get", ""),
    ("post", ""),
    ("get", "/{id}"),
    ("put", "/{id}"),
    ("patch", "/{id}"),
    ("delete", "/{id}"),
    ("get", "/code/invoice"),
    ("post", "/{id}/activate"),
    ("post", "/{id}/deactivate"),
    ("post", "/{id}/set-default"),
    ("put", "/reorder"),
    ("get", "/{id}/translations"),
    ("post", "/{id}/translations"),
    ("delete", "/{id}/translations/de"),
]


@pytest.mark.parametrize(("verb", "path"), ADMIN_ROUTES)
def test_admin_routes_need_staff(api_client, user_client, verb, path):
    url = ADMIN + path.format(id=invoice_method().pk)

    body = None if verb == "get" else {}
    anonymous = send(api_client, verb, url, body)
    customer = send(user_client, verb, url, body)

    assert anonymous.status_code == 401
    assert anonymous.json() == {
        "error": "Authorization header is required",
        "code": "not_authenticated",
    }
    assert customer.status_code == 403
    assert customer.json() == {"error": "Admin access required", "code": "permission_denied"}
    assert invoice_method().is_default is True


# --- services ----------------------------------------------------------------------------------


def test_plugin_of_the_default_method_cannot_be_disabled(gateway):
    method = PaymentMethodFactory(plugin_id="fakepay")
    services.payment_method_set_default(method=method, actor=None)

    with pytest.raises(BusinessRuleError) as refused:
        services.payment_methods_check_plugin_disable(plugin=SimpleNamespace(key="fakepay"))
    services.payment_methods_check_plugin_disable(plugin=SimpleNamespace(key="otherpay"))

    assert refused.value.message == "Cannot disable the plugin of the default payment method"


def test_disabling_the_default_methods_plugin_is_refused_through_the_api(admin_client):
    from plugins import services as plugin_services

    plugin_services.plugin_enable(name="alpha")
    PaymentMethod.objects.filter(is_default=True).update(is_default=False)
    PaymentMethodFactory(plugin_id="alpha", is_default=True)

    response = admin_client.post("/api/v1/admin/plugins/alpha/disable")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Cannot disable the plugin of the default payment method",
        "code": "business_rule",
    }
    assert state.is_enabled("alpha") is True


def test_plugin_of_a_non_default_method_can_be_disabled(gateway):
    PaymentMethodFactory(plugin_id="fakepay")

    services.payment_methods_check_plugin_disable(plugin=SimpleNamespace(key="fakepay"))


def test_payment_method_accepts_and_conversion():
    method = PaymentMethodFactory(
        currencies=["EUR"], countries=["DE"], min_amount=Decimal("10"), max_amount=Decimal("20")
    )

    assert services.payment_method_accepts(method, currency="eur", country="de")
    assert not services.payment_method_accepts(method, currency="USD")
    assert not services.payment_method_accepts(method, country="AT")
    assert not services.payment_method_accepts(method, amount_in_default=Decimal("9.99"))
    assert services.payment_method_accepts(method, amount_in_default=Decimal("20.00"))
    assert services.amount_in_default_currency(Decimal("21.60"), "USD") == Decimal("20.00")
    assert services.amount_in_default_currency(Decimal("21.60"), None) == Decimal("21.60")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("with_a_default", [True, False])
def test_concurrent_set_default_leaves_exactly_one_default(with_a_default):
    # Earlier transactional tests may have flushed the seeded default; set the start explicitly.
    PaymentMethod.objects.filter(is_default=True).update(is_default=False)
    if with_a_default:
        PaymentMethodFactory(is_default=True)
    methods = PaymentMethodFactory.create_batch(6)

    def make_default(method):
        services.payment_method_set_default(method=method, actor=None)
        return "default"

    results = run_together([partial(make_default, method) for method in methods])
    # Any failure is the finding.
    outcomes = [repr(result) if isinstance(result, Exception) else result for result in results]

    assert outcomes == ["default"] * len(methods)
    assert PaymentMethod.objects.filter(is_default=True).count() == 1
    assert AuditEntry.objects.filter(action="payment_method.default_set").count() == len(methods)


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [("de", "de"), ("DE", "de"), ("pt_br", "pt-BR"), ("zh-hant-tw", "zh-Hant-TW")],
)
def test_canonical_locale(raw, canonical):
    assert services.canonical_locale(raw) == canonical


# --- Django admin ------------------------------------------------------------------------------

CHANGELIST = "/admin/catalog/paymentmethod/"
TRANSLATIONS_PREFIX = "translations"


def _staff_client() -> Client:
    staff = AdminFactory()
    client = Client()
    assert client.login(username=staff.email, password=DEFAULT_PASSWORD)
    client.staff = staff
    return client


def _inline_management(total=0, initial=0) -> dict:
    return {
        f"{TRANSLATIONS_PREFIX}-TOTAL_FORMS": str(total),
        f"{TRANSLATIONS_PREFIX}-INITIAL_FORMS": str(initial),
        f"{TRANSLATIONS_PREFIX}-MIN_NUM_FORMS": "0",
        f"{TRANSLATIONS_PREFIX}-MAX_NUM_FORMS": "1000",
    }


def _form(**overrides) -> dict:
    data = {
        "name": "Wire",
        "short_description": "",
        "description": "",
        "instructions": "",
        "icon": "",
        "plugin_id": "",
        "position": "3",
        "min_amount": "",
        "max_amount": "",
        "currencies": "",
        "countries": "",
        "fee_type": "none",
        "fee_amount": "0",
        "fee_charged_to": "customer",
        "config": "{}",
        **_inline_management(),
    }
    data.update(overrides)
    return data


def test_back_office_list_search_and_filters(django_assert_max_num_queries):
    client = _staff_client()
    PaymentMethodFactory.create_batch(20)
    PaymentMethodFactory(code="findme", is_active=False)

    with django_assert_max_num_queries(12):
        listing = client.get(CHANGELIST)
    found = client.get(CHANGELIST, {"q": "findme"})
    inactive = client.get(CHANGELIST, {"is_active__exact": "0"})

    assert listing.status_code == 200
    assert found.context["cl"].result_count == 1
    assert inactive.context["cl"].result_count == 1


def test_back_office_creates_a_method_with_a_translation(gateway):
    client = _staff_client()

    page = client.get(f"{CHANGELIST}add/")
    response = client.post(
        f"{CHANGELIST}add/",
        _form(
            code="wire",
            is_active="on",
            currencies="eur, usd",
            countries="de",
            **_inline_management(total=1),
            **{f"{TRANSLATIONS_PREFIX}-0-locale": "de_at", f"{TRANSLATIONS_PREFIX}-0-name": "Ü"},
        ),
    )

    assert page.status_code == 200
    assert b'<option value="fakepay">fakepay</option>' in page.content
    assert response.status_code == 302, response.context["adminform"].form.errors
    method = PaymentMethod.objects.get(code="wire")
    assert (method.name, method.position, method.is_active) == ("Wire", 3, True)
    assert (method.currencies, method.countries) == (["EUR", "USD"], ["DE"])
    assert list(method.translations.values_list("locale", "name")) == [("de-AT", "Ü")]
    assert audit_actions(method) == [
        "payment_method.created",
        "payment_method.translation_saved",
    ]
    assert AuditEntry.objects.get(action="payment_method.created").actor_id == client.staff.pk


def test_back_office_shows_service_validation_errors():
    client = _staff_client()

    response = client.post(
        f"{CHANGELIST}add/", _form(code="wire", currencies="GBP", min_amount="9", max_amount="1")
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert errors["currencies"] == ["Unknown currency code: GBP"]
    assert not PaymentMethod.objects.filter(code="wire").exists()


def test_back_office_edits_through_the_service():
    client = _staff_client()
    method = PaymentMethodFactory(code="wire", name="Wire", position=3)
    translation = PaymentMethodTranslationFactory(payment_method=method, locale="de", name="D")
    url = f"{CHANGELIST}{method.pk}/change/"
    form = client.get(url)

    response = client.post(
        url,
        _form(
            name="Bank wire",
            fee_type="fixed",
            fee_amount="1.25",
            **_inline_management(total=1, initial=1),
            **{
                f"{TRANSLATIONS_PREFIX}-0-id": str(translation.pk),
                f"{TRANSLATIONS_PREFIX}-0-payment_method": str(method.pk),
                f"{TRANSLATIONS_PREFIX}-0-locale": "de",
                f"{TRANSLATIONS_PREFIX}-0-name": "Überweisung",
            },
        ),
    )

    assert form.status_code == 200
    assert response.status_code == 302, response.context["adminform"].form.errors
    method.refresh_from_db()
    translation.refresh_from_db()
    assert (method.name, method.fee_type, method.fee_amount) == (
        "Bank wire",
        "fixed",
        Decimal("1.2500"),
    )
    assert translation.name == "Überweisung"
    assert audit_actions(method) == [
        "payment_method.updated",
        "payment_method.translation_saved",
    ]


def test_back_office_actions_call_the_services():
    client = _staff_client()
    method = PaymentMethodFactory(code="wire")

    def act(action, *methods):
        return client.post(
            CHANGELIST, {"action": action, "_selected_action": [str(m.pk) for m in methods]}
        )

    act("deactivate_methods", method, invoice_method())
    method.refresh_from_db()
    assert method.is_active is False
    assert invoice_method().is_active is True  # the default refuses
    act("make_default", method)
    assert invoice_method().is_default is True  # inactive refuses
    act("activate_methods", method)
    act("make_default", method)
    method.refresh_from_db()
    assert method.is_default is True
    assert audit_actions(method) == [
        "payment_method.deactivated",
        "payment_method.activated",
        "payment_method.default_set",
    ]
    response = act("delete_methods", method)
    assert response.status_code == 302
    assert PaymentMethod.objects.filter(pk=method.pk).exists()  # the default refuses
    act("delete_methods", invoice_method())
    assert not PaymentMethod.objects.filter(code="invoice").exists()


def test_back_office_delete_view_refuses_the_default():
    client = _staff_client()
    default = invoice_method()
    other = PaymentMethodFactory()

    refused = client.post(f"{CHANGELIST}{default.pk}/delete/", {"post": "yes"})
    accepted = client.post(f"{CHANGELIST}{other.pk}/delete/", {"post": "yes"})

    assert refused.status_code == 302
    assert refused["Location"] == f"{CHANGELIST}{default.pk}/change/"
    assert PaymentMethod.objects.filter(pk=default.pk).exists()
    assert accepted.status_code == 302
    assert not PaymentMethod.objects.filter(pk=other.pk).exists()
    assert audit_actions(other) == ["payment_method.deleted"]
