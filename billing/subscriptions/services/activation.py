"""What paying an invoice does to its subscription and add-on subscriptions (the SUBSCRIPTION and
ADD_ON line types call these inside the capture transaction, with the invoice locked).

- A first payment (PENDING) activates from the payment time.
- A trial's own invoice (TRIALING, or a trial gone PAST_DUE, or ACTIVE after a staff extension)
  starts the first paid period at the end of the trial as it stands now: the unused trial days
  are kept.
- A RENEWAL extends from the old end (switching to a scheduled downgrade's plan); one paid during
  a pause extends the period and the pause goes on. A period already running is left alone, so
  paying twice changes nothing.
- A PLAN_CHANGE switches the plan with a new period from the payment time and voids the unpaid
  renewal of the replaced period; one paid after the subscription ended changes nothing (the
  paid invoice is for staff to refund).
- Every paid period grants the plan's ``default_tokens`` once per invoice line.
- An activation ends the user's other valid (or paused) subscriptions that share an exclusive
  category with the activated plan, with their add-ons and open invoices: access ends now.
"""

from __future__ import annotations

import calendar

from django.db.models import prefetch_related_objects

from audit.services import audit_record
from billing.catalog.models import Plan
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
from billing.subscriptions.services.common import iso
from billing.subscriptions.services.proration import plan_change_tokens, plan_tokens
from billing.subscriptions.signals import (
    subscription_activated,
    subscription_cancelled,
    subscription_plan_changed,
    subscription_renewed,
)
from plugins.signals import send_all_on_commit
from tokens.models import TokenTransactionType
from tokens.services.ledger import tokens_credit

S = SubscriptionStatus
ACTIVATED, RENEWED, PLAN_CHANGED = "activated", "renewed", "plan_changed"
# What an activation writes on the subscription row.
ACTIVATED_FIELDS = [
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


def audit_line_change(subscription, action: str, summary: str, before: dict, context, **extra):
    """The audit row of a change an invoice line made, by the invoice event's actor."""
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
        after={"status": subscription.status, "expires_at": iso(subscription.expires_at), **extra},
        reason=context.reason,
    )


def void_open_invoices(subscription_ids, context, *, reason: str, invoice_types=None) -> None:
    """Voids the open invoices of these subscriptions (of ``invoice_types``; default all),
    except the one being processed."""
    from billing.invoices.services import invoice_void

    open_ids = Invoice.objects.filter(
        subscription_id__in=list(subscription_ids), status__in=OPEN_STATUSES
    ).exclude(pk=context.invoice.pk)
    if invoice_types is not None:
        open_ids = open_ids.filter(invoice_type__in=invoice_types)
    for invoice_id in list(open_ids.order_by("pk").values_list("pk", flat=True)):
        invoice_void(
            invoice_id=invoice_id,
            actor=context.actor,
            actor_type=context.actor_type,
            actor_label=context.actor_label,
            reason=reason,
        )


def plan_tokens_grant(
    *, subscription: Subscription, line: InvoiceLine, tokens: int | None = None
) -> int:
    """The plan's ``default_tokens`` for the paid period (or ``tokens`` when given), once per
    invoice line."""
    if tokens is None:
        tokens = plan_tokens(subscription.plan)
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


# --- the subscription -------------------------------------------------------------------------


def locked_subscription_of(line) -> Subscription | None:
    """The line's subscription, locked (with its plan and user), or None."""
    if line.item_id is None:
        return None
    return (
        Subscription.objects.select_for_update()
        .select_related("plan", "user")
        .filter(pk=line.item_id)
        .first()
    )


def _renewal_start(subscription: Subscription, invoice: Invoice):
    """A paid renewal extends from the old end, unless the period is running already."""
    if subscription.status not in (S.ACTIVE, S.PAST_DUE, S.PAUSED):
        return None
    if subscription.expires_at is None or (
        invoice.period_start is not None
        and subscription.current_period_start is not None
        and subscription.current_period_start >= invoice.period_start
    ):
        return None  # this period is already running (idempotent)
    return subscription.expires_at, RENEWED


def _period_start(subscription: Subscription, invoice: Invoice, now):
    """(start of the paid period, what the payment does), or None when it changes nothing (see
    the module notes)."""
    status = subscription.status
    if invoice.invoice_type == InvoiceType.PLAN_CHANGE:
        if status not in (S.ACTIVE, S.PAST_DUE):
            return None  # ended meanwhile; the paid invoice is for staff to refund
        return now, PLAN_CHANGED
    if invoice.invoice_type == InvoiceType.RENEWAL:
        return _renewal_start(subscription, invoice)
    if status == S.PENDING:
        return now, ACTIVATED
    if subscription.trial_end_at is not None and status in (S.TRIALING, S.PAST_DUE, S.ACTIVE):
        # The trial's own invoice (capture runs this only when the invoice becomes PAID).
        return subscription.expires_at or subscription.trial_end_at, ACTIVATED
    return None  # already active for this invoice (idempotent) or ended meanwhile


def _line_plan(line, subscription) -> Plan | None:
    """The plan the line bills (a plan change or a scheduled downgrade), if another one."""
    if line.catalog_item_id is None or line.catalog_item_id == subscription.plan_id:
        return None
    return Plan.objects.filter(pk=line.catalog_item_id).first()


def _start_period(subscription: Subscription, *, plan: Plan, start, kind: str, invoice, now):
    """Moves the subscription onto ``plan`` for the period from ``start`` and saves it."""
    if kind in (ACTIVATED, PLAN_CHANGED) or subscription.anchor_day is None:
        subscription.anchor_day = start.day
    if (
        kind == RENEWED
        and invoice.period_end is not None
        and invoice.period_start == subscription.expires_at
    ):
        end = invoice.period_end  # computed at issue with the anchor day
    else:
        end = period_end(start, plan.billing_period, anchor_day=subscription.anchor_day)
    if plan.pk != subscription.plan_id or kind == PLAN_CHANGED:
        subscription.pending_plan = None
    subscription.plan = plan
    if subscription.status not in (S.PAUSED, S.ACTIVE):
        subscription.activate()
    subscription.started_at = subscription.started_at or now
    subscription.current_period_start = start
    subscription.expires_at = end
    subscription.charge_attempts = 0
    subscription.save(update_fields=ACTIVATED_FIELDS)


def _plan_change_tokens(subscription: Subscription, line, plan: Plan, invoice: Invoice) -> int:
    """The plan change's token grant, prorated on the current period as the invoice's credit
    was: the unused time runs from when the change was priced (the new plan's line starts then;
    else the invoice's date) to the current period's end. Read before the new period replaces
    the current one."""
    start, end = subscription.current_period_start, subscription.expires_at
    # The credit line (when the credit was above zero) keeps the period end it was priced on,
    # even if staff moved the end since.
    credited_until = (
        InvoiceLine.objects.filter(invoice_id=invoice.pk, type=LineType.PRORATION)
        .values_list("period_end", flat=True)
        .first()
    )
    end = credited_until or end
    if start is None or end is None or end <= start:
        return plan_tokens(plan)
    priced_at = line.period_start or invoice.invoiced_at
    return plan_change_tokens(
        current=subscription.plan,
        new=plan,
        remaining_seconds=int((end - priced_at).total_seconds()),
        period_seconds=int((end - start).total_seconds()),
    )


def subscription_activate_paid(*, line, context) -> None:
    """The invoice carrying ``line`` was paid: the subscription starts, renews or changes plan
    (see the module notes), grants the plan's tokens, ends what shares an exclusive category;
    the signals go out after commit."""
    subscription = locked_subscription_of(line)
    if subscription is None:
        return
    invoice = context.invoice
    started = _period_start(subscription, invoice, context.now)
    if started is None:
        return
    start, kind = started
    before = {
        "status": subscription.status,
        "plan_id": str(subscription.plan_id),
        "expires_at": iso(subscription.expires_at),
    }
    old_plan = subscription.plan
    plan = _line_plan(line, subscription) or old_plan
    tokens = (
        _plan_change_tokens(subscription, line, plan, invoice) if kind == PLAN_CHANGED else None
    )
    _start_period(subscription, plan=plan, start=start, kind=kind, invoice=invoice, now=context.now)
    tokens = plan_tokens_grant(subscription=subscription, line=line, tokens=tokens)
    audit_line_change(
        subscription,
        f"subscription.{kind}",
        f"Subscription to {plan.name} {kind.replace('_', ' ')} by invoice {invoice.invoice_number}",
        before,
        context,
        plan_id=str(plan.pk),
        tokens_granted=tokens,
    )
    if kind == PLAN_CHANGED:
        # The new period replaces the old one: its unpaid renewal invoice is voided.
        void_open_invoices(
            [subscription.pk],
            context,
            reason="Replaced by the plan change",
            invoice_types=(InvoiceType.RENEWAL,),
        )
    displaced = subscriptions_displace_exclusive(subscription=subscription, context=context)
    _signal_after_commit(
        subscription, kind=kind, old_plan=old_plan, displaced=displaced, invoice=invoice
    )
    context.results.setdefault("subscriptions", []).append(subscription)


def _signal_after_commit(subscription, *, kind: str, old_plan, displaced, invoice) -> None:
    """Activated or renewed, a plan change, then each displaced subscription's ending."""
    signals = []
    signal = {RENEWED: subscription_renewed, ACTIVATED: subscription_activated}.get(kind)
    if signal is not None:
        signals.append((signal, {"subscription": subscription, "invoice": invoice}))
    if subscription.plan_id != old_plan.pk:
        signals.append(
            (
                subscription_plan_changed,
                {
                    "subscription": subscription,
                    "old_plan": old_plan,
                    "new_plan": subscription.plan,
                    "invoice": invoice,
                },
            )
        )
    for other in displaced:
        signals.append(
            (
                subscription_cancelled,
                {"subscription": other, "immediate": True, "reason": "exclusive_category"},
            )
        )

    send_all_on_commit(Subscription, signals)


def subscriptions_displace_exclusive(*, subscription: Subscription, context) -> list:
    """Ends now the user's other valid (or paused) subscriptions that share an exclusive category
    with the activated plan, their open invoices and ACTIVE add-ons; returns them (their
    ``subscription_cancelled`` is the caller's to send, after its own signals)."""
    # The plan's categories are read once and kept on it: the subscription's API shape (its
    # signals' payloads) shows them too.
    prefetch_related_objects([subscription.plan], "categories")
    exclusive = [c.pk for c in subscription.plan.categories.all() if c.is_single]
    if not exclusive:
        return []
    other_ids = set(
        Subscription.objects.filter(user_id=subscription.user_id, plan__categories__in=exclusive)
        .exclude(pk=subscription.pk)
        .values_list("pk", flat=True)
    )
    holding = [
        other.pk
        for other in Subscription.objects.filter(pk__in=other_ids)
        if other.is_valid_at(context.now) or other.status == S.PAUSED
    ]
    # Invoices before subscriptions (the order capture locks in): what the ended subscriptions
    # still had open can no longer be paid.
    void_open_invoices(holding, context, reason="Ended by another subscription in its category")
    others = Subscription.objects.select_for_update().filter(pk__in=holding).order_by("pk")
    displaced = []
    for other in others:
        if not other.is_valid_at(context.now) and other.status != S.PAUSED:
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
        _end_addons_with(other, context)
        displaced.append(other)
    return displaced


def _end_addons_with(subscription: Subscription, context) -> None:
    items = subscription.addons.select_for_update().filter(status=AddOnSubscriptionStatus.ACTIVE)
    for item in items:
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


# --- add-on subscriptions -----------------------------------------------------------------------


def locked_addon_subscription_of(line) -> AddOnSubscription | None:
    """The line's add-on subscription, locked (with its add-on), or None."""
    if line.item_id is None:
        return None
    return (
        AddOnSubscription.objects.select_for_update(of=("self",))
        .select_related("addon")
        .filter(pk=line.item_id)
        .first()
    )


def audit_addon_line_change(item, action: str, summary: str, before: dict, context) -> None:
    """The audit row of an add-on change an invoice line made, by the invoice event's actor."""
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
        after={"status": item.status, "expires_at": iso(item.expires_at)},
        reason=context.reason,
    )


def _addon_anchor(item: AddOnSubscription) -> int:
    """The day an add-on's periods end on: the day it started (clamped in short months, so
    Jan 31 → Feb 28 → Mar 31), unless its end was moved (a pause of its subscription), which
    then sets the new day."""
    anchor = item.starts_at.day if item.starts_at else item.expires_at.day
    end = item.expires_at
    on_anchor = end.day == min(anchor, calendar.monthrange(end.year, end.month)[1])
    return anchor if on_anchor else end.day


def addon_subscription_activate_paid(*, line, context) -> None:
    """The invoice carrying ``line`` was paid: a PENDING add-on starts its first period now, an
    ACTIVE one on a RENEWAL runs one more period from its end; anything else is left alone."""
    item = locked_addon_subscription_of(line)
    if item is None:
        return
    before = {"status": item.status, "expires_at": iso(item.expires_at)}
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
    audit_addon_line_change(
        item,
        "addon_subscription.activated",
        f"Add-on {item.addon.name} active until {item.expires_at or 'forever'} (invoice "
        f"{context.invoice.invoice_number})",
        before,
        context,
    )
