"""The invoice's page in the back office: the seller and buyer as address blocks, links to the
customer, subscription and plan, money in the currency's places, and the page's actions, which
show what they will do before they call the invoice services."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.contrib.messages import get_messages
from django.core import mail
from django.test import Client

from accounts.tests.factories import AdminFactory, UserFactory
from audit.models import AuditEntry
from billing.invoices.models import CreditNote, Invoice, InvoiceStatus, InvoiceType
from billing.invoices.tests.factories import (
    TokenBundleFactory,
    bundle_draft,
    bundle_purchase,
    buyer,
    custom_draft,
    issue_invoice,
    monthly_plan,
    paid_invoice,
    subscription,
    subscription_draft,
)
from platform_settings.demo import DEMO_SELLER
from platform_settings.services import platform_settings_update
from tokens.services import balance_of, tokens_debit

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff():
    return AdminFactory()


@pytest.fixture
def client(staff) -> Client:
    client = Client()
    client.force_login(staff)
    return client


def _page(invoice) -> str:
    return f"/admin/invoices/invoice/{invoice.pk}/change/"


def _action_url(invoice, path: str) -> str:
    return f"/admin/invoices/invoice/{invoice.pk}/{path}/"


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _text(response) -> str:
    return " ".join(response.content.decode().split())


# --- the page -----------------------------------------------------------------------------


def test_the_page_prints_the_seller_and_buyer_as_addresses_and_links_its_records(client):
    platform_settings_update(data=dict(DEMO_SELLER), actor=None)
    customer = buyer(email="erika@example.com")
    plan = monthly_plan(name="Pro Monthly")
    sub = subscription(customer, plan)
    invoice = issue_invoice(customer, [subscription_draft(sub, unit_price="10.00")])

    page = _text(client.get(_page(invoice)))

    assert "<strong>VBWD Demo GmbH</strong><br>Unter den Linden 10<br>10117 Berlin<br>" in page
    assert "VAT ID: DE123456788" in page
    assert "<strong>Erika Mustermann</strong><br>Heidestraße 17<br>51147 Köln<br>" in page
    assert '"address_street"' not in page  # no raw snapshot
    assert f'href="/admin/accounts/user/{customer.pk}/change/">erika@example.com</a>' in page
    assert f'href="/admin/subscriptions/subscription/{sub.pk}/change/">Open</a>' in page
    assert f'href="/admin/catalog/plan/{plan.pk}/change/">Pro Monthly</a>' in page
    assert f"{invoice.total_amount:.2f} EUR" in page
    assert "Tarif plan id" not in page


def test_money_is_shown_in_the_currency_places(client):
    invoice = issue_invoice(drafts=[custom_draft("9.99")])

    page = _text(client.get(_page(invoice)))

    assert "9.99 EUR" in page
    assert "9.9900" not in page


def test_the_page_offers_every_action(client):
    invoice = issue_invoice()

    page = client.get(_page(invoice)).content.decode()

    for path in ("pdf", "pdf-download", "mark-paid", "refund", "void", "resend", "duplicate"):
        assert f'href="{_action_url(invoice, path)}"' in page, path


# --- PDF ----------------------------------------------------------------------------------


def test_the_pdf_opens_inline_or_downloads(client):
    invoice = issue_invoice()

    inline = client.get(_action_url(invoice, "pdf"))
    download = client.get(_action_url(invoice, "pdf-download"))

    assert inline.status_code == 200
    assert inline["Content-Type"] == "application/pdf"
    assert inline["Content-Disposition"] == f'inline; filename="{invoice.invoice_number}.pdf"'
    assert inline.content.startswith(b"%PDF")
    assert download["Content-Disposition"] == f'attachment; filename="{invoice.invoice_number}.pdf"'


# --- mark paid ----------------------------------------------------------------------------


def test_mark_paid_asks_shows_the_effect_then_records_the_payment(client, staff):
    invoice = issue_invoice(drafts=[custom_draft("25.00")])
    url = _action_url(invoice, "mark-paid")
    values = {"payment_reference": "BANK-77", "reason": "Transfer arrived"}

    asked = client.get(url)
    preview = client.post(url, {**values, "preview": "1"})

    assert asked.status_code == 200
    assert 'name="payment_reference"' in asked.content.decode()
    assert 'name="paid_at_0"' in asked.content.decode()
    assert preview.status_code == 200
    effect = _text(preview)
    assert "record a payment of 25.00 EUR received now, reference BANK-77" in effect
    assert "change the invoice from PENDING to PAID" in effect
    assert 'name="confirm"' in effect
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING  # nothing done before the confirmation

    done = client.post(url, {**values, "confirm": "1"})

    assert done.status_code == 302
    assert done["Location"] == _page(invoice)
    invoice.refresh_from_db()
    assert (invoice.status, invoice.payment_ref) == (InvoiceStatus.PAID, "BANK-77")
    assert _messages(done) == [f"{invoice.invoice_number}: marked as paid (PAID)"]
    entry = AuditEntry.objects.filter(object_id=str(invoice.pk), actor_id=staff.pk).latest(
        "created_at"
    )
    assert entry.actor_id == staff.pk


def test_mark_paid_with_the_amount_and_the_day_the_money_arrived(client):
    invoice = issue_invoice(drafts=[custom_draft("25.00")])

    done = client.post(
        _action_url(invoice, "mark-paid"),
        {
            "payment_reference": "BANK-9",
            "payment_method": "bank transfer",
            "amount": "25.00",
            "paid_at_0": "2026-01-05",
            "paid_at_1": "10:30",
            "reason": "Statement",
            "confirm": "1",
        },
    )

    assert done.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.paid_at.isoformat() == "2026-01-05T10:30:00+00:00"


def test_mark_paid_refuses_a_moment_in_the_future(client):
    invoice = issue_invoice(drafts=[custom_draft("25.00")])

    response = client.post(
        _action_url(invoice, "mark-paid"),
        {
            "payment_reference": "BANK-9",
            "paid_at_0": "2099-01-05",
            "paid_at_1": "10:30",
            "reason": "x",
            "confirm": "1",
        },
    )

    assert "paid_at cannot be in the future" in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


def test_mark_paid_refuses_an_amount_other_than_the_total_as_the_api_does(client):
    invoice = issue_invoice(drafts=[custom_draft("25.00")])

    response = client.post(
        _action_url(invoice, "mark-paid"),
        {"payment_reference": "BANK-1", "amount": "20.00", "reason": "x", "confirm": "1"},
    )

    assert response.status_code == 200
    assert "must equal" in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING


def test_mark_paid_refuses_more_decimal_places_than_the_currency_has(client):
    invoice = issue_invoice(drafts=[custom_draft("25.00")])

    response = client.post(
        _action_url(invoice, "mark-paid"),
        {"payment_reference": "BANK-1", "amount": "25.001", "reason": "x", "preview": "1"},
    )

    assert response.status_code == 200
    assert 'name="confirm"' not in response.content.decode()


# --- void ---------------------------------------------------------------------------------


def test_void_shows_the_effect_then_cancels_the_invoice(client, staff):
    invoice = issue_invoice()
    url = _action_url(invoice, "void")

    preview = client.post(url, {"reason": "Ordered by mistake", "preview": "1"})
    done = client.post(url, {"reason": "Ordered by mistake", "confirm": "1"})

    assert "change the invoice from PENDING to CANCELLED" in _text(preview)
    assert done.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED
    entry = AuditEntry.objects.get(action="invoice.voided", object_id=str(invoice.pk))
    assert entry.actor_id == staff.pk


def test_void_of_a_paid_invoice_is_refused_on_the_form(client):
    invoice = paid_invoice()

    response = client.post(_action_url(invoice, "void"), {"reason": "no", "confirm": "1"})

    assert response.status_code == 200
    assert "Paid invoices cannot be voided; refund them instead" in response.content.decode()
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


# --- refund -------------------------------------------------------------------------------


def test_a_partial_refund_shows_the_effect_then_issues_a_credit_note(client, staff):
    invoice = paid_invoice(drafts=[custom_draft("40.00")])
    url = _action_url(invoice, "refund")
    values = {"amount": "15.00", "refund_reference": "BANK-RET-1", "reason": "Goodwill"}

    asked = client.get(url)
    preview = client.post(url, {**values, "preview": "1"})
    done = client.post(url, {**values, "confirm": "1"})

    for field in ("amount", "refund_reference", "record_only", "force", "reason"):
        assert f'name="{field}"' in asked.content.decode(), field
    effect = _text(preview)
    assert "issue a credit note of 15.00 EUR" in effect
    assert "only record the refund of 15.00 EUR (no gateway is called)" in effect
    assert "leave the invoice PAID with 25.00 EUR still refundable" in effect
    assert done.status_code == 302
    invoice.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.PAID, Decimal("15.00"))
    note = CreditNote.objects.get(invoice=invoice)
    assert (note.amount, note.refund_reference, note.created_by_id) == (
        Decimal("15.00"),
        "BANK-RET-1",
        staff.pk,
    )
    assert _messages(done) == [
        f"{invoice.invoice_number}: refunded 15.00 EUR ({note.credit_note_number})"
    ]
    assert AuditEntry.objects.filter(object_id=str(invoice.pk), actor_id=staff.pk).exists()


def test_a_refund_without_an_amount_refunds_everything_left(client):
    invoice = paid_invoice(drafts=[custom_draft("40.00")])
    url = _action_url(invoice, "refund")

    preview = client.post(url, {"record_only": "on", "reason": "Cancelled", "preview": "1"})
    done = client.post(url, {"record_only": "True", "reason": "Cancelled", "confirm": "1"})

    assert "issue a credit note of 40.00 EUR" in _text(preview)
    assert "the invoice becomes REFUNDED" in _text(preview)
    assert done.status_code == 302
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.REFUNDED
    assert CreditNote.objects.get(invoice=invoice).full_refund is True


def test_a_refund_above_the_refundable_amount_is_refused_before_the_confirmation(client):
    invoice = paid_invoice(drafts=[custom_draft("40.00")])

    preview = client.post(
        _action_url(invoice, "refund"), {"amount": "50.00", "reason": "x", "preview": "1"}
    )

    page = preview.content.decode()
    assert "Refund amount exceeds the refundable amount (40.00 EUR)" in page
    assert 'name="confirm"' not in page
    assert CreditNote.objects.count() == 0


def test_a_refund_with_a_token_shortfall_needs_force(client):
    customer = buyer()
    purchase = bundle_purchase(customer, TokenBundleFactory(token_amount=100))
    invoice = paid_invoice(customer, [bundle_draft(purchase)])
    tokens_debit(user=customer, amount=30, description="Used")
    url = _action_url(invoice, "refund")

    refused = client.post(url, {"reason": "Complaint", "confirm": "1"})
    forced = client.post(url, {"reason": "Complaint", "force": "on", "confirm": "1"})

    assert (
        "Refund would claw back 100 tokens but the balance is 70. "
        "Pass force=true to claw back what is available."
    ) in _text(refused)
    note = CreditNote.objects.get()
    assert (note.tokens_clawed_back, note.token_shortfall) == (70, 30)
    assert _messages(forced)[-1] == (
        f"{invoice.invoice_number}: refunded 1.00 EUR "
        f"({note.credit_note_number}); 70 tokens clawed back, shortfall 30"
    )
    assert balance_of(customer) == 0


# --- resend and duplicate -----------------------------------------------------------------


def test_resend_shows_the_recipient_then_queues_the_email(
    client, django_capture_on_commit_callbacks
):
    invoice = issue_invoice(buyer(email="erika@example.com"))
    url = _action_url(invoice, "resend")

    asked = client.get(url)
    with django_capture_on_commit_callbacks(execute=True):
        done = client.post(url, {"confirm": "1"})

    assert f"email {invoice.invoice_number} with its PDF to erika@example.com" in _text(asked)
    assert done.status_code == 302
    [message] = mail.outbox
    assert message.to == ["erika@example.com"]
    assert AuditEntry.objects.filter(action="invoice.sent", object_id=str(invoice.pk)).exists()


def test_duplicate_issues_a_copy_and_opens_it(client):
    invoice = issue_invoice(drafts=[custom_draft("12.00"), custom_draft("3.00")])
    url = _action_url(invoice, "duplicate")

    asked = client.get(url)
    done = client.post(url, {"confirm": "1"})

    assert "copy its 2 line(s) as custom lines" in _text(asked)
    copy = Invoice.objects.exclude(pk=invoice.pk).get()
    assert (copy.invoice_type, copy.status, copy.total_amount) == (
        InvoiceType.MANUAL,
        InvoiceStatus.PENDING,
        invoice.total_amount,
    )
    assert done["Location"] == _page(copy)


# --- who may ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["mark-paid", "void", "refund", "resend", "duplicate", "pdf"])
def test_customers_cannot_reach_the_actions(path):
    invoice = issue_invoice()
    client = Client()
    client.force_login(UserFactory())

    response = client.post(_action_url(invoice, path), {"reason": "x", "confirm": "1"})

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert Invoice.objects.count() == 1
