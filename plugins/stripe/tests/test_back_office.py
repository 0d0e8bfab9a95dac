"""The Stripe plugin in the back office and the admin API: keys are reported as set or not,
never shown; payments link to the payment in Stripe's dashboard; enabling registers the
``stripe`` payment method and disabling closes the plugin's routes."""

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

SECRET = "sk_test_51ThisMustNeverBeShown"
WEBHOOK = "whsec_ThisMustNeverBeShownEither"


@pytest.fixture
def staff_browser():
    staff = AdminFactory()
    browser = Client()
    assert browser.login(username=staff.email, password=DEFAULT_PASSWORD)
    return browser


@pytest.fixture
def configured(monkeypatch):
    for key in ("SECRET_KEY", "WEBHOOK_SECRET", "API_BASE", "CHECKOUT_MODE"):
        monkeypatch.delenv(f"VBWD_PLUGIN_STRIPE_{key}", raising=False)
    plugin_enable(name="stripe")
    plugin_configure(
        name="stripe",
        values={
            "secret_key": SECRET,
            "webhook_secret": WEBHOOK,
            "publishable_key": "pk_test_visible",
            "checkout_mode": "elements",
        },
    )


def test_the_settings_page_says_which_keys_are_set_and_never_shows_them(staff_browser, monkeypatch):
    monkeypatch.delenv("VBWD_PLUGIN_STRIPE_SECRET_KEY", raising=False)
    monkeypatch.delenv("VBWD_PLUGIN_STRIPE_WEBHOOK_SECRET", raising=False)
    plugin_enable(name="stripe")
    plugin_configure(name="stripe", values={"secret_key": SECRET})

    page = staff_browser.get("/admin/plugins/plugin/stripe/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "secret_key: set, webhook_secret: not set" in text
    assert SECRET not in text


def test_the_admin_api_reports_secrets_set_without_values(configured):
    staff = AdminFactory()
    client = APIClient()
    client.credentials(**bearer(staff))

    response = client.get("/api/v1/admin/plugins/stripe")

    assert response.status_code == 200
    body = response.json()
    assert body["secretsSet"] == {"secret_key": True, "webhook_secret": True}
    assert body["savedConfig"] == {
        "publishable_key": "pk_test_visible",
        "checkout_mode": "elements",
        "api_base": "https://api.stripe.com",
        "timeout_seconds": 30,
    }
    assert SECRET not in response.content.decode()
    assert WEBHOOK not in response.content.decode()
    assert body["capabilities"]["payment_gateway"] is True
    assert body["capabilities"]["saved_payment_methods"] is True


def test_a_stripe_payment_links_to_the_dashboard_in_the_keys_mode(configured, staff_browser):
    invoice = issue_invoice(drafts=[custom_draft("10.00")])
    invoice_capture(
        invoice_id=invoice.pk,
        gateway="stripe",
        external_id="pi_3Test",
        amount=Decimal("10.00"),
        currency="EUR",
    )
    payment = Payment.objects.get(invoice=invoice)

    assert provider_link(payment) == (
        '<a href="https://dashboard.stripe.com/test/payments/pi_3Test" target="_blank" '
        'rel="noopener noreferrer">pi_3Test</a>'
    )
    listing = staff_browser.get("/admin/invoices/payment/")
    assert "https://dashboard.stripe.com/test/payments/pi_3Test" in listing.content.decode()
    detail = staff_browser.get(f"/admin/invoices/payment/{payment.pk}/change/")
    assert detail.status_code == 200
    assert "https://dashboard.stripe.com/test/payments/pi_3Test" in detail.content.decode()
    invoice_page = staff_browser.get(f"/admin/invoices/invoice/{invoice.pk}/change/")
    assert "https://dashboard.stripe.com/test/payments/pi_3Test" in invoice_page.content.decode()


def test_a_live_key_links_to_the_live_dashboard_and_a_manual_payment_to_nothing(monkeypatch):
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_SECRET_KEY", "sk_live_123")
    online = Payment(gateway="stripe", external_id="pi_live")
    manual = Payment(gateway="manual", external_id="MANUAL")

    assert 'href="https://dashboard.stripe.com/payments/pi_live"' in provider_link(online)
    assert provider_link(manual) == "MANUAL"
    assert provider_link(Payment(gateway="stripe", external_id=None)) == "—"


def test_enabling_registers_the_stripe_payment_method_once():
    plugin_enable(name="stripe")
    plugin_disable(name="stripe")
    plugin_enable(name="stripe")

    method = PaymentMethod.objects.get(code="stripe")
    assert (method.name, method.plugin_id, method.is_active, method.is_default) == (
        "Card (Stripe)",
        "stripe",
        True,
        False,
    )


def test_an_existing_stripe_method_is_left_as_staff_configured_it():
    PaymentMethod.objects.create(code="stripe", name="Kreditkarte", plugin_id="stripe")

    plugin_enable(name="stripe")

    assert PaymentMethod.objects.get(code="stripe").name == "Kreditkarte"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/plugins/stripe/create-session"),
        ("get", "/api/v1/plugins/stripe/session-status/cs_test_1"),
        ("post", "/api/v1/plugins/stripe/webhook"),
    ],
)
def test_a_disabled_plugin_answers_404_on_every_route(method, path):
    plugin_enable(name="stripe")
    plugin_disable(name="stripe")

    response = getattr(APIClient(), method)(path)

    assert response.status_code == 404
    assert response.json() == {"error": "Plugin 'stripe' is not enabled", "code": "not_found"}
