"""The accountant's CSV exports of invoices, payments and credit notes from the back office's
lists, for a range of days."""

from __future__ import annotations

import csv
import datetime
import io
from decimal import Decimal

import pytest
import time_machine
from django.test import Client

from accounts.tests.factories import AdminFactory, UserFactory
from billing.invoices.services import invoice_refund
from billing.invoices.tests.factories import buyer, custom_draft, issue_invoice, paid_invoice

pytestmark = pytest.mark.django_db

DAY_ONE = datetime.datetime(2026, 5, 4, 10, 0, tzinfo=datetime.UTC)


def _net(price: str, rate: str):
    return custom_draft(price, price_is_net=True, tax_rate=Decimal(rate))


@pytest.fixture
def staff():
    return AdminFactory()


@pytest.fixture
def client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def _export(client, list_url: str, first: str, last: str) -> list[list[str]]:
    response = client.post(f"{list_url}export/", {"first": first, "last": last})
    assert response.status_code == 200
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith("attachment; filename=")
    assert response["Content-Disposition"].endswith(f'-{first}-{last}.csv"')
    text = b"".join(response.streaming_content).decode()
    return list(csv.reader(io.StringIO(text)))


@pytest.fixture
def documents(staff):
    """May: a two-rate invoice to a company buyer with a VAT id, paid and partly refunded; a
    plain invoice left unpaid. June: one invoice outside the range."""
    company = buyer(
        email="ap@acme.example", company="Acme GmbH", tax_number="DE811907980", country="DE"
    )
    with time_machine.travel(DAY_ONE, tick=False):
        mixed = paid_invoice(company, [_net("100.00", "19"), _net("50.00", "7")])
    with time_machine.travel(DAY_ONE + datetime.timedelta(days=1), tick=False):
        unpaid = issue_invoice(buyer(email="erika@example.com"), [_net("10.00", "19")])
        note = invoice_refund(
            invoice_id=mixed.pk, actor=staff, amount=Decimal("30.00"), reason="internal"
        ).credit_note
    with time_machine.travel(DAY_ONE + datetime.timedelta(days=40), tick=False):
        issue_invoice(buyer(), [_net("77.00", "19")])
    return mixed, unpaid, note


def test_the_invoice_export_has_the_accountants_columns_and_tax_by_rate(client, documents):
    mixed, unpaid, _note = documents

    rows = _export(client, "/admin/invoices/invoice/", "2026-05-01", "2026-05-31")

    assert rows[0] == [
        "number",
        "type",
        "invoice date",
        "due date",
        "paid date",
        "customer",
        "email",
        "country",
        "VAT id",
        "net",
        "tax 7.00%",
        "tax 19.00%",
        "tax",
        "gross",
        "refunded",
        "currency",
        "status",
    ]
    assert rows[1] == [
        mixed.invoice_number,
        "CHECKOUT",
        "2026-05-04",
        mixed.due_date.date().isoformat(),
        "2026-05-04",
        "Acme GmbH",
        "ap@acme.example",
        "DE",
        "DE811907980",
        "150.00",
        "3.50",
        "19.00",
        "22.50",
        "172.50",
        "30.00",
        "EUR",
        "PAID",
    ]
    assert rows[2][:2] == [unpaid.invoice_number, "CHECKOUT"]
    assert rows[2][4:] == [
        "",
        "Erika Mustermann",
        "erika@example.com",
        "DE",
        "",
        "10.00",
        "",
        "1.90",
        "1.90",
        "11.90",
        "0.00",
        "EUR",
        "PENDING",
    ]
    assert len(rows) == 3  # June's invoice is outside the range


def test_the_credit_note_export_spreads_its_tax_over_the_invoice_rates(client, documents):
    mixed, _unpaid, note = documents

    rows = _export(client, "/admin/invoices/creditnote/", "2026-05-01", "2026-05-31")

    assert rows[0][8:14] == ["net", "tax 7.00%", "tax 19.00%", "tax", "gross", "currency"]
    row = rows[1]
    assert (
        row[:9]
        == [
            note.credit_note_number,
            "2026-05-05",
            mixed.invoice_number,
            "2026-05-04",
            "Acme GmbH",
            "ap@acme.example",
            "DE",
            "DE811907980",
            f"{note.net_amount:.2f}",
        ][:9]
    )
    # 30.00 of 172.50 gross: tax 3.91, split 19.00 : 3.50 over the rates.
    assert note.tax_amount == Decimal("3.91")
    assert row[9:16] == ["0.61", "3.30", "3.91", "30.00", "EUR", "partial refund", "ADMIN_REFUND"]
    assert len(rows) == 2


def test_the_payment_export_lists_the_money_received(client, documents):
    mixed, _unpaid, _note = documents

    rows = _export(client, "/admin/invoices/payment/", "2026-05-01", "2026-05-31")

    assert rows[0] == [
        "invoice number",
        "received date",
        "created date",
        "customer",
        "email",
        "country",
        "VAT id",
        "gateway",
        "provider reference",
        "gross",
        "refunded",
        "currency",
        "status",
    ]
    assert rows[1] == [
        mixed.invoice_number,
        "2026-05-04",
        "2026-05-04",
        "Acme GmbH",
        "ap@acme.example",
        "DE",
        "DE811907980",
        "manual",
        "TRANSFER-1",
        "172.50",
        "30.00",
        "EUR",
        "PARTIALLY_REFUNDED",
    ]
    assert len(rows) == 2


def test_a_cell_that_would_run_as_a_formula_is_quoted(client):
    with time_machine.travel(DAY_ONE, tick=False):
        issue_invoice(buyer(company="=HYPERLINK(evil)"), [_net("1.00", "19")])

    rows = _export(client, "/admin/invoices/invoice/", "2026-05-04", "2026-05-04")

    assert rows[1][5] == "'=HYPERLINK(evil)"


def test_the_export_page_asks_for_the_range_and_refuses_a_reversed_one(client):
    asked = client.get("/admin/invoices/invoice/export/")
    reversed_range = client.post(
        "/admin/invoices/invoice/export/", {"first": "2026-05-31", "last": "2026-05-01"}
    )

    assert asked.status_code == 200
    assert 'name="first"' in asked.content.decode()
    assert reversed_range.status_code == 200
    assert "The range ends before it starts" in reversed_range.content.decode()


def test_the_lists_offer_the_export(client):
    for url in (
        "/admin/invoices/invoice/",
        "/admin/invoices/payment/",
        "/admin/invoices/creditnote/",
    ):
        assert f'href="{url}export/"' in client.get(url).content.decode(), url


def test_customers_cannot_export():
    client = Client()
    client.force_login(UserFactory())

    response = client.post(
        "/admin/invoices/invoice/export/", {"first": "2026-05-01", "last": "2026-05-31"}
    )

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


@pytest.mark.usefixtures("documents")
def test_the_lists_show_money_with_its_currency_and_the_customer_email(client):

    invoices = client.get("/admin/invoices/invoice/").content.decode()
    payments = client.get("/admin/invoices/payment/").content.decode()
    notes = client.get("/admin/invoices/creditnote/").content.decode()

    assert "172.50 EUR" in invoices
    assert "ap@acme.example" in invoices
    assert "172.50 EUR" in payments
    assert "30.00 EUR" in payments  # refunded
    assert "30.00 EUR" in notes
    assert "172.5000" not in invoices + payments + notes
