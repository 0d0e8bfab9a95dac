"""A currency has up to four decimal places: invoices keep every one of them."""

from decimal import Decimal

import pytest

from billing.catalog.models import Currency
from billing.invoices.models import Invoice
from billing.invoices.serializers import invoice_data
from billing.invoices.tests.factories import buyer, custom_draft, issue_invoice

pytestmark = pytest.mark.django_db


def test_a_three_place_currency_keeps_its_places_through_the_database():
    kwd = Currency.objects.create(
        code="KWD", name="Kuwaiti dinar", symbol="KD", decimal_places=3,
        exchange_rate=Decimal("0.307123"),
    )  # fmt: skip
    customer = buyer(country="US")
    drafts = [custom_draft("0.307") for _ in range(3)]

    invoice = issue_invoice(customer, drafts, currency=kwd)

    stored = Invoice.objects.get(pk=invoice.pk)
    assert stored.total_amount == Decimal("0.921")
    body = invoice_data(stored)
    assert body["total_amount"] == "0.921"
    assert [line["amount"] for line in body["line_items"]] == ["0.307"] * 3
