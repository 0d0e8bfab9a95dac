"""Staff invoice and credit-note endpoints: permissions, shapes, messages, filters,
pagination and constant query counts; duplicate, resend and the invoice email task."""

from __future__ import annotations

import datetime
import uuid
from decimal import Decimal

import pytest
import time_machine
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.services import user_delete
from audit.models import AuditEntry
from billing.invoices import tasks
from billing.invoices.models import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    InvoiceType,
    LineType,
    Payment,
    PaymentStatus,
)
from billing.invoices.services import (
    invoice_capture,
    invoice_duplicate,
    invoice_mark_paid,
    invoice_refund,
    invoice_void,
)
from billing.invoices.tests.factories import (
    TokenBundleFactory,
    bundle_draft,
    bundle_purchase,
    buyer,
    custom_draft,
    de_vat,
    issue_invoice,
    monthly_plan,
    paid_invoice,
    subscription,
    subscription_draft,
)
from billing.subscriptions.models import Subscription, SubscriptionStatus
from platform_settings.services import platform_settings_update
from tokens.services import balance_of, tokens_debit

pytestmark = pytest.mark.django_db

BASE = "/api/v1/admin/invoices"
CREDIT_NOTES = "/api/v1/admin/credit-notes"
UNKNOWN = "00000000-0000-4000-8000-000000000000"

INVOICE_KEYS = {
    "id",
    "invoice_number",
    "invoice_type",
    "user_id",
    "status",
    "currency",
    "exchange_rate",
    "subtotal",
    "tax_amount",
    "total_amount",
    "amount",
    "amount_due",
    "refunded_amount",
    "is_payable",
    "reverse_charge",
    "payment_method",
    "payment_method_name",
    "payment_ref",
    "tarif_plan_id",
    "subscription_id",
    "billing_address",
    "seller",
    "line_items",
    "tax_breakdown",
    "invoiced_at",
    "due_date",
    "expires_at",
    "paid_at",
    "cancelled_at",
    "refunded_at",
    "created_at",
    "updated_at",
}
ADMIN_INVOICE_KEYS = INVOICE_KEYS | {"user_email", "user_name", "needs_review", "review_reason"}
DETAIL_KEYS = ADMIN_INVOICE_KEYS | {
    "payments",
    "credit_notes",
    "plan_name",
    "plan_description",
    "plan_billing_period",
    "plan_price",
    "subscription_status",
    "subscription_start_date",
    "subscription_end_date",
    "subscription_is_trial",
    "subscription_trial_end",
}
PAYMENT_KEYS = {
    "id",
    "invoice_id",
    "gateway",
    "external_id",
    "amount",
    "currency",
    "status",
    "refunded_amount",
    "failure_reason",
    "created_at",
    "captured_at",
    "updated_at",
}
CREDIT_NOTE_KEYS = {
    "id",
    "credit_note_number",
    "invoice_id",
    "invoice_number",
    "user_id",
    "currency",
    "net_amount",
    "tax_amount",
    "amount",
    "reason",
    "refund_reference",
    "payment_id",
    "full_refund",
    "created_by",
    "created_at",
}
PAGE_KEYS = {"total", "page", "per_page", "pages", "limit", "offset"}


def _error(response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.content
    body = response.json()
    assert (body["code"], body["error"]) == (code, message)


def _refunded(invoice, *, amount=None, actor=None, **kwargs):
    return invoice_refund(invoice_id=invoice.pk, actor=actor, amount=amount, **kwargs)


def _iso(value: datetime.datetime) -> str:
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- permissions ----------------------------------------------------------------------------

ROUTES = [
    ("get", BASE),
    ("get", f"{BASE}/{UNKNOWN}"),
    ("delete", f"{BASE}/{UNKNOWN}"),
    ("post", f"{BASE}/{UNKNOWN}/mark-paid"),
    ("post", f"{BASE}/{UNKNOWN}/void"),
    ("post", f"{BASE}/{UNKNOWN}/refund"),
    ("post", f"{BASE}/{UNKNOWN}/duplicate"),
    ("post", f"{BASE}/{UNKNOWN}/resend"),
    ("get", f"{BASE}/{UNKNOWN}/pdf"),
    ("get", f"{BASE}/{UNKNOWN}/credit-notes"),
    ("get", CREDIT_NOTES),
    ("get", f"{CREDIT_NOTES}/{UNKNOWN}"),
    ("get", f"{CREDIT_NOTES}/{UNKNOWN}/pdf"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_token(api_client, method, path):
    response = getattr(api_client, method)(path)

    _error(response, 401, "not_authenticated", "Authorization header is required")
    assert response["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_refuses_a_customer(user_client, method, path):
    response = getattr(user_client, method)(path)

    _error(response, 403, "permission_denied", "Admin access required")


@pytest.mark.parametrize(("method", "path"), ROUTES[1:10])
def test_unknown_invoice_is_404(admin_client, method, path):
    response = getattr(admin_client, method)(path)

    _error(response, 404, "not_found", "Invoice not found")


@pytest.mark.parametrize(("method", "path"), ROUTES[11:])
def test_unknown_credit_note_is_404(admin_client, method, path):
    response = getattr(admin_client, method)(path)

    _error(response, 404, "not_found", "Credit note not found")


@pytest.mark.parametrize("path", [f"{BASE}/not-a-uuid", f"{BASE}/123/void", f"{CREDIT_NOTES}/x"])
def test_a_path_id_that_is_not_a_uuid_is_404(admin_client, path):
    _error(admin_client.get(path), 404, "not_found", "Not found")


@pytest.mark.parametrize("path", ["/api/v1/webhooks/payment", "/api/v1/webhooks/payment/test"])
@pytest.mark.parametrize("method", ["get", "post"])
def test_the_removed_payment_webhooks_do_not_exist(api_client, path, method):
    invoice = issue_invoice()

    response = getattr(api_client, method)(
        path, {"invoice_id": str(invoice.pk), "status": "paid"}, format="json"
    )

    _error(response, 404, "not_found", "Not found")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert not Payment.objects.exists()


# --- list -----------------------------------------------------------------------------------


def test_list_returns_admin_invoices_newest_first_with_pagination_keys(admin_client):
    customer = buyer(email="erika@example.com")
    with time_machine.travel(datetime.datetime(2026, 1, 5, 9, tzinfo=datetime.UTC)):
        older = issue_invoice(customer)
    with time_machine.travel(datetime.datetime(2026, 2, 5, 9, tzinfo=datetime.UTC)):
        newer = issue_invoice(customer)

    response = admin_client.get(BASE)

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"invoices"} | PAGE_KEYS
    assert {key: body[key] for key in PAGE_KEYS} == {
        "total": 2,
        "page": 1,
        "per_page": 20,
        "pages": 1,
        "limit": 20,
        "offset": 0,
    }
    assert [row["id"] for row in body["invoices"]] == [str(newer.pk), str(older.pk)]
    row = body["invoices"][0]
    assert set(row) == ADMIN_INVOICE_KEYS
    assert (row["user_email"], row["user_name"], row["needs_review"], row["review_reason"]) == (
        "erika@example.com",
        "Erika Mustermann",
        False,
        None,
    )
    assert (row["status"], row["total_amount"], row["amount_due"], row["invoiced_at"]) == (
        "PENDING",
        "9.99",
        "9.99",
        "2026-02-05T09:00:00Z",
    )
    assert len(row["line_items"]) == 1


def test_list_pages_in_both_styles(admin_client):
    invoices = [issue_invoice() for _ in range(5)]
    newest_first = [str(invoice.pk) for invoice in reversed(invoices)]

    by_page = admin_client.get(BASE, {"page": 2, "per_page": 2}).json()
    by_offset = admin_client.get(BASE, {"limit": 2, "offset": 3}).json()
    past_end = admin_client.get(BASE, {"page": 9, "per_page": 2}).json()

    assert [row["id"] for row in by_page["invoices"]] == newest_first[2:4]
    assert {key: by_page[key] for key in PAGE_KEYS} == {
        "total": 5,
        "page": 2,
        "per_page": 2,
        "pages": 3,
        "limit": 2,
        "offset": 2,
    }
    assert [row["id"] for row in by_offset["invoices"]] == newest_first[3:5]
    assert (by_offset["page"], by_offset["offset"], by_offset["limit"]) == (2, 3, 2)
    assert (past_end["invoices"], past_end["total"]) == ([], 5)


def _ids(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["invoices"]]


def test_list_filters(admin_client):
    erika = buyer(email="erika@example.com")
    max_ = buyer(email="max@example.org")
    with time_machine.travel(datetime.datetime(2026, 3, 1, 23, 30, tzinfo=datetime.UTC)):
        march = issue_invoice(erika)
    with time_machine.travel(datetime.datetime(2026, 3, 2, 8, 0, tzinfo=datetime.UTC)):
        paid = paid_invoice(max_)
    with time_machine.travel(datetime.datetime(2026, 3, 3, 12, 0, tzinfo=datetime.UTC)):
        voided = issue_invoice(erika, invoice_type=InvoiceType.RENEWAL, payment_method=None)
        invoice_void(invoice_id=voided.pk)
    flagged = issue_invoice(max_)
    Invoice.objects.filter(pk=flagged.pk).update(needs_review=True, review_reason="Mismatch")

    assert _ids(admin_client.get(BASE, {"status": "paid"})) == [str(paid.pk)]
    assert _ids(admin_client.get(BASE, {"status": "canceled"})) == [str(voided.pk)]
    assert _ids(admin_client.get(BASE, {"user_id": str(erika.pk)})) == [
        str(voided.pk),
        str(march.pk),
    ]
    assert _ids(admin_client.get(BASE, {"invoice_type": "renewal"})) == [str(voided.pk)]
    assert set(_ids(admin_client.get(BASE, {"payment_method": "invoice"}))) == {
        str(march.pk),
        str(paid.pk),
        str(flagged.pk),
    }
    assert _ids(admin_client.get(BASE, {"needs_review": "true"})) == [str(flagged.pk)]
    assert len(_ids(admin_client.get(BASE, {"needs_review": "no"}))) == 3
    assert _ids(admin_client.get(BASE, {"search": march.invoice_number.lower()})) == [str(march.pk)]
    assert set(_ids(admin_client.get(BASE, {"search": "EXAMPLE.ORG"}))) == {
        str(paid.pk),
        str(flagged.pk),
    }
    # dates are inclusive UTC days, or exact datetimes
    assert _ids(admin_client.get(BASE, {"date_from": "2026-03-01", "date_to": "2026-03-01"})) == [
        str(march.pk)
    ]
    assert _ids(admin_client.get(BASE, {"date_from": "2026-03-02", "date_to": "2026-03-03"})) == [
        str(voided.pk),
        str(paid.pk),
    ]
    assert _ids(
        admin_client.get(
            BASE, {"date_from": "2026-03-01T23:30:00Z", "date_to": "2026-03-02T08:00:00+00:00"}
        )
    ) == [str(paid.pk), str(march.pk)]
    assert _ids(admin_client.get(BASE, {"date_to": "2026-03-02T07:59:59"})) == [str(march.pk)]
    # empty values apply no filter
    empty = {
        name: ""
        for name in (
            "status",
            "user_id",
            "invoice_type",
            "payment_method",
            "needs_review",
            "search",
            "date_from",
            "date_to",
            "ordering",
        )
    }
    assert len(_ids(admin_client.get(BASE, empty))) == 4


def test_list_ordering(admin_client):
    customer = buyer()
    with time_machine.travel(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)):
        cheap_late_due = issue_invoice(
            customer,
            [custom_draft("1.00")],
            due_date=datetime.datetime(2026, 6, 1, tzinfo=datetime.UTC),
        )
    with time_machine.travel(datetime.datetime(2026, 1, 2, tzinfo=datetime.UTC)):
        dear_early_due = issue_invoice(customer, [custom_draft("50.00")])
    with time_machine.travel(datetime.datetime(2026, 1, 3, tzinfo=datetime.UTC)):
        middle = issue_invoice(customer, [custom_draft("5.00")])
    ids = {
        "cheap": str(cheap_late_due.pk),
        "dear": str(dear_early_due.pk),
        "middle": str(middle.pk),
    }

    def order(value):
        lookup = {pk: name for name, pk in ids.items()}
        return [lookup[pk] for pk in _ids(admin_client.get(BASE, {"ordering": value}))]

    assert order("") == ["middle", "dear", "cheap"]
    assert order("invoiced_at") == ["cheap", "dear", "middle"]
    assert order("-total_amount") == ["dear", "middle", "cheap"]
    assert order("total_amount") == ["cheap", "middle", "dear"]
    assert order("due_date") == ["dear", "middle", "cheap"]
    assert order("invoice_number") == ["cheap", "dear", "middle"]
    assert order("-invoice_number") == ["middle", "dear", "cheap"]


@pytest.mark.parametrize(
    ("params", "field", "message"),
    [
        ({"status": "unpaid"}, "status", "Unknown status: unpaid"),
        ({"invoice_type": "gift"}, "invoice_type", "Unknown invoice_type: gift"),
        ({"user_id": "42"}, "user_id", "user_id must be a valid UUID"),
        ({"needs_review": "maybe"}, "needs_review", "needs_review must be true or false"),
        (
            {"date_from": "yesterday"},
            "date_from",
            "date_from must be a date (YYYY-MM-DD) or a datetime",
        ),
        ({"date_to": "2026-13-01"}, "date_to", "date_to must be a date (YYYY-MM-DD) or a datetime"),
        (
            {"ordering": "amount"},
            "ordering",
            "ordering must be one of invoiced_at, due_date, total_amount, invoice_number "
            "(with - for descending)",
        ),
        ({"page": "two"}, "page", "page must be an integer"),
        ({"limit": "1.5"}, "limit", "limit must be an integer"),
    ],
)
def test_list_refuses_bad_filters(admin_client, params, field, message):
    response = admin_client.get(BASE, params)

    _error(response, 400, "validation_error", message)
    assert response.json()["errors"] == {field: [message]}


def _count_queries(client, path) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(path).status_code == 200
    return len(queries)


def test_list_query_count_is_constant(admin_client):
    de_vat()
    customer = buyer()
    paid_invoice(customer, [custom_draft("3.00"), custom_draft("4.00")])
    one = _count_queries(admin_client, BASE)

    for index in range(19):
        invoice = issue_invoice(buyer(), [custom_draft("1.00")] * (index % 3 + 1))
        if index % 2:
            invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference=f"T{index}")
    twenty = _count_queries(admin_client, BASE)

    # user, count, page, lines, currencies
    assert one == twenty == 5


# --- detail ---------------------------------------------------------------------------------


def test_detail_has_payments_with_provider_data_and_credit_notes(admin_client, admin_user):
    customer = buyer()
    invoice = paid_invoice(customer, [custom_draft("20.00")], reference="BANK-77")
    _refunded(invoice, amount=Decimal("5.00"), actor=admin_user, reason="Goodwill")

    response = admin_client.get(f"{BASE}/{invoice.pk}")

    assert response.status_code == 200
    data = response.json()["invoice"]
    assert set(data) == DETAIL_KEYS
    assert (data["status"], data["refunded_amount"], data["payment_ref"]) == (
        "PAID",
        "5.00",
        "BANK-77",
    )
    [payment] = data["payments"]
    assert set(payment) == PAYMENT_KEYS | {"provider_data"}
    assert (payment["gateway"], payment["external_id"], payment["provider_data"]) == (
        "manual",
        "BANK-77",
        {"method": "manual"},
    )
    assert (payment["status"], payment["refunded_amount"]) == ("PARTIALLY_REFUNDED", "5.00")
    [note] = data["credit_notes"]
    assert set(note) == CREDIT_NOTE_KEYS
    assert (note["amount"], note["reason"], note["created_by"], note["full_refund"]) == (
        "5.00",
        "Goodwill",
        str(admin_user.pk),
        False,
    )
    assert data["plan_name"] is None
    assert data["subscription_status"] is None


def test_detail_carries_the_plan_and_subscription(admin_client):
    customer = buyer()
    plan = monthly_plan(name="Pro", price=Decimal("29.00"))
    sub = subscription(customer, plan)
    invoice = paid_invoice(customer, [subscription_draft(sub)])

    data = admin_client.get(f"{BASE}/{invoice.pk}").json()["invoice"]

    assert (data["plan_name"], data["plan_billing_period"], data["plan_price"]) == (
        "Pro",
        "MONTHLY",
        "29.00",
    )
    assert data["subscription_status"] == "ACTIVE"
    assert data["subscription_is_trial"] is False


def test_detail_with_plan_and_subscription_is_exactly_eight_queries(admin_client):
    customer = buyer()
    sub = subscription(customer, monthly_plan(name="Pro", price=Decimal("29.00")))
    invoice = paid_invoice(customer, [subscription_draft(sub)])

    # user, invoice with its user, lines, payments, credit notes, currencies, the
    # subscription's facts, the plan
    assert _count_queries(admin_client, f"{BASE}/{invoice.pk}") == 8


def test_detail_query_count_is_constant(admin_client, admin_user):
    small = paid_invoice(buyer(), [custom_draft("9.00")])
    big = paid_invoice(buyer(), [custom_draft("3.00")] * 12, reference="BIG")
    for _ in range(3):
        _refunded(big, amount=Decimal("1.00"), actor=admin_user)
    Payment.objects.create(
        invoice=big,
        user=big.user,
        gateway="stripe",
        external_id="pi_failed",
        amount=Decimal("36.00"),
        currency="EUR",
        status=PaymentStatus.FAILED,
    )

    # user, invoice with its user, lines, payments, credit notes, currencies
    assert _count_queries(admin_client, f"{BASE}/{small.pk}") == 6
    assert _count_queries(admin_client, f"{BASE}/{big.pk}") == 6


# --- mark paid ------------------------------------------------------------------------------


def test_mark_paid_captures_with_the_reference_and_activates_the_lines(admin_client, admin_user):
    customer = buyer()
    sub = subscription(customer, monthly_plan())
    invoice = issue_invoice(customer, [subscription_draft(sub)])

    response = admin_client.post(
        f"{BASE}/{invoice.pk}/mark-paid",
        {"payment_reference": "SEPA-2026-17", "payment_method": "bank transfer"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"invoice", "payment", "message"}
    assert body["message"] == "Invoice marked as paid"
    assert set(body["invoice"]) == ADMIN_INVOICE_KEYS
    assert (body["invoice"]["status"], body["invoice"]["payment_ref"]) == ("PAID", "SEPA-2026-17")
    assert set(body["payment"]) == PAYMENT_KEYS
    assert (
        body["payment"]["gateway"],
        body["payment"]["external_id"],
        body["payment"]["status"],
        body["payment"]["amount"],
    ) == ("manual", "SEPA-2026-17", "CAPTURED", "10.00")
    payment = Payment.objects.get(pk=body["payment"]["id"])
    assert payment.provider_data == {"method": "bank transfer"}
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.ACTIVE
    entry = AuditEntry.objects.get(action="invoice.paid", object_id=str(invoice.pk))
    assert entry.actor_id == admin_user.pk


def test_mark_paid_defaults_and_an_empty_body(admin_client):
    invoice = issue_invoice()

    response = admin_client.post(f"{BASE}/{invoice.pk}/mark-paid")

    assert response.status_code == 200
    assert response.json()["payment"]["external_id"] == "MANUAL"
    assert Payment.objects.get().provider_data == {"method": "manual"}


def test_mark_paid_takes_paid_at_and_a_matching_amount(admin_client):
    invoice = issue_invoice(drafts=[custom_draft("12.50")])

    response = admin_client.post(
        f"{BASE}/{invoice.pk}/mark-paid",
        {"amount": 12.5, "paid_at": "2026-01-10T10:00:00+01:00"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["invoice"]["paid_at"] == "2026-01-10T09:00:00Z"
    assert body["payment"]["captured_at"] == "2026-01-10T09:00:00Z"


def test_mark_paid_repeated_with_the_same_reference_returns_the_same_result(admin_client):
    invoice = issue_invoice()
    first = admin_client.post(
        f"{BASE}/{invoice.pk}/mark-paid", {"payment_reference": "T-1"}, format="json"
    )

    again = admin_client.post(
        f"{BASE}/{invoice.pk}/mark-paid", {"payment_reference": "T-1"}, format="json"
    )
    other = admin_client.post(
        f"{BASE}/{invoice.pk}/mark-paid", {"payment_reference": "T-2"}, format="json"
    )

    assert again.status_code == 200
    assert again.json()["payment"]["id"] == first.json()["payment"]["id"]
    assert again.json()["message"] == "Invoice marked as paid"
    _error(other, 400, "invalid_transition", "Invoice already paid")
    assert Payment.objects.count() == 1


@pytest.mark.parametrize("status", ["CANCELLED", "REFUNDED", "FAILED"])
def test_mark_paid_refuses_closed_invoices(admin_client, status):
    invoice = issue_invoice()
    if status == "CANCELLED":
        invoice_void(invoice_id=invoice.pk)
    elif status == "REFUNDED":
        invoice_mark_paid(invoice_id=invoice.pk, actor=None)
        invoice_refund(invoice_id=invoice.pk)
    else:
        Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.FAILED)

    response = admin_client.post(f"{BASE}/{invoice.pk}/mark-paid")

    _error(response, 400, "invalid_transition", f"Cannot mark as paid: invoice status is {status}")


def test_mark_paid_from_overdue(admin_client):
    invoice = issue_invoice()
    Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.OVERDUE)

    response = admin_client.post(f"{BASE}/{invoice.pk}/mark-paid")

    assert response.json()["invoice"]["status"] == "PAID"


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"amount": "9.98"}, "amount", "Amount does not match the invoice total (9.99 EUR)"),
        ({"amount": "9.999"}, "amount", "amount must have at most 2 decimal places"),
        ({"amount": "lots"}, "amount", "amount must be an amount"),
        ({"amount": True}, "amount", "amount must be an amount"),
        ({"paid_at": "2999-01-01T00:00:00Z"}, "paid_at", "paid_at cannot be in the future"),
        ({"paid_at": "last week"}, "paid_at", "paid_at must be a datetime"),
        ({"paid_at": 1700000000}, "paid_at", "paid_at must be a datetime"),
        (
            {"payment_reference": "R" * 256},
            "payment_reference",
            "payment_reference must be at most 255 characters",
        ),
        ({"payment_reference": 17}, "payment_reference", "payment_reference must be a string"),
    ],
)
def test_mark_paid_validation(admin_client, body, field, message):
    invoice = issue_invoice()

    response = admin_client.post(f"{BASE}/{invoice.pk}/mark-paid", body, format="json")

    _error(response, 400, "validation_error", message)
    assert response.json()["errors"] == {field: [message]}
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert not Payment.objects.exists()


# --- void -----------------------------------------------------------------------------------


def test_void_cancels_the_invoice_and_its_pending_purchase(admin_client, admin_user):
    customer = buyer()
    sub = subscription(customer, monthly_plan())
    invoice = issue_invoice(customer, [subscription_draft(sub)])

    response = admin_client.post(
        f"{BASE}/{invoice.pk}/void", {"reason": "Customer changed their mind"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"invoice", "message"}
    assert body["message"] == "Invoice voided"
    assert set(body["invoice"]) == ADMIN_INVOICE_KEYS
    assert (body["invoice"]["status"], body["invoice"]["amount_due"]) == ("CANCELLED", "0.00")
    assert body["invoice"]["cancelled_at"] is not None
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.CANCELLED
    entry = AuditEntry.objects.get(action="invoice.voided")
    assert (entry.actor_id, entry.reason) == (admin_user.pk, "Customer changed their mind")


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("PAID", "Paid invoices cannot be voided; refund them instead"),
        ("CANCELLED", "Invoice is already voided"),
        ("REFUNDED", "Cannot void an invoice in status REFUNDED"),
        ("FAILED", "Cannot void an invoice in status FAILED"),
    ],
)
def test_void_refusals(admin_client, status, message):
    invoice = issue_invoice()
    if status in ("PAID", "REFUNDED"):
        invoice_mark_paid(invoice_id=invoice.pk, actor=None)
    if status == "REFUNDED":
        invoice_refund(invoice_id=invoice.pk)
    if status == "CANCELLED":
        invoice_void(invoice_id=invoice.pk)
    if status == "FAILED":
        Invoice.objects.filter(pk=invoice.pk).update(status=InvoiceStatus.FAILED)

    response = admin_client.post(f"{BASE}/{invoice.pk}/void")

    _error(response, 400, "invalid_transition", message)


def test_void_reason_is_limited(admin_client):
    invoice = issue_invoice()

    response = admin_client.post(f"{BASE}/{invoice.pk}/void", {"reason": "x" * 501}, format="json")

    _error(response, 400, "validation_error", "reason must be at most 500 characters")


# --- refund ---------------------------------------------------------------------------------


def test_full_refund_reverses_the_lines_and_issues_a_credit_note(admin_client, admin_user):
    de_vat()
    customer = buyer()
    sub = subscription(customer, monthly_plan(price=Decimal("10.00")))
    invoice = paid_invoice(customer, [subscription_draft(sub)])

    response = admin_client.post(
        f"{BASE}/{invoice.pk}/refund", {"reason": "Service outage"}, format="json"
    )

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {
        "invoice",
        "credit_note",
        "payment",
        "tokens_clawed_back",
        "token_shortfall",
        "message",
    }
    assert body["message"] == "Invoice refunded"
    assert (body["invoice"]["status"], body["invoice"]["refunded_amount"]) == ("REFUNDED", "11.90")
    assert set(body["invoice"]) == ADMIN_INVOICE_KEYS
    note = body["credit_note"]
    assert set(note) == CREDIT_NOTE_KEYS
    assert (note["net_amount"], note["tax_amount"], note["amount"]) == ("10.00", "1.90", "11.90")
    assert (note["reason"], note["refund_reference"], note["full_refund"]) == (
        "Service outage",
        "ADMIN_REFUND",
        True,
    )
    assert note["credit_note_number"].startswith("CN-")
    assert (body["payment"]["status"], body["payment"]["refunded_amount"]) == ("REFUNDED", "11.90")
    assert (body["tokens_clawed_back"], body["token_shortfall"]) == (0, 0)
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.CANCELLED


def test_partial_refund_keeps_the_invoice_paid(admin_client):
    invoice = paid_invoice(drafts=[custom_draft("20.00")])

    response = admin_client.post(
        f"{BASE}/{invoice.pk}/refund",
        {"amount": 5, "refund_reference": "BANK-RET-9", "record_only": True},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Partial refund of 5.00 EUR issued"
    assert (body["invoice"]["status"], body["invoice"]["refunded_amount"]) == ("PAID", "5.00")
    assert (body["credit_note"]["amount"], body["credit_note"]["refund_reference"]) == (
        "5.00",
        "BANK-RET-9",
    )
    assert body["credit_note"]["full_refund"] is False

    rest = admin_client.post(f"{BASE}/{invoice.pk}/refund", {}, format="json")

    assert rest.json()["message"] == "Invoice refunded"
    assert rest.json()["credit_note"]["amount"] == "15.00"
    assert rest.json()["invoice"]["status"] == "REFUNDED"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"amount": "0"}, "Refund amount must be greater than zero"),
        ({"amount": "-1.00"}, "Refund amount must be greater than zero"),
        ({"amount": "9.99"}, "Refund amount exceeds the refundable amount (9.00 EUR)"),
        ({"amount": "1.001"}, "amount must have at most 2 decimal places"),
        ({"amount": "ten"}, "amount must be an amount"),
        ({"reason": "r" * 501}, "reason must be at most 500 characters"),
        ({"refund_reference": "r" * 256}, "refund_reference must be at most 255 characters"),
        ({"force": "perhaps"}, "force must be true or false"),
        ({"record_only": "perhaps"}, "record_only must be true or false"),
    ],
)
def test_refund_validation(admin_client, body, message):
    invoice = paid_invoice(drafts=[custom_draft("10.00")])
    _refunded(invoice, amount=Decimal("1.00"))

    response = admin_client.post(f"{BASE}/{invoice.pk}/refund", body, format="json")

    _error(response, 400, "validation_error", message)
    assert CreditNote.objects.count() == 1


@pytest.mark.parametrize("status", ["PENDING", "CANCELLED", "REFUNDED"])
def test_refund_needs_a_paid_invoice(admin_client, status):
    invoice = issue_invoice()
    if status == "CANCELLED":
        invoice_void(invoice_id=invoice.pk)
    if status == "REFUNDED":
        invoice_mark_paid(invoice_id=invoice.pk, actor=None)
        invoice_refund(invoice_id=invoice.pk)

    response = admin_client.post(f"{BASE}/{invoice.pk}/refund")

    _error(response, 400, "invalid_transition", "Only paid invoices can be refunded")


def test_refund_with_a_token_shortfall_needs_force(admin_client):
    customer = buyer()
    purchase = bundle_purchase(customer, TokenBundleFactory(token_amount=100))
    invoice = paid_invoice(customer, [bundle_draft(purchase)])
    tokens_debit(user=customer, amount=60, description="Used")

    refused = admin_client.post(f"{BASE}/{invoice.pk}/refund")
    forced = admin_client.post(f"{BASE}/{invoice.pk}/refund", {"force": True}, format="json")

    _error(
        refused,
        409,
        "insufficient_tokens",
        "Refund would claw back 100 tokens but the balance is 40. "
        "Pass force=true to claw back what is available.",
    )
    assert forced.status_code == 200
    assert (forced.json()["tokens_clawed_back"], forced.json()["token_shortfall"]) == (40, 60)
    assert forced.json()["message"] == "Invoice refunded"
    assert balance_of(customer) == 0


def test_refund_through_a_disabled_gateway_needs_record_only(admin_client):
    invoice = issue_invoice(payment_method=None)
    invoice_capture(
        invoice_id=invoice.pk,
        gateway="stripe",
        external_id="pi_123",
        amount=invoice.total_amount,
        currency="EUR",
    )

    refused = admin_client.post(f"{BASE}/{invoice.pk}/refund")
    recorded = admin_client.post(
        f"{BASE}/{invoice.pk}/refund", {"record_only": "true"}, format="json"
    )

    _error(
        refused,
        400,
        "item_unavailable",
        "Payment plugin 'stripe' is disabled; refund at the provider and use record_only",
    )
    assert recorded.status_code == 200
    assert recorded.json()["payment"]["gateway"] == "stripe"
    assert recorded.json()["invoice"]["status"] == "REFUNDED"


# --- duplicate ------------------------------------------------------------------------------


def test_duplicate_issues_a_manual_copy_with_custom_lines(admin_client, admin_user):
    de_vat()
    customer = buyer()
    sub = subscription(customer, monthly_plan(name="Pro", price=Decimal("10.00")))
    original = paid_invoice(
        customer, [subscription_draft(sub), custom_draft("2.50", description="Setup", quantity=2)]
    )

    response = admin_client.post(f"{BASE}/{original.pk}/duplicate")

    assert response.status_code == 201
    body = response.json()
    assert body["message"] == "Invoice duplicated successfully"
    copy = body["invoice"]
    assert set(copy) == ADMIN_INVOICE_KEYS
    assert copy["id"] != str(original.pk)
    assert copy["invoice_number"] != original.invoice_number
    assert (copy["invoice_type"], copy["status"], copy["user_id"]) == (
        "MANUAL",
        "PENDING",
        str(customer.pk),
    )
    assert (copy["currency"], copy["payment_method"], copy["subscription_id"]) == (
        "EUR",
        "invoice",
        None,
    )
    assert (copy["subtotal"], copy["tax_amount"], copy["total_amount"]) == (
        "15.00",
        "2.85",
        "17.85",
    )
    assert [
        (
            line["type"],
            line["description"],
            line["quantity"],
            line["unit_price"],
            line["tax_rate"],
            line["item_id"],
            line["catalog_item_id"],
        )
        for line in copy["line_items"]
    ] == [
        ("CUSTOM", "Pro (monthly)", 1, "10.00", "19.00", None, None),
        ("CUSTOM", "Setup", 2, "2.50", "19.00", None, None),
    ]
    entry = AuditEntry.objects.get(action="invoice.duplicated")
    assert (entry.object_id, entry.actor_id) == (copy["id"], admin_user.pk)
    assert entry.after["source_invoice_number"] == original.invoice_number


def test_paying_a_duplicate_activates_nothing(admin_user):
    customer = buyer()
    sub = subscription(customer, monthly_plan())
    original = issue_invoice(customer, [subscription_draft(sub)])
    invoice_void(invoice_id=original.pk)

    copy = invoice_duplicate(invoice_id=original.pk, actor=admin_user)
    invoice_mark_paid(invoice_id=copy.pk, actor=admin_user)

    copy.refresh_from_db()
    assert copy.status == InvoiceStatus.PAID
    assert [line.type for line in copy.lines.all()] == [LineType.CUSTOM]
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.CANCELLED


def test_duplicate_of_a_reverse_charge_invoice_keeps_the_statement(admin_client):
    de_vat()
    tax_free_business = buyer(country="AT", company="Firma GmbH", tax_number="ATU13585627")
    original = issue_invoice(tax_free_business, [custom_draft("100.00")])
    assert original.reverse_charge is True

    copy = admin_client.post(f"{BASE}/{original.pk}/duplicate").json()["invoice"]

    assert (copy["reverse_charge"], copy["tax_amount"], copy["total_amount"]) == (
        True,
        "0.00",
        "100.00",
    )


# --- resend and the email task --------------------------------------------------------------


def test_resend_queues_the_email_with_the_pdf(
    admin_client, admin_user, django_capture_on_commit_callbacks
):
    customer = buyer(email="erika@example.com")
    invoice = issue_invoice(customer)

    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(f"{BASE}/{invoice.pk}/resend")

    assert response.status_code == 200
    assert response.json() == {"message": "Invoice sent to erika@example.com"}
    [message] = mail.outbox
    assert message.to == ["erika@example.com"]
    assert message.subject == f"Invoice {invoice.invoice_number}"
    assert "Erika Mustermann" in message.body
    assert "9.99 EUR" in message.body
    [(filename, content, mimetype)] = message.attachments
    assert (filename, mimetype) == (f"{invoice.invoice_number}.pdf", "application/pdf")
    assert content.startswith(b"%PDF")
    entry = AuditEntry.objects.get(action="invoice.sent")
    assert (entry.object_id, entry.actor_id) == (str(invoice.pk), admin_user.pk)


def test_resend_is_refused_for_an_anonymised_customer(admin_client, admin_user):
    customer = buyer()
    invoice = issue_invoice(customer)
    user_delete(user=customer, actor=admin_user, force=True)

    response = admin_client.post(f"{BASE}/{invoice.pk}/resend")

    _error(
        response,
        400,
        "business_rule",
        "Invoice cannot be sent: the customer has no email address",
    )
    assert mail.outbox == []
    assert not AuditEntry.objects.filter(action="invoice.sent").exists()


def test_the_email_task_skips_unknown_invoices_and_anonymised_customers(admin_user):
    customer = buyer()
    invoice = issue_invoice(customer)
    user_delete(user=customer, actor=admin_user, force=True)

    assert tasks.send_invoice_email(str(invoice.pk)) is False
    assert tasks.send_invoice_email(str(uuid.uuid4())) is False
    assert mail.outbox == []


def test_the_email_of_an_unpaid_bank_transfer_invoice_has_the_bank_details(admin_user):
    platform_settings_update(
        data={
            "company_name": "VBWD GmbH",
            "bank_account_holder": "VBWD GmbH",
            "bank_name": "Testbank",
            "bank_iban": "DE89370400440532013000",
            "bank_bic": "COBADEFFXXX",
        },
        actor=admin_user,
    )
    invoice = issue_invoice(buyer(email="max@example.com"))

    assert tasks.send_invoice_email(str(invoice.pk)) is True

    body = mail.outbox[0].body
    assert "IBAN DE89370400440532013000, BIC COBADEFFXXX" in body
    assert f"Due date:       {invoice.due_date.date().isoformat()}" in body


def test_the_overdue_task_marks_invoices_past_their_due_date():
    with time_machine.travel(datetime.datetime(2026, 1, 1, tzinfo=datetime.UTC)):
        late = issue_invoice()
    current = issue_invoice()

    with time_machine.travel(timezone.now() + datetime.timedelta(days=1)):
        assert tasks.mark_overdue_invoices() == 1

    late.refresh_from_db()
    current.refresh_from_db()
    assert (late.status, current.status) == (InvoiceStatus.OVERDUE, InvoiceStatus.PENDING)


# --- PDFs, credit notes, delete -------------------------------------------------------------


def test_invoice_pdf(admin_client):
    invoice = issue_invoice()

    response = admin_client.get(f"{BASE}/{invoice.pk}/pdf", HTTP_ACCEPT="application/pdf")

    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response["Content-Disposition"] == f'attachment; filename="{invoice.invoice_number}.pdf"'
    assert response.content.startswith(b"%PDF")


def test_credit_note_detail_and_pdf(admin_client, admin_user):
    invoice = paid_invoice(drafts=[custom_draft("10.00")])
    note = _refunded(invoice, amount=Decimal("4.00"), actor=admin_user).credit_note

    detail = admin_client.get(f"{CREDIT_NOTES}/{note.pk}")
    pdf = admin_client.get(f"{CREDIT_NOTES}/{note.pk}/pdf")

    assert detail.status_code == 200
    data = detail.json()["credit_note"]
    assert set(data) == CREDIT_NOTE_KEYS
    assert (data["invoice_id"], data["invoice_number"], data["amount"]) == (
        str(invoice.pk),
        invoice.invoice_number,
        "4.00",
    )
    assert pdf.status_code == 200
    assert pdf["Content-Type"] == "application/pdf"
    assert pdf["Content-Disposition"] == f'attachment; filename="{note.credit_note_number}.pdf"'
    assert pdf.content.startswith(b"%PDF")


def test_credit_notes_of_an_invoice_oldest_first(admin_client):
    invoice = paid_invoice(drafts=[custom_draft("10.00")])
    first = _refunded(invoice, amount=Decimal("1.00")).credit_note
    second = _refunded(invoice, amount=Decimal("2.00")).credit_note
    paid_elsewhere = paid_invoice(drafts=[custom_draft("10.00")])
    _refunded(paid_elsewhere)

    response = admin_client.get(f"{BASE}/{invoice.pk}/credit-notes")

    assert response.status_code == 200
    assert set(response.json()) == {"credit_notes"}
    assert [note["id"] for note in response.json()["credit_notes"]] == [
        str(first.pk),
        str(second.pk),
    ]
    assert (
        admin_client.get(f"{BASE}/{paid_elsewhere.pk}/credit-notes").json()["credit_notes"][0][
            "full_refund"
        ]
        is True
    )
    empty = issue_invoice()
    assert admin_client.get(f"{BASE}/{empty.pk}/credit-notes").json() == {"credit_notes": []}


def test_credit_note_list_filters_and_pages(admin_client):
    erika, max_ = buyer(), buyer()
    with time_machine.travel(datetime.datetime(2026, 4, 1, 10, tzinfo=datetime.UTC)):
        invoice = paid_invoice(erika, [custom_draft("10.00")])
        april = _refunded(invoice, amount=Decimal("1.00")).credit_note
    with time_machine.travel(datetime.datetime(2026, 4, 2, 10, tzinfo=datetime.UTC)):
        later = _refunded(invoice, amount=Decimal("1.00")).credit_note
        other = _refunded(paid_invoice(max_, [custom_draft("3.00")])).credit_note

    def ids(params):
        response = admin_client.get(CREDIT_NOTES, params)
        assert response.status_code == 200, response.content
        return [note["id"] for note in response.json()["credit_notes"]]

    everything = admin_client.get(CREDIT_NOTES, {"per_page": 2}).json()
    assert set(everything) == {"credit_notes"} | PAGE_KEYS
    assert (everything["total"], everything["pages"], len(everything["credit_notes"])) == (3, 2, 2)
    newest_first = ids({})
    assert newest_first[2] == str(april.pk)
    assert set(newest_first[:2]) == {str(later.pk), str(other.pk)}
    assert ids({"user_id": str(max_.pk)}) == [str(other.pk)]
    assert ids({"invoice_id": str(invoice.pk)}) == [str(later.pk), str(april.pk)]
    assert ids({"date_to": "2026-04-01"}) == [str(april.pk)]
    assert set(ids({"date_from": "2026-04-02", "user_id": "", "invoice_id": ""})) == {
        str(later.pk),
        str(other.pk),
    }
    assert ids({"date_from": "2026-04-02T10:00:01Z"}) == []


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"user_id": "nope"}, "user_id must be a valid UUID"),
        ({"invoice_id": "nope"}, "invoice_id must be a valid UUID"),
        ({"date_from": "01.04.2026"}, "date_from must be a date (YYYY-MM-DD) or a datetime"),
        ({"per_page": "x"}, "per_page must be an integer"),
    ],
)
def test_credit_note_list_refuses_bad_filters(admin_client, params, message):
    _error(admin_client.get(CREDIT_NOTES, params), 400, "validation_error", message)


def test_credit_note_list_query_count_is_constant(admin_client):
    _refunded(paid_invoice(drafts=[custom_draft("5.00")]))
    one = _count_queries(admin_client, CREDIT_NOTES)

    for _ in range(9):
        invoice = paid_invoice(drafts=[custom_draft("5.00")], reference="R")
        _refunded(invoice, amount=Decimal("1.00"))
        _refunded(invoice, amount=Decimal("1.00"))

    assert _count_queries(admin_client, CREDIT_NOTES) == one


def test_delete_is_always_refused(admin_client):
    invoice = issue_invoice()
    paid = paid_invoice()

    for target in (invoice, paid):
        response = admin_client.delete(f"{BASE}/{target.pk}")
        _error(
            response, 400, "business_rule", "Invoices cannot be deleted; void the invoice instead"
        )

    assert Invoice.objects.count() == 2
