"""Refunds of Stripe-paid invoices against the Stripe-compatible server.

A staff refund (partial, then the rest) calls Stripe once per refund with the refund claim's
idempotency key and issues one credit note each; the ``charge.refunded`` event Stripe sends for
it afterwards records nothing more. A refund made directly at Stripe is recorded from its event
as a provider refund, once; Stripe cancelling a refund reverses its credit note.

Stripe's events are caught by a local receiver and handed to the webhook route by the test, so
each one arrives exactly when the test says, as often as it says, signed as Stripe signed it.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from decimal import Decimal

import pytest
import stripe

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
from billing.subscriptions.models import Subscription, SubscriptionStatus
from plugins.stripe.tests.conftest import WEBHOOK_SECRET, checkout_with_stripe
from plugins.stripe.tests.test_localstripe_server import WebhookReceiver
from tokens.models import TokenBalance

pytestmark = pytest.mark.django_db

D = Decimal
API = "/api/v1"
WEBHOOK = f"{API}/plugins/stripe/webhook"


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def events(stripe_plugin):
    """What Stripe sends to the shop's webhook endpoint, held until the test delivers it."""
    receiver = WebhookReceiver()
    stripe_plugin.register_webhook(receiver.url, WEBHOOK_SECRET)
    yield receiver
    receiver.close()


def pay_by_stripe(user_client, catalog, server) -> Invoice:
    """Checkout of Pro + 1000 tokens with the stripe method, paid on Stripe's hosted page; the
    customer's return to the shop reads the session back, which captures the payment."""
    invoice_id = checkout_with_stripe(user_client, catalog)["id"]
    opened = user_client.post(
        f"{API}/plugins/stripe/create-session", {"invoice_id": invoice_id}, format="json"
    )
    assert opened.status_code == 200, opened.content
    session_id = opened.json()["session_id"]
    status, body = server.pay_session(session_id)
    assert status == 200, body
    back = user_client.get(f"{API}/plugins/stripe/session-status/{session_id}")
    assert back.status_code == 200, back.content
    assert back.json()["status"] == "complete"
    invoice = Invoice.objects.get(pk=invoice_id)
    assert (invoice.status, invoice.total_amount) == (InvoiceStatus.PAID, D("39.99"))
    return invoice


def captured_payment(invoice: Invoice) -> Payment:
    payment = Payment.objects.get(invoice=invoice, status=PaymentStatus.CAPTURED)
    assert payment.external_id.startswith("pi_")
    return payment


def deliver(client, delivery) -> dict:
    """Hands one of Stripe's deliveries to the webhook route exactly as Stripe sent it."""
    response = client.post(
        WEBHOOK,
        data=delivery.body,
        content_type="application/json",
        HTTP_STRIPE_SIGNATURE=delivery.headers["Stripe-Signature"],
    )
    assert response.status_code == 200, response.content
    return response.json()


def signed(event: dict, secret: str = WEBHOOK_SECRET) -> tuple[bytes, str]:
    """The body and Stripe-Signature header Stripe would send: t=<unix>,v1=<hex HMAC-SHA256 of
    "<t>.<body>" with the endpoint's secret>."""
    body = json.dumps(event).encode()
    timestamp = int(time.time())
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={timestamp},v1={digest}"


def refund_posts(server) -> list[dict]:
    return [
        entry
        for entry in server.requests()
        if (entry["method"], entry["path"]) == ("POST", "/v1/refunds")
    ]


def staff_refund(admin_client, invoice: Invoice, **body):
    return admin_client.post(f"{API}/admin/invoices/{invoice.pk}/refund", body, format="json")


# --- staff refunds -------------------------------------------------------------------------


def test_staff_refunds_call_stripe_once_each_and_its_events_refund_nothing_more(
    stripe_plugin, events, catalog, user_client, admin_client, api_client
):
    # given an invoice paid at Stripe
    invoice = pay_by_stripe(user_client, catalog, stripe_plugin)
    payment = captured_payment(invoice)
    user = user_client.user
    assert TokenBalance.objects.get(user=user).balance == 1500
    stripe_plugin.clear_requests()

    # when staff refund 5.00 of it
    partial = staff_refund(admin_client, invoice, amount="5.00", reason="Goodwill")

    # then Stripe is asked once, with the claim's key, and one credit note is issued
    assert partial.status_code == 200, partial.content
    assert partial.json()["message"] == "Partial refund of 5.00 EUR issued"
    first_claim = Refund.objects.get(invoice=invoice)
    calls = refund_posts(stripe_plugin)
    assert [(c["idempotency_key"], c["body"]["amount"], c["replayed"]) for c in calls] == [
        (f"refund:{first_claim.pk}", "500", False)
    ]
    assert calls[0]["body"]["payment_intent"] == payment.external_id
    at_stripe = stripe.Refund.list(payment_intent=payment.external_id).data
    assert [r.amount for r in at_stripe] == [500]
    first_refund_id = at_stripe[0].id
    assert (first_claim.status, first_claim.provider_refund_id, first_claim.amount) == (
        RefundStatus.SUCCEEDED,
        first_refund_id,
        D("5.00"),
    )
    note = CreditNote.objects.get(invoice=invoice)
    assert (note.amount, note.refund_reference, note.full_refund) == (
        D("5.00"),
        first_refund_id,
        False,
    )
    assert first_claim.credit_note_id == note.pk
    assert partial.json()["credit_note"]["id"] == str(note.pk)
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.PAID, D("5.00"))
    assert (payment.status, payment.refunded_amount) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        D("5.00"),
    )

    # when Stripe's charge.refunded for that refund arrives afterwards (twice)
    announced = events.wait_for("charge.refunded")[0]
    assert json.loads(announced.body)["data"]["object"]["amount_refunded"] == 500
    assert deliver(api_client, announced) == {"received": True}
    assert deliver(api_client, announced) == {"received": True, "duplicate": True}

    # then it is taken as the refund already recorded: nothing more is refunded
    event_id = json.loads(announced.body)["id"]
    assert ProviderEvent.objects.get(provider="stripe", event_id=event_id).status == (
        ProviderEventStatus.PROCESSED
    )
    assert CreditNote.objects.filter(invoice=invoice).count() == 1
    payment.refresh_from_db()
    invoice.refresh_from_db()
    assert payment.refunded_amount == D("5.00")
    assert invoice.refunded_amount == D("5.00")

    # when staff refund the rest (no amount: all that is refundable)
    rest = staff_refund(admin_client, invoice, reason="Cancelled")

    # then Stripe refunds 34.99 once, the invoice is refunded, access ends, tokens go back
    assert rest.status_code == 200, rest.content
    body = rest.json()
    assert body["message"] == "Invoice refunded"
    assert (body["tokens_clawed_back"], body["token_shortfall"]) == (1500, 0)
    second_claim = Refund.objects.exclude(pk=first_claim.pk).get(invoice=invoice)
    calls = refund_posts(stripe_plugin)
    assert [(c["idempotency_key"], c["body"]["amount"], c["replayed"]) for c in calls] == [
        (f"refund:{first_claim.pk}", "500", False),
        (f"refund:{second_claim.pk}", "3499", False),
    ]
    at_stripe = stripe.Refund.list(payment_intent=payment.external_id).data
    assert sorted(r.amount for r in at_stripe) == [500, 3499]
    second_refund_id = next(r.id for r in at_stripe if r.id != first_refund_id)
    assert (second_claim.status, second_claim.provider_refund_id) == (
        RefundStatus.SUCCEEDED,
        second_refund_id,
    )
    notes = list(CreditNote.objects.filter(invoice=invoice).order_by("created_at"))
    assert [(n.amount, n.refund_reference, n.full_refund) for n in notes] == [
        (D("5.00"), first_refund_id, False),
        (D("34.99"), second_refund_id, True),
    ]
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.REFUNDED, D("39.99"))
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.REFUNDED, D("39.99"))
    subscription = Subscription.objects.get(user=user)
    assert subscription.status == SubscriptionStatus.CANCELLED
    assert subscription.cancelled_at is not None
    assert TokenBalance.objects.get(user=user).balance == 0

    # when Stripe's charge.refunded for the second refund arrives
    second_event = events.wait_for("charge.refunded", count=2)[1]
    assert json.loads(second_event.body)["data"]["object"]["amount_refunded"] == 3999
    assert deliver(api_client, second_event) == {"received": True}

    # then still two credit notes: nothing was refunded twice
    assert CreditNote.objects.filter(invoice=invoice).count() == 2
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.refunded_amount, payment.refunded_amount) == (D("39.99"), D("39.99"))
    assert len(refund_posts(stripe_plugin)) == 2


# --- refunds made at Stripe ----------------------------------------------------------------


def test_a_refund_made_at_stripe_is_recorded_once_from_its_event(
    stripe_plugin, events, catalog, user_client, api_client
):
    # given an invoice paid at Stripe
    invoice = pay_by_stripe(user_client, catalog, stripe_plugin)
    payment = captured_payment(invoice)

    # when someone refunds 3.00 in Stripe's dashboard (directly at Stripe, not through us)
    made_at_stripe = stripe.Refund.create(payment_intent=payment.external_id, amount=300)

    # and its charge.refunded event is delivered twice
    announced = events.wait_for("charge.refunded")[0]
    assert deliver(api_client, announced) == {"received": True}
    assert deliver(api_client, announced) == {"received": True, "duplicate": True}

    # then one provider credit note of 3.00 records it, made by nobody of ours
    note = CreditNote.objects.get(invoice=invoice)
    assert (note.amount, note.full_refund, note.created_by_id) == (D("3.00"), False, None)
    assert note.refund_reference == made_at_stripe.id
    assert note.payment_id == payment.pk
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.PAID, D("3.00"))
    assert (payment.status, payment.refunded_amount) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        D("3.00"),
    )
    # no refund claim of ours: Stripe was not asked for anything
    assert Refund.objects.filter(invoice=invoice).count() == 0
    assert [entry["body"]["amount"] for entry in refund_posts(stripe_plugin)] == ["300"]


# --- refunds Stripe cancels ----------------------------------------------------------------


def test_a_refund_stripe_cancels_reverses_its_credit_note(
    stripe_plugin, events, catalog, user_client, admin_client, api_client
):
    # given an invoice paid at Stripe, refunded by staff in two steps (5.00, then the rest)
    invoice = pay_by_stripe(user_client, catalog, stripe_plugin)
    payment = captured_payment(invoice)
    user = user_client.user
    assert staff_refund(admin_client, invoice, amount="5.00").status_code == 200
    assert staff_refund(admin_client, invoice).status_code == 200
    last = Refund.objects.get(invoice=invoice, amount=D("34.99"))
    invoice.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.REFUNDED, D("39.99"))
    assert TokenBalance.objects.get(user=user).balance == 0

    # when Stripe reports the last refund canceled (charge.refund.updated, signed as Stripe
    # signs it), twice
    event = {
        "id": "evt_refund_canceled_1",
        "object": "event",
        "type": "charge.refund.updated",
        "created": int(time.time()),
        "data": {
            "object": {
                "id": last.provider_refund_id,
                "object": "refund",
                "amount": 3499,
                "currency": "eur",
                "payment_intent": payment.external_id,
                "status": "canceled",
            }
        },
    }
    body, signature = signed(event)
    answers = [
        api_client.post(
            WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
        )
        for _ in range(2)
    ]

    # then its credit note is reversed once: the invoice is PAID again with 5.00 refunded
    assert [(a.status_code, a.json()) for a in answers] == [
        (200, {"received": True}),
        (200, {"received": True, "duplicate": True}),
    ]
    notes = {n.amount: n for n in CreditNote.objects.filter(invoice=invoice)}
    assert set(notes) == {D("5.00"), D("34.99")}
    assert notes[D("34.99")].reversed_at is not None
    assert notes[D("5.00")].reversed_at is None
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.PAID, D("5.00"))
    assert (payment.status, payment.refunded_amount) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        D("5.00"),
    )
    # the full refund's claw-back is undone
    assert TokenBalance.objects.get(user=user).balance == 1500


def test_a_forged_refund_cancellation_is_refused(
    stripe_plugin, catalog, user_client, admin_client, api_client
):
    # given an invoice paid at Stripe and refunded by staff
    invoice = pay_by_stripe(user_client, catalog, stripe_plugin)
    payment = captured_payment(invoice)
    assert staff_refund(admin_client, invoice, amount="5.00").status_code == 200
    claim = Refund.objects.get(invoice=invoice)

    # when a cancellation arrives signed with another secret
    body, signature = signed(
        {
            "id": "evt_forged",
            "object": "event",
            "type": "charge.refund.updated",
            "created": int(time.time()),
            "data": {
                "object": {
                    "id": claim.provider_refund_id,
                    "object": "refund",
                    "payment_intent": payment.external_id,
                    "status": "canceled",
                }
            },
        },
        secret="whsec_someone_else",
    )
    response = api_client.post(
        WEBHOOK, data=body, content_type="application/json", HTTP_STRIPE_SIGNATURE=signature
    )

    # then it is refused and the refund stands
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_signature"
    assert CreditNote.objects.get(invoice=invoice).reversed_at is None
    invoice.refresh_from_db()
    assert invoice.refunded_amount == D("5.00")
