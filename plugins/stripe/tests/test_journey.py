"""The whole paying life of a customer over HTTP against the Stripe-compatible server, whose
signed webhooks reach a live server: checkout, pay at Stripe, the webhook pays the invoice and
keeps the card; renewals are charged off-session by the billing jobs; a card that starts
declining ends in PAST_DUE and, after the grace period, EXPIRED."""

from __future__ import annotations

import datetime
import time
from decimal import Decimal

import pytest
import requests
import stripe
import time_machine
from django.core.management import call_command

from billing.invoices.models import Invoice, InvoiceStatus, InvoiceType, Payment, PaymentStatus
from billing.subscriptions.models import Subscription, SubscriptionStatus
from conftest import bearer
from tokens.models import TokenBalance, TokenTransaction

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

D = Decimal
CARD = "4242424242424242"


def _wait_for(check, *, seconds: float = 10.0, what: str = "condition"):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


class Customer:
    """A customer's app: every call goes through the live server."""

    def __init__(self, base: str, user):
        self.base = f"{base}/api/v1"
        self.http = requests.Session()
        self.http.trust_env = False
        self.http.headers["Authorization"] = bearer(user)["HTTP_AUTHORIZATION"]

    def post(self, path: str, body: dict | None = None) -> requests.Response:
        return self.http.post(f"{self.base}{path}", json=body or {}, timeout=20)

    def get(self, path: str) -> requests.Response:
        return self.http.get(f"{self.base}{path}", timeout=20)


@pytest.fixture
def shop(stripe_plugin, live_server):
    stripe_plugin.register_webhook(
        f"{live_server.url}/api/v1/plugins/stripe/webhook", "whsec_test_vbwd"
    )
    return stripe_plugin


def _checkout_and_pay(shop, live_server, catalog, user, *, card: str = CARD) -> dict:
    """Checkout of Pro + 1000 tokens with the stripe method, then the payment at Stripe the
    way the configured checkout mode asks for it. Returns the pay response."""
    pro, tokens = catalog
    customer = Customer(live_server.url, user)
    checkout = customer.post(
        "/user/checkout",
        {
            "plan_id": str(pro.pk),
            "token_bundle_ids": [str(tokens.pk)],
            "payment_method_code": "stripe",
        },
    )
    assert checkout.status_code == 201, checkout.text
    invoice = checkout.json()["invoice"]
    assert (invoice["status"], invoice["total_amount"]) == ("PENDING", "39.99")

    paid = customer.post(f"/user/invoices/{invoice['id']}/pay")
    assert paid.status_code == 200, paid.text
    start = paid.json()
    assert (start["action"], start["invoice"]["status"]) == ("REDIRECT", "PENDING")
    session = start["session"]
    assert session["provider"] == "stripe"
    if session["session_id"].startswith("cs_"):
        assert session["session_url"]
        assert session["client_secret"] is None
        status, body = shop.pay_session(session["session_id"], card_number=card)
        assert status == 200, body
    else:
        # Stripe.js confirming the Payment Element with the customer's card.
        assert session["session_url"] is None
        assert session["client_secret"]
        method = stripe.PaymentMethod.create(
            type="card", card={"number": card, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
        )
        stripe.PaymentIntent.confirm(session["session_id"], payment_method=method.id)
    return start


@pytest.mark.parametrize("mode", ["hosted", "elements"])
def test_checkout_pay_webhook_renew_off_session_and_decline_to_past_due(
    shop, live_server, catalog, mode
):
    from accounts.tests.factories import UserFactory

    shop.checkout_mode(mode)
    user = UserFactory(email="payer@example.com")

    start = _checkout_and_pay(shop, live_server, catalog, user)
    invoice_id = start["invoice"]["id"]

    # The signed webhook arrives at the live server and pays the invoice.
    invoice = _wait_for(
        lambda: Invoice.objects.filter(pk=invoice_id, status=InvoiceStatus.PAID).first(),
        what="the webhook to pay the invoice",
    )
    payment = Payment.objects.get(invoice=invoice, status=PaymentStatus.CAPTURED)
    assert payment.external_id.startswith("pi_")
    assert invoice.payment_ref == payment.external_id
    assert (payment.gateway, payment.amount, payment.currency) == ("stripe", D("39.99"), "EUR")
    subscription = Subscription.objects.get(user=user)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.saved_method_gateway == "stripe"
    assert subscription.saved_method_id.startswith("pm_")
    assert subscription.saved_method_customer.startswith("cus_")
    # 1000 bundle tokens and 500 plan tokens, each credited once.
    assert TokenBalance.objects.get(user=user).balance == 1500
    assert TokenTransaction.objects.filter(user=user).count() == 2

    # Both of Stripe's events for the payment have been seen; nothing more happened.
    time.sleep(0.5)
    assert Payment.objects.filter(invoice=invoice, status=PaymentStatus.CAPTURED).count() == 1
    assert TokenBalance.objects.get(user=user).balance == 1500

    # The first renewal is issued ahead of the end and charged off-session at the end.
    end = subscription.expires_at
    with time_machine.travel(end - datetime.timedelta(days=2), tick=False):
        call_command("run_billing_jobs", stdout=None)
    renewal = Invoice.objects.get(subscription_id=subscription.pk, invoice_type=InvoiceType.RENEWAL)
    assert (renewal.status, renewal.total_amount) == (InvoiceStatus.PENDING, D("29.99"))
    with time_machine.travel(end + datetime.timedelta(minutes=1), tick=False):
        call_command("run_billing_jobs", stdout=None)
    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.PAID
    charge = Payment.objects.get(invoice=renewal, status=PaymentStatus.CAPTURED)
    assert charge.external_id.startswith("pi_")
    assert charge.idempotency_key == f"renewal:{renewal.pk}:1"
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.expires_at > end
    assert TokenBalance.objects.get(user=user).balance == 2000
    intent = stripe.PaymentIntent.retrieve(charge.external_id)
    assert (intent.status, intent.amount, intent.customer, intent.payment_method) == (
        "succeeded",
        2999,
        subscription.saved_method_customer,
        subscription.saved_method_id,
    )

    # The kept card starts declining: the next renewal's charges fail, the subscription runs
    # into PAST_DUE at its end and EXPIRED after the grace period (7 days by default).
    shop.decline_from_now_on(subscription.saved_method_id)
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
    assert second.status == InvoiceStatus.OVERDUE  # due at the period end, still payable
    declined = Payment.objects.get(invoice=second)
    assert (declined.status, declined.failure_reason) == (
        PaymentStatus.FAILED,
        "Your card was declined.",
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
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.PAST_DUE
    with time_machine.travel(second_end + datetime.timedelta(days=7, minutes=2), tick=False):
        call_command("run_billing_jobs", stdout=None)
    subscription.refresh_from_db()
    second.refresh_from_db()
    assert (subscription.status, second.status) == (
        SubscriptionStatus.EXPIRED,
        InvoiceStatus.CANCELLED,
    )
