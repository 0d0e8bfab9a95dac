"""The user invoice endpoints (docs/api/invoices.md): lists, detail, paying, PDF and signed
download links."""

from __future__ import annotations

import datetime
import re
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone
from rest_framework.test import APIClient

from billing.catalog.tests.factories_payment_methods import PaymentMethodFactory
from billing.invoices import signing
from billing.invoices.models import CreditNote, Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.invoices.services import invoice_void
from billing.invoices.tests.factories import (
    buyer,
    custom_draft,
    de_vat,
    issue_invoice,
    paid_invoice,
)
from billing.invoices.tests.test_payment_start import FakeGateway
from conftest import bearer
from plugins import gateway as gateways
from plugins import state as plugin_state

pytestmark = pytest.mark.django_db

LIST = "/api/v1/user/invoices"
NOT_FOUND = {"error": "Invoice not found", "code": "not_found"}
LINK_INVALID = {"error": "Invalid or expired download link", "code": "token_invalid"}


def detail_url(invoice) -> str:
    return f"{LIST}/{invoice.pk}"


def three_lines():
    return [custom_draft("10.00"), custom_draft("5.00", quantity=2), custom_draft("1.99")]


@pytest.fixture
def fakepay(monkeypatch):
    provider = FakeGateway()
    monkeypatch.setattr(plugin_state, "is_enabled", lambda name: name == "fakepay")
    monkeypatch.setattr(gateways, "gateway_for", lambda name: provider)
    return provider


# --- list -------------------------------------------------------------------------------------


def test_list_returns_the_callers_invoices_newest_first_with_lines(user_client):
    user = user_client.user
    with time_machine.travel(datetime.datetime(2026, 1, 5, tzinfo=datetime.UTC)):
        older = issue_invoice(user, three_lines())
    with time_machine.travel(datetime.datetime(2026, 2, 5, tzinfo=datetime.UTC)):
        newer = issue_invoice(user, [custom_draft("4.00")])
    issue_invoice(buyer())  # someone else's

    response = user_client.get(LIST)

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["invoices", "total"]
    assert body["total"] == 2
    assert [row["id"] for row in body["invoices"]] == [str(newer.pk), str(older.pk)]
    assert [len(row["line_items"]) for row in body["invoices"]] == [1, 3]
    assert body["invoices"][1]["line_items"][1]["total_price"] == "10.00"
    assert "payments" not in body["invoices"][0]


def test_list_needs_a_token(api_client):
    response = api_client.get(LIST)

    assert response.status_code == 401
    assert response.json() == {
        "error": "Authorization header is required",
        "code": "not_authenticated",
    }


def test_status_filter_any_case_alias_and_empty(user_client):
    user = user_client.user
    pending = issue_invoice(user)
    paid = paid_invoice(user)
    voided = issue_invoice(user)
    invoice_void(invoice_id=voided.pk)

    def ids(query: str) -> list[str]:
        response = user_client.get(f"{LIST}?{query}")
        assert response.status_code == 200, response.json()
        return sorted(row["id"] for row in response.json()["invoices"])

    assert ids("status=paid") == [str(paid.pk)]
    assert ids("status=PENDING") == [str(pending.pk)]
    assert ids("status=canceled") == [str(voided.pk)]
    assert ids("status=") == sorted(str(row.pk) for row in (pending, paid, voided))


def test_unknown_status_is_a_validation_error(user_client):
    response = user_client.get(f"{LIST}?status=bogus")

    assert response.status_code == 400
    assert response.json() == {
        "error": "Unknown status: bogus",
        "code": "validation_error",
        "errors": {"status": ["Unknown status: bogus"]},
    }


def test_list_pages_only_when_asked(user_client):
    user = user_client.user
    invoices = [issue_invoice(user) for _ in range(3)]
    newest_first = [str(row.pk) for row in reversed(invoices)]

    paged = user_client.get(f"{LIST}?per_page=2&page=2").json()
    offset = user_client.get(f"{LIST}?limit=1&offset=1").json()

    assert {
        key: paged[key] for key in ("total", "page", "per_page", "pages", "limit", "offset")
    } == {
        "total": 3,
        "page": 2,
        "per_page": 2,
        "pages": 2,
        "limit": 2,
        "offset": 2,
    }
    assert [row["id"] for row in paged["invoices"]] == newest_first[2:]
    assert [row["id"] for row in offset["invoices"]] == newest_first[1:2]
    assert (offset["page"], offset["per_page"], offset["offset"]) == (2, 1, 1)


def test_list_query_count_does_not_grow_with_invoices(user_client, django_assert_max_num_queries):
    de_vat()
    user = user_client.user
    issue_invoice(user, three_lines())
    # The caller, the invoices, their lines, the currencies.
    with django_assert_max_num_queries(4):
        one = user_client.get(LIST)
    for _ in range(19):
        issue_invoice(user, three_lines())
    with django_assert_max_num_queries(4):
        twenty = user_client.get(LIST)

    assert (one.json()["total"], twenty.json()["total"]) == (1, 20)
    assert all(len(row["line_items"]) == 3 for row in twenty.json()["invoices"])


def test_list_is_exactly_four_queries(user_client, django_assert_num_queries):
    de_vat()
    for _ in range(3):
        issue_invoice(user_client.user, three_lines())

    # The caller, the invoices, their lines, the currencies' places.
    with django_assert_num_queries(4):
        response = user_client.get(LIST)

    assert response.json()["total"] == 3
    assert [len(row["line_items"]) for row in response.json()["invoices"]] == [3, 3, 3]


# --- detail -----------------------------------------------------------------------------------


def test_detail_has_payments_without_provider_data_and_credit_notes(user_client, admin_user):
    invoice = paid_invoice(user_client.user, [custom_draft("30.00")], reference="T-42")
    payment = invoice.payments.get()
    note = CreditNote.objects.create(
        credit_note_number="CN-2026-000001", invoice=invoice, user=invoice.user, payment=payment,
        currency="EUR", net_amount=Decimal("10.00"), tax_amount=Decimal("0.00"),
        amount=Decimal("10.00"), created_by=admin_user,
    )  # fmt: skip

    response = user_client.get(detail_url(invoice))

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["invoice"]
    data = body["invoice"]
    assert (data["id"], data["status"], data["amount_due"]) == (str(invoice.pk), "PAID", "0.00")
    assert list(data)[-2:] == ["payments", "credit_notes"]
    assert [row["external_id"] for row in data["payments"]] == ["T-42"]
    assert "provider_data" not in data["payments"][0]
    assert [row["id"] for row in data["credit_notes"]] == [str(note.pk)]
    assert data["credit_notes"][0]["amount"] == "10.00"


def test_detail_query_count_does_not_grow_with_lines_and_payments(
    user_client, django_assert_max_num_queries
):
    user = user_client.user
    small = issue_invoice(user, [custom_draft("1.00")])
    big = issue_invoice(user, [custom_draft(f"{n}.00") for n in range(1, 21)])
    for attempt in range(3):
        Payment.objects.create(
            invoice=big, user=user, gateway="demo", amount=big.total_amount, currency="EUR",
            status=PaymentStatus.FAILED, failure_reason=f"attempt {attempt}",
        )  # fmt: skip

    # The caller, the invoice, its lines, payments and credit notes, the currencies.
    with django_assert_max_num_queries(6):
        assert user_client.get(detail_url(small)).status_code == 200
    with django_assert_max_num_queries(6):
        response = user_client.get(detail_url(big))

    assert len(response.json()["invoice"]["line_items"]) == 20
    assert len(response.json()["invoice"]["payments"]) == 3


def test_another_users_invoice_is_the_same_404_as_an_unknown_one(user_client):
    foreign = issue_invoice(buyer())
    unknown = "5a0c1d4e-0000-4000-8000-000000000000"

    for path in ("", "/download", "/pdf"):
        assert user_client.get(f"{LIST}/{foreign.pk}{path}").json() == NOT_FOUND
        assert user_client.get(f"{LIST}/{unknown}{path}").json() == NOT_FOUND
        assert user_client.get(f"{LIST}/{foreign.pk}{path}").status_code == 404
    response = user_client.post(f"{LIST}/{foreign.pk}/pay", {}, format="json")
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert user_client.get(f"{LIST}/not-a-uuid").status_code == 404


def test_trailing_slash_is_optional(user_client):
    invoice = issue_invoice(user_client.user)

    assert user_client.get(f"{LIST}/").status_code == 200
    assert user_client.get(f"{detail_url(invoice)}/").json()["invoice"]["id"] == str(invoice.pk)


# --- pay --------------------------------------------------------------------------------------


def test_pay_offline_invoice_returns_bank_transfer(user_client):
    invoice = issue_invoice(user_client.user, [custom_draft("50.00")])

    response = user_client.post(f"{detail_url(invoice)}/pay", {}, format="json")

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["action", "invoice", "payment", "instructions", "session", "message"]
    assert (body["action"], body["payment"], body["session"]) == ("BANK_TRANSFER", None, None)
    assert body["message"] == (
        "Please transfer the amount using the bank details below. The invoice stays pending "
        "until the payment is received."
    )
    assert body["invoice"]["status"] == "PENDING"
    assert body["instructions"]["reference"] == invoice.invoice_number
    assert (body["instructions"]["amount"], body["instructions"]["currency"]) == ("50.00", "EUR")
    assert body["instructions"]["due_date"] == body["invoice"]["due_date"]
    assert Invoice.objects.get(pk=invoice.pk).status == InvoiceStatus.PENDING


def test_pay_zero_invoice_marks_it_paid(user_client):
    invoice = issue_invoice(user_client.user, [custom_draft("0.00")])

    body = user_client.post(f"{detail_url(invoice)}/pay", {}, format="json").json()

    assert (body["action"], body["message"], body["invoice"]["status"]) == (
        "PAID",
        "Invoice paid.",
        "PAID",
    )
    assert body["invoice"]["payment_ref"] == "zero-price"


def test_pay_gateway_invoice_redirects(user_client, fakepay):
    card = PaymentMethodFactory(code="card", name="Card", plugin_id="fakepay")
    invoice = issue_invoice(user_client.user, [custom_draft("12.00")], payment_method=card)

    response = user_client.post(f"{detail_url(invoice)}/pay", format="json")

    assert response.status_code == 200
    body = response.json()
    payment = Payment.objects.get(invoice=invoice)
    assert (body["action"], body["message"], body["instructions"]) == (
        "REDIRECT",
        "Continue to the payment page to complete the payment.",
        None,
    )
    assert body["session"]["provider"] == "fakepay"
    assert body["session"]["session_id"] == "cs_test_1"
    assert body["session"]["session_url"] == "https://pay.example.test/cs_test_1"
    assert body["session"]["client_secret"] == "secret_1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", body["session"]["expires_at"])
    assert body["payment"]["id"] == str(payment.pk)
    assert (body["payment"]["status"], body["payment"]["amount"], body["payment"]["gateway"]) == (
        "PENDING",
        "12.00",
        "fakepay",
    )
    assert body["invoice"]["status"] == "PENDING"


def test_pay_provider_error_is_502(user_client, fakepay):
    fakepay.fail = gateways.GatewayError("upstream timeout")
    card = PaymentMethodFactory(plugin_id="fakepay")
    invoice = issue_invoice(user_client.user, [custom_draft("12.00")], payment_method=card)

    response = user_client.post(f"{detail_url(invoice)}/pay", {}, format="json")

    assert response.status_code == 502
    assert response.json() == {
        "error": "Payment provider error: upstream timeout",
        "code": "provider_error",
    }


def test_pay_refusals(user_client):
    user = user_client.user
    paid = paid_invoice(user)
    voided = issue_invoice(user)
    invoice_void(invoice_id=voided.pk)
    wire = PaymentMethodFactory(name="Wire", is_active=False)
    unavailable = issue_invoice(user, payment_method=wire)

    def pay(invoice):
        response = user_client.post(f"{detail_url(invoice)}/pay", {}, format="json")
        return response.status_code, response.json()

    assert pay(paid) == (400, {"error": "Invoice already paid", "code": "invalid_transition"})
    assert pay(voided) == (
        400,
        {"error": "Invoice is CANCELLED and cannot be paid", "code": "invalid_transition"},
    )
    assert pay(unavailable) == (
        400,
        {"error": "Payment method 'Wire' is currently unavailable", "code": "item_unavailable"},
    )


def test_pay_is_rate_limited_per_user(user_client, settings):
    settings.VBWD_RATE_LIMITS = {"payment_user": "2/minute"}
    invoice = issue_invoice(user_client.user)
    url = f"{detail_url(invoice)}/pay"

    statuses = [user_client.post(url, {}, format="json").status_code for _ in range(3)]

    assert statuses == [200, 200, 429]
    assert user_client.get(LIST).status_code == 200  # other routes keep their own limit


# --- PDF and signed links ---------------------------------------------------------------------


def assert_pdf(response, invoice) -> None:
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == (
        f'attachment; filename="{invoice.invoice_number}.pdf"'
    )
    assert response.content.startswith(b"%PDF-")


def test_pdf_with_a_bearer_token(user_client):
    invoice = issue_invoice(user_client.user)

    assert_pdf(user_client.get(f"{detail_url(invoice)}/pdf"), invoice)


def test_pdf_without_token_or_signature_is_401(user):
    invoice = issue_invoice(user)
    anonymous = APIClient()
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Bearer not-a-token")

    for client in (anonymous, wrong):
        response = client.get(f"{detail_url(invoice)}/pdf")
        assert response.status_code == 401
        assert response.json() == LINK_INVALID
        assert response["WWW-Authenticate"] == "Bearer"


def test_download_link_opens_the_pdf_without_a_token(user_client):
    invoice = issue_invoice(user_client.user)
    now = timezone.now().replace(microsecond=0)

    with time_machine.travel(now, tick=False):
        response = user_client.get(f"{detail_url(invoice)}/download")

    assert response.status_code == 200
    body = response.json()
    assert list(body) == ["downloadUrl", "download_url", "filename", "expires_at"]
    assert body["downloadUrl"] == body["download_url"]
    assert re.fullmatch(
        rf"/api/v1/user/invoices/{invoice.pk}/pdf\?signature=[A-Za-z0-9_%\-.]+",
        body["download_url"],
    )
    assert body["filename"] == f"{invoice.invoice_number}.pdf"
    assert body["expires_at"] == (now + datetime.timedelta(seconds=300)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )
    with time_machine.travel(now + datetime.timedelta(seconds=299), tick=False):
        assert_pdf(APIClient().get(body["download_url"]), invoice)


def test_download_link_expires(user_client, settings):
    settings.VBWD_PDF_LINK_TTL_SECONDS = 60
    invoice = issue_invoice(user_client.user)
    now = timezone.now()
    with time_machine.travel(now, tick=False):
        body = user_client.get(f"{detail_url(invoice)}/download").json()
    assert body["expires_at"] == (now + datetime.timedelta(seconds=60)).strftime(
        "%Y-%m-%dT%H:%M:%SZ"
    )

    with time_machine.travel(now + datetime.timedelta(seconds=61), tick=False):
        response = APIClient().get(body["download_url"])

    assert (response.status_code, response.json()) == (401, LINK_INVALID)


def test_tampered_or_misapplied_link_is_refused(user_client):
    user = user_client.user
    invoice = issue_invoice(user)
    other_own = issue_invoice(user)
    url = user_client.get(f"{detail_url(invoice)}/download").json()["download_url"]
    signature = url.split("signature=", 1)[1]
    tampered = signature[:-1] + ("A" if signature[-1] != "A" else "B")

    responses = [
        APIClient().get(f"{detail_url(invoice)}/pdf?signature={tampered}"),
        APIClient().get(f"{detail_url(other_own)}/pdf?signature={signature}"),
        APIClient().get(f"{detail_url(invoice)}/pdf?signature="),
    ]

    assert [(r.status_code, r.json()) for r in responses] == [(401, LINK_INVALID)] * 3


def test_link_signed_for_another_user_does_not_open_the_invoice(user_client):
    victim = buyer()
    invoice = issue_invoice(victim)
    # A genuine signature, but bound to the caller, not to the invoice's owner.
    signature = signing.download_signature(invoice_id=invoice.pk, user_id=user_client.user.pk)

    response = APIClient().get(f"{detail_url(invoice)}/pdf?signature={signature}")
    with_token = user_client.get(f"{detail_url(invoice)}/pdf")

    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert (with_token.status_code, with_token.json()) == (404, NOT_FOUND)


def test_valid_link_works_whatever_bearer_token_is_sent(user_client):
    owner = buyer()
    invoice = issue_invoice(owner)
    client = APIClient()
    client.credentials(**bearer(owner))
    url = client.get(f"{detail_url(invoice)}/download").json()["download_url"]

    # The user app sends its stored token on every call, also another account's.
    assert_pdf(user_client.get(url), invoice)
