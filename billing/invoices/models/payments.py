"""Payments of invoices, the credit notes of refunds and the claims of provider refunds."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from billing.invoices.models.base import MONEY, ImmutableModel
from billing.invoices.models.invoices import Invoice
from vbwd.exceptions import InvalidTransition


class PaymentStatus(models.TextChoices):
    PENDING = "PENDING"
    CAPTURED = "CAPTURED"
    FAILED = "FAILED"
    REFUNDED = "REFUNDED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"


# Which payment status may follow which. A payment is captured from PENDING (or FAILED, when the
# provider retried and succeeded); a captured payment moves between CAPTURED, PARTIALLY_REFUNDED
# and REFUNDED as refunds are recorded and reversed (a further partial refund, or the reversal of
# one of several, leaves it PARTIALLY_REFUNDED).
PAYMENT_TRANSITIONS: dict[str, frozenset[str]] = {
    PaymentStatus.PENDING: frozenset({PaymentStatus.CAPTURED, PaymentStatus.FAILED}),
    PaymentStatus.FAILED: frozenset({PaymentStatus.CAPTURED}),
    PaymentStatus.CAPTURED: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}),
    PaymentStatus.PARTIALLY_REFUNDED: frozenset(
        {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED, PaymentStatus.CAPTURED}
    ),
    PaymentStatus.REFUNDED: frozenset({PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.CAPTURED}),
}
# Payment states that hold captured money (some of it may be refunded).
SETTLED_PAYMENT_STATUSES = (
    PaymentStatus.CAPTURED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
)


class Payment(models.Model):
    """One attempt to pay an invoice. ``gateway`` is a plugin name, ``manual`` for a
    staff capture or ``zero`` for a zero total."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="payments")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments"
    )
    gateway = models.CharField(max_length=50)
    external_id = models.CharField(max_length=255, null=True, blank=True)
    amount = models.DecimalField(**MONEY)  # in `currency`
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    refunded_amount = models.DecimalField(**MONEY, default=Decimal("0"))
    failure_reason = models.CharField(max_length=500, null=True, blank=True)
    provider_data = models.JSONField(default=dict, blank=True)  # secrets removed
    session_id = models.CharField(max_length=255, null=True, blank=True, db_index=True)
    session_url = models.URLField(max_length=2000, null=True, blank=True)
    session_expires_at = models.DateTimeField(null=True, blank=True)
    # The secret an embedded checkout (Stripe Elements) confirms the payment with in the browser;
    # handed out again with a reused session, never shown in the back office.
    session_client_secret = models.CharField(max_length=500, null=True, blank=True)
    # The key sent to the provider with the call this row claims (a checkout session, an
    # off-session charge): fixed when the row is written, before the call, so a retry after a
    # crash or a timeout sends the same key and the provider answers with its first result.
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    # Set while a provider call for this claim is under way; a claim whose call started longer
    # ago than the lease was abandoned (the process died) and may be taken over.
    call_started_at = models.DateTimeField(null=True, blank=True)
    captured_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One row per provider payment: a repeated capture finds it (idempotency). Zero
            # totals ("zero-price") and staff references are unique per invoice only.
            models.UniqueConstraint(
                fields=["gateway", "external_id"],
                condition=models.Q(external_id__isnull=False)
                & ~models.Q(gateway__in=["zero", "manual"]),
                name="invoices_payment_external_unique",
            ),
            models.UniqueConstraint(
                fields=["invoice", "gateway", "external_id"],
                condition=models.Q(gateway__in=["zero", "manual"]),
                name="invoices_payment_reference_per_invoice",
            ),
        ]

    def __str__(self) -> str:
        reference = self.external_id or self.pk
        return f"{self.gateway} {reference}: {self.amount.normalize()} {self.currency}"

    def can_become(self, status: str) -> bool:
        return status in PAYMENT_TRANSITIONS[self.status]

    def _become(self, status: str) -> None:
        if not self.can_become(status):
            raise InvalidTransition(f"A {self.status} payment cannot become {status}")
        self.status = status

    def _status_for_refunded(self, refunded: Decimal) -> str:
        if refunded <= 0:
            return PaymentStatus.CAPTURED
        if refunded >= self.amount:
            return PaymentStatus.REFUNDED
        return PaymentStatus.PARTIALLY_REFUNDED

    def capture(self, *, at) -> None:
        """The provider took the money: a pending (or failed, then retried) attempt captured."""
        if self.status in SETTLED_PAYMENT_STATUSES:
            raise InvalidTransition(f"A {self.status} payment was captured before")
        self._become(PaymentStatus.CAPTURED)
        self.captured_at = at
        self.failure_reason = None
        self.call_started_at = None

    def fail(self, reason: str) -> None:
        self._become(PaymentStatus.FAILED)
        self.failure_reason = reason[:500]
        self.call_started_at = None

    def _move_refunded(self, refunded: Decimal) -> None:
        if self.status not in SETTLED_PAYMENT_STATUSES:
            raise InvalidTransition(f"A {self.status} payment holds no money to refund")
        self._become(self._status_for_refunded(refunded))
        self.refunded_amount = refunded

    def refund(self, amount: Decimal) -> None:
        """``amount`` of the captured money is refunded (never more than the payment)."""
        self._move_refunded(min(self.refunded_amount + amount, self.amount))

    def reverse_refund(self, amount: Decimal) -> None:
        """The provider undid a refund of ``amount``."""
        self._move_refunded(max(self.refunded_amount - amount, Decimal(0)))


class CreditNote(ImmutableModel):
    """The document of one refund, numbered in its own gapless series. Amounts are
    positive and in the invoice currency."""

    MUTABLE_FIELDS = ("reversed_at",)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    credit_note_number = models.CharField(max_length=64, unique=True)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="credit_notes")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="credit_notes"
    )
    payment = models.ForeignKey(
        Payment, on_delete=models.PROTECT, null=True, blank=True, related_name="credit_notes"
    )
    currency = models.CharField(max_length=3)
    net_amount = models.DecimalField(**MONEY)
    tax_amount = models.DecimalField(**MONEY)
    amount = models.DecimalField(**MONEY)  # gross, > 0
    # The staff's own reason: internal (staff screens and the audit log), never printed.
    reason = models.CharField("internal reason", max_length=500, null=True, blank=True)
    # What the customer reads on the credit note, entered on its own; optional.
    customer_reason = models.CharField(
        "reason on the credit note", max_length=500, null=True, blank=True
    )
    refund_reference = models.CharField(max_length=255, null=True, blank=True)
    full_refund = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    # What the full refund reversed, per line, so a provider's refund reversal can restore it
    # ({line id: handler data}); tokens clawed back and the shortfall.
    reversal_data = models.JSONField(default=dict, blank=True)
    tokens_clawed_back = models.PositiveIntegerField(default=0)
    token_shortfall = models.PositiveIntegerField(default=0)
    reversed_at = models.DateTimeField(null=True, blank=True)  # the provider undid the refund
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "credit_note_number"]
        constraints = [
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="invoices_cn_amount_gt_0")
        ]

    def __str__(self) -> str:
        return self.credit_note_number


class RefundStatus(models.TextChoices):
    PENDING = "PENDING"  # claimed; the provider call may or may not have happened
    SUCCEEDED = "SUCCEEDED"  # the provider refunded; the credit note is issued
    FAILED = "FAILED"  # the provider declined; nothing was recorded


REFUND_TRANSITIONS: dict[str, frozenset[str]] = {
    RefundStatus.PENDING: frozenset({RefundStatus.SUCCEEDED, RefundStatus.FAILED}),
    RefundStatus.SUCCEEDED: frozenset(),
    RefundStatus.FAILED: frozenset(),
}


class Refund(models.Model):
    """The claim of one refund through a payment provider, written and committed before the
    provider is called. Its id names the idempotency key sent to the provider, so a retry after
    a crash or a timeout asks for the same refund again instead of a second one. The credit note
    is issued when the provider's answer is recorded."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    amount = models.DecimalField(**MONEY)  # gross, > 0, in `currency`
    currency = models.CharField(max_length=3)
    status = models.CharField(
        max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    # What the staff member asked for, kept so that whoever completes the claim records it.
    reason = models.CharField(max_length=500, null=True, blank=True)
    customer_reason = models.CharField(max_length=500, null=True, blank=True)
    force = models.BooleanField(default=False)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True,
        related_name="+",
    )  # fmt: skip
    provider_refund_id = models.CharField(max_length=255, null=True, blank=True)
    failure_reason = models.CharField(max_length=500, null=True, blank=True)
    call_started_at = models.DateTimeField(null=True, blank=True)
    credit_note = models.OneToOneField(
        CreditNote, on_delete=models.PROTECT, null=True, blank=True, related_name="refund"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount__gt=0), name="invoices_refund_amount_gt_0"
            )
        ]

    def __str__(self) -> str:
        return f"Refund {self.amount.normalize()} {self.currency} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"refund:{self.pk}"

    def _become(self, status: str) -> None:
        if status not in REFUND_TRANSITIONS[self.status]:
            raise ValueError(f"A {self.status} refund cannot become {status}")
        self.status = status

    def succeed(self, *, provider_refund_id: str | None, credit_note: CreditNote) -> None:
        self._become(RefundStatus.SUCCEEDED)
        self.provider_refund_id = provider_refund_id or self.provider_refund_id
        self.credit_note = credit_note
        self.call_started_at = None
        self.failure_reason = None

    def fail(self, reason: str) -> None:
        self._become(RefundStatus.FAILED)
        self.failure_reason = reason[:500]
        self.call_started_at = None
