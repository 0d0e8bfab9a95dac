"""YooKassa sessions and notifications against the YooKassa-compatible server: what YooKassa
receives (amounts, idempotence keys), what its signed notifications do once read back from its
API, what is refused with nothing changed, and exactly-once capture under concurrent delivery."""

from __future__ import annotations

import uuid
from decimal import Decimal

import pytest
import requests
from django.db import connection
from rest_framework.test import APIClient

from billing.catalog.models import PaymentMethod
from billing.invoices.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    ProviderEvent,
    ProviderEventStatus,
)
from billing.invoices.signals import payment_captured
from billing.subscriptions.models import Subscription, SubscriptionStatus
from plugins.yookassa.tests.conftest import WAIT_SECONDS, checkout_with_yookassa
from tests.support.race import run_together
from tokens.models import TokenBalance, TokenTransaction

pytestmark = pytest.mark.django_db

D = Decimal
API = "/api/v1"
WEBHOOK = f"{API}/plugins/yookassa/webhook"


@pytest.fixture
def captured_signals():
    seen: list = []

    def receiver(sender, invoice, payment, **kwargs):
        seen.append(payment.pk)

    payment_captured.connect(receiver, weak=False, dispatch_uid="yookassa.captured")
    yield seen
    payment_captured.disconnect(dispatch_uid="yookassa.captured")


def open_session(client, invoice_id: str) -> dict:
    response = client.post(
        f"{API}/plugins/yookassa/create-session", {"invoice_id": invoice_id}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def deliver(notification, signature: str | None = None):
    headers = {}
    signature = notification.signature if signature is None else signature
    if signature:
        headers["HTTP_X_YOOKASSA_SIGNATURE"] = signature
    return APIClient().post(
        WEBHOOK, data=notification.body, content_type="application/json", **headers
    )


def assert_nothing_changed(invoice_id: str) -> None:
    invoice = Invoice.objects.get(pk=invoice_id)
    assert (invoice.status, invoice.needs_review) == (InvoiceStatus.PENDING, False)
    assert not Payment.objects.filter(invoice=invoice, status=PaymentStatus.CAPTURED).exists()
    assert ProviderEvent.objects.count() == 0


# --- sessions ----------------------------------------------------------------------------------


def test_create_session_sends_the_total_and_the_claims_key_and_keeps_the_method(
    yookassa_plugin, catalog, user_client
):
    invoice = checkout_with_yookassa(user_client, catalog)

    session = open_session(user_client, invoice["id"])

    claim = Payment.objects.get(invoice_id=invoice["id"])
    assert (claim.status, claim.gateway, claim.session_id) == (
        PaymentStatus.PENDING,
        "yookassa",
        session["session_id"],
    )
    assert session["provider"] == "yookassa"
    assert session["payment_id"] == str(claim.pk)
    assert session["saves_payment_method"] is True  # Pro renews monthly
    assert session["client_secret"] is None
    assert session["session_url"] == f"{yookassa_plugin.root}/checkout/{session['session_id']}"
    [call] = yookassa_plugin.calls("POST", "/v3/payments")
    assert call["idempotence_key"] == f"session:{claim.pk}"
    body = call["body"]
    assert body["amount"] == {"value": "39.99", "currency": "EUR"}
    assert (body["capture"], body["save_payment_method"]) == (True, True)
    assert body["confirmation"]["type"] == "redirect"
    assert body["confirmation"]["return_url"] == (
        f"http://localhost:5173/pay/yookassa/success?session_id={claim.pk}"
    )
    assert body["metadata"]["invoice_id"] == invoice["id"]
    assert body["metadata"]["payment_id"] == str(claim.pk)

    # the same invoice asks again: the open session is handed out, YooKassa is not asked
    again = open_session(user_client, invoice["id"])
    assert again["session_id"] == session["session_id"]
    assert len(yookassa_plugin.calls("POST", "/v3/payments")) == 1


def test_a_client_key_too_long_for_yookassa_is_sent_as_its_sha256(
    yookassa_plugin, catalog, user_client
):
    import hashlib

    invoice = checkout_with_yookassa(user_client, catalog)

    response = user_client.post(
        f"{API}/plugins/yookassa/create-session",
        {"invoice_id": invoice["id"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY="checkout-" + "k" * 40,
    )

    assert response.status_code == 200, response.content
    claim = Payment.objects.get(invoice_id=invoice["id"])
    assert claim.idempotency_key == f"{user_client.user.pk}:checkout-{'k' * 40}"
    [call] = yookassa_plugin.calls("POST", "/v3/payments")
    assert call["idempotence_key"] == hashlib.sha256(claim.idempotency_key.encode()).hexdigest()


def test_a_one_time_purchase_does_not_ask_to_keep_the_method(yookassa_plugin, user_client, db):
    from tokens.tests.factories import TokenBundleFactory

    bundle = TokenBundleFactory(token_amount=100, price=D("5.00"))
    checkout = user_client.post(
        f"{API}/user/checkout",
        {"token_bundle_ids": [str(bundle.pk)], "payment_method_code": "yookassa"},
        format="json",
    )
    assert checkout.status_code == 201, checkout.content

    session = open_session(user_client, checkout.json()["invoice"]["id"])

    assert session["saves_payment_method"] is False
    [call] = yookassa_plugin.calls("POST", "/v3/payments")
    assert "save_payment_method" not in call["body"]
    assert call["body"]["amount"] == {"value": "5.00", "currency": "EUR"}


def test_a_currency_yookassa_does_not_take_is_refused_before_any_call(yookassa_plugin, user_client):
    from billing.catalog.tests.factories_geography import CurrencyFactory
    from billing.invoices.tests.factories import custom_draft, issue_invoice

    method = PaymentMethod.objects.get(code="yookassa")
    issued = issue_invoice(
        user_client.user,
        [custom_draft("10.00")],
        payment_method=method,
        currency=CurrencyFactory(code="GBP"),
    )
    invoice = {"id": str(issued.pk)}

    response = user_client.post(
        f"{API}/plugins/yookassa/create-session", {"invoice_id": invoice["id"]}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "Currency GBP is not supported by yookassa",
        "code": "item_unavailable",
    }
    assert yookassa_plugin.requests() == []


def test_session_status_by_the_claim_id_in_the_return_url_captures_a_confirmed_payment(
    yookassa_plugin, catalog, user_client
):
    invoice = checkout_with_yookassa(user_client, catalog)
    session = open_session(user_client, invoice["id"])
    yookassa_plugin.confirm(session["session_id"])

    # the customer comes back to ?session_id=<our payment id> (no notification arrived yet)
    back = user_client.get(f"{API}/plugins/yookassa/session-status/{session['payment_id']}")

    assert back.status_code == 200, back.content
    assert back.json() == {
        "session_id": session["session_id"],
        "status": "complete",
        "payment_status": "succeeded",
        "invoice_id": invoice["id"],
        "invoice_status": "PAID",
        "amount_total": "39.99",
        "currency": "EUR",
    }
    payment = Payment.objects.get(invoice_id=invoice["id"])
    assert (payment.status, payment.external_id) == (
        PaymentStatus.CAPTURED,
        session["session_id"],
    )
    subscription = Subscription.objects.get(user=user_client.user)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.saved_method_gateway == "yookassa"
    assert (
        subscription.saved_method_id
        == yookassa_plugin.payment(session["session_id"])["payment_method"]["id"]
    )

    # by YooKassa's id too, and another user's or an unknown session is 404
    again = user_client.get(f"{API}/plugins/yookassa/session-status/{session['session_id']}")
    assert again.json()["status"] == "complete"
    assert Payment.objects.filter(invoice_id=invoice["id"]).count() == 1
    from accounts.tests.factories import UserFactory
    from conftest import bearer

    stranger = APIClient()
    stranger.credentials(**bearer(UserFactory()))
    for session_id in (session["session_id"], session["payment_id"], str(uuid.uuid4())):
        response = stranger.get(f"{API}/plugins/yookassa/session-status/{session_id}")
        assert response.status_code == 404
        assert response.json() == {"error": "Session not found", "code": "not_found"}


def test_a_canceled_confirmation_reads_back_failed_and_leaves_the_invoice_payable(
    yookassa_plugin, catalog, user_client
):
    invoice = checkout_with_yookassa(user_client, catalog)
    session = open_session(user_client, invoice["id"])
    yookassa_plugin.confirm(session["session_id"], cancel=True)

    assert deliver(yookassa_plugin.outbox("payment.canceled")[0]).json() == {"received": True}

    payment = Payment.objects.get(invoice_id=invoice["id"])
    assert (payment.status, payment.failure_reason) == (
        PaymentStatus.FAILED,
        "YooKassa: canceled_by_merchant",
    )
    assert Invoice.objects.get(pk=invoice["id"]).status == InvoiceStatus.PENDING
    back = user_client.get(f"{API}/plugins/yookassa/session-status/{session['session_id']}")
    assert (back.json()["status"], back.json()["invoice_status"]) == ("failed", "PENDING")


# --- notifications -----------------------------------------------------------------------------


def test_a_succeeded_notification_is_read_back_and_captures_once(
    yookassa_plugin, catalog, user_client
):
    invoice = checkout_with_yookassa(user_client, catalog)
    session = open_session(user_client, invoice["id"])
    yookassa_plugin.confirm(session["session_id"])
    [notification] = yookassa_plugin.outbox("payment.succeeded")
    yookassa_plugin.clear_requests()

    assert deliver(notification).json() == {"received": True}
    assert deliver(notification).json() == {"received": True, "duplicate": True}

    # YooKassa was asked about the payment once, before anything was done
    assert [(r["method"], r["path"]) for r in yookassa_plugin.requests()] == [
        ("GET", f"/v3/payments/{session['session_id']}")
    ]
    event = ProviderEvent.objects.get()
    assert (event.provider, event.event_id, event.status) == (
        "yookassa",
        f"payment.succeeded:{session['session_id']}",
        ProviderEventStatus.PROCESSED,
    )
    payment = Payment.objects.get(invoice_id=invoice["id"])
    assert (payment.status, payment.external_id, payment.amount, payment.currency) == (
        PaymentStatus.CAPTURED,
        session["session_id"],
        D("39.99"),
        "EUR",
    )
    assert Invoice.objects.get(pk=invoice["id"]).status == InvoiceStatus.PAID
    assert TokenBalance.objects.get(user=user_client.user).balance == 1500
    assert TokenTransaction.objects.filter(user=user_client.user).count() == 2


def test_a_notification_yookassa_does_not_confirm_changes_nothing(
    yookassa_plugin, catalog, user_client
):
    # a correctly signed "succeeded" for a payment YooKassa still has pending
    invoice = checkout_with_yookassa(user_client, catalog)
    session = open_session(user_client, invoice["id"])
    pending = yookassa_plugin.payment(session["session_id"])
    forged = {**pending, "status": "succeeded", "paid": True}
    forged.pop("_save", None)

    response = deliver(yookassa_plugin.notification("payment.succeeded", forged))

    assert response.json() == {"received": True}
    invoice_row = Invoice.objects.get(pk=invoice["id"])
    assert (invoice_row.status, invoice_row.needs_review) == (InvoiceStatus.PENDING, False)
    assert Payment.objects.get(invoice=invoice_row).status == PaymentStatus.PENDING


@pytest.mark.parametrize(
    "signature",
    ["", "0" * 64, "wrong-secret"],
    ids=["missing", "mismatch", "signed-with-another-secret"],
)
def test_a_notification_whose_hmac_does_not_match_is_400_and_stores_nothing(
    yookassa_plugin, catalog, user_client, signature
):
    invoice = checkout_with_yookassa(user_client, catalog)
    session = open_session(user_client, invoice["id"])
    yookassa_plugin.confirm(session["session_id"])
    [notification] = yookassa_plugin.outbox("payment.succeeded")
    if signature == "wrong-secret":
        resigned = yookassa_plugin.sign(
            __import__("json").loads(notification.body), secret="another"
        )
        signature = resigned.signature
    yookassa_plugin.clear_requests()

    response = APIClient().post(
        WEBHOOK,
        data=notification.body,
        content_type="application/json",
        **({"HTTP_X_YOOKASSA_SIGNATURE": signature} if signature else {}),
    )

    assert response.status_code == 400
    assert response.json() == {"error": "Invalid signature", "code": "invalid_signature"}
    assert_nothing_changed(invoice["id"])
    assert yookassa_plugin.requests() == []


def test_without_a_webhook_secret_the_webhook_is_503_and_stores_nothing(
    yookassa_plugin, catalog, user_client, monkeypatch
):
    invoice = checkout_with_yookassa(user_client, catalog)
    session = open_session(user_client, invoice["id"])
    yookassa_plugin.confirm(session["session_id"])
    [notification] = yookassa_plugin.outbox("payment.succeeded")
    monkeypatch.delenv("VBWD_PLUGIN_YOOKASSA_WEBHOOK_SECRET")
    yookassa_plugin.clear_requests()

    response = deliver(notification)

    assert response.status_code == 503
    assert response.json() == {
        "error": "Webhook secret is not configured",
        "code": "service_unavailable",
    }
    assert_nothing_changed(invoice["id"])
    assert yookassa_plugin.requests() == []


def test_a_payment_whose_amount_differs_is_recorded_and_flagged_not_paid(
    yookassa_plugin, catalog, user_client
):
    # a payment at YooKassa naming our claim, but of another amount than the invoice's
    invoice = checkout_with_yookassa(user_client, catalog)
    session = open_session(user_client, invoice["id"])
    claim = Payment.objects.get(invoice_id=invoice["id"])
    other = requests.post(
        f"{yookassa_plugin.url}/payments",
        json={
            "amount": {"value": "1.00", "currency": "EUR"},
            "capture": True,
            "confirmation": {"type": "redirect", "return_url": "https://shop.example/back"},
            "metadata": {"invoice_id": invoice["id"], "payment_id": str(claim.pk)},
        },
        auth=(yookassa_plugin.shop_id, yookassa_plugin.secret_key),
        headers={"Idempotence-Key": "someone-else"},
        timeout=5,
    ).json()
    yookassa_plugin.confirm(other["id"])
    [notification] = yookassa_plugin.outbox("payment.succeeded")

    assert deliver(notification).json() == {"received": True}

    invoice_row = Invoice.objects.get(pk=invoice["id"])
    assert invoice_row.status == InvoiceStatus.PENDING
    assert invoice_row.needs_review is True
    recorded = Payment.objects.get(invoice=invoice_row, external_id=other["id"])
    # the money YooKassa took is recorded on the claim it names; the invoice waits for staff
    assert (recorded.pk, recorded.status, recorded.amount) == (
        claim.pk,
        PaymentStatus.CAPTURED,
        D("1.00"),
    )
    assert invoice_row.review_reason == (
        f"Captured 1.00 EUR via yookassa ({other['id']}) does not match the invoice total 39.99 EUR"
    )
    assert session["session_id"] != other["id"]


def test_enabling_registers_the_method_and_disabling_closes_the_routes(
    yookassa_plugin, user_client
):
    from plugins.services import plugin_disable

    method = PaymentMethod.objects.get(code="yookassa")
    assert (method.plugin_id, method.name) == ("yookassa", "YooKassa")

    plugin_disable(name="yookassa")

    response = APIClient().post(WEBHOOK, data=b"{}", content_type="application/json")
    assert response.status_code == 404
    assert response.json() == {"error": "Plugin 'yookassa' is not enabled", "code": "not_found"}


# --- exactly once ------------------------------------------------------------------------------


def _post_live(url: str, notification) -> tuple[int, dict]:
    with requests.Session() as http:
        http.trust_env = False
        response = http.post(
            url, data=notification.body, headers=notification.headers, timeout=WAIT_SECONDS
        )
    return response.status_code, response.json()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_deliveries_of_one_notification_capture_once(
    yookassa_plugin, catalog, live_url, captured_signals
):
    from accounts.tests.factories import UserFactory
    from conftest import bearer

    deliveries = 50
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity"
        )
        free = cursor.fetchone()[0]
    assert free > deliveries + 5, f"PostgreSQL has only {free} free connections"
    user = UserFactory()
    client = APIClient()
    client.credentials(**bearer(user))
    invoice = checkout_with_yookassa(client, catalog)
    session = open_session(client, invoice["id"])
    yookassa_plugin.confirm(session["session_id"])
    [notification] = yookassa_plugin.outbox("payment.succeeded")
    url = f"{live_url}{WEBHOOK}"

    answers = run_together(
        [lambda: _post_live(url, notification)] * deliveries, timeout=WAIT_SECONDS
    )

    assert [a for a in answers if isinstance(a, Exception)] == []
    assert sorted(answers, key=lambda answer: len(answer[1])) == [(200, {"received": True})] + [
        (200, {"received": True, "duplicate": True})
    ] * (deliveries - 1)
    event = ProviderEvent.objects.get()
    assert (event.status, event.attempts) == (ProviderEventStatus.PROCESSED, 1)
    [payment] = Payment.objects.filter(invoice_id=invoice["id"])
    assert (payment.status, payment.external_id) == (
        PaymentStatus.CAPTURED,
        session["session_id"],
    )
    assert Invoice.objects.get(pk=invoice["id"]).status == InvoiceStatus.PAID
    assert TokenBalance.objects.get(user=user).balance == 1500
    assert TokenTransaction.objects.filter(user=user).count() == 2
    assert captured_signals == [payment.pk]


# --- provider timeouts -------------------------------------------------------------------------


def test_a_create_session_timeout_leaves_one_claim_and_the_retry_sends_the_same_key(
    yookassa_plugin, catalog, user_client, monkeypatch
):
    monkeypatch.setenv("VBWD_PLUGIN_YOOKASSA_TIMEOUT_SECONDS", "1")
    invoice = checkout_with_yookassa(user_client, catalog)
    yookassa_plugin.stall_next("POST", "/v3/payments", 2.0)

    first = user_client.post(
        f"{API}/plugins/yookassa/create-session", {"invoice_id": invoice["id"]}, format="json"
    )

    assert first.status_code == 502
    assert first.json()["code"] == "provider_error"
    assert first.json()["error"].startswith("Payment provider error: YooKassa did not answer")
    [claim] = Payment.objects.filter(invoice_id=invoice["id"])
    assert (claim.status, claim.session_id) == (PaymentStatus.PENDING, None)

    second = open_session(user_client, invoice["id"])

    calls = yookassa_plugin.calls("POST", "/v3/payments")
    assert [(c["idempotence_key"], c["replayed"]) for c in calls] == [
        (f"session:{claim.pk}", False),
        (f"session:{claim.pk}", True),
    ]
    [claim] = Payment.objects.filter(invoice_id=invoice["id"])
    assert claim.session_id == second["session_id"]
    assert str(claim.pk) == second["payment_id"]
