"""Inbound provider webhook events, stored before they are processed."""

from __future__ import annotations

import uuid

from django.db import models


class ProviderEventStatus(models.TextChoices):
    RECEIVED = "RECEIVED"
    PROCESSED = "PROCESSED"
    FAILED = "FAILED"  # processing raised; the provider's retry processes it again


class ProviderEvent(models.Model):
    """An inbound, signature-verified provider webhook event, stored before it is processed.
    Unique per (provider, event id), so a repeated delivery is recognised and ignored."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    provider = models.CharField(max_length=50)
    event_id = models.CharField(max_length=255)
    event_type = models.CharField(max_length=100)
    payload = models.JSONField(default=dict)
    status = models.CharField(
        max_length=16, choices=ProviderEventStatus.choices, default=ProviderEventStatus.RECEIVED
    )
    error = models.TextField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    received_at = models.DateTimeField(auto_now_add=True, db_index=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-received_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "event_id"], name="invoices_provider_event_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.provider} {self.event_type} {self.event_id}"

    def processed(self, *, at, note: str | None = None) -> None:
        """What the delivery did is stored with it; ``note`` says why nothing was applied."""
        if self.status == ProviderEventStatus.PROCESSED and self.processed_at is not None:
            raise ValueError(f"Event {self.event_id} was processed before")
        self.status = ProviderEventStatus.PROCESSED
        self.processed_at = at
        self.error = note

    def failed(self, error: str) -> None:
        """Processing raised: kept unprocessed, so the provider's retry processes it."""
        if self.status == ProviderEventStatus.PROCESSED and self.processed_at is not None:
            raise ValueError(f"Event {self.event_id} was processed; it cannot fail now")
        self.status = ProviderEventStatus.FAILED
        self.processed_at = None
        self.error = error
