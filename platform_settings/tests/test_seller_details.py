"""Seller details: the demo seller is complete, invoices are refused without a legal seller where
that is required (production), the deploy check and the back office say what is missing."""

from __future__ import annotations

import shutil
import subprocess
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import User
from billing.invoices.models import Invoice, InvoiceStatus
from conftest import bearer
from platform_settings.checks import seller_details_check
from platform_settings.demo import DEMO_SELLER
from platform_settings.selectors import platform_settings_get, seller_details_missing
from platform_settings.services import platform_settings_update
from tokens.models import TokenBundle
from tokens.tests.factories import TokenBundleFactory

pytestmark = pytest.mark.django_db

REFUSAL = (
    "Invoices cannot be issued until the seller details are complete in the platform settings "
    "(missing: legal name, VAT id)"
)


def _pdf_text(data: bytes, tmp_path) -> str:
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed: cannot read the PDF text back")
    path = tmp_path / "invoice.pdf"
    path.write_bytes(data)
    return subprocess.run(
        ["pdftotext", str(path), "-"], check=True, capture_output=True, text=True
    ).stdout


def _customer_client() -> APIClient:
    client = APIClient()
    client.credentials(**bearer(User.objects.get(email="test@example.com")))
    return client


def test_every_demo_invoice_names_the_complete_demo_seller(tmp_path):
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    invoices = list(Invoice.objects.order_by("invoice_number"))
    assert [invoice.status for invoice in invoices] == [InvoiceStatus.PAID, InvoiceStatus.PENDING]
    client = _customer_client()
    for invoice in invoices:
        seller = invoice.seller
        assert seller["company_name"] == "VBWD Demo GmbH"
        assert seller["vat_id"] == "DE123456788"
        assert seller["bank_iban"] == "DE89370400440532013000"
        response = client.get(f"/api/v1/user/invoices/{invoice.pk}/pdf")
        assert response.status_code == 200
        text = _pdf_text(response.content, tmp_path)
        for expected in ("VBWD Demo GmbH", "Unter den Linden 10", "10117", "Berlin"):
            assert expected in text, expected
        assert "DE123456788" in text
        if invoice.status == InvoiceStatus.PENDING:  # the account to pay to, while unpaid
            assert "DE89370400440532013000" in text.replace(" ", "")


def test_paying_the_demo_bank_transfer_invoice_names_the_seller_account():
    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115
    pending = Invoice.objects.get(status=InvoiceStatus.PENDING)

    response = _customer_client().post(f"/api/v1/user/invoices/{pending.pk}/pay", {}, "json")

    assert response.status_code == 200, response.content
    bank = response.json()
    assert bank["action"] == "BANK_TRANSFER"
    details = bank["instructions"]
    assert details["iban"] == "DE89370400440532013000"
    assert details["bic"] == "COBADEFFXXX"
    assert details["account_holder"] == "VBWD Demo GmbH"


def test_seed_demo_keeps_seller_details_the_operator_set():
    platform_settings_update(data={"company_name": "Acme Billing Ltd"}, actor=None)

    call_command("seed_demo", stdout=open("/dev/null", "w"))  # noqa: SIM115

    row = platform_settings_get()
    assert row.company_name == "Acme Billing Ltd"
    assert row.vat_id == DEMO_SELLER["vat_id"]


@pytest.fixture
def incomplete_seller():
    data = {name: value for name, value in DEMO_SELLER.items()}
    data.update(company_name="", vat_id="")
    platform_settings_update(data=data, actor=None)
    assert seller_details_missing() == ["legal name", "VAT id"]


def test_checkout_is_refused_while_the_seller_is_incomplete_where_required(
    settings, incomplete_seller, user
):
    settings.VBWD_REQUIRE_SELLER_DETAILS = True
    bundle = TokenBundleFactory(price=Decimal("9.99"))
    client = APIClient()
    client.credentials(**bearer(user))

    response = client.post("/api/v1/user/checkout", {"token_bundle_ids": [str(bundle.pk)]}, "json")

    assert response.status_code == 503
    assert response.json() == {"error": REFUSAL, "code": "service_unavailable"}
    assert Invoice.objects.count() == 0
    assert TokenBundle.objects.count() == 1


def test_without_the_requirement_an_incomplete_seller_still_invoices(incomplete_seller, user):
    bundle = TokenBundleFactory(price=Decimal("9.99"))
    client = APIClient()
    client.credentials(**bearer(user))

    response = client.post("/api/v1/user/checkout", {"token_bundle_ids": [str(bundle.pk)]}, "json")

    assert response.status_code in (200, 201), response.content
    assert Invoice.objects.count() == 1


def test_the_deploy_check_warns_while_seller_details_are_missing(incomplete_seller):
    [warning] = seller_details_check()

    assert warning.id == "platform_settings.W001"
    assert warning.msg == "The seller details are incomplete (missing: legal name, VAT id)."


def test_the_deploy_check_is_quiet_once_the_seller_is_complete():
    platform_settings_update(data=dict(DEMO_SELLER), actor=None)

    assert seller_details_check() == []


def test_the_back_office_shows_a_banner_linking_to_the_settings(admin_user, incomplete_seller):
    client = Client()
    client.force_login(admin_user)

    page = " ".join(client.get("/admin/").content.decode().split())

    assert 'id="seller-details-banner"' in page
    assert (
        "Invoices are issued without a complete seller: the seller's legal name, VAT id are "
        "missing."
    ) in page
    assert 'href="/admin/platform_settings/platformsettings/"' in page


def test_the_banner_says_invoices_are_refused_where_seller_details_are_required(
    settings, admin_user, incomplete_seller
):
    settings.VBWD_REQUIRE_SELLER_DETAILS = True
    client = Client()
    client.force_login(admin_user)

    page = " ".join(client.get("/admin/").content.decode().split())

    assert '<li class="error" id="seller-details-banner"> Invoices cannot be issued:' in page


def test_no_banner_once_the_seller_is_complete(admin_user):
    platform_settings_update(data=dict(DEMO_SELLER), actor=None)
    client = Client()
    client.force_login(admin_user)

    assert 'id="seller-details-banner"' not in client.get("/admin/").content.decode()
