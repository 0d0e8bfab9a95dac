"""What the subscription verbs share: the row locks in their order, the audit row of a
subscription change, the exclusive-category refusal and the parsing of staff inputs."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from audit.services import audit_record
from billing.catalog.models import Plan
from billing.invoices.models import OPEN_STATUSES, Invoice, InvoiceType
from billing.subscriptions import selectors
from billing.subscriptions.models import AddOnSubscriptionStatus, Subscription
from vbwd.exceptions import BusinessRuleError, NotFound

NOT_FOUND = "Subscription not found"
EXCLUSIVE_CATEGORY = "exclusive_category"
# Invoices of a subscription that cancelling it leaves nothing to pay for.
CANCELLED_INVOICE_TYPES = (InvoiceType.CHECKOUT, InvoiceType.RENEWAL, InvoiceType.PLAN_CHANGE)


def iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def state_of(subscription: Subscription) -> dict:
    """The fields the lifecycle changes, for the audit row."""
    return {
        "status": subscription.status,
        "expires_at": iso(subscription.expires_at),
        "trial_end_at": iso(subscription.trial_end_at),
        "cancelled_at": iso(subscription.cancelled_at),
        "paused_at": iso(subscription.paused_at),
        "pause_ends_at": iso(subscription.pause_ends_at),
        "pending_plan_id": str(subscription.pending_plan_id)
        if subscription.pending_plan_id
        else None,
    }


def audit_subscription(
    subscription, action: str, summary: str, before: dict, actor, reason=None, **kwargs
):
    audit_record(
        action=action,
        object_type="subscription",
        object_id=subscription.pk,
        subject_user_id=subscription.user_id,
        summary=summary,
        actor=actor,
        before=before,
        after=state_of(subscription),
        reason=reason,
        **kwargs,
    )


def as_uuid(value) -> uuid.UUID | None:
    if isinstance(value, uuid.UUID):
        return value
    try:
        return uuid.UUID(str(value))
    except (TypeError, ValueError, AttributeError):
        return None


def locked_subscription(subscription_id) -> Subscription:
    """The subscription row locked (its plan read along, the plan row not locked)."""
    pk = as_uuid(subscription_id)
    subscription = (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan")
        .filter(pk=pk)
        .first()
        if pk is not None
        else None
    )
    if subscription is None:
        raise NotFound(NOT_FOUND)
    return subscription


def lock_user(user_id):
    return get_user_model().objects.select_for_update().get(pk=user_id)


def user_id_of(subscription_id):
    pk = as_uuid(subscription_id)
    user_id = (
        Subscription.objects.filter(pk=pk).values_list("user_id", flat=True).first()
        if pk is not None
        else None
    )
    if user_id is None:
        raise NotFound(NOT_FOUND)
    return user_id


def as_utc(value: datetime.datetime) -> datetime.datetime:
    """An input datetime without offset is read as UTC."""
    if timezone.is_naive(value):
        return timezone.make_aware(value, datetime.UTC)
    return value


def is_trial(subscription: Subscription) -> bool:
    """A trial that never had a paid period: its current period started before the trial end."""
    if subscription.trial_end_at is None:
        return False
    start = subscription.current_period_start
    return start is None or start < subscription.trial_end_at


def move_end(subscription: Subscription, delta: datetime.timedelta) -> None:
    """Moves the end (and the renewal anchor with it) forward by ``delta``; the ACTIVE add-ons
    bound to the subscription move with it, so they still end (and renew) together."""
    if subscription.expires_at is None:
        return
    subscription.expires_at += delta
    subscription.anchor_day = subscription.expires_at.day
    subscription.addons.filter(
        status=AddOnSubscriptionStatus.ACTIVE, expires_at__isnull=False
    ).update(expires_at=F("expires_at") + delta, updated_at=timezone.now())


def exclusive_refusal(*, user, plan: Plan, subject: str) -> None:
    category = selectors.exclusive_category_held(user=user, plan=plan)
    if category is not None:
        raise BusinessRuleError(
            f"{subject} already {'have' if subject == 'You' else 'has'} an active subscription "
            f"in category '{category.name}'. Upgrade or downgrade instead.",
            code=EXCLUSIVE_CATEGORY,
        )


def open_invoices(subscription_id, *, invoice_types=CANCELLED_INVOICE_TYPES) -> QuerySet[Invoice]:
    """The subscription's unpaid invoices of ``invoice_types`` (default: trial, renewal and
    plan-change)."""
    return Invoice.objects.filter(
        subscription_id=subscription_id, status__in=OPEN_STATUSES, invoice_type__in=invoice_types
    )


class _InvoiceAppeared(Exception):
    """An invoice to lock first was committed while the rows after it were awaited."""


LOCK_ATTEMPTS = 3


def lock_in_order(invoices: Callable[[], QuerySet[Invoice]], lock_rows: Callable[[], object]):
    """Locks the invoices ``invoices()`` selects, then runs ``lock_rows()`` (locking the
    subscription and whatever comes after it): the order capture locks in. An invoice committed
    while ``lock_rows`` waited was not locked first; the savepoint is rolled back (releasing the
    locks) and both are taken again, at most ``LOCK_ATTEMPTS`` times (the last attempt keeps what
    it has). Returns (the locked invoices by primary key, what ``lock_rows`` returned)."""
    for attempt in range(1, LOCK_ATTEMPTS + 1):
        try:
            with transaction.atomic():
                locked = {row.pk: row for row in invoices().select_for_update().order_by("pk")}
                rows = lock_rows()
                if attempt < LOCK_ATTEMPTS:
                    appeared = set(invoices().values_list("pk", flat=True)) - locked.keys()
                    if appeared:
                        raise _InvoiceAppeared
                return locked, rows
        except _InvoiceAppeared:
            continue
    raise AssertionError("unreachable")  # pragma: no cover


def locked_with_open_invoices(
    subscription_id,
    *,
    invoice_types=CANCELLED_INVOICE_TYPES,
    lock: Callable[[object], Subscription] = locked_subscription,
) -> tuple[list[Invoice], Subscription]:
    """The subscription's open invoices of ``invoice_types`` locked, then the subscription
    (``lock``), with ``lock_in_order``; raises NotFound for an id that is not a UUID."""
    pk = as_uuid(subscription_id)
    if pk is None:
        raise NotFound(NOT_FOUND)
    locked, subscription = lock_in_order(
        lambda: open_invoices(pk, invoice_types=invoice_types), lambda: lock(pk)
    )
    return list(locked.values()), subscription
