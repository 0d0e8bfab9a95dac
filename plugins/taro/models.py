import uuid

from django.conf import settings
from django.db import models
from django.templatetags.static import static

from vbwd.exceptions import InvalidTransition


class ArcanaType(models.TextChoices):
    MAJOR_ARCANA = "MAJOR_ARCANA"
    MINOR_ARCANA = "MINOR_ARCANA"


class Arcana(models.Model):
    """One card of the deck (78 rows, loaded by a migration); staff may edit the meanings."""

    id = models.PositiveSmallIntegerField(primary_key=True)  # 1–78, fixed by the deck
    slug = models.SlugField(max_length=60, unique=True)  # names the card's image file
    name = models.CharField(max_length=60)
    number = models.PositiveSmallIntegerField(null=True, blank=True)
    suit = models.CharField(max_length=20, null=True, blank=True)
    rank = models.CharField(max_length=20, null=True, blank=True)
    arcana_type = models.CharField(max_length=16, choices=ArcanaType.choices)
    upright_meaning = models.TextField()
    reversed_meaning = models.TextField()

    class Meta:
        ordering = ["id"]
        verbose_name = "tarot card"
        verbose_name_plural = "tarot deck"

    def __str__(self) -> str:
        return self.name

    @property
    def image_url(self) -> str:
        return static(f"taro/cards/{self.slug}.svg")

    def meaning(self, orientation: str) -> str:
        return (
            self.reversed_meaning if orientation == Orientation.REVERSED else self.upright_meaning
        )


class TaroSessionStatus(models.TextChoices):
    ACTIVE = "ACTIVE"  # open for follow-up questions until expires_at
    EXPIRED = "EXPIRED"  # its time ran out
    CLOSED = "CLOSED"  # ended early: a newer session, or staff reset the user's sessions


SS = TaroSessionStatus
SESSION_TRANSITIONS: dict[str, frozenset[str]] = {
    SS.ACTIVE: frozenset({SS.EXPIRED, SS.CLOSED}),
    SS.EXPIRED: frozenset(),
    SS.CLOSED: frozenset(),
}


class TaroSession(models.Model):
    """A reading: three cards on the table, follow-up questions until it expires or closes.

    ``tokens_consumed`` is whole tokens: the session cost plus every billed follow-up.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="taro_sessions"
    )
    # Names the spread on the table; a NEW_SPREAD follow-up lays a new one.
    spread_id = models.UUIDField(default=uuid.uuid4)
    status = models.CharField(
        max_length=16, choices=TaroSessionStatus.choices, default=TaroSessionStatus.ACTIVE
    )
    # The Idempotency-Key of the creating request, if it had one.
    request_key = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True)
    follow_up_count = models.PositiveIntegerField(default=0)
    max_follow_ups = models.PositiveIntegerField()
    tokens_consumed = models.PositiveIntegerField(default=0)
    # False once staff reset the user's daily count: the session no longer uses up the limit.
    counts_toward_limit = models.BooleanField(default=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "request_key"],
                condition=models.Q(request_key__isnull=False),
                name="taro_session_unique_request_key",
            ),
        ]
        indexes = [
            models.Index(fields=["user", "created_at"], name="taro_session_user_created"),
            models.Index(fields=["status", "expires_at"], name="taro_session_status_expires"),
        ]

    def __str__(self) -> str:
        return f"Taro session {self.pk} ({self.status})"

    def _move_to(self, status: str, now) -> None:
        if status not in SESSION_TRANSITIONS[self.status]:
            raise InvalidTransition(f"Session is {self.status.lower()}")
        self.status, self.ended_at = status, now

    def close(self, *, now) -> None:
        self._move_to(SS.CLOSED, now)

    def expire(self, *, now) -> None:
        self._move_to(SS.EXPIRED, now)


class Position(models.TextChoices):
    PAST = "PAST"
    PRESENT = "PRESENT"
    FUTURE = "FUTURE"
    ADDITIONAL = "ADDITIONAL"


class Orientation(models.TextChoices):
    UPRIGHT = "UPRIGHT"
    REVERSED = "REVERSED"


class FollowUpType(models.TextChoices):
    SAME_CARDS = "SAME_CARDS"
    ADDITIONAL = "ADDITIONAL"
    NEW_SPREAD = "NEW_SPREAD"


class FollowUpStatus(models.TextChoices):
    PENDING = "PENDING"  # claimed: its cost is held and its cards drawn while the model answers
    COMPLETED = "COMPLETED"  # answered and billed; its cards are on the table
    FAILED = "FAILED"  # the model gave no answer; nothing billed, its cards never laid


FS = FollowUpStatus
# A retried request takes its claim back (a FAILED one, or a PENDING one its first try left).
FOLLOW_UP_TRANSITIONS: dict[str, frozenset[str]] = {
    FS.PENDING: frozenset({FS.PENDING, FS.COMPLETED, FS.FAILED}),
    FS.FAILED: frozenset({FS.PENDING}),
    FS.COMPLETED: frozenset(),
}


class TaroFollowUp(models.Model):
    """A question about a session's cards and the model's answer: the claim written before the
    call (``cost`` tokens held against the balance while PENDING) and the bill written after."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(TaroSession, on_delete=models.CASCADE, related_name="follow_ups")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="taro_follow_ups"
    )
    request_key = models.CharField(max_length=255, null=True, blank=True)
    status = models.CharField(max_length=16, choices=FollowUpStatus.choices, default=FS.PENDING)
    follow_up_type = models.CharField(max_length=16, choices=FollowUpType.choices)
    question = models.TextField()
    answer = models.TextField(blank=True, default="")
    cost = models.PositiveIntegerField()  # whole tokens, held while PENDING
    tokens_charged = models.PositiveIntegerField(default=0)
    # The spread a NEW_SPREAD lays once answered.
    new_spread_id = models.UUIDField(null=True, blank=True)
    requested_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-requested_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "request_key"],
                condition=models.Q(request_key__isnull=False),
                name="taro_follow_up_unique_request_key",
            ),
        ]
        indexes = [models.Index(fields=["session", "status"], name="taro_follow_up_status")]

    def __str__(self) -> str:
        return f"Taro follow-up {self.pk} ({self.status})"

    def _move_to(self, status: str) -> None:
        if status not in FOLLOW_UP_TRANSITIONS[self.status]:
            raise InvalidTransition(f"Follow-up cannot move from {self.status} to {status}")
        self.status = status

    def reclaim(self, *, cost: int, now) -> None:
        """A retried request holds the cost again, from ``now``."""
        self._move_to(FS.PENDING)
        self.cost, self.requested_at, self.finished_at = cost, now, None

    def complete(self, *, answer: str, tokens_charged: int, now) -> None:
        self._move_to(FS.COMPLETED)
        self.answer, self.tokens_charged, self.finished_at = answer, tokens_charged, now

    def fail(self, *, now) -> None:
        self._move_to(FS.FAILED)
        self.finished_at = now


class TaroCard(models.Model):
    """A card drawn for a session. Cards a follow-up draws wait off the table until its answer
    is recorded; a NEW_SPREAD takes the earlier cards off the table (they stay for history)."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    session = models.ForeignKey(TaroSession, on_delete=models.CASCADE, related_name="cards")
    follow_up = models.ForeignKey(
        TaroFollowUp, on_delete=models.CASCADE, null=True, blank=True, related_name="cards"
    )
    arcana = models.ForeignKey(Arcana, on_delete=models.PROTECT, related_name="+")
    spread_id = models.UUIDField()
    position = models.CharField(max_length=16, choices=Position.choices)
    orientation = models.CharField(max_length=16, choices=Orientation.choices)
    interpretation = models.TextField(null=True, blank=True)
    on_table = models.BooleanField(default=True)
    sequence = models.PositiveSmallIntegerField(default=0)  # order of drawing in the session

    class Meta:
        ordering = ["sequence"]
        indexes = [models.Index(fields=["session", "on_table"], name="taro_card_on_table")]

    def __str__(self) -> str:
        return f"{self.arcana_id} {self.position} {self.orientation}"
