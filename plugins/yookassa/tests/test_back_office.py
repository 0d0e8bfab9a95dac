"""The YooKassa plugin in the back office and the admin API: keys are reported as set or not,
never shown; payments link to YooKassa's dashboard; enabling registers the ``yookassa``
payment method once."""

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

SECRET = "live_ThisMustNeverBeShown"
WEBHOOK = "yk-ThisMustNeverBeShownEither"


@pytest.fixture(autouse=True)
def _no_environment(monkeypatch):
    for key in ("SHOP_ID", "SECRET_KEY", "WEBHOOK_SECRET", "API_BASE", "TIMEOUT_SECONDS"):
        monkeypatch.delenv(f"VBWD_PLUGIN_YOOKASSA_{key}", raising=False)


def test_the_settings_page_says_which_keys_are_set_and_never_shows_them():
    staff = AdminFactory()
    browser = Client()
    assert browser.login(username=staff.email, password=DEFAULT_PASSWORD)
    plugin_enable(name="yookassa")
    plugin_configure(name="yookassa", values={"shop_id": "100500", "secret_key": SECRET})

    page = browser.get("/admin/plugins/plugin/yookassa/change/")

    assert page.status_code == 200
    text = page.content.decode()
    assert "secret_key: set, webhook_secret: not set" in text
    assert SECRET not in text


def test_the_admin_api_reports_secrets_set_without_values():
    plugin_enable(name="yookassa")
    plugin_configure(
        name="yookassa",
        values={"shop_id": "100500", "secret_key": SECRET, "webhook_secret": WEBHOOK},
    )
    client = APIClient()
    client.credentials(**bearer(AdminFactory()))

    response = client.get("/api/v1/admin/plugins/yookassa")

    assert response.status_code == 200
    body = response.json()
    assert body["secretsSet"] == {"secret_key": True, "webhook_secret": True}
    assert body["savedConfig"] == {
        "shop_id": "100500",
        "api_base": "https://api.yookassa.ru/v3",
        "timeout_seconds": 30,
    }
    assert SECRET not in response.content.decode()
    assert WEBHOOK not in response.content.decode()
    assert body["capabilities"]["payment_gateway"] is True
    assert body["capabilities"]["saved_payment_methods"] is True


def test_a_yookassa_payment_links_to_yookassas_dashboard():
    plugin_enable(name="yookassa")
    invoice = issue_invoice(drafts=[custom_draft("10.00")])
    invoice_capture(
        invoice_id=invoice.pk,
        gateway="yookassa",
        external_id="2e9a1f3c-000f-5000-8000-1b2c3d4e5f60",
        amount=Decimal("10.00"),
        currency="EUR",
    )
    payment = Payment.objects.get(invoice=invoice)

    assert provider_link(payment) == (
        '<a href="https://yookassa.ru/my/payments?search=2e9a1f3c-000f-5000-8000-1b2c3d4e5f60" '
        'target="_blank" rel="noopener noreferrer">2e9a1f3c-000f-5000-8000-1b2c3d4e5f60</a>'
    )


def test_enabling_registers_the_yookassa_payment_method_once():
    plugin_enable(name="yookassa")
    plugin_disable(name="yookassa")
    plugin_enable(name="yookassa")

    method = PaymentMethod.objects.get(code="yookassa")
    assert (method.name, method.plugin_id, method.is_active, method.is_default) == (
        "YooKassa",
        "yookassa",
        True,
        False,
    )


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("post", "/api/v1/plugins/yookassa/create-session"),
        ("get", "/api/v1/plugins/yookassa/session-status/2e9a1f3c-000f-5000-8000-1b2c3d4e5f60"),
        ("post", "/api/v1/plugins/yookassa/webhook"),
    ],
)
def test_a_disabled_plugin_answers_404_on_every_route(method, path):
    plugin_enable(name="yookassa")
    plugin_disable(name="yookassa")

    response = getattr(APIClient(), method)(path)

    assert response.status_code == 404
    assert response.json() == {"error": "Plugin 'yookassa' is not enabled", "code": "not_found"}


def test_without_shop_credentials_create_session_is_503(user_client):
    plugin_enable(name="yookassa")
    method = PaymentMethod.objects.get(code="yookassa")
    invoice = issue_invoice(user_client.user, [custom_draft("10.00")], payment_method=method)

    response = user_client.post(
        "/api/v1/plugins/yookassa/create-session", {"invoice_id": str(invoice.pk)}, format="json"
    )

    assert response.status_code == 503
    assert response.json() == {
        "error": "yookassa is not configured",
        "code": "service_unavailable",
    }
