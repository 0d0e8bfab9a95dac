"""Invoices, their lines, payments, credit notes, number sequences and inbound provider events
(DOMAIN §6–§7).

An issued invoice is a legal record: its lines, amounts and buyer/seller snapshots never change and
it is never deleted. The model refuses both through the ORM (``save`` of a changed immutable field,
``QuerySet.update`` of one, any ``delete``); only the lifecycle fields listed in
``Invoice.MUTABLE_FIELDS`` move, and only through ``billing.invoices.services``.

Money: ``Decimal(14, 4)`` in the invoice's ``currency``: a currency has 0 to 4 decimal places
(API.md §2.2), and every amount is rounded to its currency's places (ROUND_HALF_UP, per line;
totals are sums of the lines). Read-back values carry four places; format them with
``billing.catalog.pricing.format_money`` for people.
"""

from __future__ import annotations

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from vbwd.exceptions import InvalidTransition


class ImmutableRecordError(Exception):
    """An attempt to change or delete an issued invoice, line or credit note."""


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


class PaymentStatus(models.TextChoices):
    PENDING = "PENDING"
    CAPTURED = "CAPTURED"
    FAILED = "FAILED"
    REFUNDED = "REFUNDED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"


# Which invoice status may follow which (DOMAIN §6). Services check it before every change.
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

OPEN_STATUSES = (InvoiceStatus.PENDING, InvoiceStatus.OVERDUE)
MONEY = {"max_digits": 14, "decimal_places": 4}


class ImmutableQuerySet(models.QuerySet):
    """``update`` may only touch the model's MUTABLE_FIELDS; ``delete`` is refused."""

    def update(self, **kwargs):
        frozen = set(kwargs) - set(self.model.MUTABLE_FIELDS)
        if frozen:
            raise ImmutableRecordError(
                f"{self.model.__name__} fields {sorted(frozen)} cannot change after issue"
            )
        return super().update(**kwargs)

    def delete(self):
        raise ImmutableRecordError(f"{self.model.__name__} rows are never deleted")


class ImmutableModel(models.Model):
    """Rows that are written once; afterwards only ``MUTABLE_FIELDS`` may change."""

    MUTABLE_FIELDS: tuple[str, ...] = ()

    objects = ImmutableQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        loaded = getattr(self, "_loaded", None)
        if loaded is not None and not self._state.adding:
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                frozen = set(update_fields) - set(self.MUTABLE_FIELDS)
                if frozen:
                    raise ImmutableRecordError(
                        f"{type(self).__name__} fields {sorted(frozen)} cannot change after issue"
                    )
            else:
                for field in self._meta.concrete_fields:
                    if field.attname in self.MUTABLE_FIELDS or field.attname not in loaded:
                        continue
                    if getattr(self, field.attname) != loaded[field.attname]:
                        raise ImmutableRecordError(
                            f"{type(self).__name__}.{field.attname} cannot change after issue"
                        )
        super().save(*args, **kwargs)
        self._loaded = {
            field.attname: getattr(self, field.attname) for field in self._meta.concrete_fields
        }

    def delete(self, *args, **kwargs):
        raise ImmutableRecordError(f"{type(self).__name__} rows are never deleted")

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance._loaded = dict(zip(field_names, values, strict=True))
        return instance


class NumberSequence(models.Model):
    """The last number handed out per series and calendar year; locked while allocating, so
    numbers are gapless and unique (DOMAIN §6)."""

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
    """One item of an invoice (DOMAIN §6). ``item_id`` is the purchase record the line activates
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


class Payment(models.Model):
    """One attempt to pay an invoice (DOMAIN §7). ``gateway`` is a plugin name, ``manual`` for a
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
    """The document of one refund (DOMAIN §7), numbered in its own gapless series. Amounts are
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
    reason = models.CharField(max_length=500, null=True, blank=True)
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
