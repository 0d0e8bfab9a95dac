"""The whole paying life of a customer over HTTP against the YooKassa-compatible server, whose
signed notifications reach a live server: checkout, confirmation on YooKassa's page, the
notification (read back from the API) pays the invoice and keeps the payment method, the return
to the shop reads the session; renewals are charged off-session by the billing jobs with the
kept method; a method that starts declining ends in PAST_DUE and, after the grace period,
EXPIRED."""

from __future__ import annotations

import datetime
import time
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import time_machine
from django.core.management import call_command

from billing.invoices.models import Invoice, InvoiceStatus, InvoiceType, Payment, PaymentStatus
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


class Customer:
    """A customer's app and browser: every call goes over HTTP."""

    def __init__(self, base: str, user):
        self.base = f"{base}/api/v1"
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers["Authorization"] = bearer(user)["HTTP_AUTHORIZATION"]

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        return self.http.post(f"{self.base}{path}", json=body or {}, timeout=20)

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base}{path}", timeout=20)

    def visit(self, url: str) -> requests.Response:
        with requests.Session() as browser:
            browser.trust_env = False
            return browser.get(url, allow_redirects=False, timeout=20)


def test_checkout_confirm_notify_renew_off_session_and_decline_to_past_due(
    yookassa_plugin, live_url, catalog
):
    from accounts.tests.factories import UserFactory

    yookassa_plugin.webhook_url = f"{live_url}/api/v1/plugins/yookassa/webhook"
    user = UserFactory(email="payer@example.com")
    customer = Customer(live_url, user)
    pro, tokens = catalog

    # checkout and pay: a redirect to YooKassa
    checkout = customer.post(
        "/user/checkout",
        {
            "plan_id": str(pro.pk),
            "token_bundle_ids": [str(tokens.pk)],
            "payment_method_code": "yookassa",
        },
    )
    assert checkout.status_code == 201, checkout.text
    invoice_id = checkout.json()["invoice"]["id"]
    paid = customer.post(f"/user/invoices/{invoice_id}/pay")
    assert paid.status_code == 200, paid.text
    start = paid.json()
    assert (start["action"], start["invoice"]["status"]) == ("REDIRECT", "PENDING")
    session = start["session"]
    assert session["provider"] == "yookassa"
    assert session["client_secret"] is None

    # the customer confirms on YooKassa's page and is sent back to the shop
    page = customer.visit(session["session_url"])
    assert page.status_code == 302
    back = urlsplit(page.headers["Location"])
    assert back.path == "/pay/yookassa/success"
    returned_id = parse_qs(back.query)["session_id"][0]

    # YooKassa's notification reaches the live server and pays the invoice
    invoice = _wait_for(
        lambda: Invoice.objects.filter(pk=invoice_id, status=InvoiceStatus.PAID).first(),
        what="the notification to pay the invoice",
    )
    status = customer.get(f"/plugins/yookassa/session-status/{returned_id}")
    assert status.status_code == 200, status.text
    assert (status.json()["status"], status.json()["invoice_status"]) == ("complete", "PAID")

    payment = Payment.objects.get(invoice=invoice, status=PaymentStatus.CAPTURED)
    assert str(payment.pk) == returned_id
    assert payment.external_id == session["session_id"]
    assert (payment.gateway, payment.amount, payment.currency) == ("yookassa", D("39.99"), "EUR")
    assert invoice.payment_ref == payment.external_id
    subscription = Subscription.objects.get(user=user)
    assert subscription.status == SubscriptionStatus.ACTIVE
    kept = yookassa_plugin.payment(session["session_id"])["payment_method"]
    assert kept["saved"] is True
    assert (subscription.saved_method_gateway, subscription.saved_method_id) == (
        "yookassa",
        kept["id"],
    )
    # 1000 bundle tokens and 500 plan tokens, each credited once
    assert TokenBalance.objects.get(user=user).balance == 1500
    assert TokenTransaction.objects.filter(user=user).count() == 2
    assert Payment.objects.filter(invoice=invoice).count() == 1

    # the first renewal is issued ahead of the end and charged off-session at the end
    end = subscription.expires_at
    with time_machine.travel(end - datetime.timedelta(days=2), tick=False):
        call_command("run_billing_jobs", stdout=None)
    renewal = Invoice.objects.get(subscription_id=subscription.pk, invoice_type=InvoiceType.RENEWAL)
    assert (renewal.status, renewal.total_amount) == (InvoiceStatus.PENDING, D("29.99"))
    yookassa_plugin.clear_requests()
    with time_machine.travel(end + datetime.timedelta(minutes=1), tick=False):
        call_command("run_billing_jobs", stdout=None)
    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.PAID
    charge = Payment.objects.get(invoice=renewal, status=PaymentStatus.CAPTURED)
    assert charge.idempotency_key == f"renewal:{renewal.pk}:1"
    [call] = yookassa_plugin.calls("POST", "/v3/payments")
    assert call["idempotence_key"] == f"renewal:{renewal.pk}:1"
    assert call["body"]["payment_method_id"] == kept["id"]
    assert call["body"]["amount"] == {"value": "29.99", "currency": "EUR"}
    assert "confirmation" not in call["body"]
    assert yookassa_plugin.payment(charge.external_id)["status"] == "succeeded"
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.expires_at > end
    assert TokenBalance.objects.get(user=user).balance == 2000
    # the renewal's own notification arrives too and changes nothing
    time.sleep(0.5)
    assert Payment.objects.filter(invoice=renewal).count() == 1
    assert TokenBalance.objects.get(user=user).balance == 2000

    # the kept method starts declining: the next renewal runs into PAST_DUE at its end and
    # EXPIRED after the grace period (7 days by default), retried on days 1, 3 and 5
    yookassa_plugin.decline(kept["id"])
    second_end = subscription.expires_at
    with time_machine.travel(second_end - datetime.timedelta(days=2), tick=False):
        call_command("run_billing_jobs", stdout=None)
    with time_machine.travel(second_end + datetime.timedelta(minutes=1), tick=False):
        call_command("run_billing_jobs", stdout=None)
    second = Invoice.objects.get(
        subscription_id=subscription.pk,
        invoice_type=InvoiceType.RENEWAL,
        period_start=second_end,
    )
    assert second.status == InvoiceStatus.OVERDUE
    declined = Payment.objects.get(invoice=second)
    assert (declined.status, declined.failure_reason) == (
        PaymentStatus.FAILED,
        "YooKassa: card_expired",
    )
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PAST_DUE
    for day in (1, 3, 5):
        with time_machine.travel(second_end + datetime.timedelta(days=day, minutes=2), tick=False):
            call_command("run_billing_jobs", stdout=None)
    assert (
        list(
            Payment.objects.filter(invoice=second)
            .order_by("created_at")
            .values_list("status", flat=True)
        )
        == [PaymentStatus.FAILED] * 4
    )
    keys = [c["idempotence_key"] for c in yookassa_plugin.calls("POST", "/v3/payments")][1:]
    assert keys == [f"renewal:{second.pk}:{attempt}" for attempt in (1, 2, 3, 4)]
    with time_machine.travel(second_end + datetime.timedelta(days=7, minutes=2), tick=False):
        call_command("run_billing_jobs", stdout=None)
    subscription.refresh_from_db()
    second.refresh_from_db()
    assert (subscription.status, second.status) == (
        SubscriptionStatus.EXPIRED,
        InvoiceStatus.CANCELLED,
    )
