"""Invoices, their lines and the gapless number sequences."""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from billing.invoices.models.base import MONEY, ImmutableModel
from vbwd.exceptions import InvalidTransition


class InvoiceStatus(models.TextChoices):
    PENDING = "PENDING"
    OVERDUE = "OVERDUE"
    PAID = "PAID"
    CANCELLED = "CANCELLED"  # voided
    FAILED = "FAILED"  # can no longer be paid
    REFUNDED = "REFUNDED"  # fully refunded


class InvoiceType(models.TextChoices):
    CHECKOUT = "CHECKOUT"
    RENEWAL = "RENEWAL"
    PLAN_CHANGE = "PLAN_CHANGE"
    MANUAL = "MANUAL"


class LineType(models.TextChoices):
    """The core line types; plugins register more (UPPER_SNAKE) with billing.invoices.lines."""

    SUBSCRIPTION = "SUBSCRIPTION"
    ADD_ON = "ADD_ON"
    TOKEN_BUNDLE = "TOKEN_BUNDLE"
    PRORATION = "PRORATION"
    FEE = "FEE"
    CUSTOM = "CUSTOM"


# Which invoice status may follow which. Services check it before every change.
TRANSITIONS: dict[str, frozenset[str]] = {
    InvoiceStatus.PENDING: frozenset(
        {InvoiceStatus.PAID, InvoiceStatus.CANCELLED, InvoiceStatus.FAILED, InvoiceStatus.OVERDUE}
    ),
    InvoiceStatus.OVERDUE: frozenset({InvoiceStatus.PAID, InvoiceStatus.CANCELLED}),
    InvoiceStatus.PAID: frozenset({InvoiceStatus.REFUNDED}),
    InvoiceStatus.REFUNDED: frozenset({InvoiceStatus.PAID}),
    InvoiceStatus.CANCELLED: frozenset(),
    InvoiceStatus.FAILED: frozenset(),
}

OPEN_STATUSES = (InvoiceStatus.PENDING, InvoiceStatus.OVERDUE)


class NumberSequence(models.Model):
    """The last number handed out per series and calendar year; locked while allocating, so
    numbers are gapless and unique."""

    series = models.CharField(max_length=8)  # INV or CN
    year = models.PositiveSmallIntegerField()
    last_value = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["series", "year"], name="invoices_sequence_unique")
        ]

    def __str__(self) -> str:
        return f"{self.series} {self.year}: {self.last_value}"


class Invoice(ImmutableModel):
    """One bill to one user in one currency; see the module docstring for immutability."""

    MUTABLE_FIELDS = (
        "status",
        "paid_at",
        "cancelled_at",
        "refunded_at",
        "refunded_amount",
        "payment_ref",
        "needs_review",
        "review_reason",
        "updated_at",
    )

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice_number = models.CharField(max_length=64, unique=True)
    invoice_type = models.CharField(max_length=16, choices=InvoiceType.choices)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="invoices"
    )
    status = models.CharField(
        max_length=16, choices=InvoiceStatus.choices, default=InvoiceStatus.PENDING
    )
    currency = models.CharField(max_length=3)
    # Rate of `currency` against the default currency at issue (1 unit default = rate units).
    exchange_rate = models.DecimalField(max_digits=18, decimal_places=6, default=Decimal("1"))
    subtotal = models.DecimalField(**MONEY)  # sum of the lines' net amounts
    tax_amount = models.DecimalField(**MONEY)  # sum of the lines' tax amounts
    total_amount = models.DecimalField(**MONEY)  # sum of the lines' gross amounts
    refunded_amount = models.DecimalField(**MONEY, default=Decimal("0"))  # 0..total_amount
    reverse_charge = models.BooleanField(default=False)
    payment_method = models.CharField(max_length=50, null=True, blank=True)  # method code
    payment_method_name = models.CharField(max_length=100, null=True, blank=True)
    payment_ref = models.CharField(max_length=255, null=True, blank=True)
    # The subscription the invoice creates, renews or changes. A plain id: subscriptions sit
    # above invoices in the dependency order and reach invoices, not the other way round.
    subscription_id = models.UUIDField(null=True, blank=True, db_index=True)
    tarif_plan_id = models.UUIDField(null=True, blank=True)
    # The subscription period the invoice is for: the new period of a RENEWAL, the period a
    # PLAN_CHANGE was computed on. A live renewal is unique per (subscription, period start).
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    billing_address = models.JSONField(default=dict)  # BillingSnapshot at issue
    seller = models.JSONField(default=dict)  # SellerSnapshot at issue
    # A capture that did not match (amount, currency, state) waits for staff.
    needs_review = models.BooleanField(default=False, db_index=True)
    review_reason = models.CharField(max_length=500, null=True, blank=True)
    invoiced_at = models.DateTimeField(db_index=True)
    due_date = models.DateTimeField()
    paid_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    refunded_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-invoiced_at", "-invoice_number"]
        indexes = [
            models.Index(fields=["user", "-invoiced_at"], name="invoices_user_idx"),
            models.Index(fields=["status", "due_date"], name="invoices_status_due_idx"),
        ]
        constraints = [
            # One live renewal per subscription period: a second renewal run cannot bill twice.
            models.UniqueConstraint(
                fields=["subscription_id", "period_start"],
                condition=models.Q(invoice_type="RENEWAL") & ~models.Q(status="CANCELLED"),
                name="invoices_one_renewal_per_period",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_amount__gte=0)
                & models.Q(refunded_amount__lte=models.F("total_amount")),
                name="invoices_refunded_within_total",
            ),
        ]

    def __str__(self) -> str:
        return self.invoice_number

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES

    @property
    def is_payable(self) -> bool:
        return self.is_open and self.total_amount > 0

    @property
    def amount_due(self) -> Decimal:
        return self.total_amount if self.is_open else Decimal("0")

    @property
    def refundable_amount(self) -> Decimal:
        return self.total_amount - self.refunded_amount

    def can_become(self, status: str) -> bool:
        return status in TRANSITIONS[self.status]

    def _become(self, status: str, message: str | None = None) -> None:
        if not self.can_become(status):
            raise InvalidTransition(message or f"A {self.status} invoice cannot become {status}")
        self.status = status

    def mark_paid(self, *, at, payment_ref: str) -> None:
        """An open invoice is paid by the payment ``payment_ref`` names."""
        if not self.is_open:
            raise InvalidTransition(f"A {self.status} invoice cannot become {InvoiceStatus.PAID}")
        self._become(InvoiceStatus.PAID)
        self.paid_at = at
        self.payment_ref = payment_ref

    def mark_overdue(self) -> None:
        self._become(InvoiceStatus.OVERDUE)

    def mark_failed(self) -> None:
        """An open invoice that can no longer be paid."""
        self._become(InvoiceStatus.FAILED)

    def void(self, *, at) -> None:
        if self.status == InvoiceStatus.PAID:
            raise InvalidTransition("Paid invoices cannot be voided; refund them instead")
        if self.status == InvoiceStatus.CANCELLED:
            raise InvalidTransition("Invoice is already voided")
        self._become(InvoiceStatus.CANCELLED, f"Cannot void an invoice in status {self.status}")
        self.cancelled_at = at

    def refund(self, amount: Decimal, *, at) -> None:
        """``amount`` of a PAID invoice is refunded; refunding all of it makes it REFUNDED."""
        if self.status != InvoiceStatus.PAID:
            raise InvalidTransition("Only paid invoices can be refunded")
        refunded = self.refunded_amount + amount
        if refunded == self.total_amount:
            self._become(InvoiceStatus.REFUNDED)
        self.refunded_amount = refunded
        self.refunded_at = at

    def reverse_refund(self, amount: Decimal, *, full_refund: bool, last_refunded_at) -> None:
        """The provider undid a refund of ``amount``. Only undoing the refund that completed the
        invoice (and reversed its lines) makes it PAID again; undoing an earlier partial one
        leaves the lines reversed and the invoice REFUNDED. ``last_refunded_at`` is the time of
        the last refund still in force."""
        if full_refund:
            if self.status != InvoiceStatus.REFUNDED:
                raise InvalidTransition(f"A {self.status} invoice has no full refund to undo")
            self._become(InvoiceStatus.PAID)
        self.refunded_amount = max(self.refunded_amount - amount, Decimal(0))
        self.refunded_at = last_refunded_at


class InvoiceLine(ImmutableModel):
    """One item of an invoice. ``item_id`` is the purchase record the line activates
    (subscription, add-on subscription, bundle purchase), resolved by the line-type registry."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="lines")
    position = models.PositiveSmallIntegerField()  # display order, from 0
    type = models.CharField(max_length=40)  # LineType or a plugin-registered UPPER_SNAKE type
    description = models.CharField(max_length=500)
    quantity = models.PositiveIntegerField(default=1)  # >= 1
    unit_price = models.DecimalField(**MONEY)  # net; negative for PRORATION
    amount = models.DecimalField(**MONEY)  # net line total = quantity × unit_price
    tax_rate = models.DecimalField(max_digits=5, decimal_places=2, default=Decimal("0"))  # %
    tax_name = models.CharField(max_length=100, null=True, blank=True)
    tax_amount = models.DecimalField(**MONEY)  # rounded per line
    gross_amount = models.DecimalField(**MONEY)  # amount + tax_amount
    item_id = models.UUIDField(null=True, blank=True, db_index=True)
    catalog_item_id = models.UUIDField(null=True, blank=True)
    period_start = models.DateTimeField(null=True, blank=True)
    period_end = models.DateTimeField(null=True, blank=True)
    extra_data = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["invoice", "position"]
        constraints = [
            models.UniqueConstraint(fields=["invoice", "position"], name="invoices_line_position"),
            models.CheckConstraint(condition=models.Q(quantity__gte=1), name="invoices_line_qty"),
        ]

    def __str__(self) -> str:
        return f"{self.type}: {self.description}"
