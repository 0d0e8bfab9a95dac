"""The inbound provider-event store (DOMAIN §7): every verified webhook event is stored once per
(provider, event id) and processed at most once successfully, however often and however
concurrently the provider delivers it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from billing.invoices.models import ProviderEvent, ProviderEventStatus

ERROR_TEXT_LIMIT = 2000


@dataclass(frozen=True)
class ProviderEventOutcome:
    event: ProviderEvent
    duplicate: bool  # processed before; the handler did not run
    result: Any = None  # what the handler returned (None for a duplicate)


def provider_event_handle(
    *,
    provider: str,
    event_id: str,
    event_type: str,
    payload: dict,
    handler: Callable[[ProviderEvent], Any],
) -> ProviderEventOutcome:
    """Stores the event if new and runs ``handler(event)`` in one transaction with the event row
    locked, marking it PROCESSED; an already PROCESSED event is a duplicate and nothing runs. If
    the handler raises, its changes roll back, the event is marked FAILED (a provider retry
    processes it again) and the error propagates."""
    # Insert without racing a concurrent delivery of the same event: no error on conflict.
    ProviderEvent.objects.bulk_create(
        [
            ProviderEvent(
                provider=provider,
                event_id=event_id,
                event_type=event_type,
                payload=payload or {},
            )
        ],
        ignore_conflicts=True,
    )
    pk = ProviderEvent.objects.values_list("pk", flat=True).get(
        provider=provider, event_id=event_id
    )
    try:
        with transaction.atomic():
            event = ProviderEvent.objects.select_for_update().get(pk=pk)
            if event.status == ProviderEventStatus.PROCESSED:
                return ProviderEventOutcome(event=event, duplicate=True)
            result = handler(event)
            event.status = ProviderEventStatus.PROCESSED
            event.processed_at = timezone.now()
            event.attempts += 1
            event.error = None
            event.save(update_fields=["status", "processed_at", "attempts", "error"])
            return ProviderEventOutcome(event=event, duplicate=False, result=result)
    except Exception as error:
        with transaction.atomic():
            event = ProviderEvent.objects.select_for_update().get(pk=pk)
            if event.status != ProviderEventStatus.PROCESSED:
                event.status = ProviderEventStatus.FAILED
                event.error = f"{type(error).__name__}: {error}"[:ERROR_TEXT_LIMIT]
                event.attempts += 1
                event.save(update_fields=["status", "error", "attempts"])
        raise
