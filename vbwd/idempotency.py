"""Idempotency-Key handling for every authenticated POST.

A POST that an authenticated caller sends with an ``Idempotency-Key`` has its effect once. The key
is claimed by inserting an ``IdempotencyRecord``, unique per (user, key), after authentication
and before the view runs; the response is stored on it, so the same key with the same request
replays that response (header ``Idempotent-Replayed: true``) and the same key with another request
is refused (409 ``idempotency_conflict``). Responses that must not be replayed (5xx, 401, 403,
429) free the key instead, so the client may retry.

A view runs in one of two ways:

* **One transaction** (the default, for views whose work stays in the database). The claim, the
  view's work and the stored response commit together: ``IdempotencyMixin`` opens the transaction
  and ``begin`` inserts the claim inside it. A duplicate sent meanwhile blocks on the unique key
  until the first commits, then replays its response; when the first rolls back (a 5xx, an
  exception, a dead process) nothing of it remains, and the duplicate runs. So no claim of this
  mode is ever seen IN_PROGRESS by another request. One found anyway (left by an earlier version,
  which committed the claim before the view ran) is never run again, since the work it guarded
  may have been committed: it answers 409 ``idempotency_outcome_unknown`` until it expires.
* **Resumable** (views with ``idempotency_resumable = True``: those that call a payment
  provider, which must never happen inside a transaction holding row locks). The claim commits
  first; the view's services then commit their own steps (claim → commit → call → record), send
  the provider keys fixed before each call, and write recovery points on the record in the same
  transactions as the steps they mark (``Recovery``). A duplicate while the first runs gets 409
  ``idempotency_in_progress`` with ``Retry-After``. A claim still IN_PROGRESS after
  ``VBWD_IDEMPOTENCY_STALE_SECONDS`` belonged to a worker that died: the next retry takes it over
  and runs the view again, which resumes from its recovery points and provider keys instead of
  repeating an effect. A run that ends with a response not to store (5xx …) after writing a
  recovery point keeps the record and its points, released, for the next retry to resume at once.
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone

from vbwd.bulk import insert_unless_conflict
from vbwd.exceptions import Conflict, ValidationFailed
from vbwd.models import IdempotencyRecord

HEADER = "HTTP_IDEMPOTENCY_KEY"
REPLAY_HEADER = "Idempotent-Replayed"
_STORED_HEADERS = ("Content-Type", "Location", "Content-Disposition")
_NOT_STORED_STATUSES = {401, 403, 429}
# The claim of a resumable request, on the Django request, for ``recovery_for``.
_RECORD_ATTRIBUTE = "_vbwd_idempotency_record"

IN_PROGRESS_MESSAGE = "A request with this Idempotency-Key is still being processed"
OUTCOME_UNKNOWN_MESSAGE = (
    "The first request with this Idempotency-Key ended without an answer and its outcome is "
    "unknown; check its effect before repeating it with a new key"
)


class IdempotentReplay(Exception):
    """Raised by ``begin`` to answer with a stored response instead of running the view."""

    def __init__(self, response: HttpResponse) -> None:
        self.response = response
        super().__init__("idempotent replay")


def in_transaction(using: str | None = None) -> bool:
    """Whether a transaction is open on the connection (the one a test case wraps each test in
    does not count: it stands for the autocommit of a real request)."""
    connection = transaction.get_connection(using)
    return any(not getattr(block, "_from_testcase", False) for block in connection.atomic_blocks)


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


def _in_progress() -> Conflict:
    return Conflict(
        IN_PROGRESS_MESSAGE, code="idempotency_in_progress", headers={"Retry-After": "1"}
    )


def _take_over(record: IdempotencyRecord, *, now, stale_before) -> bool:
    """Claims a resumable request nobody is running any more; only one retry wins."""
    taken = (
        IdempotencyRecord.objects.filter(pk=record.pk, status=IdempotencyRecord.Status.IN_PROGRESS)
        .filter(Q(claimed_at__isnull=True) | Q(claimed_at__lte=stale_before))
        .update(claimed_at=now)
    )
    if taken:
        record.claimed_at = now
    return bool(taken)


def begin(request, user, key: str, *, resumable: bool = False) -> IdempotencyRecord:
    """Claims the key for this request, or raises IdempotentReplay / a 409 Conflict.

    Without ``resumable`` it runs inside the request's transaction (the claim commits with the
    view's work); with it, outside any transaction (the claim commits at once), and a claim left
    by a dead worker is taken over for the view to resume.
    """
    if resumable and in_transaction():
        raise RuntimeError("A resumable request claims its key outside any transaction")
    if not resumable and not in_transaction():
        raise RuntimeError("The key is claimed inside the request's transaction")
    request_print = fingerprint(request.method, request.path, request.body)
    ttl = timedelta(hours=settings.VBWD_IDEMPOTENCY_TTL_HOURS)
    for _attempt in range(3):
        now = timezone.now()
        claim = IdempotencyRecord(
            user=user, key=key, fingerprint=request_print, claimed_at=now, expires_at=now + ttl
        )
        # One statement, in the request's transaction or on its own (committed at once). On
        # PostgreSQL an insert that meets another request's uncommitted claim waits for it: a
        # commit makes it insert nothing, a rollback lets it through.
        if insert_unless_conflict(claim):
            return claim
        # A new statement: it sees the claim that was just committed.
        existing = IdempotencyRecord.objects.filter(user=user, key=key).first()
        now = timezone.now()
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
        if existing.status == IdempotencyRecord.Status.COMPLETED:
            raise IdempotentReplay(_replay(existing))
        stale_before = now - timedelta(seconds=settings.VBWD_IDEMPOTENCY_STALE_SECONDS)
        if existing.claimed_at is not None and existing.claimed_at > stale_before:
            raise _in_progress()
        if not resumable:
            # Never run again blindly: the work of that request may have been committed.
            raise Conflict(OUTCOME_UNKNOWN_MESSAGE, code="idempotency_outcome_unknown")
        if _take_over(existing, now=now, stale_before=stale_before):
            return existing
    raise _in_progress()


def finish(record: IdempotencyRecord, response, *, resumable: bool = False) -> None:
    """Stores a replayable response, or frees the key so the client may retry. A resumable
    request that wrote recovery points is released instead: its record stays, with the points,
    for the retry to resume from."""
    status = response.status_code
    if status >= 500 or status in _NOT_STORED_STATUSES:
        rows = IdempotencyRecord.objects.filter(pk=record.pk)
        if resumable and rows.values_list("recovery", flat=True).first():
            rows.update(claimed_at=None)
        else:
            rows.delete()
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


class Recovery:
    """The recovery points of one resumable request: each names a step the request committed and
    holds what a retry needs to resume after it (say, the id of the refund it claimed). A point
    is written inside the transaction of the step it marks, so the two commit or vanish
    together. Without a resumable claim (no key, another caller) it holds nothing."""

    def __init__(self, record_id=None) -> None:
        self._record_id = record_id

    def points(self) -> dict[str, str]:
        """Every point written so far, by name."""
        if self._record_id is None:
            return {}
        points = (
            IdempotencyRecord.objects.filter(pk=self._record_id)
            .values_list("recovery", flat=True)
            .first()
        )
        return dict(points or {})

    def get(self, name: str) -> str | None:
        return self.points().get(name)

    def mark(self, name: str, value: str) -> None:
        if self._record_id is None:
            return
        if not in_transaction():
            raise RuntimeError("A recovery point is written in the transaction of its step")
        record = IdempotencyRecord.objects.select_for_update().filter(pk=self._record_id).first()
        if record is None:
            return
        record.recovery = {**(record.recovery or {}), name: value}
        record.save(update_fields=["recovery"])


NO_RECOVERY = Recovery()


def attach(request, record: IdempotencyRecord) -> None:
    """Makes the resumable claim ``record`` the request's, for ``recovery_for``."""
    setattr(request, _RECORD_ATTRIBUTE, record)


def recovery_for(request) -> Recovery:
    """The recovery points of the request's resumable claim (none without one)."""
    record = getattr(request, _RECORD_ATTRIBUTE, None)
    return NO_RECOVERY if record is None else Recovery(record.pk)


def purge_expired() -> int:
    """Deletes expired records; returns how many."""
    deleted, _ = IdempotencyRecord.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted
