"""The local Stripe server speaks Stripe's protocol as the real stripe SDK sees it: Checkout
Sessions, the hosted-page payment, card declines, idempotency, Elements confirmation, refunds and
signed webhooks."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
import stripe

from tests.support.race import run_together

WEBHOOK_SECRET = "whsec_localstripe_test"
WAIT_SECONDS = 5.0
DECLINED_OFF_SESSION = "4000000000000341"
GENERIC_DECLINE = "4000000000000002"


# --- webhook receiver ----------------------------------------------------------------------


@dataclass
class Delivery:
    headers: Message
    body: bytes

    @property
    def type(self) -> str:
        return json.loads(self.body)["type"]


class WebhookReceiver:
    """An HTTP endpoint on 127.0.0.1 that records what the server delivers to it."""

    def __init__(self):
        self.deliveries: list[Delivery] = []
        self._changed = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver._changed:
                    receiver.deliveries.append(Delivery(self.headers, body))
                    receiver._changed.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, format, *args):
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_port}/stripe/webhook"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()

    def wait_for(self, event_type: str, count: int = 1) -> list[Delivery]:
        deadline = time.monotonic() + WAIT_SECONDS
        with self._changed:
            while True:
                found = [d for d in self.deliveries if d.type == event_type]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = [d.type for d in self.deliveries]
                    pytest.fail(f"no {count}x {event_type} within {WAIT_SECONDS}s; got {seen}")
                self._changed.wait(remaining)

    def close(self):
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)


@pytest.fixture
def webhook_receiver(stripe_api):
    receiver = WebhookReceiver()
    stripe_api.register_webhook(receiver.url, WEBHOOK_SECRET)
    yield receiver
    receiver.close()


def verified(delivery: Delivery) -> stripe.Event:
    """The event as our webhook view would build it: signature checked by the SDK."""
    return stripe.Webhook.construct_event(
        delivery.body, delivery.headers["Stripe-Signature"], WEBHOOK_SECRET
    )


# --- helpers -------------------------------------------------------------------------------


def line(unit_amount=1500, quantity=2, currency="eur", name="Pro plan"):
    return {
        "price_data": {
            "currency": currency,
            "unit_amount": unit_amount,
            "product_data": {"name": name},
        },
        "quantity": quantity,
    }


def create_session(**overrides):
    params = {
        "mode": "payment",
        "line_items": [line(), line(unit_amount=500, quantity=1, currency="EUR", name="Setup")],
        "success_url": "https://shop.test/done?session={CHECKOUT_SESSION_ID}",
        "cancel_url": "https://shop.test/cancel",
        "customer_email": "buyer@example.com",
        "client_reference_id": "order-7",
        "metadata": {"order": "7"},
        "payment_intent_data": {
            "metadata": {"invoice": "INV-7"},
            "setup_future_usage": "off_session",
        },
    }
    params.update(overrides)
    return stripe.checkout.Session.create(**params)


def card(number="4242424242424242"):
    return stripe.PaymentMethod.create(
        type="card", card={"number": number, "exp_month": 12, "exp_year": 2034, "cvc": "123"}
    )


# --- checkout sessions ---------------------------------------------------------------------


def test_checkout_session_is_created_in_stripe_wire_format(stripe_api):
    session = create_session()

    assert session.object == "checkout.session"
    assert session.id.startswith("cs_test_")
    assert session.status == "open"
    assert session.payment_status == "unpaid"
    assert session.mode == "payment"
    assert session.amount_subtotal == 3500
    assert session.amount_total == 3500
    assert session.currency == "eur"
    assert session.url == f"{stripe_api.url}/_test/checkout/{session.id}"
    assert session.success_url == f"https://shop.test/done?session={session.id}"
    assert session.cancel_url == "https://shop.test/cancel"
    assert session.customer is None
    assert session.customer_email == "buyer@example.com"
    assert session.client_reference_id == "order-7"
    assert session.metadata.to_dict() == {"order": "7"}
    assert session.payment_intent is None
    assert session.livemode is False
    assert session.expires_at == session.created + 24 * 3600

    fetched = stripe.checkout.Session.retrieve(session.id)
    assert fetched.to_dict() == session.to_dict()
    items = stripe.checkout.Session.list_line_items(session.id)
    assert [(i.description, i.quantity, i.amount_total) for i in items.data] == [
        ("Pro plan", 2, 3000),
        ("Setup", 1, 500),
    ]
    assert requests.get(session.url, timeout=5).status_code == 200


def test_checkout_session_keeps_a_given_expiry(stripe_api):
    expires_at = int(time.time()) + 3600
    assert create_session(expires_at=expires_at).expires_at == expires_at


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"line_items": [line(currency="eur"), line(currency="usd")]}, "currency"),
        (
            {
                "line_items": [
                    {
                        "price_data": {"unit_amount": 100, "product_data": {"name": "x"}},
                        "quantity": 1,
                    }
                ]
            },
            "currency",
        ),
        ({"line_items": [line(unit_amount=-1)]}, "unit_amount"),
        ({"line_items": [line(unit_amount="12.5")]}, "unit_amount"),
        ({"line_items": []}, "line_items"),
        ({"line_items": [line(quantity=0)]}, "quantity"),
        ({"mode": "subscription"}, "mode"),
        ({"customer": "cus_missing", "customer_email": None}, "customer"),
        ({"payment_intent_data": {"setup_future_usage": "sometimes"}}, "setup_future_usage"),
        ({"shipping_options": [{"shipping_rate": "shr_1"}]}, "shipping_options"),
    ],
)
def test_invalid_checkout_session_is_refused_like_stripe(stripe_api, overrides, param):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        create_session(**overrides)

    assert raised.value.http_status == 400
    assert raised.value.json_body["error"]["type"] == "invalid_request_error"
    assert param in raised.value.param
    assert stripe.checkout.Session.list().data == []


def test_unknown_checkout_session_is_a_stripe_404(stripe_api):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.checkout.Session.retrieve("cs_test_unknown")

    assert raised.value.http_status == 404
    assert raised.value.code == "resource_missing"
    assert "No such checkout.session" in raised.value.user_message


def test_paying_a_session_completes_it_and_saves_the_card(stripe_api, webhook_receiver):
    session = create_session()

    status, body = stripe_api.pay_session(session.id)

    assert status == 200
    assert body["status"] == "complete"
    paid = stripe.checkout.Session.retrieve(session.id, expand=["payment_intent"])
    assert paid.status == "complete"
    assert paid.payment_status == "paid"
    assert paid.customer.startswith("cus_")
    assert paid.customer_details.email == "buyer@example.com"
    intent = paid.payment_intent
    assert intent.object == "payment_intent"
    assert intent.status == "succeeded"
    assert (intent.amount, intent.currency) == (3500, "eur")
    assert intent.customer == paid.customer
    assert intent.metadata.to_dict() == {"invoice": "INV-7"}
    assert intent.setup_future_usage == "off_session"
    assert isinstance(intent.latest_charge, str)
    assert intent.latest_charge.startswith("ch_")
    saved = stripe.PaymentMethod.list(customer=paid.customer, type="card").data
    assert [pm.id for pm in saved] == [intent.payment_method]
    assert saved[0].card.last4 == "4242"
    assert stripe.Customer.retrieve(paid.customer).email == "buyer@example.com"

    (succeeded,) = webhook_receiver.wait_for("payment_intent.succeeded")
    (completed,) = webhook_receiver.wait_for("checkout.session.completed")
    intent_event = verified(succeeded)
    assert intent_event.data.object.id == intent.id
    assert intent_event.data.object.status == "succeeded"
    session_event = verified(completed)
    assert session_event.data.object.id == session.id
    assert session_event.data.object.payment_intent == intent.id
    assert session_event.data.object.payment_status == "paid"
    raw = json.loads(completed.body)
    assert raw["id"].startswith("evt_")
    assert raw["object"] == "event"
    assert raw["livemode"] is False
    assert {"created", "api_version", "data"} <= raw.keys()
    assert raw["data"]["object"]["object"] == "checkout.session"
    with pytest.raises(stripe.SignatureVerificationError):
        stripe.Webhook.construct_event(
            completed.body, completed.headers["Stripe-Signature"], "whsec_wrong"
        )


def test_paying_without_saving_creates_no_customer(stripe_api):
    session = create_session(payment_intent_data={"metadata": {"invoice": "INV-8"}})

    status, body = stripe_api.pay_session(session.id)

    assert status == 200
    assert body["customer"] is None
    intent = stripe.PaymentIntent.retrieve(body["payment_intent"])
    assert intent.status == "succeeded"
    assert intent.setup_future_usage is None
    assert stripe.Customer.list().data == []


def test_declined_card_leaves_the_session_open_and_a_retry_can_pay(stripe_api):
    session = create_session()

    status, body = stripe_api.pay_session(session.id, card_number=GENERIC_DECLINE)

    assert status == 402
    assert body["error"]["type"] == "card_error"
    assert body["error"]["code"] == "card_declined"
    assert body["error"]["decline_code"] == "generic_decline"
    still_open = stripe.checkout.Session.retrieve(session.id)
    assert (still_open.status, still_open.payment_status) == ("open", "unpaid")
    assert still_open.payment_intent is None

    status, body = stripe_api.pay_session(session.id)

    assert status == 200
    assert body["status"] == "complete"
    # Stripe retries on the same intent and the same new customer.
    assert [pi.id for pi in stripe.PaymentIntent.list().data] == [body["payment_intent"]]
    assert [c.id for c in stripe.Customer.list().data] == [body["customer"]]


def test_expired_session_cannot_be_paid(stripe_api, webhook_receiver):
    session = create_session()

    expired = stripe.checkout.Session.expire(session.id)

    assert expired.status == "expired"
    assert expired.url is None
    event = verified(webhook_receiver.wait_for("checkout.session.expired")[0])
    assert event.data.object.id == session.id
    status, body = stripe_api.pay_session(session.id)
    assert status == 400
    assert body["error"]["type"] == "invalid_request_error"
    with pytest.raises(stripe.InvalidRequestError):
        stripe.checkout.Session.expire(session.id)


# --- payment intents -----------------------------------------------------------------------


def test_off_session_decline_raises_card_error(stripe_api):
    customer = stripe.Customer.create(email="renewal@example.com")
    declining = stripe.PaymentMethod.attach(card(DECLINED_OFF_SESSION).id, customer=customer.id)

    with pytest.raises(stripe.CardError) as raised:
        stripe.PaymentIntent.create(
            amount=4900,
            currency="eur",
            customer=customer.id,
            payment_method=declining.id,
            confirm=True,
            off_session=True,
        )

    error = raised.value
    # stripe.CardError and stripe.error.CardError are the same class in v16.
    assert isinstance(error, stripe.error.CardError)
    assert error.http_status == 402
    assert error.code == "card_declined"
    assert error.json_body["error"]["type"] == "card_error"
    assert error.json_body["error"]["decline_code"] == "generic_decline"
    failed = error.error.payment_intent
    assert failed.status == "requires_payment_method"
    assert failed.last_payment_error.code == "card_declined"
    assert failed.last_payment_error.payment_method.id == declining.id
    assert stripe.PaymentIntent.retrieve(failed.id).status == "requires_payment_method"


def test_elements_confirmation_saves_the_card_for_renewals(stripe_api):
    customer = stripe.Customer.create(email="elements@example.com")
    intent = stripe.PaymentIntent.create(
        amount=4900,
        currency="eur",
        customer=customer.id,
        setup_future_usage="off_session",
        description="VBWD Pro, monthly",
        receipt_email="elements@example.com",
        statement_descriptor="VBWD PRO",
    )
    assert intent.status == "requires_payment_method"
    assert intent.setup_future_usage == "off_session"
    assert intent.description == "VBWD Pro, monthly"

    # What Stripe.js does with the card the customer typed into Elements.
    payment_method = card()
    updated = stripe.PaymentIntent.modify(intent.id, payment_method=payment_method.id)
    assert updated.status == "requires_confirmation"
    confirmed = stripe.PaymentIntent.confirm(intent.id)

    assert confirmed.status == "succeeded"
    assert confirmed.latest_charge.startswith("ch_")
    assert stripe.PaymentMethod.retrieve(payment_method.id).customer == customer.id
    saved = stripe.Customer.list_payment_methods(customer.id)
    assert [pm.id for pm in saved.data] == [payment_method.id]
    renewal = stripe.PaymentIntent.create(
        amount=4900,
        currency="eur",
        customer=customer.id,
        payment_method=payment_method.id,
        confirm=True,
        off_session=True,
    )
    assert renewal.status == "succeeded"


def test_elements_retry_after_a_decline_uses_the_same_intent(stripe_api):
    intent = stripe.PaymentIntent.create(amount=2500, currency="eur")
    stripe.PaymentIntent.modify(intent.id, payment_method=card(GENERIC_DECLINE).id)
    with pytest.raises(stripe.CardError):
        stripe.PaymentIntent.confirm(intent.id)
    declined = stripe.PaymentIntent.retrieve(intent.id)
    assert declined.status == "requires_payment_method"
    assert declined.payment_method is None

    confirmed = stripe.PaymentIntent.confirm(intent.id, payment_method=card().id)

    assert confirmed.status == "succeeded"


def test_latest_charge_expands_to_the_charge(stripe_api):
    intent = stripe.PaymentIntent.create(
        amount=1000, currency="eur", payment_method="pm_card_visa", confirm=True
    )

    expanded = stripe.PaymentIntent.retrieve(intent.id, expand=["latest_charge"])

    assert expanded.latest_charge.id == intent.latest_charge
    assert expanded.latest_charge.amount_captured == 1000
    assert expanded.latest_charge.payment_intent == intent.id
    assert "charges" not in intent


# --- idempotency ---------------------------------------------------------------------------


def test_same_idempotency_key_replays_the_first_response(stripe_api):
    key = "invoice-7-attempt-1"

    first = stripe.PaymentIntent.create(amount=2000, currency="eur", idempotency_key=key)
    second = stripe.PaymentIntent.create(amount=2000, currency="eur", idempotency_key=key)

    assert second.id == first.id
    assert second.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert [pi.id for pi in stripe.PaymentIntent.list().data] == [first.id]
    creates = [
        r
        for r in stripe_api.requests()
        if (r["method"], r["path"]) == ("POST", "/v1/payment_intents")
    ]
    assert [(r["idempotency_key"], r["replayed"]) for r in creates] == [(key, False), (key, True)]
    assert creates[0]["body"] == {"amount": "2000", "currency": "eur"}


def test_reusing_a_key_with_other_parameters_is_an_idempotency_error(stripe_api):
    key = "invoice-8-attempt-1"
    first = stripe.PaymentIntent.create(amount=2000, currency="eur", idempotency_key=key)

    with pytest.raises(stripe.IdempotencyError) as raised:
        stripe.PaymentIntent.create(amount=2100, currency="eur", idempotency_key=key)
    with pytest.raises(stripe.IdempotencyError):
        stripe.Customer.create(email="other@example.com", idempotency_key=key)

    assert raised.value.http_status == 400
    assert raised.value.json_body["error"]["type"] == "idempotency_error"
    assert [pi.id for pi in stripe.PaymentIntent.list().data] == [first.id]
    assert stripe.Customer.list().data == []


def test_concurrent_requests_with_one_key_execute_once(stripe_api):
    def post():
        response = requests.post(
            f"{stripe_api.url}/v1/payment_intents",
            data={"amount": "3000", "currency": "eur"},
            headers={"Authorization": f"Bearer {stripe.api_key}", "Idempotency-Key": "same"},
            timeout=5,
        )
        return response.status_code, response.json()["id"]

    results = run_together([post] * 5, timeout=5)

    assert len(results) == 5
    assert {status for status, _ in results} == {200}
    assert len({pi_id for _, pi_id in results}) == 1
    assert len(stripe.PaymentIntent.list().data) == 1
    logged = [r["replayed"] for r in stripe_api.requests() if r["method"] == "POST"]
    assert sorted(logged) == [False, True, True, True, True]


def test_sdk_sends_its_own_idempotency_key_and_reset_forgets_keys(stripe_api):
    stripe.Customer.create(email="a@example.com", idempotency_key="k")
    stripe.Customer.create(email="b@example.com")
    keys = [r["idempotency_key"] for r in stripe_api.requests()]
    assert keys[0] == "k"
    assert keys[1]  # the SDK adds a random key to every POST

    stripe_api.reset()

    assert stripe_api.requests() == []
    # Same key, other parameters: fine after a reset.
    assert stripe.Customer.create(email="c@example.com", idempotency_key="k").email == (
        "c@example.com"
    )


# --- refunds -------------------------------------------------------------------------------


def test_refunds_emit_charge_refunded(stripe_api, webhook_receiver):
    intent = stripe.PaymentIntent.create(
        amount=5000, currency="eur", payment_method="pm_card_visa", confirm=True
    )

    partial = stripe.Refund.create(payment_intent=intent.id, amount=2000)
    assert (partial.amount, partial.charge) == (2000, intent.latest_charge)
    first = verified(webhook_receiver.wait_for("charge.refunded")[0]).data.object
    rest = stripe.Refund.create(payment_intent=intent.id, reason="requested_by_customer")
    second = verified(webhook_receiver.wait_for("charge.refunded", count=2)[1]).data.object

    assert first.id == intent.latest_charge
    assert first.payment_intent == intent.id
    assert (first.amount_refunded, first.refunded) == (2000, False)
    assert rest.amount == 3000
    assert rest.payment_intent == intent.id
    assert (second.amount_refunded, second.refunded) == (5000, True)
    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.Refund.create(payment_intent=intent.id)
    assert raised.value.code == "charge_already_refunded"
    charge = stripe.Charge.retrieve(intent.latest_charge)
    assert (charge.amount_refunded, charge.refunded) == (5000, True)


def test_refund_larger_than_the_charge_is_refused(stripe_api):
    intent = stripe.PaymentIntent.create(
        amount=5000, currency="eur", payment_method="pm_card_visa", confirm=True
    )

    with pytest.raises(stripe.InvalidRequestError) as raised:
        stripe.Refund.create(payment_intent=intent.id, amount=5001)

    assert raised.value.code == "amount_too_large"
    assert stripe.Refund.list().data == []


# --- clients and routing -------------------------------------------------------------------


def test_stripe_client_needs_base_addresses(stripe_api):
    client = stripe.StripeClient(stripe.api_key, base_addresses={"api": stripe_api.url})

    customer = client.v1.customers.create(params={"email": "client@example.com"})

    assert stripe.Customer.retrieve(customer.id).email == "client@example.com"


def test_unknown_api_route_answers_in_stripe_error_shape(stripe_api):
    response = requests.get(
        f"{stripe_api.url}/v1/no_such_things",
        headers={"Authorization": f"Bearer {stripe.api_key}"},
        timeout=5,
    )

    assert response.status_code == 404
    assert response.json()["error"]["type"] == "invalid_request_error"
