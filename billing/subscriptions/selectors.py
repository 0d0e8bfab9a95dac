"""Reads of subscriptions shared by checkout, the subscription endpoints and the back office."""

from __future__ import annotations

import datetime
import uuid

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from billing.catalog.models import Category, Plan
from billing.invoices.models import OPEN_STATUSES, Invoice
from billing.subscriptions.hooks import current_filter, primary_sort_key
from billing.subscriptions.models import (
    HOLDING_STATUSES,
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from vbwd.exceptions import NotFound, ValidationFailed
from vbwd.filters import normalise_enum


def valid_q(now: datetime.datetime, prefix: str = "") -> Q:
    """``is_valid`` as a filter: TRIALING, ACTIVE, PAST_DUE, or CANCELLED with
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
        queryset.select_related("plan", "pending_plan", "discount_coupon")
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


# --- subscription and add-on endpoints ---------------------------------------------------------

SUBSCRIPTION_NOT_FOUND = "Subscription not found"
ADDON_SUBSCRIPTION_NOT_FOUND = "Add-on subscription not found"


def _uuid_or_none(value):
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except ValueError:
        return None


def _status_filter(value, choices) -> str | None:
    if value is None or str(value).strip() == "":
        return None
    status = normalise_enum(value, choices)
    if status is None:
        raise ValidationFailed(f"Unknown status: {value}", field="status")
    return status


def subscription_status_filter(value) -> str | None:
    """The ``status`` query parameter of subscription lists: empty = none, any case, the alias
    ``canceled``; an unknown value is a 400 "Unknown status: X"."""
    return _status_filter(value, SubscriptionStatus)


def addon_subscription_status_filter(value) -> str | None:
    """As ``subscription_status_filter``, for add-on subscriptions."""
    return _status_filter(value, AddOnSubscriptionStatus)


# The plan columns the Subscription shape does not show (PlanSummary: id, name, slug, price,
# currency, billing_period and categories; PlanRef: id, name, slug), left unread.
_PLAN_COLUMNS_NOT_SHOWN = [
    f"{relation}__{column}"
    for relation in ("plan", "pending_plan")
    for column in ("description", "trial_days", "features", "is_active", "is_archived",
                   "sort_order", "created_at", "updated_at")
]  # fmt: skip


def subscriptions_for_user(user, *, status: str | None = None) -> QuerySet[Subscription]:
    """The user's subscriptions (all states, or one), newest first, ready for output."""
    queryset = Subscription.objects.filter(user=user)
    if status:
        queryset = queryset.filter(status=status)
    return (
        subscriptions_for_output(queryset)
        .defer(*_PLAN_COLUMNS_NOT_SHOWN)
        .order_by("-created_at", "-pk")
    )


def subscription_for_user(user, subscription_id) -> Subscription:
    """One of the user's subscriptions ready for output; 404 "Subscription not found" for an
    unknown id and another user's alike."""
    pk = _uuid_or_none(subscription_id)
    subscription = (
        subscriptions_for_output(Subscription.objects.filter(pk=pk, user=user)).first()
        if pk is not None
        else None
    )
    if subscription is None:
        raise NotFound(SUBSCRIPTION_NOT_FOUND)
    return subscription


def subscriptions_current(user, *, now: datetime.datetime | None = None) -> list[Subscription]:
    """The user's current subscriptions (TRIALING, ACTIVE, PAST_DUE, PAUSED, or CANCELLED with
    access left), newest first, each with ``in_exclusive`` (its plan is in an exclusive
    category); ready for output."""
    now = now or timezone.now()
    in_exclusive = Category.plans.through.objects.filter(
        plan_id=OuterRef("plan_id"), category__is_single=True
    )
    queryset = Subscription.objects.filter(current_filter(now), user=user).annotate(
        in_exclusive=Exists(in_exclusive)
    )
    return list(subscriptions_for_output(queryset).order_by("-created_at", "-pk"))


def subscription_primary(user, *, now: datetime.datetime | None = None) -> Subscription | None:
    """The primary current subscription: exclusive category first, then ACTIVE >
    TRIALING > PAST_DUE > PAUSED > CANCELLED, then the newest."""
    current = subscriptions_current(user, now=now)
    exclusive_plan_ids = {row.plan_id for row in current if row.in_exclusive}
    return min(current, key=lambda row: primary_sort_key(row, exclusive_plan_ids), default=None)


def subscriptions_for_staff() -> QuerySet[Subscription]:
    """Every subscription with its user and billing details (admin shapes), ready for output."""
    return subscriptions_for_output(Subscription.objects.select_related("user", "user__details"))


def subscription_for_staff(subscription_id) -> Subscription:
    """Any subscription by id (admin); 404 "Subscription not found"."""
    pk = _uuid_or_none(subscription_id)
    subscription = subscriptions_for_staff().filter(pk=pk).first() if pk is not None else None
    if subscription is None:
        raise NotFound(SUBSCRIPTION_NOT_FOUND)
    return subscription


def addon_subscriptions_for_user(user, *, status: str | None = None) -> QuerySet:
    """The user's add-on subscriptions, newest first, ready for output."""
    queryset = AddOnSubscription.objects.filter(user=user)
    if status:
        queryset = queryset.filter(status=status)
    return addon_subscriptions_for_output(queryset).order_by("-created_at", "-pk")


def addon_subscription_for_user(user, addon_subscription_id) -> AddOnSubscription:
    """One of the user's add-on subscriptions with its invoice; 404 "Add-on subscription not
    found" for an unknown id and another user's alike."""
    pk = _uuid_or_none(addon_subscription_id)
    queryset = AddOnSubscription.objects.filter(pk=pk, user=user)
    item = (
        addon_subscriptions_for_output(queryset, with_invoice=True).first()
        if pk is not None
        else None
    )
    if item is None:
        raise NotFound(ADDON_SUBSCRIPTION_NOT_FOUND)
    return item
