"""How subscriptions take part in the catalog and account screens (registered in ready())."""

from __future__ import annotations

from django.db.models import Count, Exists, OuterRef, Q
from django.utils import timezone

from accounts import extensions as account_extensions
from billing.catalog import extensions as catalog_extensions
from billing.catalog.models import Category
from billing.invoices import extensions as invoice_extensions
from billing.subscriptions.models import (
    HOLDING_STATUSES,
    AddOnSubscription,
    Subscription,
    SubscriptionStatus,
)

# The order in which the primary current subscription is chosen: an exclusive category's first,
# then by this rank, then the newest.
STATUS_RANK = {
    SubscriptionStatus.ACTIVE: 0,
    SubscriptionStatus.TRIALING: 1,
    SubscriptionStatus.PAST_DUE: 2,
    SubscriptionStatus.PAUSED: 3,
    SubscriptionStatus.CANCELLED: 4,
}


def current_filter(now) -> Q:
    """Current subscriptions: holding, or cancelled with access left."""
    return Q(status__in=HOLDING_STATUSES) | Q(
        status=SubscriptionStatus.CANCELLED, expires_at__gt=now
    )


def primary_sort_key(subscription: Subscription, exclusive_plan_ids: set):
    """Exclusive category first, then status rank, then the newest."""
    return (
        0 if subscription.plan_id in exclusive_plan_ids else 1,
        STATUS_RANK.get(subscription.status, 9),
        -subscription.created_at.timestamp(),
    )


def _plan_usage(plan) -> int:
    return Subscription.objects.filter(Q(plan=plan) | Q(pending_plan=plan)).count()


def _addon_usage(addon) -> int:
    return AddOnSubscription.objects.filter(addon=addon).count()


def _payment_method_usage(method) -> int:
    return Subscription.objects.filter(
        payment_method=method.code, status__in=HOLDING_STATUSES
    ).count()


def _subscriber_counts(plans: list) -> dict:
    rows = (
        Subscription.objects.filter(plan__in=plans, status__in=HOLDING_STATUSES)
        .values("plan_id")
        .annotate(count=Count("pk"))
    )
    return {row["plan_id"]: row["count"] for row in rows}


def _subscribed_plans(user) -> set:
    now = timezone.now()
    valid = Q(status__in=(SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE,
                          SubscriptionStatus.PAST_DUE)) | Q(
        status=SubscriptionStatus.CANCELLED, expires_at__gt=now
    )  # fmt: skip
    return set(Subscription.objects.filter(valid, user=user).values_list("plan_id", flat=True))


def _summaries(user_ids: list) -> dict:
    """One query for any number of users."""
    now = timezone.now()
    in_exclusive = Category.plans.through.objects.filter(
        plan_id=OuterRef("plan_id"), category__is_single=True
    )
    subscriptions = list(
        Subscription.objects.filter(current_filter(now), user_id__in=user_ids)
        .select_related("plan")
        .annotate(in_exclusive=Exists(in_exclusive))
    )
    exclusive_plan_ids = {s.plan_id for s in subscriptions if s.in_exclusive}
    best: dict = {}
    for subscription in subscriptions:
        current = best.get(subscription.user_id)
        key = primary_sort_key(subscription, exclusive_plan_ids)
        if current is None or key < primary_sort_key(current, exclusive_plan_ids):
            best[subscription.user_id] = subscription
    return {
        user_id: account_extensions.SubscriptionSummary(
            id=subscription.pk,
            plan=subscription.plan.name,
            plan_id=subscription.plan_id,
            status=subscription.status,
            expires_at=subscription.expires_at,
        )
        for user_id, subscription in best.items()
    }


def register() -> None:
    """Called from SubscriptionsConfig.ready(): subscriptions answer the catalog's, accounts' and
    invoices' questions about them."""
    from billing.subscriptions.receivers import _subscription_count, _subscription_facts

    catalog_extensions.PLAN_USAGE.register(_plan_usage)
    catalog_extensions.ADDON_USAGE.register(_addon_usage)
    catalog_extensions.PAYMENT_METHOD_USAGE.register(_payment_method_usage)
    catalog_extensions.SUBSCRIBER_COUNTS.register(_subscriber_counts)
    catalog_extensions.SUBSCRIBED_PLANS.register(_subscribed_plans)
    account_extensions.SUBSCRIPTION_SUMMARIES.register(_summaries)
    account_extensions.FINANCIAL_RECORDS.register(_subscription_count)
    invoice_extensions.SUBSCRIPTION_FACTS.register(_subscription_facts)
