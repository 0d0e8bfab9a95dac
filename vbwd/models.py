import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    """One POST made with an ``Idempotency-Key``, unique per user and key.

    Written as IN_PROGRESS before the view runs and completed with the response, so a replay can
    return it unchanged. For most views the row is written in the view's own transaction, so it
    is only ever seen COMPLETED; a view that calls a payment provider commits it first and keeps
    its recovery points here (see ``vbwd.idempotency``). Rows live until ``expires_at``
    (creation + VBWD_IDEMPOTENCY_TTL_HOURS).
    """

    class Status(models.TextChoices):
        IN_PROGRESS = "IN_PROGRESS"
        COMPLETED = "COMPLETED"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="idempotency_records"
    )
    key = models.CharField(max_length=255)
    # method + path + SHA-256 of the canonical body, hex.
    fingerprint = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    response_headers = models.JSONField(default=dict, blank=True)
    # What a resumable request has done so far, by name (e.g. the refund it claimed), written in
    # the same transaction as that work so a retry resumes after it instead of repeating it.
    recovery = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the running request claimed the key: at creation, again when a retry takes over a
    # resumable request whose worker stopped answering. None: a resumable request ended without
    # an answer to store after committing some of its work; the next retry resumes it at once.
    claimed_at = models.DateTimeField(default=timezone.now, null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_unique_user_key")
        ]

    def __str__(self) -> str:
        return f"{self.key} ({self.status})"


class CatalogVersion(models.Model):
    """One row (pk 1): the number of committed changes to what the public catalog shows.

    Every write to a catalog model increments it in the writer's own transaction (see
    ``vbwd.catalog_cache``), so the value a reader sees is the state it reads: cached catalog
    answers are stamped with it and served only while it is unchanged.
    """

    value = models.BigIntegerField(default=1)

    def __str__(self) -> str:
        return f"catalog version {self.value}"
