"""Coupons, their redemptions and the rules that read only one row.

A coupon is what a customer types at checkout to get a discount: a percentage or an amount off
the covered items, once, for a number of billing periods, or for as long as the subscription
runs. Each use is a redemption: PENDING while its invoice is unpaid, APPLIED once paid,
RELEASED when the invoice is voided (then it no longer counts against the coupon's limits).
"""

from __future__ import annotations

import re
import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from billing.invoices.models.base import MONEY
from vbwd.exceptions import InvalidTransition

CODE_PATTERN = re.compile(r"^[A-Z0-9_-]{3,40}$")
DISCOUNT_LINE = "DISCOUNT"


class CouponKind(models.TextChoices):
    PERCENT = "PERCENT"
    AMOUNT = "AMOUNT"


class CouponDuration(models.TextChoices):
    ONCE = "ONCE"  # the first invoice only
    REPEATING = "REPEATING"  # the first duration_periods billing periods
    FOREVER = "FOREVER"


class Coupon(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Stored upper-case; customers type it in any case.
    code = models.CharField(max_length=40, unique=True)
    name = models.CharField(max_length=200)
    kind = models.CharField(max_length=8, choices=CouponKind.choices)
    # PERCENT: 0 < percent_off <= 100.
    percent_off = models.DecimalField(max_digits=5, decimal_places=2, null=True, blank=True)
    # AMOUNT: a net amount in ``currency``, only on invoices in that currency.
    amount_off = models.DecimalField(**MONEY, null=True, blank=True)
    currency = models.CharField(max_length=3, null=True, blank=True)
    duration = models.CharField(max_length=10, choices=CouponDuration.choices)
    # REPEATING: how many billing periods, the checkout invoice being the first (>= 1).
    duration_periods = models.PositiveSmallIntegerField(null=True, blank=True)
    # Catalog ids the coupon covers; all three empty: every item.
    plan_ids = models.JSONField(default=list, blank=True)
    add_on_ids = models.JSONField(default=list, blank=True)
    token_bundle_ids = models.JSONField(default=list, blank=True)
    valid_from = models.DateTimeField(null=True, blank=True)
    valid_until = models.DateTimeField(null=True, blank=True)
    # In total, counting PENDING and APPLIED redemptions; null: no limit.
    max_redemptions = models.PositiveIntegerField(null=True, blank=True)
    once_per_customer = models.BooleanField(default=True)
    # Only for users without a PAID invoice.
    first_purchase_only = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind="AMOUNT")
                | (models.Q(percent_off__gt=0) & models.Q(percent_off__lte=100)),
                name="coupons_percent_range",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="PERCENT")
                | (models.Q(amount_off__gt=0) & models.Q(currency__isnull=False)),
                name="coupons_amount_currency",
            ),
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def covers_everything(self) -> bool:
        return not (self.plan_ids or self.add_on_ids or self.token_bundle_ids)

    def covers(self, line_type: str, catalog_item_id) -> bool:
        """Whether a line of ``line_type`` for the catalog item ``catalog_item_id`` is
        discounted (only plan, add-on and token-bundle lines ever are)."""
        ids = {
            "SUBSCRIPTION": self.plan_ids,
            "ADD_ON": self.add_on_ids,
            "TOKEN_BUNDLE": self.token_bundle_ids,
        }.get(line_type)
        if ids is None:
            return False
        if self.covers_everything:
            return True
        return str(catalog_item_id) in {str(value) for value in ids}

    def is_valid_at(self, moment) -> bool:
        if self.valid_from is not None and moment < self.valid_from:
            return False
        return not (self.valid_until is not None and moment > self.valid_until)

    @property
    def is_recurring(self) -> bool:
        return self.duration in (CouponDuration.REPEATING, CouponDuration.FOREVER)

    def label(self) -> str:
        """How the discount reads on a line: ``25 %`` or ``10.00 EUR``."""
        if self.kind == CouponKind.PERCENT:
            return f"{self.percent_off.normalize():f} %"
        return f"{self.amount_off} {self.currency}"


class RedemptionStatus(models.TextChoices):
    PENDING = "PENDING"  # the invoice is unpaid
    APPLIED = "APPLIED"  # the invoice was paid
    RELEASED = "RELEASED"  # the invoice was voided: no longer counts


REDEMPTION_TRANSITIONS: dict[str, frozenset[str]] = {
    RedemptionStatus.PENDING: frozenset({RedemptionStatus.APPLIED, RedemptionStatus.RELEASED}),
    RedemptionStatus.APPLIED: frozenset(),
    RedemptionStatus.RELEASED: frozenset(),
}
# The redemptions that count against a coupon's limits.
COUNTING_STATUSES = (RedemptionStatus.PENDING, RedemptionStatus.APPLIED)


class CouponRedemption(models.Model):
    """One use of a coupon by one customer."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    coupon = models.ForeignKey(Coupon, on_delete=models.PROTECT, related_name="redemptions")
    # A user deleted outright (no invoice, payment or ledger entry) takes their uses along: at
    # most a discount staff attached to a subscription that goes too.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="coupon_redemptions"
    )
    # The invoice the discount was first written on; null when staff attached the coupon to a
    # subscription (its discount starts with the next renewal).
    invoice = models.ForeignKey(
        "invoices.Invoice",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="coupon_redemptions",
    )
    # The subscription that keeps a recurring discount (a plain id: subscriptions sit above).
    subscription_id = models.UUIDField(null=True, blank=True, db_index=True)
    status = models.CharField(
        max_length=10, choices=RedemptionStatus.choices, default=RedemptionStatus.PENDING
    )
    # The sum of the DISCOUNT lines of ``invoice`` (positive, net, invoice currency).
    discount = models.DecimalField(**MONEY, default=Decimal("0"))
    currency = models.CharField(max_length=3)
    applied_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["coupon", "status"], name="coupons_redemption_status_idx"),
            models.Index(fields=["coupon", "user"], name="coupons_redemption_user_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.coupon_id} by {self.user_id} ({self.status})"

    def can_become(self, status: str) -> bool:
        return status in REDEMPTION_TRANSITIONS[self.status]

    def _become(self, status: str) -> None:
        if not self.can_become(status):
            raise InvalidTransition(f"A {self.status} redemption cannot become {status}")
        self.status = status

    def apply(self, *, at) -> None:
        """Its invoice was paid."""
        self._become(RedemptionStatus.APPLIED)
        self.applied_at = at

    def release(self, *, at) -> None:
        """Its invoice was voided before payment."""
        self._become(RedemptionStatus.RELEASED)
        self.released_at = at
