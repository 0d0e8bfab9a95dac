"""Reads of endpoints and deliveries, and the cached answer to "which active endpoints
subscribe to this event type?" that keeps the outbox's reads out of the database."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q

from vbwd.exceptions import NotFound
from webhooks.models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

WEBHOOK_NOT_FOUND = "Webhook not found"
DELIVERY_NOT_FOUND = "Delivery not found"
HISTORY_LENGTH = 20

# Who subscribes to what (the active endpoints' ids and event lists) is cached under the
# generation it was read at; every endpoint change increments the generation (at once and again
# after its commit), so an entry read before a change committed is never served after it. The
# lifetime bounds how long another process can miss a change when the cache is not shared
# between processes (local memory); the outbox's insert keeps only endpoints that are still
# active, so a stale entry can miss a new endpoint but never write to a removed one.
GENERATION_KEY = "webhooks:generation"
SUBSCRIBED_KEY = "webhooks:subscribed"
SUBSCRIBED_TIMEOUT = 60


@dataclass(frozen=True)
class Subscriptions:
    """The active endpoints as ``(id, event types)`` pairs (``*`` for all types)."""

    endpoints: tuple[tuple[uuid.UUID, frozenset[str]], ...]

    def endpoints_for(self, event_type: str) -> list[uuid.UUID]:
        return [
            endpoint_id
            for endpoint_id, events in self.endpoints
            if "*" in events or event_type in events
        ]


def active_subscriptions() -> Subscriptions:
    """Which active endpoint subscribes to which event types. A cache read; one query when the
    cache has no current entry."""
    try:
        cached = cache.get_many([GENERATION_KEY, SUBSCRIBED_KEY])
    except Exception:  # the cache client's errors: ask the database
        logger.warning("Webhooks: subscription cache unreadable", exc_info=True)
        cached = None
    generation = (cached or {}).get(GENERATION_KEY, 0)
    entry = (cached or {}).get(SUBSCRIBED_KEY)
    if entry is not None and entry[0] == generation:
        return entry[1]
    subscriptions = Subscriptions(
        tuple(
            (endpoint_id, frozenset(events))
            for endpoint_id, events in WebhookEndpoint.objects.filter(is_active=True)
            .order_by("created_at", "id")
            .values_list("id", "events")
        )
    )
    if cached is not None:
        try:
            cache.set(SUBSCRIBED_KEY, (generation, subscriptions), SUBSCRIBED_TIMEOUT)
        except Exception:
            logger.warning("Webhooks: subscription cache not stored", exc_info=True)
    return subscriptions


def _next_generation() -> None:
    try:
        cache.add(GENERATION_KEY, 0, None)
        cache.incr(GENERATION_KEY)
    except Exception:
        # Without the increment a stale entry may be served until it expires.
        logger.warning("Webhooks: subscription cache not invalidated", exc_info=True)


def subscriptions_changed() -> None:
    """Call in the transaction of every endpoint change: forgets the cached types now and
    again once the change has committed."""
    _next_generation()
    transaction.on_commit(_next_generation)


def endpoint_get(endpoint_id) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
    if endpoint is None:
        raise NotFound(WEBHOOK_NOT_FOUND)
    return endpoint


def endpoints_filtered(*, is_active: bool | None = None, event: str | None = None):
    """Endpoints newest first; ``event`` (a known type) keeps those that receive it."""
    endpoints = WebhookEndpoint.objects.order_by("-created_at", "-id")
    if is_active is not None:
        endpoints = endpoints.filter(is_active=is_active)
    if event:
        # The list's JSON text holds the quoted name (JSON containment is not on every database).
        endpoints = endpoints.filter(Q(events__icontains=f'"{event}"') | Q(events__icontains='"*"'))
    return endpoints


def delivery_get(delivery_id) -> WebhookDelivery:
    delivery = WebhookDelivery.objects.filter(pk=delivery_id).first()
    if delivery is None:
        raise NotFound(DELIVERY_NOT_FOUND)
    return delivery


def deliveries_filtered(*, endpoint_id, status: str | None = None, event_type: str | None = None):
    deliveries = WebhookDelivery.objects.filter(endpoint_id=endpoint_id).order_by(
        "-created_at", "-id"
    )
    if status:
        deliveries = deliveries.filter(status=status)
    if event_type:
        deliveries = deliveries.filter(event_type=event_type)
    return deliveries


def delivery_history(endpoint_id) -> list[WebhookDelivery]:
    return list(deliveries_filtered(endpoint_id=endpoint_id)[:HISTORY_LENGTH])
