"""The PayPal plugin in the back office and the admin API: the client secret is reported as set
or not, never shown; captures link to PayPal's activity page of the mode; enabling registers the
``paypal`` payment method once; a disabled plugin closes every route."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.test import Client
from rest_framework.test import APIClient

from accounts.tests.factories import AdminFactory
from billing.catalog.models import PaymentMethod
from billing.invoices.admin import provider_link
from billing.invoices.models import Payment
from billing.invoices.services import invoice_capture
from billing.invoices.tests.factories import custom_draft, issue_invoice
from conftest import DEFAULT_PASSWORD, bearer
from plugins.services import plugin_configure, plugin_disable, plugin_enable

pytestmark = pytest.mark.django_db

SECRET = "EThisClientSecretMustNeverBeShown"


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch):
    for key in ("CLIENT_ID", "CLIENT_SECRET", "WEBHOOK_ID", "MODE", "API_BASE", "TIMEOUT_SECONDS"):
        monkeypatch.delenv(f"VBWD_PLUGIN_PAYPAL_{key}", raising=False)


def test_the_settings_page_says_whether_the_secret_is_set_and_never_shows_it():
    staff = AdminFactory()
    browser = Client()
    assert browser.login(username=staff.email, password=DEFAULT_PASSWORD)
    plugin_enable(name="paypal")
    plugin_configure(name="paypal", values={"client_id": "AeClient", "client_secret": SECRET})

    page = browser.get("/admin/plugins/plugin/paypal/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "client_secret: set" in text
    assert SECRET not in text


def test_the_admin_api_reports_the_secret_set_without_its_value():
    plugin_enable(name="paypal")
    plugin_configure(
        name="paypal",
        values={"client_id": "AeClient", "client_secret": SECRET, "webhook_id": "WH1"},
    )
    client = APIClient()
    client.credentials(**bearer(AdminFactory()))

    response = client.get("/api/v1/admin/plugins/paypal")

    assert response.status_code == 200
    body = response.json()
    assert body["secretsSet"] == {"client_secret": True}
    assert body["savedConfig"] == {
        "client_id": "AeClient",
        "webhook_id": "WH1",
        "mode": "sandbox",
        "api_base": "",
        "timeout_seconds": 30,
    }
    assert SECRET not in response.content.decode()
    assert body["capabilities"]["payment_gateway"] is True
    assert body["capabilities"]["saved_payment_methods"] is False


@pytest.mark.parametrize(
    ("mode", "host"), [("sandbox", "www.sandbox.paypal.com"), ("live", "www.paypal.com")]
)
def test_a_paypal_capture_links_to_paypals_activity_page_of_the_mode(monkeypatch, mode, host):
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_MODE", mode)
    plugin_enable(name="paypal")
    invoice = issue_invoice(drafts=[custom_draft("10.00")])
    invoice_capture(
        invoice_id=invoice.pk,
        gateway="paypal",
        external_id="3C679366HH908993F",
        amount=Decimal("10.00"),
        currency="EUR",
    )

    assert provider_link(Payment.objects.get(invoice=invoice)) == (
        f'<a href="https://{host}/activity/payment/3C679366HH908993F" target="_blank" '
        'rel="noopener noreferrer">3C679366HH908993F</a>'
    )


def test_enabling_registers_the_paypal_payment_method_once():
    plugin_enable(name="paypal")
    plugin_disable(name="paypal")
    plugin_enable(name="paypal")

    method = PaymentMethod.objects.get(code="paypal")
    assert (method.name, method.plugin_id, method.is_active, method.is_default) == (
        "PayPal",
        "paypal",
        True,
        False,
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/plugins/paypal/create-session"),
        ("post", "/api/v1/plugins/paypal/create-order"),
        ("post", "/api/v1/plugins/paypal/capture-order"),
        ("get", "/api/v1/plugins/paypal/session-status/5O190127TN364715T"),
        ("post", "/api/v1/plugins/paypal/webhook"),
    ],
)
def test_a_disabled_plugin_answers_404_on_every_route(method, path):
    plugin_enable(name="paypal")
    plugin_disable(name="paypal")

    response = getattr(APIClient(), method)(path)

    assert response.status_code == 404
    assert response.json() == {"error": "Plugin 'paypal' is not enabled", "code": "not_found"}


def test_without_client_credentials_create_session_is_503(user_client):
    plugin_enable(name="paypal")
    invoice = issue_invoice(
        user_client.user,
        [custom_draft("10.00")],
        payment_method=PaymentMethod.objects.get(code="paypal"),
    )

    response = user_client.post(
        "/api/v1/plugins/paypal/create-session", {"invoice_id": str(invoice.pk)}, format="json"
    )

    assert response.status_code == 503
    assert response.json() == {"error": "paypal is not configured", "code": "service_unavailable"}
