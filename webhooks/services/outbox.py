"""The outbox: a delivery row per event and subscribed endpoint, written in the transaction
of the change that caused the event."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import connections, router, transaction
from django.utils import timezone

from billing.invoices.selectors import currency_places_by_code
from webhooks import selectors
from webhooks.events import EVENTS, event_body
from webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint


def outbox_record(*, events) -> int:
    """Writes, in the caller's transaction, one PENDING delivery per event of ``events``
    (``(signal, arguments)`` pairs) and active endpoint subscribed to its type, each event
    rendered once with a new event id; answers how many rows it wrote. Costs no query when no
    active endpoint subscribes to any of the types; rolls back with the change."""
    typed = [(EVENTS[signal], arguments) for signal, arguments in events if signal in EVENTS]
    if not typed:
        return 0
    subscriptions = selectors.active_subscriptions()
    targeted = [
        (event, arguments, endpoints)
        for event, arguments in typed
        if (endpoints := subscriptions.endpoints_for(event.name))
    ]
    if not targeted:
        return 0
    now = timezone.now()
    places = currency_places_by_code()  # read once for every amount of every event
    rows = []
    for event, arguments, endpoints in targeted:
        event_id = uuid.uuid4()
        body = event_body(
            event_id=event_id,
            event_type=event.name,
            created_at=now,
            data=event.render(arguments, places),
        )
        rows.extend(
            (uuid.uuid4(), endpoint_id, event_id, event.name, body, now)
            for endpoint_id in endpoints
        )
    written = sum(
        _insert_for_active_endpoints(rows[start : start + INSERT_BATCH])
        for start in range(0, len(rows), INSERT_BATCH)
    )
    if written:
        delivery_queue_after_commit()
    return written


# Rows per statement: well below the parameters a statement may carry on any database.
INSERT_BATCH = 500
# (id, endpoint, event id, event type, body, time): the columns the outbox sets per row; the
# others take the values a new delivery starts with.
_ROW_FIELDS = ("id", "endpoint", "event_id", "event_type", "body", "next_attempt_at")


def _insert_for_active_endpoints(rows: list[tuple]) -> int:
    """Inserts ``rows`` with one statement, keeping those whose endpoint is still active (the
    subscriptions came from a cache another process may not have refreshed yet: a removed
    endpoint is skipped rather than failing the change). Written in SQL because building
    the rows as models costs more than the statement itself, on the path of every capture."""
    meta = WebhookDelivery._meta
    connection = connections[router.db_for_write(WebhookDelivery)]
    quote = connection.ops.quote_name
    fields = [meta.get_field(name) for name in _ROW_FIELDS]
    constants = {
        "status": WebhookDeliveryStatus.PENDING.value,
        "attempts": 0,
        "max_attempts": settings.VBWD_WEBHOOK_MAX_ATTEMPTS,
        "attempt_log": [],
    }
    constant_fields = [meta.get_field(name) for name in constants]
    created_at = meta.get_field("created_at")  # the event's time, like next_attempt_at
    endpoint = WebhookEndpoint._meta
    row_sql = "(" + ", ".join(["%s"] * len(fields)) + ")"
    # pending.columnN: the N-th value of a VALUES row (the name PostgreSQL and SQLite give it).
    endpoint_column = f"pending.column{_ROW_FIELDS.index('endpoint') + 1}"
    time_column = f"pending.column{_ROW_FIELDS.index('next_attempt_at') + 1}"
    # Table and column names come from the models; every value is a parameter.
    columns = ", ".join(quote(f.column) for f in [*fields, *constant_fields, created_at])
    constant_values = ", ".join(["%s"] * len(constant_fields))
    values = ", ".join([row_sql] * len(rows))
    active = (
        f"SELECT 1 FROM {quote(endpoint.db_table)} AS endpoint "  # noqa: S608
        f"WHERE endpoint.{quote(endpoint.pk.column)} = {endpoint_column} "
        f"AND endpoint.{quote(endpoint.get_field('is_active').column)}"
    )
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({columns}) "  # noqa: S608
        f"SELECT pending.*, {constant_values}, {time_column} "
        f"FROM (VALUES {values}) AS pending WHERE EXISTS ({active})"
    )
    params = [
        field.get_db_prep_save(value, connection)
        for field, value in zip(constant_fields, constants.values(), strict=True)
    ]
    for row in rows:
        params.extend(
            field.get_db_prep_save(value, connection)
            for field, value in zip(fields, row, strict=True)
        )
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def delivery_queue_after_commit() -> None:
    """Asks a worker to send the due deliveries once the transaction commits. Without a broker
    nothing is queued (the task would run in the caller's request): the scheduled job sends
    them (``run_billing_jobs`` or the beat entry)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return
    from webhooks.tasks import webhook_deliveries_send

    transaction.on_commit(webhook_deliveries_send.delay, robust=True)
