"""The inbound provider-event store: every verified webhook event is stored once per
(provider, event id) and processed at most once successfully, however often and however
concurrently the provider delivers it."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from billing.invoices.models import ProviderEvent, ProviderEventStatus

ERROR_TEXT_LIMIT = 2000
_COLUMNS = (
    "id",
    "provider",
    "event_id",
    "event_type",
    "payload",
    "status",
    "error",
    "attempts",
    "received_at",
    "processed_at",
)


@dataclass(frozen=True)
class ProviderEventOutcome:
    event: ProviderEvent
    duplicate: bool  # processed before; the handler did not run
    result: Any = None  # what the handler returned (None for a duplicate)


def _insert(event: ProviderEvent, **stored_as) -> bool:
    """Inserts the event unless (provider, event id) exists; True when this call inserted it.

    One statement on both databases (INSERT … ON CONFLICT DO NOTHING RETURNING). A concurrent
    delivery of the same event waits on the unique index until the first one's transaction
    ends: then it finds the row (committed) or inserts it (rolled back)."""
    meta = ProviderEvent._meta
    fields = [meta.get_field(name) for name in _COLUMNS]
    values = [
        field.get_db_prep_save(
            stored_as.get(field.attname, getattr(event, field.attname)), connection
        )
        for field in fields
    ]
    quote = connection.ops.quote_name
    table, columns = quote(meta.db_table), ", ".join(quote(field.column) for field in fields)
    places = ", ".join(["%s"] * len(fields))
    # Table and column names come from the model; every value is a query parameter.
    sql = f"INSERT INTO {table} ({columns}) VALUES ({places}) "  # noqa: S608
    sql += 'ON CONFLICT ("provider", "event_id") DO NOTHING RETURNING "id"'
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        return cursor.fetchone() is not None


def provider_event_handle(
    *,
    provider: str,
    event_id: str,
    event_type: str,
    payload: dict,
    handler: Callable[[ProviderEvent], Any],
) -> ProviderEventOutcome:
    """Stores the event and runs ``handler(event)`` in one transaction, the event stored as
    PROCESSED with what the handler did; an already PROCESSED event is a duplicate and nothing
    runs. If the handler raises, its changes roll back, the event is kept as FAILED (a provider
    retry processes it again) and the error propagates."""
    now = timezone.now()
    received = ProviderEvent(
        id=uuid.uuid4(),
        provider=provider,
        event_id=event_id,
        event_type=event_type,
        payload=payload or {},
        attempts=1,
        received_at=now,
    )
    try:
        with transaction.atomic():
            # Stored as processed at once: the row commits only together with what the handler
            # did, or not at all.
            if _insert(received, status=ProviderEventStatus.PROCESSED, processed_at=now):
                event = received
            else:
                event = ProviderEvent.objects.select_for_update().get(
                    provider=provider, event_id=event_id
                )
                if event.status == ProviderEventStatus.PROCESSED:
                    return ProviderEventOutcome(event=event, duplicate=True)
                event.attempts += 1
                event.save(update_fields=["attempts"])
            result = handler(event)
            event.processed(at=now)
            if event is not received:
                event.save(update_fields=["status", "processed_at", "error"])
            return ProviderEventOutcome(event=event, duplicate=False, result=result)
    except Exception as error:
        _keep_failed(received, error)
        raise


def _keep_failed(received: ProviderEvent, error: Exception) -> None:
    """The delivery's changes rolled back; the event is stored (or stays) unprocessed."""
    text = f"{type(error).__name__}: {error}"[:ERROR_TEXT_LIMIT]
    with transaction.atomic():
        received.failed(text)
        if _insert(received):
            return
        event = ProviderEvent.objects.select_for_update().get(
            provider=received.provider, event_id=received.event_id
        )
        if event.status != ProviderEventStatus.PROCESSED:
            event.failed(text)
            event.attempts += 1
            event.save(update_fields=["status", "processed_at", "error", "attempts"])
