"""What voiding, fully refunding and reversing the refund of an invoice does to its subscription
and add-on subscriptions (the SUBSCRIPTION and ADD_ON line types call these inside the invoice's
transaction).

- A voided CHECKOUT invoice cancels what was PENDING on it; a trial runs to its end and a renewal
  invoice leaves the subscription to run into PAST_DUE / EXPIRED.
- A full refund ends access now (``subscription_end_now``); the subscription's other open
  invoices are voided. What it ended is returned, JSON-serialisable, for a reversal.
- A reversed refund puts back what the refund ended.
"""

from __future__ import annotations

import datetime

from django.utils.dateparse import parse_datetime

from billing.subscriptions.models import AddOnSubscriptionStatus, SubscriptionStatus
from billing.subscriptions.services.activation import (
    audit_addon_line_change,
    audit_line_change,
    locked_addon_subscription_of,
    locked_subscription_of,
    void_open_invoices,
)
from billing.subscriptions.services.cancellation import subscription_end_now
from billing.subscriptions.services.common import iso

# What a reversed refund puts back.
RESTORED_FIELDS = [
    "status",
    "cancelled_at",
    "expires_at",
    "paused_at",
    "pause_ends_at",
    "pending_plan",
    "updated_at",
]


def _parsed(value: str | None) -> datetime.datetime | None:
    return parse_datetime(value) if value else None


# --- the subscription -------------------------------------------------------------------------


def subscription_cancel_unpaid(*, line, context) -> None:
    """The invoice carrying ``line`` was voided: a PENDING subscription is cancelled."""
    subscription = locked_subscription_of(line)
    if subscription is None or subscription.status != SubscriptionStatus.PENDING:
        return
    before = {"status": subscription.status, "expires_at": None}
    subscription.cancel(at=context.now)
    subscription.save(update_fields=["status", "cancelled_at", "updated_at"])
    audit_line_change(
        subscription,
        "subscription.cancelled",
        f"Pending subscription to {subscription.plan.name} cancelled: invoice "
        f"{context.invoice.invoice_number} voided",
        before,
        context,
    )


def subscription_end_refunded(*, line, context) -> dict:
    """The invoice carrying ``line`` was fully refunded: access ends now and the
    subscription's other open invoices are voided; returns what a reversal puts back."""
    if line.item_id is not None:
        void_open_invoices([line.item_id], context, reason="Subscription refunded")
    subscription = locked_subscription_of(line)
    if subscription is None or subscription.status == SubscriptionStatus.EXPIRED:
        return {}
    data = {
        "status": subscription.status,
        "expires_at": iso(subscription.expires_at),
        "cancelled_at": iso(subscription.cancelled_at),
        "paused_at": iso(subscription.paused_at),
        "pause_ends_at": iso(subscription.pause_ends_at),
        "pending_plan_id": str(subscription.pending_plan_id)
        if subscription.pending_plan_id
        else None,
    }
    subscription_end_now(
        subscription=subscription,
        now=context.now,
        summary=f"Subscription to {subscription.plan.name} ended: invoice "
        f"{context.invoice.invoice_number} refunded",
        signal_reason="refund",
        actor=context.actor,
        actor_type=context.actor_type,
        actor_label=context.actor_label,
        reason=context.reason,
    )
    return data


def subscription_restore_refunded(*, line, context, data: dict) -> None:
    """The refund was reversed: the subscription gets back what the refund ended."""
    subscription = locked_subscription_of(line)
    if subscription is None or not data:
        return
    before = {"status": subscription.status, "expires_at": iso(subscription.expires_at)}
    ended = {}
    # Absent from what refunds recorded while a refund left the pause and a scheduled downgrade
    # in place: those are still on the row.
    if "paused_at" in data:
        ended = {
            "paused_at": _parsed(data["paused_at"]),
            "pause_ends_at": _parsed(data["pause_ends_at"]),
            "pending_plan_id": data["pending_plan_id"],
        }
    subscription.restore(
        status=data["status"],
        expires_at=_parsed(data["expires_at"]),
        cancelled_at=_parsed(data["cancelled_at"]),
        **ended,
    )
    subscription.save(update_fields=RESTORED_FIELDS)
    audit_line_change(
        subscription,
        "subscription.restored",
        f"Subscription to {subscription.plan.name} restored: the refund of "
        f"{context.invoice.invoice_number} was reversed",
        before,
        context,
    )


# --- add-on subscriptions -----------------------------------------------------------------------


def addon_subscription_cancel_unpaid(*, line, context) -> None:
    """The invoice carrying ``line`` was voided: a PENDING add-on is cancelled."""
    item = locked_addon_subscription_of(line)
    if item is None or item.status != AddOnSubscriptionStatus.PENDING:
        return
    before = {"status": item.status, "expires_at": None}
    item.cancel(at=context.now)
    item.save(update_fields=["status", "cancelled_at", "updated_at"])
    audit_addon_line_change(
        item,
        "addon_subscription.cancelled",
        f"Pending add-on {item.addon.name} cancelled: invoice "
        f"{context.invoice.invoice_number} voided",
        before,
        context,
    )


def addon_subscription_end_refunded(*, line, context) -> dict:
    """The invoice carrying ``line`` was fully refunded: the add-on's access ends now; returns
    what a reversal puts back."""
    item = locked_addon_subscription_of(line)
    if item is None or item.status not in (
        AddOnSubscriptionStatus.ACTIVE,
        AddOnSubscriptionStatus.CANCELLED,
    ):
        return {}
    data = {
        "status": item.status,
        "expires_at": iso(item.expires_at),
        "cancelled_at": iso(item.cancelled_at),
    }
    item.cancel(at=context.now)
    if item.expires_at is None or item.expires_at > context.now:
        item.expires_at = context.now
    item.save(update_fields=["status", "cancelled_at", "expires_at", "updated_at"])
    audit_addon_line_change(
        item,
        "addon_subscription.cancelled",
        f"Add-on {item.addon.name} ended: invoice {context.invoice.invoice_number} refunded",
        {"status": data["status"], "expires_at": data["expires_at"]},
        context,
    )
    return data


def addon_subscription_restore_refunded(*, line, context, data: dict) -> None:
    """The refund was reversed: the add-on gets back what the refund ended."""
    item = locked_addon_subscription_of(line)
    if item is None or not data:
        return
    before = {"status": item.status, "expires_at": iso(item.expires_at)}
    item.restore(
        status=data["status"],
        expires_at=_parsed(data["expires_at"]),
        cancelled_at=_parsed(data["cancelled_at"]),
    )
    item.save(update_fields=["status", "cancelled_at", "expires_at", "updated_at"])
    audit_addon_line_change(
        item,
        "addon_subscription.restored",
        f"Add-on {item.addon.name} restored: the refund of "
        f"{context.invoice.invoice_number} was reversed",
        before,
        context,
    )
