"""PayPal orders, captures, webhooks and refunds against the PayPal-compatible server: what PayPal
receives (amounts, lines, PayPal-Request-Id), capture exactly once whoever asks, verification by
PayPal's own call, refusals with nothing changed, timeouts retried with the same request id."""

from __future__ import annotations

import json
import uuid
from decimal import Decimal

import pytest
import requests
from django.db import connection
from rest_framework.test import APIClient

from accounts.tests.factories import UserFactory
from billing.catalog.models import PaymentMethod
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
from conftest import bearer
from plugins.paypal.tests.conftest import WEBHOOK_ID, checkout_with_paypal
from tests.support.race import run_together
from tokens.models import TokenBalance, TokenTransaction

pytestmark = pytest.mark.django_db

D = Decimal
API = "/api/v1"
WEBHOOK = f"{API}/plugins/paypal/webhook"
WAIT_SECONDS = 30


def open_order(client, invoice_id: str, route: str = "create-session") -> dict:
    response = client.post(
        f"{API}/plugins/paypal/{route}", {"invoice_id": invoice_id}, format="json"
    )
    assert response.status_code == 200, response.content
    return response.json()


def capture_order(client, order_id):
    return client.post(f"{API}/plugins/paypal/capture-order", {"order_id": order_id}, format="json")


def deliver(delivery, *, body: bytes | None = None, headers: dict | None = None):
    sent = headers if headers is not None else delivery.headers
    extra = {
        f"HTTP_{name.upper().replace('-', '_')}": value
        for name, value in sent.items()
        if name.lower() != "content-type"
    }
    return APIClient().post(
        WEBHOOK,
        data=delivery.body if body is None else body,
        content_type="application/json",
        **extra,
    )


def paid_once(invoice_id: str, server, user) -> Payment:
    """The invoice is PAID by one captured payment, PayPal made one capture, and the lines were
    activated once."""
    invoice = Invoice.objects.get(pk=invoice_id)
    [payment] = Payment.objects.filter(invoice=invoice)
    [capture] = server.captures()
    assert (payment.status, payment.external_id, payment.amount, payment.currency) == (
        PaymentStatus.CAPTURED,
        capture["id"],
        D("39.99"),
        "EUR",
    )
    assert (invoice.status, invoice.payment_ref, invoice.needs_review) == (
        InvoiceStatus.PAID,
        capture["id"],
        False,
    )
    assert TokenBalance.objects.get(user=user).balance == 1500
    assert TokenTransaction.objects.filter(user=user).count() == 2
    return payment


# --- orders --------------------------------------------------------------------------------------


@pytest.mark.parametrize("route", ["create-session", "create-order"])
def test_an_order_of_the_total_with_its_lines_and_the_claims_request_id(
    paypal_plugin, catalog, user_client, route
):
    invoice = checkout_with_paypal(user_client, catalog)

    session = open_order(user_client, invoice["id"], route)

    claim = Payment.objects.get(invoice_id=invoice["id"])
    assert (claim.status, claim.session_id) == (PaymentStatus.PENDING, session["session_id"])
    assert session["session_url"] == f"{paypal_plugin.url}/checkoutnow?token={claim.session_id}"
    assert (session["provider"], session["saves_payment_method"], session["client_secret"]) == (
        "paypal",
        False,
        None,
    )
    [call] = paypal_plugin.calls("POST", "/v2/checkout/orders")
    assert call["paypal_request_id"] == f"session:{claim.pk}"
    [unit] = call["body"]["purchase_units"]
    assert unit["amount"] == {
        "currency_code": "EUR",
        "value": "39.99",
        "breakdown": {"item_total": {"currency_code": "EUR", "value": "39.99"}},
    }
    assert sorted((i["name"], i["unit_amount"]["value"], i["quantity"]) for i in unit["items"]) == [
        ("1000 Tokens", "10.00", "1"),
        ("Pro (monthly)", "29.99", "1"),
    ]
    assert (unit["custom_id"], unit["invoice_id"]) == (str(claim.pk), invoice["id"])
    context = call["body"]["payment_source"]["paypal"]["experience_context"]
    assert context["return_url"] == (
        f"http://localhost:5173/pay/paypal/success?session_id={claim.pk}"
    )
    assert (
        context["cancel_url"] == f"http://localhost:5173/pay/paypal/cancel?invoice={invoice['id']}"
    )
    assert call["body"]["intent"] == "CAPTURE"


def test_a_client_key_too_long_for_paypal_is_sent_as_its_sha256(
    paypal_plugin, catalog, user_client
):
    import hashlib

    invoice = checkout_with_paypal(user_client, catalog)
    client_key = "k" * 100

    response = user_client.post(
        f"{API}/plugins/paypal/create-session",
        {"invoice_id": invoice["id"]},
        format="json",
        HTTP_IDEMPOTENCY_KEY=client_key,
    )

    assert response.status_code == 200, response.content
    claim = Payment.objects.get(invoice_id=invoice["id"])
    assert claim.idempotency_key == f"{user_client.user.pk}:{client_key}"
    [call] = paypal_plugin.calls("POST", "/v2/checkout/orders")
    assert call["paypal_request_id"] == hashlib.sha256(claim.idempotency_key.encode()).hexdigest()


def test_capture_order_pays_once_and_a_repeat_and_the_webhooks_change_nothing(
    paypal_plugin, catalog, user_client
):
    invoice = checkout_with_paypal(user_client, catalog)
    order = open_order(user_client, invoice["id"])
    paypal_plugin.approve(order["session_id"])

    first = capture_order(user_client, order["session_id"])
    second = capture_order(user_client, order["session_id"])

    [capture] = paypal_plugin.captures()
    expected = {
        "status": "COMPLETED",
        "invoice_id": invoice["id"],
        "invoice_status": "PAID",
        "capture_id": capture["id"],
    }
    assert (first.status_code, first.json()) == (200, expected)
    assert (second.status_code, second.json()) == (200, expected)
    calls = paypal_plugin.calls("POST", f"/v2/checkout/orders/{order['session_id']}/capture")
    claim = Payment.objects.get(invoice_id=invoice["id"])
    assert [(c["paypal_request_id"], c["replayed"]) for c in calls] == [
        (f"capture:{claim.pk}", False),
        (f"capture:{claim.pk}", True),
    ]
    # PayPal's webhooks for the approval and the capture arrive afterwards
    for delivery in paypal_plugin.outbox():
        assert deliver(delivery).json() == {"received": True}
    assert ProviderEvent.objects.filter(status=ProviderEventStatus.PROCESSED).count() == 2
    paid_once(invoice["id"], paypal_plugin, user_client.user)
    # the status check reads the same
    status = user_client.get(f"{API}/plugins/paypal/session-status/{claim.pk}")
    assert status.json()["status"] == "complete"
    assert status.json()["payment_status"] == "COMPLETED"


def test_the_approval_webhook_captures_the_order_at_paypal(paypal_plugin, catalog, user_client):
    invoice = checkout_with_paypal(user_client, catalog)
    order = open_order(user_client, invoice["id"])
    paypal_plugin.approve(order["session_id"])
    [approved] = paypal_plugin.outbox("CHECKOUT.ORDER.APPROVED")
    paypal_plugin.clear_requests()

    assert deliver(approved).json() == {"received": True}
    assert deliver(approved).json() == {"received": True, "duplicate": True}

    paths = [(r["method"], r["path"]) for r in paypal_plugin.requests()]
    assert paths.count(("POST", f"/v2/checkout/orders/{order['session_id']}/capture")) == 1
    verify = paypal_plugin.calls("POST", "/v1/notifications/verify-webhook-signature")[0]["body"]
    assert verify["webhook_id"] == WEBHOOK_ID
    assert verify["webhook_event"] == json.loads(approved.body)
    assert verify["transmission_id"] == approved.headers["PAYPAL-TRANSMISSION-ID"]
    payment = paid_once(invoice["id"], paypal_plugin, user_client.user)
    # capture-order afterwards answers the same capture
    again = capture_order(user_client, order["session_id"])
    assert again.json()["capture_id"] == payment.external_id
    assert len(paypal_plugin.captures()) == 1


def test_session_status_captures_an_approved_order(paypal_plugin, catalog, user_client):
    invoice = checkout_with_paypal(user_client, catalog)
    order = open_order(user_client, invoice["id"])
    pending = user_client.get(f"{API}/plugins/paypal/session-status/{order['session_id']}")
    assert (pending.json()["status"], pending.json()["payment_status"]) == (
        "open",
        "PAYER_ACTION_REQUIRED",
    )
    paypal_plugin.approve(order["session_id"])

    back = user_client.get(f"{API}/plugins/paypal/session-status/{order['payment_id']}")

    assert back.status_code == 200, back.content
    assert back.json() == {
        "session_id": order["session_id"],
        "status": "complete",
        "payment_status": "COMPLETED",
        "invoice_id": invoice["id"],
        "invoice_status": "PAID",
        "amount_total": "39.99",
        "currency": "EUR",
    }
    paid_once(invoice["id"], paypal_plugin, user_client.user)


def test_capture_order_refusals(paypal_plugin, catalog, user_client):
    invoice = checkout_with_paypal(user_client, catalog)
    order = open_order(user_client, invoice["id"])

    missing = user_client.post(f"{API}/plugins/paypal/capture-order", {}, format="json")
    assert (missing.status_code, missing.json()["error"], missing.json()["code"]) == (
        400,
        "order_id required",
        "validation_error",
    )
    stranger = APIClient()
    stranger.credentials(**bearer(UserFactory()))
    for client, order_id in ((stranger, order["session_id"]), (user_client, "5O0UNKNOWN")):
        response = capture_order(client, order_id)
        assert response.status_code == 404
        assert response.json() == {"error": "Order not found", "code": "not_found"}
    # not approved yet: PayPal refuses the capture
    refused = capture_order(user_client, order["session_id"])
    assert refused.status_code == 502
    assert refused.json()["code"] == "provider_error"
    assert "ORDER_NOT_APPROVED" in refused.json()["error"]
    assert Invoice.objects.get(pk=invoice["id"]).status == InvoiceStatus.PENDING
    assert paypal_plugin.captures() == []


def test_a_currency_paypal_does_not_take_is_refused_before_any_call(paypal_plugin, user_client):
    from billing.catalog.tests.factories_geography import CurrencyFactory
    from billing.invoices.tests.factories import custom_draft, issue_invoice

    issued = issue_invoice(
        user_client.user,
        [custom_draft("10.00")],
        payment_method=PaymentMethod.objects.get(code="paypal"),
        currency=CurrencyFactory(code="RUB"),
    )

    response = user_client.post(
        f"{API}/plugins/paypal/create-session", {"invoice_id": str(issued.pk)}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": "Currency RUB is not supported by paypal",
        "code": "item_unavailable",
    }
    assert paypal_plugin.requests() == []


def test_a_denied_capture_fails_the_payment_and_leaves_the_invoice_payable(
    paypal_plugin, catalog, user_client
):
    invoice = checkout_with_paypal(user_client, catalog)
    order = open_order(user_client, invoice["id"])
    claim = Payment.objects.get(invoice_id=invoice["id"])
    denied = paypal_plugin.event(
        "PAYMENT.CAPTURE.DENIED",
        "capture",
        {
            "id": "3C0DENIED0000001",
            "status": "DECLINED",
            "amount": {"currency_code": "EUR", "value": "39.99"},
            "custom_id": str(claim.pk),
            "supplementary_data": {"related_ids": {"order_id": order["session_id"]}},
        },
    )

    assert deliver(denied).json() == {"received": True}

    claim.refresh_from_db()
    assert (claim.status, claim.failure_reason) == (
        PaymentStatus.FAILED,
        "PayPal: PAYMENT.CAPTURE.DENIED",
    )
    assert Invoice.objects.get(pk=invoice["id"]).status == InvoiceStatus.PENDING


# --- refused deliveries ------------------------------------------------------------------------


def _assert_nothing_stored(invoice_id: str) -> None:
    invoice = Invoice.objects.get(pk=invoice_id)
    assert (invoice.status, invoice.needs_review) == (InvoiceStatus.PENDING, False)
    assert not Payment.objects.filter(invoice=invoice, status=PaymentStatus.CAPTURED).exists()
    assert ProviderEvent.objects.count() == 0


@pytest.mark.parametrize("case", ["tampered", "another-webhook", "forged-signature", "no-headers"])
def test_a_delivery_paypal_does_not_verify_is_400_and_changes_nothing(
    paypal_plugin, catalog, user_client, case
):
    invoice = checkout_with_paypal(user_client, catalog)
    order = open_order(user_client, invoice["id"])
    paypal_plugin.approve(order["session_id"])
    [approved] = paypal_plugin.outbox("CHECKOUT.ORDER.APPROVED")
    body, headers = approved.body, dict(approved.headers)
    if case == "tampered":
        body = body.replace(b'"APPROVED"', b'"COMPLETED"')
    elif case == "another-webhook":
        other = paypal_plugin.sign(json.loads(body), webhook_id="ANOTHERWEBHOOK")
        body, headers = other.body, other.headers
    elif case == "forged-signature":
        headers["PAYPAL-TRANSMISSION-SIG"] = "Zm9yZ2Vk"
    else:
        headers = {"Content-Type": "application/json"}
    paypal_plugin.clear_requests()

    response = deliver(approved, body=body, headers=headers)

    assert response.status_code == 400
    assert response.json() == {"error": "Invalid signature", "code": "invalid_signature"}
    _assert_nothing_stored(invoice["id"])
    asked = [
        (r["path"], r["body"] and r["body"].get("webhook_id")) for r in paypal_plugin.requests()
    ]
    if case == "no-headers":
        assert asked == []  # nothing to ask PayPal about
    else:
        assert [entry[0] for entry in asked if entry[0] != "/v1/oauth2/token"] == [
            "/v1/notifications/verify-webhook-signature"
        ]
        assert (
            paypal_plugin.calls("POST", "/v1/notifications/verify-webhook-signature")[0]["body"][
                "webhook_id"
            ]
            == WEBHOOK_ID
        )


def test_without_a_webhook_id_the_webhook_is_503_and_nothing_is_stored(
    paypal_plugin, catalog, user_client, monkeypatch
):
    invoice = checkout_with_paypal(user_client, catalog)
    order = open_order(user_client, invoice["id"])
    paypal_plugin.approve(order["session_id"])
    monkeypatch.delenv("VBWD_PLUGIN_PAYPAL_WEBHOOK_ID")
    paypal_plugin.clear_requests()

    response = deliver(paypal_plugin.outbox("CHECKOUT.ORDER.APPROVED")[0])

    assert response.status_code == 503
    assert response.json() == {
        "error": "Webhook secret is not configured",
        "code": "service_unavailable",
    }
    _assert_nothing_stored(invoice["id"])
    assert paypal_plugin.requests() == []


def test_a_capture_whose_amount_differs_is_recorded_and_flagged_not_paid(
    paypal_plugin, catalog, user_client
):
    # an order made at PayPal for our claim but of another amount, approved and captured there
    invoice = checkout_with_paypal(user_client, catalog)
    open_order(user_client, invoice["id"])
    claim = Payment.objects.get(invoice_id=invoice["id"])
    with requests.Session() as http:
        http.trust_env = False
        token = http.post(
            f"{paypal_plugin.url}/v1/oauth2/token",
            data={"grant_type": "client_credentials"},
            auth=(paypal_plugin.client_id, paypal_plugin.client_secret),
            timeout=5,
        ).json()["access_token"]
        http.headers["Authorization"] = f"Bearer {token}"
        other = http.post(
            f"{paypal_plugin.url}/v2/checkout/orders",
            json={
                "intent": "CAPTURE",
                "purchase_units": [
                    {
                        "amount": {"currency_code": "EUR", "value": "1.00"},
                        "custom_id": str(claim.pk),
                        "invoice_id": invoice["id"],
                    }
                ],
            },
            timeout=5,
        ).json()
        paypal_plugin.approve(other["id"])
        captured = http.post(
            f"{paypal_plugin.url}/v2/checkout/orders/{other['id']}/capture", timeout=5
        )
        assert captured.status_code == 201, captured.text
    [completed] = paypal_plugin.outbox("PAYMENT.CAPTURE.COMPLETED")

    assert deliver(completed).json() == {"received": True}

    row = Invoice.objects.get(pk=invoice["id"])
    capture_id = json.loads(completed.body)["resource"]["id"]
    assert (row.status, row.needs_review) == (InvoiceStatus.PENDING, True)
    assert row.review_reason == (
        f"Captured 1.00 EUR via paypal ({capture_id}) does not match the invoice total 39.99 EUR"
    )
    claim.refresh_from_db()
    assert (claim.external_id, claim.amount, claim.status) == (
        capture_id,
        D("1.00"),
        PaymentStatus.CAPTURED,
    )


# --- timeouts ----------------------------------------------------------------------------------


def test_timeouts_on_create_and_capture_leave_one_claim_and_retries_send_the_same_request_id(
    paypal_plugin, catalog, user_client, monkeypatch
):
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_TIMEOUT_SECONDS", "1")
    invoice = checkout_with_paypal(user_client, catalog)
    paypal_plugin.stall_next("POST", "/v2/checkout/orders", 2.0)

    unanswered = user_client.post(
        f"{API}/plugins/paypal/create-session", {"invoice_id": invoice["id"]}, format="json"
    )

    assert unanswered.status_code == 502
    assert unanswered.json()["error"].startswith("Payment provider error: PayPal did not answer")
    [claim] = Payment.objects.filter(invoice_id=invoice["id"])
    assert (claim.status, claim.session_id) == (PaymentStatus.PENDING, None)

    order = open_order(user_client, invoice["id"])

    creates = paypal_plugin.calls("POST", "/v2/checkout/orders")
    assert [(c["paypal_request_id"], c["replayed"]) for c in creates] == [
        (f"session:{claim.pk}", False),
        (f"session:{claim.pk}", True),
    ]
    [claim] = Payment.objects.filter(invoice_id=invoice["id"])
    assert claim.session_id == order["session_id"]

    # the capture times out after PayPal captured; the retry gets that capture back
    paypal_plugin.approve(order["session_id"])
    paypal_plugin.stall_next("POST", f"/v2/checkout/orders/{order['session_id']}/capture", 2.0)
    lost = capture_order(user_client, order["session_id"])
    assert lost.status_code == 502
    assert Invoice.objects.get(pk=invoice["id"]).status == InvoiceStatus.PENDING

    retried = capture_order(user_client, order["session_id"])

    assert retried.status_code == 200, retried.content
    captures = paypal_plugin.calls("POST", f"/v2/checkout/orders/{order['session_id']}/capture")
    assert [(c["paypal_request_id"], c["replayed"]) for c in captures] == [
        (f"capture:{claim.pk}", False),
        (f"capture:{claim.pk}", True),
    ]
    paid_once(invoice["id"], paypal_plugin, user_client.user)


# --- refunds -----------------------------------------------------------------------------------


def _paid(paypal_plugin, catalog, user_client) -> tuple[Invoice, Payment]:
    invoice = checkout_with_paypal(user_client, catalog)
    order = open_order(user_client, invoice["id"])
    paypal_plugin.approve(order["session_id"])
    assert capture_order(user_client, order["session_id"]).status_code == 200
    for delivery in paypal_plugin.outbox():
        deliver(delivery)
    invoice_row = Invoice.objects.get(pk=invoice["id"])
    return invoice_row, Payment.objects.get(invoice=invoice_row)


def test_a_staff_refund_calls_paypal_once_and_its_webhook_refunds_nothing_more(
    paypal_plugin, catalog, user_client, admin_client
):
    invoice, payment = _paid(paypal_plugin, catalog, user_client)

    response = admin_client.post(
        f"{API}/admin/invoices/{invoice.pk}/refund",
        {"amount": "5.00", "reason": "Goodwill"},
        format="json",
    )

    assert response.status_code == 200, response.content
    claim = Refund.objects.get(invoice=invoice)
    calls = paypal_plugin.calls("POST", f"/v2/payments/captures/{payment.external_id}/refund")
    assert [(c["paypal_request_id"], c["body"]["amount"]) for c in calls] == [
        (f"refund:{claim.pk}", {"currency_code": "EUR", "value": "5.00"})
    ]
    [at_paypal] = paypal_plugin.refunds_of(payment.external_id)
    assert (claim.status, claim.provider_refund_id) == (RefundStatus.SUCCEEDED, at_paypal["id"])
    [refunded] = paypal_plugin.outbox("PAYMENT.CAPTURE.REFUNDED")
    assert deliver(refunded).json() == {"received": True}
    assert deliver(refunded).json() == {"received": True, "duplicate": True}
    note = CreditNote.objects.get(invoice=invoice)
    assert (note.amount, note.refund_reference) == (D("5.00"), at_paypal["id"])
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert (payment.status, payment.refunded_amount, invoice.refunded_amount) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        D("5.00"),
        D("5.00"),
    )


def test_a_refund_paypal_does_not_answer_is_retried_with_the_same_request_id(
    paypal_plugin, catalog, user_client, admin_client, monkeypatch
):
    invoice, payment = _paid(paypal_plugin, catalog, user_client)
    monkeypatch.setenv("VBWD_PLUGIN_PAYPAL_TIMEOUT_SECONDS", "1")
    paypal_plugin.stall_next("POST", f"/v2/payments/captures/{payment.external_id}/refund", 2.0)
    url = f"{API}/admin/invoices/{invoice.pk}/refund"

    lost = admin_client.post(url, {"reason": "Cancelled"}, format="json")
    assert lost.status_code == 502
    [claim] = Refund.objects.filter(invoice=invoice)
    assert claim.status == RefundStatus.PENDING

    done = admin_client.post(url, {"reason": "Cancelled"}, format="json")

    assert done.status_code == 200, done.content
    calls = paypal_plugin.calls("POST", f"/v2/payments/captures/{payment.external_id}/refund")
    assert [(c["paypal_request_id"], c["replayed"]) for c in calls] == [
        (f"refund:{claim.pk}", False),
        (f"refund:{claim.pk}", True),
    ]
    assert len(paypal_plugin.refunds_of(payment.external_id)) == 1
    for delivery in paypal_plugin.outbox("PAYMENT.CAPTURE.REFUNDED"):
        assert deliver(delivery).json() == {"received": True}
    assert CreditNote.objects.filter(invoice=invoice).count() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.REFUNDED, D("39.99"))


# --- exactly once under concurrent redelivery ----------------------------------------------------


def _post_live(url: str, delivery) -> tuple[int, dict]:
    with requests.Session() as http:
        http.trust_env = False
        response = http.post(
            url, data=delivery.body, headers=delivery.headers, timeout=WAIT_SECONDS
        )
    return response.status_code, response.json()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_deliveries_of_the_approval_capture_once(paypal_plugin, catalog, live_url):
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
    invoice = checkout_with_paypal(client, catalog)
    order = open_order(client, invoice["id"])
    paypal_plugin.approve(order["session_id"])
    [approved] = paypal_plugin.outbox("CHECKOUT.ORDER.APPROVED")
    url = f"{live_url}{WEBHOOK}"

    answers = run_together([lambda: _post_live(url, approved)] * deliveries, timeout=WAIT_SECONDS)

    assert [a for a in answers if isinstance(a, Exception)] == []
    assert {status for status, _ in answers} == {200}
    assert sum(1 for _, body in answers if body == {"received": True}) == 1
    assert sum(1 for _, body in answers if body == {"received": True, "duplicate": True}) == 49
    event = ProviderEvent.objects.get()
    assert (event.status, event.attempts, event.event_type) == (
        ProviderEventStatus.PROCESSED,
        1,
        "CHECKOUT.ORDER.APPROVED",
    )
    paid_once(invoice["id"], paypal_plugin, user)
    claim = Payment.objects.get(invoice_id=invoice["id"])
    keys = {
        c["paypal_request_id"]
        for c in paypal_plugin.calls("POST", f"/v2/checkout/orders/{order['session_id']}/capture")
    }
    assert keys == {f"capture:{claim.pk}"}
    assert str(uuid.UUID(str(claim.pk))) == order["payment_id"]
