"""The SUBSCRIPTION and ADD_ON line types (billing.invoices.lines): what paying, voiding,
refunding and reversing a refund does to subscriptions and add-on subscriptions."""

from __future__ import annotations

import calendar
import datetime

from django.db import transaction
from django.utils.dateparse import parse_datetime

from audit.services import audit_record
from billing.catalog.models import Category, Plan
from billing.catalog.periods import period_end
from billing.invoices import lines as registry
from billing.invoices.models import OPEN_STATUSES, Invoice, InvoiceLine, InvoiceType, LineType
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services.cancellation import subscription_end_now
from billing.subscriptions.signals import (
    subscription_activated,
    subscription_cancelled,
    subscription_plan_changed,
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


def _displace_exclusive(subscription: Subscription, context) -> list[Subscription]:
    """An activation ends the user's other valid subscriptions that share an exclusive category
    with the activated plan (DOMAIN §4: access ends now)."""
    exclusive = Category.objects.filter(plans=subscription.plan_id, is_single=True)
    other_ids = set(
        Subscription.objects.filter(user_id=subscription.user_id, plan__categories__in=exclusive)
        .exclude(pk=subscription.pk)
        .values_list("pk", flat=True)
    )
    holding = [
        other.pk
        for other in Subscription.objects.filter(pk__in=other_ids)
        if other.is_valid_at(context.now) or other.status == SubscriptionStatus.PAUSED
    ]
    # Invoices before subscriptions (the order capture locks in): what the ended subscriptions
    # still had open can no longer be paid.
    _void_open_invoices(holding, context, reason="Ended by another subscription in its category")
    others = Subscription.objects.select_for_update().filter(pk__in=holding).order_by("pk")
    displaced = []
    for other in others:
        if not other.is_valid_at(context.now) and other.status != SubscriptionStatus.PAUSED:
            continue
        subscription_end_now(
            subscription=other,
            now=context.now,
            summary=f"Subscription ended: {subscription.plan.name} was activated in the same "
            "exclusive category",
            signal_reason="exclusive_category",
            actor=context.actor,
            actor_type=context.actor_type,
            actor_label=context.actor_label,
            reason=context.reason,
            send_signal=False,  # sent after the activation's own signals
        )
        for item in other.addons.select_for_update().filter(status=AddOnSubscriptionStatus.ACTIVE):
            item.cancel(at=context.now)
            item.expires_at = context.now
            item.save(update_fields=["status", "cancelled_at", "expires_at", "updated_at"])
            audit_record(
                action="addon_subscription.cancelled",
                object_type="addon_subscription",
                object_id=item.pk,
                subject_user_id=item.user_id,
                summary="Add-on ended with its subscription (exclusive category)",
                actor=context.actor,
                actor_type=context.actor_type,
                actor_label=context.actor_label,
                before={"status": AddOnSubscriptionStatus.ACTIVE},
                after={"status": item.status},
            )
        displaced.append(other)
    return displaced


def _void_open_invoices(subscription_ids, context, *, reason: str) -> None:
    """Voids the open invoices (trial, renewal, plan change) of these subscriptions, except the
    one being processed."""
    from billing.invoices.services import invoice_void

    open_ids = (
        Invoice.objects.filter(subscription_id__in=list(subscription_ids), status__in=OPEN_STATUSES)
        .exclude(pk=context.invoice.pk)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    for invoice_id in list(open_ids):
        invoice_void(
            invoice_id=invoice_id,
            actor=context.actor,
            actor_type=context.actor_type,
            actor_label=context.actor_label,
            reason=reason,
        )


def _parsed(value: str | None) -> datetime.datetime | None:
    return parse_datetime(value) if value else None


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
        """Paying the invoice: a first payment (PENDING / TRIALING / a trial gone PAST_DUE)
        activates, a RENEWAL extends from the old end (switching to a scheduled downgrade's
        plan), a PLAN_CHANGE switches the plan with a new period from the payment time."""
        subscription = self._locked(line)
        if subscription is None:
            return
        invoice = context.invoice
        before = {
            "status": subscription.status,
            "plan_id": str(subscription.plan_id),
            "expires_at": _iso(subscription.expires_at),
        }
        old_plan = subscription.plan
        line_plan = self._line_plan(line, subscription)
        status = subscription.status
        if invoice.invoice_type == InvoiceType.PLAN_CHANGE:
            if status not in (SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE):
                return  # ended meanwhile; the paid invoice is for staff to refund
            start, kind = context.now, "plan_changed"
        elif invoice.invoice_type == InvoiceType.RENEWAL:
            # A renewal paid during a pause extends the period and the pause goes on.
            if status not in (
                SubscriptionStatus.ACTIVE,
                SubscriptionStatus.PAST_DUE,
                SubscriptionStatus.PAUSED,
            ):
                return
            if subscription.expires_at is None or (
                invoice.period_start is not None
                and subscription.current_period_start is not None
                and subscription.current_period_start >= invoice.period_start
            ):
                return  # this period is already running (idempotent)
            start, kind = subscription.expires_at, "renewed"
        elif status == SubscriptionStatus.PENDING:
            start, kind = context.now, "activated"
        elif subscription.trial_end_at is not None and status in (
            SubscriptionStatus.TRIALING,
            SubscriptionStatus.PAST_DUE,
            SubscriptionStatus.ACTIVE,
        ):
            # The trial's own invoice (paid once per invoice: capture runs this only when the
            # invoice becomes PAID). The unused trial days are kept: the first paid period
            # starts at the end of the trial as it stands now: late inside the grace period,
            # or after a staff extension (ACTIVE), from that end.
            start = subscription.expires_at or subscription.trial_end_at
            kind = "activated"
        else:
            return  # already active for this invoice (idempotent) or ended meanwhile

        plan = line_plan or old_plan
        if kind in ("activated", "plan_changed") or subscription.anchor_day is None:
            subscription.anchor_day = start.day
        if (
            kind == "renewed"
            and invoice.period_end is not None
            and invoice.period_start == subscription.expires_at
        ):
            end = invoice.period_end  # computed at issue with the anchor day
        else:
            end = period_end(start, plan.billing_period, anchor_day=subscription.anchor_day)
        subscription.plan = plan
        if plan.pk != old_plan.pk or kind == "plan_changed":
            subscription.pending_plan = None
        if status not in (SubscriptionStatus.PAUSED, SubscriptionStatus.ACTIVE):
            subscription.activate()
        subscription.started_at = subscription.started_at or context.now
        subscription.current_period_start = start
        subscription.expires_at = end
        subscription.charge_attempts = 0
        subscription.save(
            update_fields=[
                "plan",
                "pending_plan",
                "status",
                "started_at",
                "current_period_start",
                "expires_at",
                "anchor_day",
                "charge_attempts",
                "updated_at",
            ]
        )
        tokens = grant_plan_tokens(subscription, line)
        _audit(
            subscription,
            f"subscription.{kind}",
            f"Subscription to {plan.name} {kind.replace('_', ' ')} by invoice "
            f"{invoice.invoice_number}",
            before,
            context,
            plan_id=str(plan.pk),
            tokens_granted=tokens,
        )
        if kind == "plan_changed":
            self._void_open_renewals(subscription, context)
        displaced = _displace_exclusive(subscription, context)
        signal = {"renewed": subscription_renewed, "activated": subscription_activated}.get(kind)
        on_commit_signals = []
        if signal is not None:
            on_commit_signals.append((signal, {"subscription": subscription, "invoice": invoice}))
        if plan.pk != old_plan.pk:
            on_commit_signals.append(
                (
                    subscription_plan_changed,
                    {
                        "subscription": subscription,
                        "old_plan": old_plan,
                        "new_plan": plan,
                        "invoice": invoice,
                    },
                )
            )
        for other in displaced:
            on_commit_signals.append(
                (
                    subscription_cancelled,
                    {"subscription": other, "immediate": True, "reason": "exclusive_category"},
                )
            )

        def send() -> None:
            for each, kwargs in on_commit_signals:
                each.send_robust(sender=Subscription, **kwargs)

        transaction.on_commit(send)
        context.results.setdefault("subscriptions", []).append(subscription)

    @staticmethod
    def _line_plan(line, subscription) -> Plan | None:
        """The plan the line bills (a plan change or a scheduled downgrade), if another one."""
        if line.catalog_item_id is None or line.catalog_item_id == subscription.plan_id:
            return None
        return Plan.objects.filter(pk=line.catalog_item_id).first()

    @staticmethod
    def _void_open_renewals(subscription, context) -> None:
        """The new period replaces the old one: its unpaid renewal invoice is voided."""
        from billing.invoices.services import invoice_void

        open_renewals = Invoice.objects.filter(
            subscription_id=subscription.pk,
            invoice_type=InvoiceType.RENEWAL,
            status__in=OPEN_STATUSES,
        ).exclude(pk=context.invoice.pk)
        for invoice_id in list(open_renewals.values_list("pk", flat=True)):
            invoice_void(
                invoice_id=invoice_id,
                actor=context.actor,
                actor_type=context.actor_type,
                actor_label=context.actor_label,
                reason="Replaced by the plan change",
            )

    def cancel(self, line, context) -> None:
        """A voided CHECKOUT invoice cancels its PENDING subscription; a trial runs to its end and
        a renewal invoice leaves the subscription to run into PAST_DUE / EXPIRED."""
        subscription = self._locked(line)
        if subscription is None or subscription.status != SubscriptionStatus.PENDING:
            return
        before = {"status": subscription.status, "expires_at": None}
        subscription.cancel(at=context.now)
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
        """A full refund ends access now; the subscription's other open invoices are voided."""
        if line.item_id is not None:
            _void_open_invoices([line.item_id], context, reason="Subscription refunded")
        subscription = self._locked(line)
        if subscription is None or subscription.status == SubscriptionStatus.EXPIRED:
            return {}
        data = {
            "status": subscription.status,
            "expires_at": _iso(subscription.expires_at),
            "cancelled_at": _iso(subscription.cancelled_at),
            "paused_at": _iso(subscription.paused_at),
            "pause_ends_at": _iso(subscription.pause_ends_at),
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

    def restore(self, line, context, data) -> None:
        subscription = self._locked(line)
        if subscription is None or not data:
            return
        before = {"status": subscription.status, "expires_at": _iso(subscription.expires_at)}
        ended = {}
        # Absent from what refunds recorded while a refund left the pause and a scheduled
        # downgrade in place: those are still on the row.
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
        _audit(
            subscription,
            "subscription.restored",
            f"Subscription to {subscription.plan.name} restored: the refund of "
            f"{context.invoice.invoice_number} was reversed",
            before,
            context,
        )


def _addon_anchor(item: AddOnSubscription) -> int:
    """The day an add-on's periods end on: the day it started (clamped in short months, so
    Jan 31 → Feb 28 → Mar 31), unless its end was moved (a pause of its subscription), which
    then sets the new day."""
    anchor = item.starts_at.day if item.starts_at else item.expires_at.day
    end = item.expires_at
    on_anchor = end.day == min(anchor, calendar.monthrange(end.year, end.month)[1])
    return anchor if on_anchor else end.day


class AddOnLine(registry.LineHandler):
    type = LineType.ADD_ON

    def _locked(self, line) -> AddOnSubscription | None:
        if line.item_id is None:
            return None
        return (
            AddOnSubscription.objects.select_for_update(of=("self",))
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
            item.activate(
                starts_at=context.now,
                expires_at=period_end(context.now, item.addon.billing_period),
            )
        elif (
            context.invoice.invoice_type == InvoiceType.RENEWAL
            and item.status == AddOnSubscriptionStatus.ACTIVE
            and item.expires_at is not None
        ):
            item.expires_at = period_end(
                item.expires_at, item.addon.billing_period, anchor_day=_addon_anchor(item)
            )
        else:
            return
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
        item.cancel(at=context.now)
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
        item.cancel(at=context.now)
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
        item.restore(
            status=data["status"],
            expires_at=parse_datetime(data["expires_at"]) if data["expires_at"] else None,
            cancelled_at=parse_datetime(data["cancelled_at"]) if data["cancelled_at"] else None,
        )
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
