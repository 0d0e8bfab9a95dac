"""Subscriptions to plans and add-on subscriptions.

States and the transitions allowed between them are data (``TRANSITIONS``); services move them,
with the row locked, an audit entry and a signal.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone

from billing.catalog.models import AddOn, BillingPeriod, Plan
from vbwd.exceptions import InvalidTransition


class SubscriptionStatus(models.TextChoices):
    PENDING = "PENDING"  # awaiting the first payment
    TRIALING = "TRIALING"
    ACTIVE = "ACTIVE"
    PAST_DUE = "PAST_DUE"  # period ended, renewal unpaid, inside the grace period
    PAUSED = "PAUSED"
    CANCELLED = "CANCELLED"  # access continues until expires_at
    EXPIRED = "EXPIRED"


S = SubscriptionStatus
# Which status may follow which; the verbs below refuse anything else. CANCELLED → ACTIVE only
# before expires_at (checked by the service). CANCELLED → CANCELLED: access that runs to its
# end is ended now (a refund, another subscription taking the exclusive category, an
# anonymised account). A reversed refund puts back the status the refund ended, so CANCELLED
# may also return to PENDING, TRIALING, PAST_DUE or PAUSED.
TRANSITIONS: dict[str, frozenset[str]] = {
    S.PENDING: frozenset({S.ACTIVE, S.CANCELLED}),
    S.TRIALING: frozenset({S.ACTIVE, S.PAST_DUE, S.CANCELLED}),
    S.ACTIVE: frozenset({S.PAST_DUE, S.PAUSED, S.CANCELLED}),
    S.PAST_DUE: frozenset({S.ACTIVE, S.EXPIRED, S.CANCELLED}),
    S.PAUSED: frozenset({S.ACTIVE, S.CANCELLED}),
    S.CANCELLED: frozenset({S.PENDING, S.TRIALING, S.ACTIVE, S.PAST_DUE, S.PAUSED, S.CANCELLED}),
    S.EXPIRED: frozenset(),
}
# Holding one of these blocks checkout of a plan that shares an exclusive category.
HOLDING_STATUSES = (S.TRIALING, S.ACTIVE, S.PAST_DUE, S.PAUSED)


class Subscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # A user without financial records (no invoice, payment, credit note or ledger entry) is
    # deleted outright with the subscriptions staff gave them; anyone else is anonymised.
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="subscriptions"
    )
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    pending_plan = models.ForeignKey(
        Plan, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=SubscriptionStatus.choices, db_index=True)
    payment_method = models.CharField(max_length=50, null=True, blank=True)  # method code
    started_at = models.DateTimeField(null=True, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    # End of the current period / of access; null for ONE_TIME and while PENDING.
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True)
    trial_end_at = models.DateTimeField(null=True, blank=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    cancel_reason = models.CharField(max_length=500, null=True, blank=True)
    # Day of month of the first paid period's start: monthly periods keep it (Jan 31 → Feb 28 →
    # Mar 31) instead of drifting to the shortest month's last day.
    anchor_day = models.PositiveSmallIntegerField(null=True, blank=True)
    # When a pause ends by itself (paused_at + max_pause_days at the time of pausing).
    pause_ends_at = models.DateTimeField(null=True, blank=True)
    # A payment method kept by a gateway for off-session renewal charges (provider's id).
    saved_method_gateway = models.CharField(max_length=50, null=True, blank=True)
    saved_method_id = models.CharField(max_length=255, null=True, blank=True)
    # The provider's customer the saved method belongs to (Stripe charges need both).
    saved_method_customer = models.CharField(max_length=255, null=True, blank=True)
    # Renewal charges tried for the open renewal invoice, and the last one / last reminder.
    charge_attempts = models.PositiveSmallIntegerField(default=0)
    last_charge_at = models.DateTimeField(null=True, blank=True)
    last_reminder_at = models.DateTimeField(null=True, blank=True)
    # A recurring discount: the coupon discounts the covered lines of each renewal while
    # ``discount_periods_remaining`` (renewals still to discount; null: forever) is above 0.
    discount_coupon = models.ForeignKey(
        "coupons.Coupon", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    discount_periods_remaining = models.PositiveSmallIntegerField(null=True, blank=True)
    discount_started_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "status"], name="subs_user_status_idx")]

    def __str__(self) -> str:
        return f"{self.plan_id} for {self.user_id} ({self.status})"

    @property
    def is_recurring(self) -> bool:
        return self.plan.billing_period != BillingPeriod.ONE_TIME

    @property
    def has_discount(self) -> bool:
        """A recurring discount applies to the next renewal."""
        return self.discount_coupon_id is not None and (
            self.discount_periods_remaining is None or self.discount_periods_remaining > 0
        )

    def is_valid_at(self, moment) -> bool:
        """Access right at ``moment``."""
        if self.status in (S.TRIALING, S.ACTIVE, S.PAST_DUE):
            return True
        return (
            self.status == S.CANCELLED and self.expires_at is not None and self.expires_at > moment
        )

    @property
    def is_valid(self) -> bool:
        return self.is_valid_at(timezone.now())

    def can_become(self, status: str) -> bool:
        return status in TRANSITIONS[self.status]

    # --- verbs: each refuses a transition ``TRANSITIONS`` does not list -------------------------

    def _move_to(self, status: str) -> None:
        if not self.can_become(status):
            raise InvalidTransition(f"Subscription cannot move from {self.status} to {status}")
        self.status = status

    def activate(self) -> None:
        """A paid invoice starts a period (first payment, trial conversion, late renewal)."""
        self._move_to(S.ACTIVE)

    def mark_past_due(self) -> None:
        self._move_to(S.PAST_DUE)

    def expire(self) -> None:
        self._move_to(S.EXPIRED)

    def pause(self, *, at, until) -> None:
        self._move_to(S.PAUSED)
        self.paused_at = at
        self.pause_ends_at = until

    def resume(self) -> None:
        """The pause ends (moving the end by the paused time is the service's part)."""
        self._move_to(S.ACTIVE)
        self.paused_at = None
        self.pause_ends_at = None

    def cancel(self, *, at, reason: str | None = None) -> None:
        """No further renewal; access until ``expires_at`` (the service moves it when access
        ends now). A scheduled downgrade and a pause end with it."""
        self._move_to(S.CANCELLED)
        self.cancelled_at = at
        self.cancel_reason = reason or None
        self.pending_plan = None
        self.paused_at = None
        self.pause_ends_at = None

    def end_now(self, *, at) -> None:
        """Access ends now (the service moves ``expires_at``): CANCELLED, kept when it was,
        with the first cancellation time; an ended subscription has no pause and no scheduled
        downgrade."""
        self._move_to(S.CANCELLED)
        self.cancelled_at = self.cancelled_at or at
        self.pending_plan = None
        self.paused_at = None
        self.pause_ends_at = None

    def reactivate(self) -> None:
        """A cancellation is taken back: renewals go on."""
        self._move_to(S.ACTIVE)
        self.cancelled_at = None
        self.cancel_reason = None
        self.paused_at = None
        self.pause_ends_at = None

    RESTORABLE = frozenset({"paused_at", "pause_ends_at", "pending_plan_id"})

    def restore(self, *, status: str, expires_at, cancelled_at, **ended) -> None:
        """A reversed refund puts back what the refund ended: the status, the end, the
        cancellation and, when given (``RESTORABLE``), the pause and the scheduled downgrade."""
        unknown = set(ended) - self.RESTORABLE
        if unknown:
            raise TypeError(f"Cannot restore {sorted(unknown)}")
        self._move_to(status)
        self.expires_at = expires_at
        self.cancelled_at = cancelled_at
        for name, value in ended.items():
            setattr(self, name, value)


class AddOnSubscriptionStatus(models.TextChoices):
    PENDING = "PENDING"
    ACTIVE = "ACTIVE"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


A = AddOnSubscriptionStatus
# CANCELLED → ACTIVE: a reactivation of its subscription or a refund reversal restores it.
# CANCELLED → CANCELLED: access that runs to its end is ended now (a refund).
ADDON_TRANSITIONS: dict[str, frozenset[str]] = {
    A.PENDING: frozenset({A.ACTIVE, A.CANCELLED}),
    A.ACTIVE: frozenset({A.CANCELLED, A.EXPIRED}),
    A.CANCELLED: frozenset({A.ACTIVE, A.CANCELLED}),
    A.EXPIRED: frozenset(),
}


class AddOnSubscription(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="addon_subscriptions"
    )
    addon = models.ForeignKey(AddOn, on_delete=models.PROTECT, related_name="subscriptions")
    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, null=True, blank=True, related_name="addons"
    )
    invoice = models.ForeignKey(
        "invoices.Invoice", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    status = models.CharField(max_length=16, choices=AddOnSubscriptionStatus.choices)
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)  # null for ONE_TIME
    cancelled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["user", "status"], name="addonsubs_user_status_idx")]

    def __str__(self) -> str:
        return f"{self.addon_id} for {self.user_id} ({self.status})"

    def is_valid_at(self, moment) -> bool:
        if self.status == A.ACTIVE:
            return self.expires_at is None or self.expires_at > moment
        return (
            self.status == A.CANCELLED and self.expires_at is not None and self.expires_at > moment
        )

    @property
    def is_valid(self) -> bool:
        return self.is_valid_at(timezone.now())

    def can_become(self, status: str) -> bool:
        return status in ADDON_TRANSITIONS[self.status]

    # --- verbs: each refuses a transition ``ADDON_TRANSITIONS`` does not list -------------------

    def _move_to(self, status: str) -> None:
        if not self.can_become(status):
            raise InvalidTransition(
                f"Add-on subscription cannot move from {self.status} to {status}"
            )
        self.status = status

    def activate(self, *, starts_at=None, expires_at=None) -> None:
        """Paid (``starts_at`` and ``expires_at`` give the first period) or restored."""
        self._move_to(A.ACTIVE)
        self.cancelled_at = None
        if starts_at is not None:
            self.starts_at = starts_at
            self.expires_at = expires_at

    def cancel(self, *, at) -> None:
        """No further renewal; access until ``expires_at`` unless the caller moves it. A
        cancelled one keeps its first cancellation time."""
        was_cancelled = self.status == A.CANCELLED
        self._move_to(A.CANCELLED)
        if not was_cancelled:
            self.cancelled_at = at

    def expire(self) -> None:
        self._move_to(A.EXPIRED)

    def restore(self, *, status: str, expires_at, cancelled_at) -> None:
        """A reversed refund puts back what the refund ended."""
        self._move_to(status)
        self.expires_at = expires_at
        self.cancelled_at = cancelled_at
