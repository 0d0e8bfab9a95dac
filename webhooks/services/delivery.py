"""Sending deliveries: claim → commit → call → record, never calling a receiver inside a
transaction that holds locks, and safe with several workers at once."""

from __future__ import annotations

import datetime
import hashlib
import hmac
import uuid

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from vbwd.exceptions import BusinessRuleError
from webhooks import selectors, transport
from webhooks.events import TEST_EVENT, TEST_MESSAGE, event_body
from webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from webhooks.services.outbox import delivery_queue_after_commit

USER_AGENT = "VBWD-Webhooks/1"
ENDPOINT_DISABLED = "Webhook endpoint is disabled"
SECRET_UNREADABLE = (
    "The signing secret cannot be read with the server's secrets key (it was changed): "
    "rotate the endpoint's secret"
)
# The wait after the n-th failed attempt is FIRST_RETRY × 3^(n-1): 1, 3, 9, 27, 81, 243 and
# 729 minutes, so the 8th attempt comes about 18 hours after the first.
FIRST_RETRY = datetime.timedelta(minutes=1)
RETRY_FACTOR = 3
DUE_STATUSES = (WebhookDeliveryStatus.PENDING, WebhookDeliveryStatus.RETRYING)


def retry_delay(attempts: int) -> datetime.timedelta:
    """The wait after the ``attempts``-th failed attempt."""
    return FIRST_RETRY * RETRY_FACTOR ** (attempts - 1)


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    """``t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">``."""
    signed = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def lease_for(count: int) -> datetime.timedelta:
    """How long ``count`` claimed deliveries belong to their worker: every attempt running to
    its timeout, and a minute more. A worker that died mid-batch leaves its rows to the next
    run after this long."""
    timeout = datetime.timedelta(seconds=settings.VBWD_WEBHOOK_TIMEOUT_SECONDS)
    return count * timeout + datetime.timedelta(minutes=1)


def _claim_due(batch_size: int) -> tuple[uuid.UUID, list[WebhookDelivery]]:
    """Leases up to ``batch_size`` due deliveries of active endpoints to this worker; rows
    another worker holds are skipped, not waited for."""
    now = timezone.now()
    claim = uuid.uuid4()
    with transaction.atomic():
        ids = list(
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(status__in=DUE_STATUSES, next_attempt_at__lte=now, endpoint__is_active=True)
            .order_by("next_attempt_at")
            .values_list("id", flat=True)[:batch_size]
        )
        if ids:
            WebhookDelivery.objects.filter(pk__in=ids).update(
                claim=claim, next_attempt_at=now + lease_for(len(ids))
            )
    rows = list(WebhookDelivery.objects.filter(pk__in=ids).select_related("endpoint"))
    rows.sort(key=lambda row: ids.index(row.pk))
    return claim, rows


def deliveries_send_due(*, batch_size: int = 20) -> int:
    """Sends every due delivery once (claimed in batches with ``SKIP LOCKED``) and returns how
    many attempts were made; safe to run on several workers at once."""
    attempted = 0
    while True:
        claim, rows = _claim_due(batch_size)
        outcomes = [_attempt(delivery, claim) for delivery in rows]
        _endpoints_touch(outcomes)
        attempted += len(rows)
        if len(rows) < batch_size:
            return attempted


def _endpoints_touch(deliveries: list[WebhookDelivery]) -> None:
    """Each endpoint's last attempt and its outcome, once per batch."""
    latest: dict = {}
    for delivery in deliveries:
        if delivery.last_attempt_at is not None:
            latest[delivery.endpoint_id] = delivery
    for endpoint_id, delivery in latest.items():
        WebhookEndpoint.objects.filter(pk=endpoint_id).update(
            last_triggered_at=delivery.last_attempt_at, last_delivery_status=delivery.status
        )


def _attempt(delivery: WebhookDelivery, claim: uuid.UUID) -> WebhookDelivery:
    """Calls the receiver (no transaction open) and records the outcome under ``claim``."""
    endpoint = delivery.endpoint
    attempted_at = timezone.now()
    secret = endpoint.secret
    if secret is None:
        answer = transport.Answer(None, None, 0, SECRET_UNREADABLE)
        return _record(delivery, claim, attempted_at, answer)
    body = delivery.body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "VBWD-Event-Id": str(delivery.event_id),
        "VBWD-Delivery-Id": str(delivery.pk),
        "VBWD-Signature": signature_header(secret, int(attempted_at.timestamp()), body),
    }
    answer = transport.post(endpoint.url, body, headers)
    return _record(delivery, claim, attempted_at, answer)


def _record(
    delivery: WebhookDelivery, claim: uuid.UUID, attempted_at, answer: transport.Answer
) -> WebhookDelivery:
    """Writes the attempt's outcome in one statement, only while ``claim`` still holds the row
    (the worker owns it, so nobody else has changed it since the claim); returns the row as it
    is then."""
    attempts = delivery.attempts + 1
    entry = {
        "attempt": attempts,
        "attempted_at": attempted_at.isoformat().replace("+00:00", "Z"),
        "response_code": answer.status,
        "response_excerpt": answer.excerpt,
        "duration_ms": answer.duration_ms,
        "error": answer.error,
    }
    fields = {
        "attempts": attempts,
        "attempt_log": [*delivery.attempt_log, entry],
        "response_code": answer.status,
        "response_body": answer.excerpt,
        "duration_ms": answer.duration_ms,
        "last_attempt_at": attempted_at,
        "claim": None,
        "next_attempt_at": None,
    }
    if answer.status is not None and 200 <= answer.status < 300:
        fields.update(status=WebhookDeliveryStatus.DELIVERED, delivered_at=timezone.now())
    elif attempts >= delivery.max_attempts:
        fields.update(status=WebhookDeliveryStatus.FAILED)
    else:
        fields.update(
            status=WebhookDeliveryStatus.RETRYING,
            next_attempt_at=attempted_at + retry_delay(attempts),
        )
    if not WebhookDelivery.objects.filter(pk=delivery.pk, claim=claim).update(**fields):
        # The lease ran out and another worker has taken the row over: its outcome stands.
        return WebhookDelivery.objects.get(pk=delivery.pk)
    for name, value in fields.items():
        setattr(delivery, name, value)
    return delivery


def endpoint_test_send(*, endpoint_id, actor) -> WebhookDelivery:
    """One synchronous attempt of a ``webhook.test`` event, no retries, also for a disabled
    endpoint; returns the recorded delivery."""
    endpoint = selectors.endpoint_get(endpoint_id)
    now = timezone.now()
    event_id = uuid.uuid4()
    claim = uuid.uuid4()
    with transaction.atomic():
        delivery = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_id=event_id,
            event_type=TEST_EVENT,
            body=event_body(
                event_id=event_id,
                event_type=TEST_EVENT,
                created_at=now,
                data={"message": TEST_MESSAGE},
            ),
            max_attempts=1,
            next_attempt_at=now + lease_for(1),
            claim=claim,
        )
        audit_record(
            action="webhook.tested",
            object_type="webhook",
            object_id=endpoint.pk,
            summary=f"Test event sent to webhook endpoint {endpoint.url}",
            actor=actor,
            after={"delivery_id": str(delivery.pk)},
        )
    delivery.endpoint = endpoint
    delivery = _attempt(delivery, claim)
    _endpoints_touch([delivery])
    return delivery


def delivery_replay(*, delivery_id, actor) -> WebhookDelivery:
    """A new PENDING delivery of the same event (same id and body) to the same endpoint,
    pointing at the original with ``replay_of``; refused for a disabled endpoint."""
    original = selectors.delivery_get(delivery_id)
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=original.endpoint_id)
        if not endpoint.is_active:
            raise BusinessRuleError(ENDPOINT_DISABLED)
        replay = WebhookDelivery.objects.create(
            endpoint=endpoint,
            event_id=original.event_id,
            event_type=original.event_type,
            body=original.body,
            max_attempts=settings.VBWD_WEBHOOK_MAX_ATTEMPTS,
            next_attempt_at=timezone.now(),
            replay_of=original,
        )
        audit_record(
            action="webhook.delivery_replayed",
            object_type="webhook",
            object_id=endpoint.pk,
            summary=f"Delivery of {original.event_type} {original.event_id} queued again",
            actor=actor,
            after={"delivery_id": str(replay.pk), "replay_of": str(original.pk)},
        )
        delivery_queue_after_commit()
    return replay
