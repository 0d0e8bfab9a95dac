"""The event types endpoints can subscribe to, the domain signal each comes from, and the
``data`` each carries: the API's own object shapes, rendered when the event happens."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from django.core.serializers.json import DjangoJSONEncoder
from rest_framework import serializers

from accounts.signals import user_registered
from billing.checkout.signals import checkout_requested
from billing.coupons.serializers import RedemptionSerializer, public_coupon_data
from billing.coupons.signals import coupon_redeemed
from billing.invoices.serializers import credit_note_data, invoice_data, payment_data
from billing.invoices.signals import (
    invoice_issued,
    invoice_overdue,
    payment_captured,
    payment_failed,
    payment_refunded,
    refund_reversed,
)
from billing.subscriptions.models import Subscription
from billing.subscriptions.serializers import subscription_data
from billing.subscriptions.signals import (
    subscription_activated,
    subscription_cancelled,
    subscription_expired,
    subscription_plan_changed,
    subscription_renewed,
)
from tokens.serializers import TokenTransactionSerializer
from tokens.signals import tokens_credited, tokens_debited

TEST_EVENT = "webhook.test"
TEST_MESSAGE = "Test event from VBWD"


_DATETIME = serializers.DateTimeField()


def iso_datetime(value) -> str:
    """A datetime as the API writes it (UTC, ``Z``)."""
    return _DATETIME.to_representation(value)


@dataclass(frozen=True)
class EventType:
    name: str
    # (the signal's arguments, the currencies' places) -> the event's ``data``
    render: Callable[[dict, dict], dict]


def _invoice(arguments: dict, places: dict) -> dict:
    return {"invoice": invoice_data(arguments["invoice"], places=places)}


def _captured(arguments: dict, places: dict) -> dict:
    return {
        "invoice": invoice_data(arguments["invoice"], places=places),
        "payment": payment_data(arguments["payment"], places=places),
    }


def _failed(arguments: dict, places: dict) -> dict:
    invoice = arguments["invoice"]
    subscription = None
    if invoice.subscription_id is not None:
        subscription = (
            Subscription.objects.select_related("plan", "pending_plan")
            .filter(pk=invoice.subscription_id)
            .first()
        )
    return {
        "invoice": invoice_data(invoice, places=places),
        "payment": payment_data(arguments["payment"], places=places),
        "subscription": (
            subscription_data(subscription, places=places) if subscription is not None else None
        ),
    }


def _refunded(arguments: dict, places: dict) -> dict:
    payment = arguments.get("payment")
    return {
        "invoice": invoice_data(arguments["invoice"], places=places),
        "credit_note": credit_note_data(arguments["credit_note"], places=places),
        "payment": payment_data(payment, places=places) if payment is not None else None,
    }


def _subscription(arguments: dict, places: dict) -> dict:
    return {"subscription": subscription_data(arguments["subscription"], places=places)}


def _plan_changed(arguments: dict, places: dict) -> dict:
    old_plan = arguments["old_plan"]
    return {
        "subscription": subscription_data(arguments["subscription"], places=places),
        "previous_plan": {"id": str(old_plan.pk), "name": old_plan.name, "slug": old_plan.slug},
    }


def _redeemed(arguments: dict, places: dict) -> dict:
    redemption = arguments["redemption"]
    return {
        "coupon": public_coupon_data(redemption.coupon, places=places),
        "redemption": RedemptionSerializer(redemption, context={"places": places}).data,
        "invoice": invoice_data(arguments["invoice"], places=places),
    }


def _user(arguments: dict, places: dict) -> dict:
    user = arguments["user"]
    return {
        "user": {
            "id": str(user.pk),
            "email": user.email,
            "created_at": iso_datetime(user.created_at),
        }
    }


def _tokens(arguments: dict, places: dict) -> dict:
    entry = arguments["transaction"]
    return {
        "user_id": str(entry.user_id),
        "transaction": TokenTransactionSerializer(entry).data,
        "balance": arguments["balance"],
    }


EVENTS = {
    user_registered: EventType("user.registered", _user),
    checkout_requested: EventType("checkout.requested", _invoice),
    coupon_redeemed: EventType("coupon.redeemed", _redeemed),
    invoice_issued: EventType("invoice.issued", _invoice),
    invoice_overdue: EventType("invoice.overdue", _invoice),
    payment_captured: EventType("payment.captured", _captured),
    payment_failed: EventType("payment.failed", _failed),
    payment_refunded: EventType("payment.refunded", _refunded),
    refund_reversed: EventType("refund.reversed", _invoice),
    subscription_activated: EventType("subscription.activated", _subscription),
    subscription_renewed: EventType("subscription.renewed", _subscription),
    subscription_cancelled: EventType("subscription.cancelled", _subscription),
    subscription_expired: EventType("subscription.expired", _subscription),
    subscription_plan_changed: EventType("subscription.plan_changed", _plan_changed),
    tokens_credited: EventType("tokens.credited", _tokens),
    tokens_debited: EventType("tokens.debited", _tokens),
}
# What an endpoint may subscribe to (``webhook.test`` is sent only by the test route).
EVENT_TYPES: tuple[str, ...] = tuple(sorted(event.name for event in EVENTS.values()))


def event_body(*, event_id, event_type: str, created_at, data: dict) -> str:
    """The exact JSON text a delivery sends: ``{id, type, created_at, data}``."""
    document = {
        "id": str(event_id),
        "type": event_type,
        "created_at": iso_datetime(created_at),
        "data": data,
    }
    return json.dumps(document, cls=DjangoJSONEncoder, separators=(",", ":"), ensure_ascii=False)
