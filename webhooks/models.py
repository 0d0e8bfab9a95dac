import uuid

from django.db import models

from plugins.crypto import decrypt_text, encrypt_text


class WebhookDeliveryStatus(models.TextChoices):
    PENDING = "PENDING"
    RETRYING = "RETRYING"  # at least one attempt failed, another is scheduled
    DELIVERED = "DELIVERED"  # a 2xx answer
    FAILED = "FAILED"  # every attempt failed


class WebhookEndpoint(models.Model):
    """A URL staff registered to receive the domain events listed in ``events`` (``["*"]`` for
    all), signed with ``secret`` (generated here, shown once, replaced by a rotation; stored
    encrypted with the server's secrets key)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    url = models.CharField(max_length=2000)
    description = models.CharField(max_length=500, null=True, blank=True)
    events = models.JSONField(default=list)  # event type names, or ["*"]
    is_active = models.BooleanField(default=True)
    # The HMAC-SHA256 key of the signatures (receivers hold a copy), encrypted; ``secret``
    # reads and sets it.
    secret_encrypted = models.TextField(editable=False)
    secret_last4 = models.CharField(max_length=4, editable=False)
    last_triggered_at = models.DateTimeField(null=True, blank=True)
    last_delivery_status = models.CharField(
        max_length=16, choices=WebhookDeliveryStatus.choices, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "webhook endpoint"

    def __str__(self) -> str:
        return self.url

    @property
    def secret(self) -> str | None:
        """The signing secret; None when it was encrypted under another secrets key (after a
        key change: rotate it)."""
        return decrypt_text(self.secret_encrypted) if self.secret_encrypted else None

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = encrypt_text(value)
        self.secret_last4 = value[-4:]

    def subscribes_to(self, event_type: str) -> bool:
        return "*" in self.events or event_type in self.events


class WebhookDelivery(models.Model):
    """One event to one endpoint: written in the transaction of the change that caused the
    event (the outbox), then sent and retried until a 2xx answer or the last attempt.

    ``body`` is the exact JSON text every attempt sends (a replay sends it again under a new
    delivery). ``claim`` and ``next_attempt_at`` lease a due row to one worker while it calls
    the receiver outside any transaction."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    endpoint = models.ForeignKey(
        WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries"
    )
    event_id = models.UUIDField(db_index=True)
    event_type = models.CharField(max_length=64)
    body = models.TextField()
    status = models.CharField(
        max_length=16, choices=WebhookDeliveryStatus.choices, default=WebhookDeliveryStatus.PENDING
    )
    attempts = models.PositiveSmallIntegerField(default=0)
    max_attempts = models.PositiveSmallIntegerField()
    response_code = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.CharField(max_length=1000, null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    # When the next attempt is due; while a worker holds the row, the end of its lease.
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    replay_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="replays"
    )
    # Set by the worker that holds the row; its outcome is recorded only under the same claim.
    claim = models.UUIDField(null=True, blank=True)
    # [{attempt, attempted_at, response_code, response_excerpt, duration_ms, error}]
    attempt_log = models.JSONField(default=list)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = "webhook delivery"
        verbose_name_plural = "webhook deliveries"
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                name="webhook_delivery_due_idx",
                condition=models.Q(status__in=["PENDING", "RETRYING"]),
            ),
            models.Index(fields=["endpoint", "-created_at"], name="webhook_delivery_endpoint_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} → {self.endpoint_id} ({self.status})"
