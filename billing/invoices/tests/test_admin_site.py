"""The back office for invoices, payments, credit notes and provider events: read-only screens,
state changes only through the actions (with a reason), which call the invoice services."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.contrib.messages import get_messages
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory, UserFactory
from audit.models import AuditEntry
from billing.invoices.models import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    InvoiceType,
    Payment,
    ProviderEvent,
)
from billing.invoices.services import invoice_mark_paid, invoice_refund
from billing.invoices.tests.factories import (
    buyer,
    custom_draft,
    issue_invoice,
    monthly_plan,
    paid_invoice,
    subscription,
    subscription_draft,
)
from billing.subscriptions.models import Subscription, SubscriptionStatus

pytestmark = pytest.mark.django_db

INVOICES = "/admin/invoices/invoice/"
PAYMENTS = "/admin/invoices/payment/"
CREDIT_NOTES = "/admin/invoices/creditnote/"
EVENTS = "/admin/invoices/providerevent/"


@pytest.fixture
def staff():
    return AdminFactory()


@pytest.fixture
def client(staff) -> Client:
    client = Client()
    assert client.login(username=staff.email, password=DEFAULT_PASSWORD)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _action(client, action: str, invoices, **form) -> object:
    """Posts the action twice, as the browser does: the changelist, then the confirm form."""
    selected = [str(invoice.pk) for invoice in invoices]
    first = client.post(INVOICES, {"action": action, "_selected_action": selected})
    assert first.status_code == 200
    assert first.templates[0].name == "admin/reason_action.html"
    data = {"action": action, "_selected_action": selected, "apply": "1", **form}
    return client.post(INVOICES, data)


# --- screens --------------------------------------------------------------------------------


def test_non_staff_are_sent_to_the_login_page():
    client = Client()
    client.force_login(UserFactory())

    response = client.get(INVOICES)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_changelist_filters_search_and_constant_queries(client, django_assert_max_num_queries):
    erika = buyer(email="erika@example.com")
    with time_machine.travel(datetime.datetime(2026, 2, 1, 9, tzinfo=datetime.UTC)):
        february = issue_invoice(erika)
    paid = paid_invoice(buyer(email="max@example.org"))
    renewal = issue_invoice(erika, invoice_type=InvoiceType.RENEWAL)
    flagged = issue_invoice()
    Invoice.objects.filter(pk=flagged.pk).update(needs_review=True)

    with django_assert_max_num_queries(14):
        few = client.get(INVOICES)
    for _ in range(25):
        issue_invoice(drafts=[custom_draft("1.00"), custom_draft("2.00")])
    with django_assert_max_num_queries(14):
        many = client.get(INVOICES)

    def numbers(params):
        response = client.get(INVOICES, params)
        assert response.status_code == 200
        return {row.invoice_number for row in response.context["cl"].result_list}

    assert few.status_code == many.status_code == 200
    assert b"9.99" in few.content
    assert numbers({"status__exact": "PAID"}) == {paid.invoice_number}
    assert numbers({"invoice_type__exact": "RENEWAL"}) == {renewal.invoice_number}
    assert numbers({"needs_review__exact": "1"}) == {flagged.invoice_number}
    assert numbers({"q": "example.org"}) == {paid.invoice_number}
    assert numbers({"q": february.invoice_number}) == {february.invoice_number}
    assert numbers(
        {
            "invoiced_at__gte": "2026-02-01 00:00:00+00:00",
            "invoiced_at__lt": "2026-02-02 00:00:00+00:00",
        }
    ) == {february.invoice_number}


def test_change_view_is_read_only_with_lines_payments_and_credit_notes(client, staff):
    invoice = paid_invoice(drafts=[custom_draft("10.00", description="Consulting")])
    invoice_refund(invoice_id=invoice.pk, amount=Decimal("2.00"), actor=staff)

    page = client.get(f"{INVOICES}{invoice.pk}/change/")
    posted = client.post(f"{INVOICES}{invoice.pk}/change/", {"status": "CANCELLED"})

    assert page.status_code == 200
    assert page.context["has_change_permission"] is False
    assert page.context["has_delete_permission"] is False
    content = page.content.decode()
    assert "Consulting" in content
    assert "TRANSFER-1" in content
    assert "CN-" in content
    assert 'name="status"' not in content
    assert posted.status_code == 403
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID


def test_add_and_delete_are_refused(client):
    invoice = issue_invoice()

    assert client.get(f"{INVOICES}add/").status_code == 403
    assert client.get(f"{INVOICES}{invoice.pk}/delete/").status_code == 403
    assert client.post(f"{INVOICES}{invoice.pk}/delete/", {"post": "yes"}).status_code == 403
    changelist = client.get(INVOICES)
    actions = [
        value for value, _label in changelist.context["action_form"].fields["action"].choices
    ]
    assert "delete_selected" not in actions
    # paying and refunding are the invoice page's actions, one invoice at a time
    assert actions == ["", "void"]
    refused = client.post(
        INVOICES,
        {"action": "delete_selected", "_selected_action": [str(invoice.pk)], "post": "yes"},
    )
    assert refused.status_code in (200, 302)
    assert Invoice.objects.filter(pk=invoice.pk).exists()


@pytest.mark.parametrize("url", [PAYMENTS, CREDIT_NOTES, EVENTS])
def test_payment_credit_note_and_event_screens_are_read_only(client, staff, url):
    invoice = paid_invoice()
    invoice_refund(invoice_id=invoice.pk, amount=Decimal("1.00"), actor=staff)
    event = ProviderEvent.objects.create(
        provider="stripe", event_id="evt_1", event_type="checkout.session.completed"
    )
    row = {
        PAYMENTS: Payment.objects.get(),
        CREDIT_NOTES: CreditNote.objects.get(),
        EVENTS: event,
    }[url]

    listing = client.get(url)
    detail = client.get(f"{url}{row.pk}/change/")

    assert listing.status_code == 200
    assert len(listing.context["cl"].result_list) == 1
    assert detail.status_code == 200
    assert detail.context["has_change_permission"] is False
    assert client.get(f"{url}add/").status_code == 403
    assert client.post(f"{url}{row.pk}/delete/", {"post": "yes"}).status_code == 403


# --- actions --------------------------------------------------------------------------------


def test_void_action(client, staff):
    customer = buyer()
    sub = subscription(customer, monthly_plan())
    invoice = issue_invoice(customer, [subscription_draft(sub)])
    paid = paid_invoice()

    response = _action(client, "void", [invoice, paid], reason="Ordered by mistake")

    assert response.status_code == 302
    invoice.refresh_from_db()
    paid.refresh_from_db()
    assert (invoice.status, paid.status) == (InvoiceStatus.CANCELLED, InvoiceStatus.PAID)
    assert Subscription.objects.get(pk=sub.pk).status == SubscriptionStatus.CANCELLED
    entry = AuditEntry.objects.get(action="invoice.voided")
    assert (entry.object_id, entry.actor_id, entry.reason) == (
        str(invoice.pk),
        staff.pk,
        "Ordered by mistake",
    )
    assert set(_messages(response)) == {
        f"{invoice.invoice_number}: voided",
        f"{paid.invoice_number}: Paid invoices cannot be voided; refund them instead",
    }


def test_actions_leave_other_invoices_alone(client):
    chosen = issue_invoice()
    other = issue_invoice()
    invoice_mark_paid(invoice_id=other.pk, actor=None)

    _action(client, "void", [chosen], reason="Wrong customer")

    other.refresh_from_db()
    assert other.status == InvoiceStatus.PAID
    assert AuditEntry.objects.filter(action="invoice.voided").count() == 1
