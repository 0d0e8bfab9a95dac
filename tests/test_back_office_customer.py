"""The customer's page in the back office: their subscriptions, invoices, payments, credit notes,
token balance and ledger, read-only, each a link to its own page."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
from django.test import Client

from accounts.tests.factories import AdminFactory
from billing.invoices.services import invoice_refund
from billing.invoices.tests.factories import (
    buyer,
    custom_draft,
    monthly_plan,
    paid_invoice,
    subscription,
)
from tokens.services.ledger import tokens_adjust

pytestmark = pytest.mark.django_db


def _page(customer, staff=None) -> str:
    client = Client()
    client.force_login(staff or AdminFactory())
    response = client.get(f"/admin/accounts/user/{customer.pk}/change/")
    assert response.status_code == 200
    return response.content.decode()


def test_the_customer_page_links_every_record_of_the_customer():
    staff = AdminFactory()
    customer = buyer()
    sub = subscription(customer, monthly_plan(name="Pro Monthly"))
    invoice = paid_invoice(customer, [custom_draft("12.50")])
    note = invoice_refund(invoice_id=invoice.pk, amount=Decimal("2.50"), actor=staff).credit_note
    payment = invoice.payments.get()
    tokens_adjust(user=customer, actor=staff, reason="goodwill", amount=40)
    other = paid_invoice(buyer(), [custom_draft("99.00")])

    page = _page(customer, staff)

    assert f'href="/admin/subscriptions/subscription/{sub.pk}/change/">Pro Monthly</a>' in page
    assert (
        f'href="/admin/invoices/invoice/{invoice.pk}/change/">{invoice.invoice_number}</a>' in page
    )
    assert f'href="/admin/invoices/payment/{payment.pk}/change/">' in page
    assert (
        f'href="/admin/invoices/creditnote/{note.pk}/change/">{note.credit_note_number}</a>' in page
    )
    assert (
        f'href="/admin/tokens/tokenbalance/{customer.token_balance.pk}/change/">40 tokens</a>'
        in (page)
    )
    assert "/admin/tokens/tokentransaction/" in page
    assert "goodwill" in page
    assert ">12.50 EUR<" in page  # the invoice total and the payment
    assert ">2.50 EUR<" in page  # the credit note
    assert other.invoice_number not in page
    for tab in ("subscriptions", "invoices", "payments", "credit notes", "token ledger"):
        assert re.search(rf">\s*{tab}\s*<", page, re.IGNORECASE), tab


def test_the_sections_are_read_only():
    customer = buyer()
    paid_invoice(customer, [custom_draft("5.00")])

    page = _page(customer)

    assert 'name="invoices-0-status"' not in page
    assert 'name="payments-0-amount"' not in page
    assert "invoices-0-DELETE" not in page


def test_the_account_credit_billing_ignores_is_not_offered():
    page = _page(buyer())

    assert 'name="details-0-balance"' not in page
    assert 'name="details-0-balance_currency"' not in page
    assert 'name="details-0-first_name"' in page


def test_the_customer_page_costs_the_same_queries_with_more_records(
    django_assert_max_num_queries,
):
    staff = AdminFactory()
    few, many = buyer(), buyer()
    paid_invoice(few, [custom_draft("5.00")])
    tokens_adjust(user=few, actor=staff, reason="goodwill", amount=1)
    for _ in range(6):
        paid_invoice(many, [custom_draft("5.00")])
        tokens_adjust(user=many, actor=staff, reason="goodwill", amount=1)
    client = Client()
    client.force_login(staff)
    client.get(f"/admin/accounts/user/{few.pk}/change/")  # warm the caches

    with django_assert_max_num_queries(20) as few_queries:
        client.get(f"/admin/accounts/user/{few.pk}/change/")
    with django_assert_max_num_queries(20) as many_queries:
        client.get(f"/admin/accounts/user/{many.pk}/change/")

    assert len(many_queries.captured_queries) == len(few_queries.captured_queries)
