"""The outbox: a delivery row per event and subscribed endpoint, written in the transaction
of the change that caused the event."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from billing.invoices.selectors import currency_places_by_code
from webhooks import selectors
from webhooks.events import EVENTS, event_body
from webhooks.models import WebhookDelivery, WebhookEndpoint


def outbox_record(*, events) -> list[WebhookDelivery]:
    """Writes, in the caller's transaction, one PENDING delivery per event of ``events``
    (``(signal, arguments)`` pairs) and active endpoint subscribed to its type, each event
    rendered once with a new event id. Costs no query when no active endpoint subscribes to
    any of the types; rolls back with the change."""
    typed = [(EVENTS[signal], arguments) for signal, arguments in events if signal in EVENTS]
    if not typed:
        return []
    subscribed = selectors.subscribed_event_types()
    if "*" not in subscribed:
        typed = [(event, arguments) for event, arguments in typed if event.name in subscribed]
    if not typed:
        return []
    endpoints = list(WebhookEndpoint.objects.filter(is_active=True).only("id", "events"))
    now = timezone.now()
    places = currency_places_by_code()  # read once for every amount of every event
    rows = []
    for event, arguments in typed:
        targets = [endpoint for endpoint in endpoints if endpoint.subscribes_to(event.name)]
        if not targets:
            continue
        event_id = uuid.uuid4()
        body = event_body(
            event_id=event_id,
            event_type=event.name,
            created_at=now,
            data=event.render(arguments, places),
        )
        rows.extend(
            WebhookDelivery(
                endpoint_id=endpoint.pk,
                event_id=event_id,
                event_type=event.name,
                body=body,
                max_attempts=settings.VBWD_WEBHOOK_MAX_ATTEMPTS,
                next_attempt_at=now,
            )
            for endpoint in targets
        )
    if rows:
        WebhookDelivery.objects.bulk_create(rows)
        delivery_queue_after_commit()
    return rows


def delivery_queue_after_commit() -> None:
    """Asks a worker to send the due deliveries once the transaction commits. Without a broker
    nothing is queued (the task would run in the caller's request): the scheduled job sends
    them (``run_billing_jobs`` or the beat entry)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    from webhooks.tasks import webhook_deliveries_send

    transaction.on_commit(webhook_deliveries_send.delay, robust=True)
