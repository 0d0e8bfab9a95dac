"""Ending a subscription: the customer's or staff's cancellation (access until the end, or now)
and ``subscription_end_now``, the one way access ends at once, which the immediate cancellation,
a refund, another subscription taking an exclusive category and an anonymised account share.

- Cancelling a PAUSED subscription settles the pause first: ``expires_at`` moves forward by the
  time paused so far and the pause ends. The customer keeps the paid time that was left, as
  access until the moved end; a reactivation then makes it ACTIVE with nothing left to shift.
- A ONE_TIME subscription has no end; cancelling it ends access at once.
- Cancel voids the subscription's unpaid CHECKOUT (the trial invoice), RENEWAL and PLAN_CHANGE
  invoices. Voiding the trial invoice also cancels what else was pending on it (bundles, add-ons).
  Add-ons still PENDING on another open invoice are left to that invoice.
- Ending now leaves no pause and no scheduled downgrade; an end already past (a PAST_DUE
  period) stays where it is, any later end (or none) becomes now.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services.common import (
    audit_subscription,
    iso,
    locked_with_open_invoices,
    move_end,
    state_of,
)
from billing.subscriptions.signals import subscription_cancelled
from vbwd.exceptions import InvalidTransition

S = SubscriptionStatus

ALREADY_CANCELLED = "Subscription is already cancelled"
ALREADY_ENDED = "Subscription has already ended"

# What ``subscription_end_now`` writes.
ENDED_FIELDS = [
    "status",
    "cancelled_at",
    "cancel_reason",
    "expires_at",
    "anchor_day",
    "pending_plan",
    "paused_at",
    "pause_ends_at",
    "updated_at",
]


def subscription_end_now(
    *,
    subscription: Subscription,
    now: datetime.datetime,
    summary: str,
    signal_reason: str | None,
    actor=None,
    actor_type: str | None = None,
    actor_label: str | None = None,
    reason: str | None = None,
    cancel_reason: str | None = None,
    before: dict | None = None,
    send_signal: bool = True,
) -> None:
    """The locked subscription is CANCELLED with access ending at ``now`` (see the module notes),
    one audit row (``before``: the state before the caller's own changes, if it made some) and
    ``subscription_cancelled`` (immediate) after commit unless the caller sends it itself.
    Invoices and add-ons are the caller's part."""
    before = before or state_of(subscription)
    subscription.end_now(at=now)
    if cancel_reason:
        subscription.cancel_reason = cancel_reason
    if subscription.expires_at is None or subscription.expires_at > now:
        subscription.expires_at = now
    subscription.save(update_fields=ENDED_FIELDS)
    audit_subscription(
        subscription,
        "subscription.cancelled",
        summary,
        before,
        actor,
        reason,
        actor_type=actor_type,
        actor_label=actor_label,
    )
    if send_signal:
        subscription_cancelled.send_on_commit(
            sender=Subscription, subscription=subscription, immediate=True, reason=signal_reason
        )


def _check_cancellable(subscription: Subscription, now: datetime.datetime) -> None:
    if subscription.status == S.CANCELLED:
        if subscription.expires_at is not None and subscription.expires_at <= now:
            raise InvalidTransition(ALREADY_ENDED)
        raise InvalidTransition(ALREADY_CANCELLED)
    if subscription.status == S.EXPIRED:
        raise InvalidTransition(ALREADY_ENDED)
    if subscription.status == S.PENDING or not subscription.can_become(S.CANCELLED):
        raise InvalidTransition(f"Subscription cannot be cancelled in status {subscription.status}")


def _cancel_addons(subscription: Subscription, *, now, immediate: bool, actor, reason) -> None:
    """The ACTIVE add-ons bound to the subscription end with it: access to their own end (the
    subscription's when they have none), or now when immediate."""
    items = AddOnSubscription.objects.select_for_update(of=("self",)).select_related("addon")
    for item in items.filter(subscription=subscription, status=AddOnSubscriptionStatus.ACTIVE):
        before = {"status": item.status, "expires_at": iso(item.expires_at)}
        item.cancel(at=now)
        if immediate:
            if item.expires_at is None or item.expires_at > now:
                item.expires_at = now
        elif item.expires_at is None:
            item.expires_at = subscription.expires_at
        item.save(update_fields=["status", "cancelled_at", "expires_at", "updated_at"])
        audit_record(
            action="addon_subscription.cancelled",
            object_type="addon_subscription",
            object_id=item.pk,
            subject_user_id=item.user_id,
            summary=f"Add-on {item.addon.name} cancelled with its subscription",
            actor=actor,
            before=before,
            after={"status": item.status, "expires_at": iso(item.expires_at)},
            reason=reason,
        )


def subscription_cancel(
    *, subscription_id, actor, reason: str | None = None, immediate: bool = False
) -> Subscription:
    """ACTIVE, TRIALING, PAST_DUE or PAUSED → CANCELLED: access until ``expires_at`` (now when
    ``immediate``), no further renewal, bound add-ons cancelled, unpaid trial / renewal /
    plan-change invoices voided, a scheduled downgrade cleared; ``subscription_cancelled``."""
    from billing.invoices.services import invoice_void

    with transaction.atomic():
        invoices, subscription = locked_with_open_invoices(subscription_id)
        now = timezone.now()
        _check_cancellable(subscription, now)
        before = state_of(subscription)
        if subscription.status == S.PAUSED and subscription.paused_at is not None:
            # Settle the pause: the paid time left is kept, counted from now.
            move_end(subscription, now - subscription.paused_at)
        summary = f"Subscription to {subscription.plan.name} cancelled"
        if immediate:
            subscription_end_now(
                subscription=subscription,
                now=now,
                summary=f"{summary}, access ended now",
                signal_reason=reason,
                actor=actor,
                reason=reason,
                cancel_reason=reason,
                before=before,
            )
        else:
            _cancel_until_the_end(
                subscription, now=now, summary=summary, before=before, actor=actor, reason=reason
            )
        for invoice in invoices:
            invoice_void(invoice_id=invoice.pk, actor=actor, reason="Subscription cancelled")
        _cancel_addons(subscription, now=now, immediate=immediate, actor=actor, reason=reason)
    return subscription


def _cancel_until_the_end(
    subscription: Subscription, *, now, summary: str, before: dict, actor, reason
) -> None:
    """No further renewal; access until the end (now for a subscription without one)."""
    subscription.cancel(at=now, reason=reason)
    if subscription.expires_at is None:
        subscription.expires_at = now
    subscription.save()
    audit_subscription(
        subscription,
        "subscription.cancelled",
        f"{summary}, access until its end",
        before,
        actor,
        reason,
    )
    subscription_cancelled.send_on_commit(
        sender=Subscription, subscription=subscription, immediate=False, reason=reason
    )
