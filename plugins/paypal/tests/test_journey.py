"""The whole paying life of a PayPal customer over HTTP against the PayPal-compatible server,
whose verified webhooks reach a live server: checkout, approval at PayPal, the approval's
webhook captures the order, the customer's app captures it again (same answer) and reads the
session; PayPal keeps no payment method, so the renewal waits for the customer."""

from __future__ import annotations

import datetime
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import time_machine
from django.core.management import call_command

from billing.invoices.models import (
    Invoice,
    InvoiceStatus,
    InvoiceType,
    Payment,
    PaymentStatus,
    ProviderEvent,
    ProviderEventStatus,
)
from billing.subscriptions.models import Subscription, SubscriptionStatus
from conftest import bearer
from tokens.models import TokenBalance, TokenTransaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

D = Decimal


def _wait_for(check, *, seconds: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_checkout_approve_webhook_capture_order_and_status_pay_once(
    paypal_plugin, live_url, catalog
):
    from accounts.tests.factories import UserFactory

    paypal_plugin.webhook_url = f"{live_url}/api/v1/plugins/paypal/webhook"
    user = UserFactory(email="payer@example.com")
    app = requests.Session()
    app.trust_env = False
    app.headers["Authorization"] = bearer(user)["HTTP_AUTHORIZATION"]
    api = f"{live_url}/api/v1"
    pro, tokens = catalog

    checkout = app.post(
        f"{api}/user/checkout",
        json={
            "plan_id": str(pro.pk),
            "token_bundle_ids": [str(tokens.pk)],
            "payment_method_code": "paypal",
        },
        timeout=20,
    )
    assert checkout.status_code == 201, checkout.text
    invoice_id = checkout.json()["invoice"]["id"]
    paid = app.post(f"{api}/user/invoices/{invoice_id}/pay", json={}, timeout=20)
    assert paid.status_code == 200, paid.text
    start = paid.json()
    assert (start["action"], start["invoice"]["status"]) == ("REDIRECT", "PENDING")
    session = start["session"]
    assert (session["provider"], session["client_secret"]) == ("paypal", None)

    # the payer approves at PayPal and comes back with PayPal's token (the order id)
    with requests.Session() as browser:
        browser.trust_env = False
        page = browser.get(session["session_url"], allow_redirects=False, timeout=20)
    assert page.status_code == 302
    back = urlsplit(page.headers["Location"])
    query = parse_qs(back.query)
    assert back.path == "/pay/paypal/success"
    assert query["token"] == [session["session_id"]]
    claim_id = query["session_id"][0]

    # the approval's webhook captures the order; the capture's webhook follows
    invoice = _wait_for(
        lambda: Invoice.objects.filter(pk=invoice_id, status=InvoiceStatus.PAID).first(),
        what="the webhook to pay the invoice",
    )
    _wait_for(
        lambda: ProviderEvent.objects.filter(status=ProviderEventStatus.PROCESSED).count() == 2,
        what="both webhooks to be processed",
    )

    # the customer's app captures the order too and reads the session: the same capture
    captured = app.post(
        f"{api}/plugins/paypal/capture-order", json={"order_id": query["token"][0]}, timeout=20
    )
    [capture] = paypal_plugin.captures()
    assert (captured.status_code, captured.json()) == (
        200,
        {
            "status": "COMPLETED",
            "invoice_id": invoice_id,
            "invoice_status": "PAID",
            "capture_id": capture["id"],
        },
    )
    status = app.get(f"{api}/plugins/paypal/session-status/{claim_id}", timeout=20)
    assert (status.json()["status"], status.json()["invoice_status"]) == ("complete", "PAID")

    [payment] = Payment.objects.filter(invoice=invoice)
    assert (str(payment.pk), payment.status, payment.external_id) == (
        claim_id,
        PaymentStatus.CAPTURED,
        capture["id"],
    )
    assert (payment.amount, payment.currency) == (D("39.99"), "EUR")
    assert invoice.payment_ref == capture["id"]
    subscription = Subscription.objects.get(user=user)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert (subscription.saved_method_gateway, subscription.saved_method_id) == (None, None)
    assert TokenBalance.objects.get(user=user).balance == 1500
    assert TokenTransaction.objects.filter(user=user).count() == 2
    creates = paypal_plugin.calls("POST", "/v2/checkout/orders")
    assert [c["paypal_request_id"] for c in creates] == [f"session:{claim_id}"]

    # the renewal is issued and waits for the customer: nothing is charged at PayPal
    paypal_plugin.clear_requests()
    end = subscription.expires_at
    for moment in (end - datetime.timedelta(days=2), end + datetime.timedelta(minutes=1)):
        with time_machine.travel(moment, tick=False):
            call_command("run_billing_jobs", stdout=None)
    renewal = Invoice.objects.get(subscription_id=subscription.pk, invoice_type=InvoiceType.RENEWAL)
    subscription.refresh_from_db()
    assert (renewal.status, renewal.total_amount) == (InvoiceStatus.OVERDUE, D("29.99"))
    assert subscription.status == SubscriptionStatus.PAST_DUE
    assert not Payment.objects.filter(invoice=renewal).exists()
    assert paypal_plugin.requests() == []
