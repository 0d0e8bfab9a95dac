"""The SUBSCRIPTION and ADD_ON line types (billing.invoices.lines): what paying, voiding,
refunding and reversing a refund does to subscriptions and add-on subscriptions."""

from __future__ import annotations

import datetime

from django.db import transaction
from django.utils.dateparse import parse_datetime

from audit.services import audit_record
from billing.catalog.periods import period_end
from billing.invoices import lines as registry
from billing.invoices.models import InvoiceLine, InvoiceType, LineType
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.signals import (
    subscription_activated,
    subscription_cancelled,
    subscription_renewed,
)
from tokens.models import TokenTransactionType
from tokens.services.ledger import tokens_credit


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _audit(subscription, action: str, summary: str, before: dict, context, **extra) -> None:
    audit_record(
        action=action,
        object_type="subscription",
        object_id=subscription.pk,
        subject_user_id=subscription.user_id,
        summary=summary,
        actor=context.actor,
        actor_type=context.actor_type,
        actor_label=context.actor_label,
        before=before,
        after={"status": subscription.status, "expires_at": _iso(subscription.expires_at), **extra},
        reason=context.reason,
    )


def grant_plan_tokens(subscription: Subscription, line: InvoiceLine) -> int:
    """The plan's ``default_tokens`` for the paid period, once per invoice line."""
    tokens = int((subscription.plan.features or {}).get("default_tokens") or 0)
    if tokens > 0:
        tokens_credit(
            user=subscription.user,
            amount=tokens,
            transaction_type=TokenTransactionType.SUBSCRIPTION,
            description=f"{subscription.plan.name}: tokens for the period",
            reference_type="subscription",
            reference_id=subscription.pk,
            idempotency_key=registry.activation_key(line),
        )
    return tokens


class SubscriptionLine(registry.LineHandler):
    type = LineType.SUBSCRIPTION

    def _locked(self, line) -> Subscription | None:
        if line.item_id is None:
            return None
        return (
            Subscription.objects.select_for_update()
            .select_related("plan", "user")
            .filter(pk=line.item_id)
            .first()
        )

    def activate(self, line, context) -> None:
        subscription = self._locked(line)
        if subscription is None:
            return
        now = context.now
        before = {"status": subscription.status, "expires_at": _iso(subscription.expires_at)}
        period = subscription.plan.billing_period
        renewed = False
        if subscription.status == SubscriptionStatus.PENDING:
            start = now
        elif subscription.status == SubscriptionStatus.TRIALING:
            # The unused trial days are kept: the first paid period starts at the trial end.
            start = max(subscription.trial_end_at or now, now)
        elif (
            context.invoice.invoice_type == InvoiceType.RENEWAL
            and subscription.status in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
            and subscription.expires_at is not None
        ):
            # Renewals follow on from the previous end, never from the payment time.
            start = subscription.expires_at
            renewed = True
        else:
            return  # already active for this invoice (idempotent) or ended meanwhile
        anchor = (subscription.current_period_start or start).day if renewed else start.day
        subscription.status = SubscriptionStatus.ACTIVE
        subscription.started_at = subscription.started_at or now
        subscription.current_period_start = start
        subscription.expires_at = period_end(start, period, anchor_day=anchor)
        subscription.save(
            update_fields=[
                "status",
                "started_at",
                "current_period_start",
                "expires_at",
                "updated_at",
            ]
        )
        tokens = grant_plan_tokens(subscription, line)
        verb = "renewed" if renewed else "activated"
        _audit(
            subscription,
            f"subscription.{verb}",
            f"Subscription to {subscription.plan.name} {verb} by invoice "
            f"{context.invoice.invoice_number}",
            before,
            context,
            tokens_granted=tokens,
        )
        signal = subscription_renewed if renewed else subscription_activated
        invoice = context.invoice
        transaction.on_commit(
            lambda: signal.send_robust(
                sender=Subscription, subscription=subscription, invoice=invoice
            )
        )
        context.results.setdefault("subscriptions", []).append(subscription)

    def cancel(self, line, context) -> None:
        """A voided CHECKOUT invoice cancels its PENDING subscription; a trial runs to its end and
        a renewal invoice leaves the subscription to run into PAST_DUE / EXPIRED."""
        subscription = self._locked(line)
        if subscription is None or subscription.status != SubscriptionStatus.PENDING:
            return
        before = {"status": subscription.status, "expires_at": None}
        subscription.status = SubscriptionStatus.CANCELLED
        subscription.cancelled_at = context.now
        subscription.save(update_fields=["status", "cancelled_at", "updated_at"])
        _audit(
            subscription,
            "subscription.cancelled",
            f"Pending subscription to {subscription.plan.name} cancelled: invoice "
            f"{context.invoice.invoice_number} voided",
            before,
            context,
        )

    def reverse(self, line, context) -> dict:
        """A full refund ends access now."""
        subscription = self._locked(line)
        if subscription is None or subscription.status == SubscriptionStatus.EXPIRED:
            return {}
        data = {
            "status": subscription.status,
            "expires_at": _iso(subscription.expires_at),
            "cancelled_at": _iso(subscription.cancelled_at),
        }
        subscription.status = SubscriptionStatus.CANCELLED
        subscription.cancelled_at = subscription.cancelled_at or context.now
        if subscription.expires_at is None or subscription.expires_at > context.now:
            subscription.expires_at = context.now
        subscription.save(update_fields=["status", "cancelled_at", "expires_at", "updated_at"])
        _audit(
            subscription,
            "subscription.cancelled",
            f"Subscription to {subscription.plan.name} ended: invoice "
            f"{context.invoice.invoice_number} refunded",
            {"status": data["status"], "expires_at": data["expires_at"]},
            context,
        )
        transaction.on_commit(
            lambda: subscription_cancelled.send_robust(
                sender=Subscription,
                subscription=subscription,
                immediate=True,
                reason="refund",
            )
        )
        return data

    def restore(self, line, context, data) -> None:
        subscription = self._locked(line)
        if subscription is None or not data:
            return
        before = {"status": subscription.status, "expires_at": _iso(subscription.expires_at)}
        subscription.status = data["status"]
        subscription.expires_at = parse_datetime(data["expires_at"]) if data["expires_at"] else None
        subscription.cancelled_at = (
            parse_datetime(data["cancelled_at"]) if data["cancelled_at"] else None
        )
        subscription.save(update_fields=["status", "cancelled_at", "expires_at", "updated_at"])
        _audit(
            subscription,
            "subscription.restored",
            f"Subscription to {subscription.plan.name} restored: the refund of "
            f"{context.invoice.invoice_number} was reversed",
            before,
            context,
        )


class AddOnLine(registry.LineHandler):
    type = LineType.ADD_ON

    def _locked(self, line) -> AddOnSubscription | None:
        if line.item_id is None:
            return None
        return (
            AddOnSubscription.objects.select_for_update()
            .select_related("addon")
            .filter(pk=line.item_id)
            .first()
        )

    def _audit(self, item, action, summary, before, context) -> None:
        audit_record(
            action=action,
            object_type="addon_subscription",
            object_id=item.pk,
            subject_user_id=item.user_id,
            summary=summary,
            actor=context.actor,
            actor_type=context.actor_type,
            actor_label=context.actor_label,
            before=before,
            after={"status": item.status, "expires_at": _iso(item.expires_at)},
            reason=context.reason,
        )

    def activate(self, line, context) -> None:
        item = self._locked(line)
        if item is None:
            return
        before = {"status": item.status, "expires_at": _iso(item.expires_at)}
        if item.status == AddOnSubscriptionStatus.PENDING:
            item.starts_at = context.now
            item.expires_at = period_end(context.now, item.addon.billing_period)
        elif (
            context.invoice.invoice_type == InvoiceType.RENEWAL
            and item.status == AddOnSubscriptionStatus.ACTIVE
            and item.expires_at is not None
        ):
            item.expires_at = period_end(
                item.expires_at, item.addon.billing_period, anchor_day=item.starts_at.day
            )
        else:
            return
        item.status = AddOnSubscriptionStatus.ACTIVE
        item.save(update_fields=["status", "starts_at", "expires_at", "updated_at"])
        self._audit(
            item,
            "addon_subscription.activated",
            f"Add-on {item.addon.name} active until {item.expires_at or 'forever'} (invoice "
            f"{context.invoice.invoice_number})",
            before,
            context,
        )

    def cancel(self, line, context) -> None:
        item = self._locked(line)
        if item is None or item.status != AddOnSubscriptionStatus.PENDING:
            return
        before = {"status": item.status, "expires_at": None}
        item.status = AddOnSubscriptionStatus.CANCELLED
        item.cancelled_at = context.now
        item.save(update_fields=["status", "cancelled_at", "updated_at"])
        self._audit(
            item,
            "addon_subscription.cancelled",
            f"Pending add-on {item.addon.name} cancelled: invoice "
            f"{context.invoice.invoice_number} voided",
            before,
            context,
        )

    def reverse(self, line, context) -> dict:
        item = self._locked(line)
        if item is None or item.status not in (
            AddOnSubscriptionStatus.ACTIVE,
            AddOnSubscriptionStatus.CANCELLED,
        ):
            return {}
        data = {
            "status": item.status,
            "expires_at": _iso(item.expires_at),
            "cancelled_at": _iso(item.cancelled_at),
        }
        item.status = AddOnSubscriptionStatus.CANCELLED
        item.cancelled_at = item.cancelled_at or context.now
        if item.expires_at is None or item.expires_at > context.now:
            item.expires_at = context.now
        item.save(update_fields=["status", "cancelled_at", "expires_at", "updated_at"])
        self._audit(
            item,
            "addon_subscription.cancelled",
            f"Add-on {item.addon.name} ended: invoice {context.invoice.invoice_number} refunded",
            {"status": data["status"], "expires_at": data["expires_at"]},
            context,
        )
        return data

    def restore(self, line, context, data) -> None:
        item = self._locked(line)
        if item is None or not data:
            return
        before = {"status": item.status, "expires_at": _iso(item.expires_at)}
        item.status = data["status"]
        item.expires_at = parse_datetime(data["expires_at"]) if data["expires_at"] else None
        item.cancelled_at = parse_datetime(data["cancelled_at"]) if data["cancelled_at"] else None
        item.save(update_fields=["status", "cancelled_at", "expires_at", "updated_at"])
        self._audit(
            item,
            "addon_subscription.restored",
            f"Add-on {item.addon.name} restored: the refund of "
            f"{context.invoice.invoice_number} was reversed",
            before,
            context,
        )


def register() -> None:
    registry.register(SubscriptionLine())
    registry.register(AddOnLine())
