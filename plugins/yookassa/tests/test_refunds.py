"""Refunds of YooKassa-paid invoices against the YooKassa-compatible server: a staff refund calls
YooKassa once with the refund claim's idempotence key and issues one credit note; the
``refund.succeeded`` notification that follows records nothing more; a refund call YooKassa
does not answer leaves one PENDING claim, and the retry sends the same key."""

from __future__ import annotations

from decimal import Decimal

import pytest

from billing.invoices.models import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    ProviderEvent,
    ProviderEventStatus,
    Refund,
    RefundStatus,
)
from plugins.yookassa.tests.conftest import checkout_with_yookassa
from plugins.yookassa.tests.test_webhooks import deliver, open_session
from tokens.models import TokenBalance

pytestmark = pytest.mark.django_db

D = Decimal
API = "/api/v1"


def pay_by_yookassa(user_client, catalog, server) -> tuple[Invoice, Payment]:
    invoice_id = checkout_with_yookassa(user_client, catalog)["id"]
    session = open_session(user_client, invoice_id)
    server.confirm(session["session_id"])
    assert deliver(server.outbox("payment.succeeded")[0]).json() == {"received": True}
    invoice = Invoice.objects.get(pk=invoice_id)
    assert invoice.status == InvoiceStatus.PAID
    payment = Payment.objects.get(invoice=invoice, status=PaymentStatus.CAPTURED)
    return invoice, payment


def staff_refund(admin_client, invoice: Invoice, **body):
    return admin_client.post(f"{API}/admin/invoices/{invoice.pk}/refund", body, format="json")


def test_staff_refunds_call_yookassa_once_each_and_its_notifications_refund_nothing_more(
    yookassa_plugin, catalog, user_client, admin_client
):
    invoice, payment = pay_by_yookassa(user_client, catalog, yookassa_plugin)
    yookassa_plugin.clear_requests()

    # staff refund 5.00
    partial = staff_refund(admin_client, invoice, amount="5.00", reason="Goodwill")

    assert partial.status_code == 200, partial.content
    assert partial.json()["message"] == "Partial refund of 5.00 EUR issued"
    first = Refund.objects.get(invoice=invoice)
    calls = yookassa_plugin.calls("POST", "/v3/refunds")
    assert [(c["idempotence_key"], c["body"]["amount"], c["replayed"]) for c in calls] == [
        (f"refund:{first.pk}", {"value": "5.00", "currency": "EUR"}, False)
    ]
    assert calls[0]["body"]["payment_id"] == payment.external_id
    [at_yookassa] = yookassa_plugin.refunds_of(payment.external_id)
    assert (first.status, first.provider_refund_id) == (RefundStatus.SUCCEEDED, at_yookassa["id"])
    note = CreditNote.objects.get(invoice=invoice)
    assert (note.amount, note.refund_reference, note.full_refund) == (
        D("5.00"),
        at_yookassa["id"],
        False,
    )

    # YooKassa's refund.succeeded arrives afterwards, twice: it is the refund already recorded
    [announced] = yookassa_plugin.outbox("refund.succeeded")
    assert deliver(announced).json() == {"received": True}
    assert deliver(announced).json() == {"received": True, "duplicate": True}
    event = ProviderEvent.objects.get(event_type="refund.succeeded")
    assert (event.event_id, event.status) == (
        f"refund.succeeded:{at_yookassa['id']}",
        ProviderEventStatus.PROCESSED,
    )
    assert CreditNote.objects.filter(invoice=invoice).count() == 1
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, payment.refunded_amount) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        D("5.00"),
    )
    assert invoice.refunded_amount == D("5.00")

    # staff refund the rest: YooKassa refunds 34.99 once, access ends, tokens go back
    rest = staff_refund(admin_client, invoice, reason="Cancelled")

    assert rest.status_code == 200, rest.content
    assert rest.json()["message"] == "Invoice refunded"
    assert (rest.json()["tokens_clawed_back"], rest.json()["token_shortfall"]) == (1500, 0)
    second = Refund.objects.exclude(pk=first.pk).get(invoice=invoice)
    calls = yookassa_plugin.calls("POST", "/v3/refunds")
    assert [(c["idempotence_key"], c["body"]["amount"]["value"]) for c in calls] == [
        (f"refund:{first.pk}", "5.00"),
        (f"refund:{second.pk}", "34.99"),
    ]
    later = yookassa_plugin.outbox("refund.succeeded")[1]
    assert deliver(later).json() == {"received": True}
    assert CreditNote.objects.filter(invoice=invoice).count() == 2
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.REFUNDED, D("39.99"))
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, D("39.99"))
    assert TokenBalance.objects.get(user=user_client.user).balance == 0
    assert yookassa_plugin.payment(payment.external_id)["refunded_amount"] == {
        "value": "39.99",
        "currency": "EUR",
    }


def test_a_refund_yookassa_does_not_answer_stays_one_claim_and_the_retry_sends_its_key(
    yookassa_plugin, catalog, user_client, admin_client, monkeypatch
):
    invoice, payment = pay_by_yookassa(user_client, catalog, yookassa_plugin)
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_TIMEOUT_SECONDS", "1")
    yookassa_plugin.stall_next("POST", "/v3/refunds", 2.0)

    unanswered = staff_refund(admin_client, invoice, amount="5.00", reason="Goodwill")

    assert unanswered.status_code == 502
    assert unanswered.json()["code"] == "provider_error"
    [claim] = Refund.objects.filter(invoice=invoice)
    assert claim.status == RefundStatus.PENDING
    assert not CreditNote.objects.filter(invoice=invoice).exists()

    retried = staff_refund(admin_client, invoice, amount="5.00", reason="Goodwill")

    assert retried.status_code == 200, retried.content
    calls = yookassa_plugin.calls("POST", "/v3/refunds")
    assert [(c["idempotence_key"], c["replayed"]) for c in calls] == [
        (f"refund:{claim.pk}", False),
        (f"refund:{claim.pk}", True),
    ]
    assert len(yookassa_plugin.refunds_of(payment.external_id)) == 1
    [claim] = Refund.objects.filter(invoice=invoice)
    assert claim.status == RefundStatus.SUCCEEDED
    assert CreditNote.objects.filter(invoice=invoice).count() == 1
    # its notification, arriving now, refunds nothing more
    assert deliver(yookassa_plugin.outbox("refund.succeeded")[0]).json() == {"received": True}
    assert CreditNote.objects.filter(invoice=invoice).count() == 1
    invoice.refresh_from_db()
    assert invoice.refunded_amount == D("5.00")


def test_a_refund_made_in_yookassas_dashboard_is_recorded_once_from_its_notification(
    yookassa_plugin, catalog, user_client
):
    import requests

    invoice, payment = pay_by_yookassa(user_client, catalog, yookassa_plugin)
    made = requests.post(
        f"{yookassa_plugin.url}/refunds",
        json={"payment_id": payment.external_id, "amount": {"value": "10.00", "currency": "EUR"}},
        auth=(yookassa_plugin.shop_id, yookassa_plugin.secret_key),
        headers={"Idempotence-Key": "dashboard-refund"},
        timeout=5,
    )
    assert made.status_code == 200, made.text
    [announced] = yookassa_plugin.outbox("refund.succeeded")

    assert deliver(announced).json() == {"received": True}
    assert deliver(announced).json() == {"received": True, "duplicate": True}

    note = CreditNote.objects.get(invoice=invoice)
    assert (note.amount, note.refund_reference) == (D("10.00"), made.json()["id"])
    invoice.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.PAID, D("10.00"))
