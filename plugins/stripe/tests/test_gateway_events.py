"""What each Stripe event means for billing, as the gateway reads it from a signed body."""

from __future__ import annotations

import hashlib
import hmac
import json
import time

import pytest

from plugins import gateway as gateways
from plugins.gateway import EventAction
from plugins.stripe.gateway import StripeGateway

SECRET = "whsec_events"


@pytest.fixture
def gateway(monkeypatch):
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_SECRET_KEY", "sk_test_events")
    return StripeGateway()


def _parse(gateway, kind: str, obj: dict, *, secret: str = SECRET, at: int | None = None):
    stamp = int(time.time()) if at is None else at
    body = json.dumps(
        {"id": "evt_1", "object": "event", "type": kind, "created": stamp, "data": {"object": obj}}
    ).encode()
    digest = hmac.new(secret.encode(), f"{stamp}.".encode() + body, hashlib.sha256).hexdigest()
    return gateway.parse_webhook({"stripe-signature": f"t={stamp},v1={digest}"}, body)


def test_a_paid_elements_intent_is_a_capture_that_keeps_the_card(gateway):
    event = _parse(
        gateway,
        "payment_intent.succeeded",
        {
            "id": "pi_1",
            "object": "payment_intent",
            "amount": 3999,
            "amount_received": 3999,
            "currency": "eur",
            "customer": "cus_1",
            "payment_method": "pm_1",
            "setup_future_usage": "off_session",
            "metadata": {"invoice_id": "inv", "payment_id": "pay"},
        },
    )

    assert (event.action, event.external_payment_id, event.session_id) == (
        EventAction.CAPTURE,
        "pi_1",
        "pi_1",
    )
    # Stripe's minor units as sent: billing converts them with the currency's places.
    assert (event.amount_minor, event.currency) == (3999, "EUR")
    assert (event.saved_payment_method_id, event.saved_customer_id) == ("pm_1", "cus_1")
    assert (event.invoice_id, event.payment_id) == ("inv", "pay")


def test_an_unsettled_hosted_session_waits_for_its_own_event(gateway):
    event = _parse(
        gateway,
        "checkout.session.completed",
        {"id": "cs_1", "object": "checkout.session", "payment_status": "unpaid"},
    )

    assert event.action == EventAction.IGNORE


@pytest.mark.parametrize(
    ("metadata", "action"),
    [({"checkout": "hosted"}, EventAction.IGNORE), ({}, EventAction.FAIL)],
)
def test_a_declined_card_on_the_hosted_page_does_not_end_the_attempt(gateway, metadata, action):
    event = _parse(
        gateway,
        "payment_intent.payment_failed",
        {
            "id": "pi_2",
            "object": "payment_intent",
            "currency": "eur",
            "metadata": metadata,
            "last_payment_error": {"message": "Your card was declined."},
        },
    )

    assert event.action == action
    if action == EventAction.FAIL:
        assert (event.external_payment_id, event.failure_reason) == (
            "pi_2",
            "Your card was declined.",
        )


def test_an_expired_session_fails_its_payment(gateway):
    event = _parse(
        gateway, "checkout.session.expired", {"id": "cs_9", "object": "checkout.session"}
    )

    assert (event.action, event.session_id, event.external_payment_id, event.failure_reason) == (
        EventAction.FAIL,
        "cs_9",
        None,
        "Checkout session expired",
    )


def test_a_refunded_charge_reports_its_refunded_total(gateway):
    event = _parse(
        gateway,
        "charge.refunded",
        {
            "id": "ch_1",
            "object": "charge",
            "payment_intent": "pi_1",
            "amount_refunded": 500,
            "currency": "eur",
            "refunds": {"data": [{"id": "re_2"}, {"id": "re_1"}]},
        },
    )

    assert (
        event.action,
        event.external_payment_id,
        event.refunded_total_minor,
        event.refund_id,
    ) == (EventAction.REFUND, "pi_1", 500, "re_2")


def test_only_a_cancelled_refund_is_reversed(gateway):
    cancelled = _parse(
        gateway,
        "charge.refund.updated",
        {"id": "re_1", "object": "refund", "status": "canceled", "payment_intent": "pi_1"},
    )
    succeeded = _parse(
        gateway,
        "charge.refund.updated",
        {"id": "re_1", "object": "refund", "status": "succeeded", "payment_intent": "pi_1"},
    )

    assert (cancelled.action, cancelled.refund_id) == (EventAction.REFUND_REVERSED, "re_1")
    assert succeeded.action == EventAction.IGNORE


def test_other_events_are_acknowledged_and_ignored(gateway):
    assert _parse(gateway, "customer.created", {"id": "cus_1"}).action == EventAction.IGNORE


@pytest.mark.parametrize(
    ("secret", "age"),
    [("whsec_other", 0), (SECRET, 301)],
)
def test_a_wrong_secret_or_an_old_signature_is_refused(gateway, secret, age):
    with pytest.raises(gateways.InvalidSignature):
        _parse(gateway, "customer.created", {}, secret=secret, at=int(time.time()) - age)


def test_no_webhook_secret_is_not_configured(gateway, monkeypatch):
    monkeypatch.delenv("VBWD_PLUGIN_STRIPE_WEBHOOK_SECRET")
    monkeypatch.setattr("plugins.state.stored_secrets", lambda name: {})

    with pytest.raises(gateways.NotConfigured):
        _parse(gateway, "customer.created", {})
