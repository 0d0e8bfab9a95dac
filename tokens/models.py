"""Tokens: bundles sold at a price, one balance per user and the append-only ledger
whose sum the balance always equals."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import connections, models, router
from django.utils import timezone

from billing.catalog.models import TimestampedModel
from vbwd.exceptions import InvalidTransition

# Upper bound of the token_amount column (a 32-bit integer on every backend).
MAX_TOKEN_AMOUNT = 2_147_483_647


class TokenBundle(TimestampedModel):
    """A pack of tokens the customer can buy; deactivated, never deleted, once it was bought."""

    name = models.CharField(max_length=255)
    description = models.TextField(null=True, blank=True)
    token_amount = models.PositiveIntegerField()  # tokens credited per purchase, > 0
    # In `currency`, with at most that currency's decimal places; >= 0.
    price = models.DecimalField(max_digits=12, decimal_places=4)
    currency = models.CharField(max_length=3)  # ISO-4217 code of a catalog Currency
    is_active = models.BooleanField(default=True, db_index=True)
    sort_order = models.IntegerField(default=0)

    class Meta:
        ordering = ["sort_order", "name"]
        verbose_name = "token bundle"
        constraints = [
            models.CheckConstraint(
                condition=models.Q(token_amount__gt=0), name="tokens_bundle_amount_gt_0"
            ),
            models.CheckConstraint(
                condition=models.Q(price__gte=0), name="tokens_bundle_price_ge_0"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TokenTransactionType(models.TextChoices):
    PURCHASE = "PURCHASE"
    SUBSCRIPTION = "SUBSCRIPTION"
    USAGE = "USAGE"
    REFUND = "REFUND"
    BONUS = "BONUS"
    ADJUSTMENT = "ADJUSTMENT"


class TokenBalance(models.Model):
    """The user's current token count; always the sum of their ledger, never below zero.

    Changed only by ``tokens.services.ledger`` with the row locked, together with the ledger row.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="token_balance"
    )
    balance = models.BigIntegerField(default=0)  # tokens, >= 0
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=models.Q(balance__gte=0), name="tokens_balance_ge_0")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}: {self.balance}"


class TokenTransactionQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise TypeError("The token ledger is append-only")

    def delete(self):
        raise TypeError("The token ledger is append-only")


class TokenTransaction(models.Model):
    """One signed change of a balance. Append-only: never changed or deleted."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # PROTECT: the ledger is a financial record; a user with entries is anonymised, not deleted.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="token_transactions"
    )
    amount = models.BigIntegerField()  # tokens; + credit, - debit; never 0
    balance_after = models.BigIntegerField()  # the balance right after this entry, >= 0
    transaction_type = models.CharField(max_length=16, choices=TokenTransactionType.choices)
    # What caused it: token_bundle_purchase, subscription, invoice, credit_note, plugin:chat, …
    reference_type = models.CharField(max_length=50, null=True, blank=True)
    reference_id = models.CharField(max_length=64, null=True, blank=True)
    description = models.CharField(max_length=255)
    # The staff member behind an ADJUSTMENT or BONUS.
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="token_transactions_made",
    )
    # A retried debit or credit with the same key returns the first entry (unique per user).
    idempotency_key = models.CharField(max_length=300, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    objects = TokenTransactionQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["user", "-created_at"], name="tokens_ledger_user_idx")]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="tokens_ledger_unique_idempotency_key",
            ),
            models.CheckConstraint(
                condition=~models.Q(amount=0), name="tokens_ledger_amount_not_0"
            ),
            models.CheckConstraint(
                condition=models.Q(balance_after__gte=0), name="tokens_ledger_balance_after_ge_0"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_type} {self.amount:+d} → {self.balance_after}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise TypeError("The token ledger is append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise TypeError("The token ledger is append-only")


class PurchaseStatus(models.TextChoices):
    PENDING = "PENDING"
    COMPLETED = "COMPLETED"
    REFUNDED = "REFUNDED"
    CANCELLED = "CANCELLED"


# Which status may follow which; the verbs below refuse anything else.
PURCHASE_TRANSITIONS: dict[str, frozenset[str]] = {
    PurchaseStatus.PENDING: frozenset({PurchaseStatus.COMPLETED, PurchaseStatus.CANCELLED}),
    PurchaseStatus.COMPLETED: frozenset({PurchaseStatus.REFUNDED}),
    PurchaseStatus.REFUNDED: frozenset({PurchaseStatus.COMPLETED}),  # refund reversed
    PurchaseStatus.CANCELLED: frozenset(),
}


class TokenBundlePurchase(models.Model):
    """One bought bundle (one invoice line); amount and price are snapshotted at checkout."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="token_purchases"
    )
    bundle = models.ForeignKey(TokenBundle, on_delete=models.PROTECT, related_name="purchases")
    bundle_name = models.CharField(max_length=255)
    invoice = models.ForeignKey(
        "invoices.Invoice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="token_purchases",
    )
    status = models.CharField(
        max_length=16, choices=PurchaseStatus.choices, default=PurchaseStatus.PENDING
    )
    token_amount = models.PositiveIntegerField()  # tokens credited on completion
    # In `currency` (the invoice's), rounded to its places (0..4).
    price = models.DecimalField(max_digits=14, decimal_places=4)
    currency = models.CharField(max_length=3)
    tokens_credited = models.BooleanField(default=False)
    completed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.bundle_name} for {self.user_id} ({self.status})"

    def can_become(self, status: str) -> bool:
        return status in PURCHASE_TRANSITIONS[self.status]

    def _move_to(self, status: str) -> None:
        if not self.can_become(status):
            raise InvalidTransition(f"Bundle purchase cannot move from {self.status} to {status}")
        self.status = status

    def complete(self, *, at) -> None:
        """Paid: its tokens were credited."""
        self._move_to(PurchaseStatus.COMPLETED)
        self.tokens_credited = True
        self.completed_at = at

    @classmethod
    def complete_pending(cls, ids, *, at) -> dict:
        """``complete`` for every PENDING purchase of ``ids`` at once: one ``UPDATE … RETURNING``
        that locks, moves and reads them. A purchase in another status (completed by an earlier
        capture, cancelled, refunded) is left as it is, as the verb would refuse it. Returns
        the completed purchases, with their new values, by primary key."""
        if PurchaseStatus.COMPLETED not in PURCHASE_TRANSITIONS[PurchaseStatus.PENDING]:
            raise InvalidTransition("Bundle purchases cannot be completed")
        ids = list(ids)
        if not ids:
            return {}
        connection = connections[router.db_for_write(cls)]
        opts = cls._meta
        name = connection.ops.quote_name

        def prep(field_name, value):
            return opts.get_field(field_name).get_db_prep_value(value, connection)

        now = timezone.now()
        # Quoted names of the model's own table and columns; every value is a parameter.
        sql = (
            f"UPDATE {name(opts.db_table)} SET {name('status')} = %s, "  # noqa: S608
            f"{name('tokens_credited')} = %s, {name('completed_at')} = %s, "
            f"{name('updated_at')} = %s WHERE {name('status')} = %s AND {name('id')} IN "
            f"({', '.join(['%s'] * len(ids))}) RETURNING *"
        )
        params = [
            PurchaseStatus.COMPLETED,
            True,
            prep("completed_at", at),
            prep("updated_at", now),
            PurchaseStatus.PENDING,
            *(prep("id", pk) for pk in ids),
        ]
        return {purchase.pk: purchase for purchase in cls.objects.raw(sql, params)}

    def cancel(self) -> None:
        """Its invoice was voided unpaid."""
        self._move_to(PurchaseStatus.CANCELLED)

    def refund(self) -> None:
        """Its invoice was refunded (the ledger takes the tokens back)."""
        self._move_to(PurchaseStatus.REFUNDED)

    def reinstate(self) -> None:
        """The refund was reversed."""
        self._move_to(PurchaseStatus.COMPLETED)
