import uuid

from django.conf import settings
from django.db import models

from vbwd.exceptions import InvalidTransition


class ChatExchangeStatus(models.TextChoices):
    PENDING = "PENDING"  # claimed: its message cost is held while the model answers
    COMPLETED = "COMPLETED"  # answered and billed
    FAILED = "FAILED"  # the model gave no reply; nothing was billed


S = ChatExchangeStatus
# A retried request takes its claim back (a FAILED one, or a PENDING one its first try left).
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.PENDING, S.COMPLETED, S.FAILED}),
    S.FAILED: frozenset({S.PENDING}),
    S.COMPLETED: frozenset(),
}


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

    # --- verbs: each refuses a transition ``TRANSITIONS`` does not list -------------------------

    def _move_to(self, status: str) -> None:
        if status not in TRANSITIONS[self.status]:
            raise InvalidTransition(f"Chat exchange cannot move from {self.status} to {status}")
        self.status = status

    def reclaim(self, *, counting_mode: str, message_tokens: int, model: str, now) -> None:
        """A retried request holds the message cost again, from ``now``."""
        self._move_to(S.PENDING)
        self.counting_mode, self.message_tokens, self.model = counting_mode, message_tokens, model
        self.created_at, self.finished_at = now, None

    def complete(self, *, reply: str, reply_tokens: int, tokens_charged: int, usage, now) -> None:
        """The model answered and the exchange is billed (``usage``: the endpoint's counts)."""
        self._move_to(S.COMPLETED)
        self.reply, self.reply_tokens, self.tokens_charged = reply, reply_tokens, tokens_charged
        self.prompt_tokens = usage.prompt_tokens
        self.completion_tokens = usage.completion_tokens
        self.finished_at = now
