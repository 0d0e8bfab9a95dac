"""Idempotency-Key handling for every authenticated POST.

``begin`` runs after authentication and before the view: it claims (user, key) by inserting an
IN_PROGRESS row, which the unique constraint makes a race-free lock across processes. A second
request with the same key then replays the stored response, or is refused while the first runs
or when its fingerprint differs. ``finish`` stores the response, or frees the key for responses
that must not be replayed (5xx, 401, 403, 429).
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from vbwd.exceptions import Conflict, ValidationFailed
from vbwd.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAY_HEADER = "Idempotent-Replayed"
_STORED_HEADERS = ("Content-Type", "Location", "Content-Disposition")
_NOT_STORED_STATUSES = {401, 403, 429}


class IdempotentReplay(Exception):
    """Raised by ``begin`` to answer with a stored response instead of running the view."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response
        super().__init__("idempotent replay")


def key_from(request) -> str | None:
    """The request's Idempotency-Key, validated; None when absent."""
    raw = request.META.get(HEADER)
    if raw is None:
        return None
    if not (1 <= len(raw) <= 255) or not all(32 <= ord(char) < 127 for char in raw):
        raise ValidationFailed(
            "Idempotency-Key must be 1-255 printable ASCII characters", field="Idempotency-Key"
        )
    return raw


def fingerprint(method: str, path: str, body: bytes) -> str:
    try:
        parsed = json.loads(body) if body.strip() else {}
        canonical = json.dumps(parsed, sort_keys=True, separators=(",", ":")).encode()
    except (UnicodeDecodeError, ValueError):
        canonical = body
    digest = hashlib.sha256()
    digest.update(method.upper().encode())
    digest.update(b"\n")
    digest.update(path.rstrip("/").encode())
    digest.update(b"\n")
    digest.update(hashlib.sha256(canonical).digest())
    return digest.hexdigest()


def _replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(bytes(record.response_body or b""), status=record.response_status)
    for name, value in (record.response_headers or {}).items():
        response[name] = value
    response[REPLAY_HEADER] = "true"
    return response


def begin(request, user, key: str) -> IdempotencyRecord:
    """Claims the key for this request, or raises IdempotentReplay / a 409 Conflict."""
    body = request.body
    request_print = fingerprint(request.method, request.path, body)
    now = timezone.now()
    ttl = timedelta(hours=settings.VBWD_IDEMPOTENCY_TTL_HOURS)
    for _attempt in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(
                    user=user, key=key, fingerprint=request_print, expires_at=now + ttl
                )
        except IntegrityError:
            existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if existing is None:
            continue  # freed between our insert and our read: try again
        if existing.expires_at <= now:
            IdempotencyRecord.objects.filter(pk=existing.pk, expires_at__lte=now).delete()
            continue
        if existing.fingerprint != request_print:
            raise Conflict(
                "Idempotency-Key has already been used with a different request",
                code="idempotency_conflict",
            )
        if existing.status == IdempotencyRecord.Status.IN_PROGRESS:
            stale_before = now - timedelta(seconds=settings.VBWD_IDEMPOTENCY_STALE_SECONDS)
            if existing.created_at <= stale_before:
                # The worker that claimed it died without answering: the key is free again.
                IdempotencyRecord.objects.filter(
                    pk=existing.pk,
                    status=IdempotencyRecord.Status.IN_PROGRESS,
                    created_at__lte=stale_before,
                ).delete()
                continue
            raise Conflict(
                "A request with this Idempotency-Key is still being processed",
                code="idempotency_in_progress",
                headers={"Retry-After": "1"},
            )
        raise IdempotentReplay(_replay(existing))
    raise Conflict(
        "A request with this Idempotency-Key is still being processed",
        code="idempotency_in_progress",
        headers={"Retry-After": "1"},
    )


def finish(record: IdempotencyRecord, response) -> None:
    """Stores a replayable response, or deletes the claim so the client may retry."""
    status = response.status_code
    if status >= 500 or status in _NOT_STORED_STATUSES:
        IdempotencyRecord.objects.filter(pk=record.pk).delete()
        return
    if hasattr(response, "render") and not getattr(response, "is_rendered", True):
        response.render()
    headers = {name: response[name] for name in _STORED_HEADERS if response.has_header(name)}
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        status=IdempotencyRecord.Status.COMPLETED,
        response_status=status,
        response_body=bytes(response.content),
        response_headers=headers,
    )


def purge_expired() -> int:
    """Deletes expired records; returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
