import uuid

from django.conf import settings
from django.db import models


class ChatExchangeStatus(models.TextChoices):
    PENDING = "PENDING"  # claimed: its message cost is held while the model answers
    COMPLETED = "COMPLETED"  # answered and billed
    FAILED = "FAILED"  # the model gave no reply; nothing was billed


class ChatExchange(models.Model):
    """One message sent to the model and its reply: the claim written before the call (its
    message cost held against the balance while PENDING) and the bill written after it.

    Token amounts are whole tokens. ``tokens_charged`` is what the ledger entry took: the
    message cost plus the reply cost, or less when the balance could not cover both.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="chat_exchanges"
    )
    # The Idempotency-Key of the request, if it had one: a retry finds this exchange again.
    request_key = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(
        max_length=16, choices=ChatExchangeStatus.choices, default=ChatExchangeStatus.PENDING
    )
    counting_mode = models.CharField(max_length=16)
    message_tokens = models.PositiveIntegerField()  # cost of the message, held while PENDING
    reply_tokens = models.PositiveIntegerField(null=True, blank=True)
    tokens_charged = models.PositiveIntegerField(default=0)
    # What the endpoint itself reported, for comparing with what was billed.
    model = models.CharField(max_length=200, blank=True, default="")
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    # Kept so that a retried request is answered without a second model call.
    reply = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "request_key"],
                condition=models.Q(request_key__isnull=False),
                name="chat_exchange_unique_request_key",
            ),
        ]
        indexes = [models.Index(fields=["user", "status"], name="chat_exchange_user_status")]

    def __str__(self) -> str:
        return f"Chat exchange {self.pk} ({self.status})"
