"""Subscription use cases. Checkout opens subscriptions here; each function runs in the caller's
transaction (checkout holds the buyer's row lock) and writes one audit row per record."""

from __future__ import annotations

import datetime

from django.db import transaction

from audit.services import audit_record
from billing.catalog.models import AddOn, Plan
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services.common import iso


def subscription_trial_open(*, user, plan, payment_method: str | None, now) -> Subscription:
    """A TRIALING subscription from ``now`` for the plan's trial days; marks the user's one
    trial as used."""
    trial_end = now + datetime.timedelta(days=plan.trial_days)
    subscription = Subscription.objects.create(
        user=user,
        plan=plan,
        status=SubscriptionStatus.TRIALING,
        payment_method=payment_method,
        started_at=now,
        current_period_start=now,
        trial_end_at=trial_end,
        expires_at=trial_end,
    )
    if not user.has_used_trial:
        user.has_used_trial = True
        user.save(update_fields=["has_used_trial"])
    return subscription


def subscription_create(
    *,
    user,
    plan: Plan,
    now: datetime.datetime,
    trial: bool = False,
    payment_method: str | None = None,
) -> Subscription:
    """Opens a subscription to ``plan``: TRIALING from ``now`` for ``plan.trial_days`` days when
    ``trial`` (and marks the user's one trial as used), else PENDING without dates until its
    first invoice is paid. The caller holds the user's row lock."""
    # No savepoint inside a caller's transaction: a failure here aborts the whole use case.
    with transaction.atomic(savepoint=False):
        if trial:
            subscription = subscription_trial_open(
                user=user, plan=plan, payment_method=payment_method, now=now
            )
            trial_end = subscription.trial_end_at
            summary = f"Trial of {plan.name} started for {user.email}, ends {trial_end:%Y-%m-%d}"
        else:
            subscription = Subscription.objects.create(
                user=user,
                plan=plan,
                status=SubscriptionStatus.PENDING,
                payment_method=payment_method,
            )
            summary = f"Subscription to {plan.name} opened for {user.email}, awaiting payment"
        audit_record(
            action="subscription.created",
            object_type="subscription",
            object_id=subscription.pk,
            subject_user_id=user.pk,
            summary=summary,
            actor=user,
            after={
                "status": subscription.status,
                "plan_id": str(plan.pk),
                "trial_end_at": iso(subscription.trial_end_at),
                "expires_at": iso(subscription.expires_at),
            },
        )
    return subscription


def addon_subscription_create(
    *, user, addon: AddOn, subscription: Subscription | None = None, invoice_id=None
) -> AddOnSubscription:
    """Opens a PENDING add-on subscription (optionally belonging to ``subscription``); it gets
    its dates when its invoice is paid. ``invoice_id`` names an invoice the caller issues later
    in the same transaction."""
    # No savepoint inside a caller's transaction: a failure here aborts the whole use case.
    with transaction.atomic(savepoint=False):
        item = AddOnSubscription.objects.create(
            user=user,
            addon=addon,
            subscription=subscription,
            invoice_id=invoice_id,
            status=AddOnSubscriptionStatus.PENDING,
        )
        audit_record(
            action="addon_subscription.created",
            object_type="addon_subscription",
            object_id=item.pk,
            subject_user_id=user.pk,
            summary=f"Add-on {addon.name} ordered by {user.email}, awaiting payment",
            actor=user,
            after={
                "status": item.status,
                "addon_id": str(addon.pk),
                "subscription_id": str(subscription.pk) if subscription is not None else None,
            },
        )
    return item
