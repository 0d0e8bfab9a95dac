"""Reads of endpoints and deliveries, and the cached answer to "does any active endpoint
subscribe to this event type?" that keeps a change without subscribers free of queries."""

from __future__ import annotations

import logging
from itertools import chain

from django.core.cache import cache
from django.db import transaction
from django.db.models import Q

from vbwd.exceptions import NotFound
from webhooks.models import WebhookDelivery, WebhookEndpoint

logger = logging.getLogger(__name__)

WEBHOOK_NOT_FOUND = "Webhook not found"
DELIVERY_NOT_FOUND = "Delivery not found"
HISTORY_LENGTH = 20

# The subscribed event types are cached under the generation they were read at; every
# endpoint change increments the generation (at once and again after its commit), so an entry
# read before a change committed is never served after it. The lifetime bounds how long another
# process can miss a change when the cache is not shared between processes (local memory).
GENERATION_KEY = "webhooks:generation"
SUBSCRIBED_KEY = "webhooks:subscribed"
SUBSCRIBED_TIMEOUT = 60


def subscribed_event_types() -> frozenset[str]:
    """The event types at least one active endpoint subscribes to (``*`` for every type).
    A cache read; one query when the cache has no current entry."""
    try:
        cached = cache.get_many([GENERATION_KEY, SUBSCRIBED_KEY])
    except Exception:  # the cache client's errors: ask the database
        logger.warning("Webhooks: subscription cache unreadable", exc_info=True)
        cached = None
    generation = (cached or {}).get(GENERATION_KEY, 0)
    entry = (cached or {}).get(SUBSCRIBED_KEY)
    if entry is not None and entry[0] == generation:
        return entry[1]
    types = frozenset(
        chain.from_iterable(
            WebhookEndpoint.objects.filter(is_active=True).values_list("events", flat=True)
        )
    )
    if cached is not None:
        try:
            cache.set(SUBSCRIBED_KEY, (generation, types), SUBSCRIBED_TIMEOUT)
        except Exception:
            logger.warning("Webhooks: subscription cache not stored", exc_info=True)
    return types


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
