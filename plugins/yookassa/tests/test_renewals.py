"""Off-session renewal charges at YooKassa: a charge YooKassa does not answer in time stays one
PENDING payment, and the next attempt sends the same Idempotence-Key, so YooKassa answers with
the charge it made instead of charging twice."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.core.management import call_command

from billing.invoices.models import Invoice, InvoiceStatus, InvoiceType, Payment, PaymentStatus
from billing.subscriptions.models import Subscription
from plugins.yookassa.tests.test_refunds import pay_by_yookassa
from plugins.yookassa.tests.test_webhooks import deliver

pytestmark = pytest.mark.django_db

D = Decimal


def test_a_renewal_charge_that_timed_out_is_repeated_with_its_key_and_charged_once(
    yookassa_plugin, catalog, user_client, monkeypatch
):
    pay_by_yookassa(user_client, catalog, yookassa_plugin)
    subscription = Subscription.objects.get(user=user_client.user)
    end = subscription.expires_at
    with time_machine.travel(end - datetime.timedelta(days=2), tick=False):
        call_command("run_billing_jobs", stdout=None)
    renewal = Invoice.objects.get(subscription_id=subscription.pk, invoice_type=InvoiceType.RENEWAL)
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_TIMEOUT_SECONDS", "1")
    yookassa_plugin.clear_requests()
    yookassa_plugin.stall_next("POST", "/v3/payments", 2.0)

    # the charge at the period end: YooKassa charges, but its answer comes too late
    with time_machine.travel(end + datetime.timedelta(minutes=1), tick=False):
        call_command("run_billing_jobs", stdout=None)

    [unknown] = Payment.objects.filter(invoice=renewal)
    assert (unknown.status, unknown.idempotency_key) == (
        PaymentStatus.PENDING,
        f"renewal:{renewal.pk}:1",
    )
    renewal.refresh_from_db()
    assert renewal.status != InvoiceStatus.PAID

    # the next slot repeats that key: YooKassa answers with the charge it made
    with time_machine.travel(end + datetime.timedelta(days=1, minutes=2), tick=False):
        call_command("run_billing_jobs", stdout=None)

    calls = yookassa_plugin.calls("POST", "/v3/payments")
    assert [(c["idempotence_key"], c["replayed"]) for c in calls] == [
        (f"renewal:{renewal.pk}:1", False),
        (f"renewal:{renewal.pk}:1", True),
    ]
    [charge] = Payment.objects.filter(invoice=renewal)
    assert (charge.pk, charge.status, charge.amount) == (
        unknown.pk,
        PaymentStatus.CAPTURED,
        D("29.99"),
    )
    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.PAID
    # YooKassa's notification of that charge changes nothing more
    [notification] = [
        n
        for n in yookassa_plugin.outbox("payment.succeeded")
        if charge.external_id.encode() in n.body
    ]
    assert deliver(notification).json() == {"received": True}
    assert Payment.objects.filter(invoice=renewal).count() == 1
    assert len([p for p in calls if not p["replayed"]]) == 1
