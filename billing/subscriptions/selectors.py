"""Reads of subscriptions shared by checkout, the subscription endpoints and the back office."""

from __future__ import annotations

import datetime

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from billing.catalog.models import Category, Plan
from billing.invoices.models import OPEN_STATUSES, Invoice
from billing.subscriptions.models import (
    HOLDING_STATUSES,
    AddOnSubscription,
    Subscription,
    SubscriptionStatus,
)


def valid_q(now: datetime.datetime, prefix: str = "") -> Q:
    """``is_valid`` (DOMAIN §4) as a filter: TRIALING, ACTIVE, PAST_DUE, or CANCELLED with
    ``expires_at`` still ahead of ``now``."""
    return Q(
        **{
            f"{prefix}status__in": (
                SubscriptionStatus.TRIALING,
                SubscriptionStatus.ACTIVE,
                SubscriptionStatus.PAST_DUE,
            )
        }
    ) | Q(**{f"{prefix}status": SubscriptionStatus.CANCELLED, f"{prefix}expires_at__gt": now})


def subscriptions_valid(user, *, now: datetime.datetime | None = None) -> QuerySet[Subscription]:
    """The user's subscriptions that give access now, newest first."""
    return Subscription.objects.filter(valid_q(now or timezone.now()), user=user).order_by(
        "-created_at", "-pk"
    )


def subscriptions_holding(user) -> QuerySet[Subscription]:
    """The user's subscriptions in HOLDING_STATUSES (they block exclusive categories)."""
    return Subscription.objects.filter(user=user, status__in=HOLDING_STATUSES)


def exclusive_category_held(*, user, plan: Plan) -> Category | None:
    """The first exclusive (``is_single``) category of ``plan`` in which the user already holds
    a subscription in HOLDING_STATUSES (on any plan of that category), else None. One query."""
    return (
        Category.objects.filter(
            is_single=True,
            plans=plan,
        )
        .filter(
            pk__in=Category.objects.filter(
                is_single=True,
                plans__subscriptions__user=user,
                plans__subscriptions__status__in=HOLDING_STATUSES,
            ).values("pk")
        )
        .order_by("sort_order", "name", "pk")
        .first()
    )


def open_invoice_subquery() -> Subquery:
    """Id of the most recent PENDING / OVERDUE invoice of the outer subscription row."""
    return Subquery(
        Invoice.objects.filter(subscription_id=OuterRef("pk"), status__in=OPEN_STATUSES)
        .order_by("-invoiced_at", "-invoice_number")
        .values("pk")[:1]
    )


def subscriptions_for_output(queryset: QuerySet[Subscription] | None = None) -> QuerySet:
    """``queryset`` (default: all) ready for the Subscription shape: plans and their categories
    loaded and ``open_invoice_pk`` annotated, so rendering costs a constant number of queries."""
    queryset = queryset if queryset is not None else Subscription.objects.all()
    return (
        queryset.select_related("plan", "pending_plan")
        .prefetch_related("plan__categories")
        .annotate(open_invoice_pk=open_invoice_subquery())
    )


def addon_subscriptions_for_output(
    queryset: QuerySet[AddOnSubscription] | None = None, *, with_invoice: bool = False
) -> QuerySet:
    """``queryset`` (default: all) ready for the AddOnSubscription shape (the add-on, and the
    invoice for the detail variant, joined in the same query)."""
    queryset = queryset if queryset is not None else AddOnSubscription.objects.all()
    related = ["addon", "invoice"] if with_invoice else ["addon"]
    return queryset.select_related(*related)
