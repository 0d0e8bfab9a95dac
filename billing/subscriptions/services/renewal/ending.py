"""Scheduled state changes when periods end.

- ``subscriptions_mark_past_due``: an ACTIVE subscription whose period ended unrenewed, and a
  TRIALING one whose trial ended with its invoice unpaid, become PAST_DUE (access continues
  through the grace period). A renewal that was never issued (lead time 0, a missed run) is
  issued first. One-time plans never expire (``expires_at`` is null).
- ``subscriptions_expire``: PAST_DUE beyond the grace period → EXPIRED; its open renewal, trial
  and plan-change invoices are voided and its ACTIVE add-ons expire with it. CANCELLED
  subscriptions past their end stay CANCELLED (they already give no access). Each subscription
  is handled in its own transaction, its open invoices locked before it (the order capture
  locks in); a subscription another transaction holds is skipped and left for the next run.
- ``addons_expire``: an ACTIVE add-on subscription whose period ended and that is not being
  renewed → EXPIRED. It is being renewed while an open renewal invoice of its subscription
  carries its line (the subscription is ACTIVE or PAST_DUE), and while its subscription is
  PAUSED (the renewal after the resume carries it). CANCELLED ones stay CANCELLED.
- ``pauses_auto_resume``: PAUSED past ``pause_ends_at`` → resumed (``subscription_resume``).
- ``plan_change_invoices_void_stale``: an unpaid plan-change invoice is voided when the period it
  was computed for has ended: the subscription's current period (whose end a pause or an
  extension may have moved) has ended, or its current period is no longer the one the invoice
  was computed for (``current_period_start`` ≠ the invoice's ``period_start``). An invoice
  without a period (or a subscription) falls back to its own ``period_end``.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from audit.models import ActorType
from audit.services import audit_record
from billing.catalog.models import BillingPeriod
from billing.invoices.models import (
    OPEN_STATUSES,
    Invoice,
    InvoiceLine,
    InvoiceType,
    LineType,
)
from billing.invoices.services import invoice_void
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services.common import iso, lock_in_order
from billing.subscriptions.services.renewal.batches import logger, run_per_row
from billing.subscriptions.services.renewal.issuing import (
    RELATED,
    due_for_renewal,
    issue_renewals,
)
from billing.subscriptions.signals import subscription_expired
from platform_settings.selectors import platform_settings_get

DEFAULT_BATCH_SIZE = 200
PAST_DUE_JOB = "subscriptions_mark_past_due"
EXPIRE_JOB = "subscriptions_expire"
ADDONS_JOB = "addons_expire"
RESUME_JOB = "pauses_auto_resume"
STALE_PLAN_CHANGE_JOB = "plan_change_invoices_void_stale"


def _audit_subscription(subscription, action: str, summary: str, before: str, job: str) -> None:
    audit_record(
        action=action,
        object_type="subscription",
        object_id=subscription.pk,
        subject_user_id=subscription.user_id,
        summary=summary,
        actor_type=ActorType.SYSTEM,
        actor_label=job,
        before={"status": before, "expires_at": iso(subscription.expires_at)},
        after={"status": subscription.status, "expires_at": iso(subscription.expires_at)},
    )


def _expire_addon(item: AddOnSubscription, *, job: str, summary: str) -> None:
    before = item.status
    item.expire()
    item.save(update_fields=["status", "updated_at"])
    audit_record(
        action="addon_subscription.expired",
        object_type="addon_subscription",
        object_id=item.pk,
        subject_user_id=item.user_id,
        summary=summary,
        actor_type=ActorType.SYSTEM,
        actor_label=job,
        before={"status": before, "expires_at": iso(item.expires_at)},
        after={"status": item.status, "expires_at": iso(item.expires_at)},
    )


# --- PAST_DUE ---------------------------------------------------------------------------------


def subscriptions_mark_past_due(
    *, batch_size: int = DEFAULT_BATCH_SIZE, now: datetime.datetime | None = None
) -> int:
    """ACTIVE subscriptions whose period has ended and TRIALING ones whose trial has ended (the
    paid ones have moved on) → PAST_DUE, the missing renewal issued first; returns how many."""
    now = now or timezone.now()
    queryset = (
        Subscription.objects.select_related(*RELATED)
        .filter(
            status__in=(SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING),
            expires_at__isnull=False,
            expires_at__lte=now,
        )
        .exclude(status=SubscriptionStatus.ACTIVE, plan__billing_period=BillingPeriod.ONE_TIME)
    )
    due = due_for_renewal(horizon=now)

    def handle(subscription: Subscription) -> bool:
        before = subscription.status
        if before == SubscriptionStatus.ACTIVE and due.filter(pk=subscription.pk).exists():
            issue_renewals([subscription], now=now, actor_label=PAST_DUE_JOB)
            subscription.refresh_from_db()
            if subscription.status != SubscriptionStatus.ACTIVE or subscription.expires_at > now:
                return False  # a zero total renewed it at once
        subscription.mark_past_due()
        subscription.save(update_fields=["status", "updated_at"])
        what = "trial" if before == SubscriptionStatus.TRIALING else "period"
        _audit_subscription(
            subscription,
            "subscription.past_due",
            f"Subscription to {subscription.plan.name} past due: the {what} ended "
            f"{subscription.expires_at:%Y-%m-%d %H:%M} UTC unpaid",
            before,
            PAST_DUE_JOB,
        )
        return True

    return run_per_row(queryset, handle, job=PAST_DUE_JOB, batch_size=batch_size)


# --- EXPIRED ----------------------------------------------------------------------------------


def _expire_one(pk, *, deadline: datetime.datetime) -> bool:
    """Expires one PAST_DUE subscription whose grace period ended by ``deadline``, inside the
    caller's transaction: its open invoices locked first, then the subscription (skipped when
    another transaction holds it) with the state checked again."""

    def open_invoices():
        return Invoice.objects.filter(subscription_id=pk, status__in=OPEN_STATUSES)

    def lock_subscription() -> Subscription | None:
        return (
            Subscription.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("plan")
            .filter(
                pk=pk,
                status=SubscriptionStatus.PAST_DUE,
                expires_at__isnull=False,
                expires_at__lte=deadline,
            )
            .first()
        )

    _invoices, subscription = lock_in_order(open_invoices, lock_subscription)
    if subscription is None:
        return False  # changed meanwhile, or held by another transaction: the next run sees it
    for invoice_id in list(open_invoices().order_by("pk").values_list("pk", flat=True)):
        invoice_void(
            invoice_id=invoice_id,
            reason="The subscription expired after its grace period",
            actor_type=ActorType.SYSTEM,
            actor_label=EXPIRE_JOB,
        )
    subscription.expire()
    subscription.save(update_fields=["status", "updated_at"])
    _audit_subscription(
        subscription,
        "subscription.expired",
        f"Subscription to {subscription.plan.name} expired: unpaid after the grace period",
        SubscriptionStatus.PAST_DUE,
        EXPIRE_JOB,
    )
    addons = AddOnSubscription.objects.select_for_update().select_related("addon")
    for item in addons.filter(subscription=subscription, status=AddOnSubscriptionStatus.ACTIVE):
        _expire_addon(
            item,
            job=EXPIRE_JOB,
            summary=f"Add-on {item.addon.name} expired with its subscription",
        )
    subscription_expired.send_on_commit(sender=Subscription, subscription=subscription)
    return True


def subscriptions_expire(
    *, batch_size: int = DEFAULT_BATCH_SIZE, now: datetime.datetime | None = None
) -> int:
    """PAST_DUE subscriptions whose grace period is over → EXPIRED, with their open invoices
    voided and ACTIVE add-ons expired; ``subscription_expired`` after commit. Returns how
    many."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    now = now or timezone.now()
    deadline = now - datetime.timedelta(days=platform_settings_get().grace_period_days)
    due = Subscription.objects.filter(
        status=SubscriptionStatus.PAST_DUE, expires_at__isnull=False, expires_at__lte=deadline
    ).order_by("pk")
    expired = 0
    after = None
    while True:
        # The batch's ids are read without locks; each subscription is then claimed in its own
        # transaction, invoices first (holding a subscription while waiting for another
        # subscription's invoice could deadlock with a capture).
        rows = due.filter(pk__gt=after) if after is not None else due
        ids = list(rows.values_list("pk", flat=True)[:batch_size])
        if not ids:
            return expired
        after = ids[-1]
        for pk in ids:
            try:
                with transaction.atomic():
                    expired += _expire_one(pk, deadline=deadline)
            except Exception:
                logger.exception("%s: Subscription %s failed", EXPIRE_JOB, pk)


def addons_expire(
    *, batch_size: int = DEFAULT_BATCH_SIZE, now: datetime.datetime | None = None
) -> int:
    """ACTIVE add-on subscriptions whose period has ended and that are not being renewed (see
    the module docstring) → EXPIRED. Returns how many."""
    now = now or timezone.now()
    on_open_renewal = Exists(
        InvoiceLine.objects.filter(
            item_id=OuterRef("pk"),
            type=LineType.ADD_ON,
            invoice__invoice_type=InvoiceType.RENEWAL,
            invoice__status__in=OPEN_STATUSES,
        )
    )
    renewing = Q(subscription__status=SubscriptionStatus.PAUSED) | (
        Q(subscription__status__in=(SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE))
        & on_open_renewal
    )
    queryset = (
        AddOnSubscription.objects.select_related("addon")
        .filter(
            status=AddOnSubscriptionStatus.ACTIVE, expires_at__isnull=False, expires_at__lte=now
        )
        .exclude(renewing)
    )

    def handle(item: AddOnSubscription) -> bool:
        _expire_addon(
            item,
            job=ADDONS_JOB,
            summary=f"Add-on {item.addon.name} expired: its period ended "
            f"{item.expires_at:%Y-%m-%d %H:%M} UTC",
        )
        return True

    return run_per_row(queryset, handle, job=ADDONS_JOB, batch_size=batch_size)


# --- pauses and plan changes ------------------------------------------------------------------


def pauses_auto_resume(
    *, batch_size: int = DEFAULT_BATCH_SIZE, now: datetime.datetime | None = None
) -> int:
    """PAUSED subscriptions whose maximum pause is over are resumed (``pause_ends_at``; for a
    pause without one, ``paused_at`` + ``max_pause_days``); returns how many."""
    from billing.subscriptions.services.lifecycle import subscription_resume

    now = now or timezone.now()
    longest = datetime.timedelta(days=platform_settings_get().max_pause_days)
    queryset = Subscription.objects.filter(status=SubscriptionStatus.PAUSED).filter(
        Q(pause_ends_at__lte=now) | Q(pause_ends_at__isnull=True, paused_at__lte=now - longest)
    )

    def handle(subscription: Subscription) -> bool:
        resumed = subscription_resume(
            subscription_id=subscription.pk, actor=None, auto=True, actor_label=RESUME_JOB
        )
        return resumed.status == SubscriptionStatus.ACTIVE

    return run_per_row(queryset, handle, job=RESUME_JOB, batch_size=batch_size)


def plan_change_invoices_void_stale(
    *, batch_size: int = DEFAULT_BATCH_SIZE, now: datetime.datetime | None = None
) -> int:
    """Unpaid PLAN_CHANGE invoices whose period has ended (see the module docstring) are voided;
    returns how many."""
    now = now or timezone.now()
    subscription = Subscription.objects.filter(pk=OuterRef("subscription_id"))
    still_current = Exists(
        subscription.filter(expires_at__gt=now, current_period_start=OuterRef("period_start"))
    )
    measurable = Q(period_start__isnull=False) & Exists(subscription)
    queryset = Invoice.objects.filter(
        invoice_type=InvoiceType.PLAN_CHANGE, status__in=OPEN_STATUSES
    ).filter(
        (measurable & ~still_current)
        | (~measurable & Q(period_end__isnull=False, period_end__lte=now))
    )

    def handle(invoice: Invoice) -> bool:
        invoice_void(
            invoice_id=invoice.pk,
            reason="The period the plan change was computed for has ended",
            actor_type=ActorType.SYSTEM,
            actor_label=STALE_PLAN_CHANGE_JOB,
        )
        return True

    return run_per_row(queryset, handle, job=STALE_PLAN_CHANGE_JOB, batch_size=batch_size)
