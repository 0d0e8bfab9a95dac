"""Plan changes: the immediate upgrade billed on a PLAN_CHANGE invoice,
the downgrade scheduled for the next renewal, and cancelling it (the proration preview and the
checks: ``proration``).

Every request is checked in a fixed order (``proration.checked_target``); the first
failure answers 400 and nothing is written. Upgrade, downgrade and cancel-downgrade each run in
one transaction and write one audit row; they lock the subscription's open invoices first, then
the subscription row (the order capture locks them in). The plan itself only switches when the
PLAN_CHANGE invoice (or, for a downgrade, the renewal) is paid: that is
``billing.subscriptions.services.activation``'s job.

Rules written down here:

- The upgrade invoice has no FEE line (the preview shows every line the invoice carries) and is
  due after the usual payment terms. A zero total records no payment method.
- The payment method of an upgrade: ``payment_method_code``, else the subscription's method when
  it is still available (as renewals choose it), else the default method; it must be available
  and accept the amount, currency and billing country (as at checkout).
- An upgrade clears a scheduled downgrade; an unpaid renewal already issued for the pending plan
  is voided and, unless the upgrade took effect at once, reissued for the current plan.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from billing.catalog.models import PaymentMethod, Plan
from billing.catalog.services.payment_methods import (
    amount_in_default_currency,
    payment_method_accepts,
    payment_method_chosen,
    payment_method_is_available,
)
from billing.coupons.models import DISCOUNT_LINE
from billing.invoices.models import OPEN_STATUSES, Invoice, InvoiceType
from billing.invoices.services import (
    invoice_capture_zero,
    invoice_issue,
    invoice_void,
)
from billing.invoices.services.issuing import buyer_snapshot
from billing.subscriptions.models import Subscription
from billing.subscriptions.services.common import as_uuid, lock_in_order, open_invoices
from billing.subscriptions.services.proration import (
    DOWNGRADE,
    UPGRADE,
    Proration,
    checked_target,
    currency_for,
    prorate,
    unavailable,
)
from platform_settings.selectors import platform_settings_get
from vbwd.exceptions import BusinessRuleError

__all__ = [
    "MESSAGE_DOWNGRADE_CLEARED",
    "MESSAGE_DOWNGRADE_SCHEDULED",
    "MESSAGE_UPGRADED",
    "MESSAGE_UPGRADE_INVOICED",
    "UpgradeResult",
    "subscription_cancel_downgrade",
    "subscription_downgrade",
    "subscription_upgrade",
]

MESSAGE_UPGRADED = "Subscription upgraded successfully."
MESSAGE_UPGRADE_INVOICED = "Upgrade invoice issued. The new plan starts when it is paid."
MESSAGE_DOWNGRADE_SCHEDULED = "Downgrade scheduled for next renewal."
MESSAGE_DOWNGRADE_CLEARED = "Scheduled downgrade cleared."
NO_DOWNGRADE = "No downgrade is scheduled"


@dataclass
class UpgradeResult:
    subscription: Subscription
    invoice: Invoice
    proration: Proration
    message: str

    @property
    def upgraded(self) -> bool:
        return self.message == MESSAGE_UPGRADED


# --- helpers ------------------------------------------------------------------------------------


def _locked(subscription_id) -> Subscription:
    """The subscription's open invoices locked, then the subscription row (the invoices a plan
    change may void are locked before it, as capture locks them)."""

    def lock_row() -> Subscription:
        return (
            Subscription.objects.select_for_update(of=("self",))
            .select_related("plan", "user", "user__details")
            .get(pk=subscription_id)
        )

    pk = as_uuid(subscription_id)
    if pk is None:
        return lock_row()
    return lock_in_order(lambda: open_invoices(pk), lock_row)[1]


def _payment_method(code, *, subscription: Subscription, proration: Proration):
    """The method of the upgrade invoice, checked like checkout's; None for a zero total."""
    if proration.amount_due == 0:
        return None
    if code not in (None, ""):
        method = payment_method_chosen(code)
    else:
        method = None
        if subscription.payment_method:
            method = PaymentMethod.objects.filter(code=subscription.payment_method).first()
        if method is None or not payment_method_is_available(method):
            method = PaymentMethod.objects.filter(is_default=True).first()
        if method is None:
            raise unavailable("No payment method is available for this order")
    user = subscription.user
    country = buyer_snapshot(user)["country"] or platform_settings_get().address_country or None
    accepted = payment_method_is_available(method) and payment_method_accepts(
        method,
        currency=proration.currency,
        country=country,
        amount_in_default=amount_in_default_currency(proration.amount_due, proration.currency),
    )
    if not accepted:
        raise unavailable(f"Payment method '{method.name}' is not available for this order")
    return method


def _void_open(invoices, *, actor, reason: str) -> list[str]:
    numbers = []
    for invoice in invoices:
        invoice_void(invoice_id=invoice.pk, actor=actor, reason=reason)
        numbers.append(invoice.invoice_number)
    return numbers


def _void_plan_change_invoices(subscription: Subscription, *, actor, reason: str) -> list[str]:
    """Voids the subscription's unpaid PLAN_CHANGE invoices; returns their numbers."""
    pending = Invoice.objects.filter(
        subscription_id=subscription.pk,
        invoice_type=InvoiceType.PLAN_CHANGE,
        status__in=OPEN_STATUSES,
    ).order_by("invoiced_at", "invoice_number")
    return _void_open(pending, actor=actor, reason=reason)


def _void_renewal_unless_for(
    subscription: Subscription, plan_id, *, actor, reason: str
) -> Invoice | None:
    """Voids the unpaid renewal invoice of the coming period when it bills another plan than
    ``plan_id``; returns the voided invoice."""
    from billing.subscriptions.services.renewal import open_renewal_invoice

    renewal = open_renewal_invoice(subscription)
    if renewal is None or renewal.tarif_plan_id == plan_id:
        return None
    invoice_void(invoice_id=renewal.pk, actor=actor, reason=reason)
    return renewal


def _reissue_renewal(subscription: Subscription) -> Invoice | None:
    from billing.subscriptions.services.renewal import renewal_invoice_issue

    return renewal_invoice_issue(subscription_id=subscription.pk)


def _save_pending_plan(subscription: Subscription, plan: Plan | None) -> None:
    subscription.pending_plan = plan
    subscription.save(update_fields=["pending_plan", "updated_at"])


# --- use cases ------------------------------------------------------------------------------------


def _discount_period_used(subscription: Subscription, invoice) -> None:
    """An upgrade invoice discounted by the subscription's recurring discount starts a new
    period with it: one period of a REPEATING discount is used up (at zero it ends)."""
    remaining = subscription.discount_periods_remaining
    if remaining is None or not any(line.type == DISCOUNT_LINE for line in invoice.lines.all()):
        return
    if remaining > 1:
        subscription.discount_periods_remaining = remaining - 1
    else:
        subscription.discount_coupon = None
        subscription.discount_periods_remaining = None
        subscription.discount_started_at = None
    subscription.save(
        update_fields=[
            "discount_coupon",
            "discount_periods_remaining",
            "discount_started_at",
            "updated_at",
        ]
    )


def subscription_upgrade(
    *, subscription_id, actor, plan_id, payment_method_code=None
) -> UpgradeResult:
    """Issues the PLAN_CHANGE invoice of an immediate upgrade (an older unpaid one is voided, a
    scheduled downgrade cleared); a zero total is captured at once and the plan switches."""
    with transaction.atomic():
        subscription = _locked(subscription_id)
        now = timezone.now()
        proration = prorate(subscription, plan_id, action=UPGRADE, now=now)
        method = _payment_method(
            payment_method_code, subscription=subscription, proration=proration
        )
        current, target = proration.current_plan, proration.new_plan
        replaced = _void_plan_change_invoices(
            subscription, actor=actor, reason=f"Replaced by a change to {target.name}"
        )
        cleared_plan_id = subscription.pending_plan_id
        stale_renewal = None
        if cleared_plan_id is not None:
            _save_pending_plan(subscription, None)
            stale_renewal = _void_renewal_unless_for(
                subscription,
                subscription.plan_id,
                actor=actor,
                reason=f"Scheduled downgrade replaced by an upgrade to {target.name}",
            )
        invoice = invoice_issue(
            user=subscription.user,
            invoice_type=InvoiceType.PLAN_CHANGE,
            currency=currency_for(proration.currency),
            drafts=proration.drafts,
            payment_method=method,
            subscription_id=subscription.pk,
            tarif_plan_id=target.pk,
            period_start=proration.period_start,
            period_end=proration.period_end,
            treatment=proration.treatment,
            actor=actor,
            now=now,
        )
        _discount_period_used(subscription, invoice)
        audit_record(
            action="subscription.plan_change_requested",
            object_type="subscription",
            object_id=subscription.pk,
            subject_user_id=subscription.user_id,
            summary=(
                f"Upgrade from {current.name} to {target.name} invoiced on "
                f"{invoice.invoice_number}: {invoice.total_amount} {invoice.currency} "
                f"(credit {proration.credit_applied})"
            ),
            actor=actor,
            before={
                "plan_id": str(current.pk),
                "pending_plan_id": str(cleared_plan_id) if cleared_plan_id else None,
            },
            after={
                "plan_id": str(current.pk),
                "new_plan_id": str(target.pk),
                "pending_plan_id": None,
                "invoice_id": str(invoice.pk),
                "replaced_invoices": replaced,
                "remaining_seconds": proration.remaining_seconds,
                "credit": str(proration.credit),
                "credit_applied": str(proration.credit_applied),
                "amount_due": str(proration.amount_due),
            },
        )
        if invoice.total_amount == 0:
            invoice = invoice_capture_zero(invoice_id=invoice.pk, actor=actor).invoice
            message = MESSAGE_UPGRADED
        else:
            if stale_renewal is not None:
                _reissue_renewal(subscription)
            message = MESSAGE_UPGRADE_INVOICED
        subscription = Subscription.objects.select_related("plan", "pending_plan").get(
            pk=subscription.pk
        )
    return UpgradeResult(
        subscription=subscription, invoice=invoice, proration=proration, message=message
    )


def _clear_schedule(subscription: Subscription, *, actor, summary: str) -> None:
    """Clears ``pending_plan``; an unpaid renewal issued for it is voided and reissued for the
    current plan. Inside the caller's transaction, with the row locked."""
    pending_plan_id = subscription.pending_plan_id
    if pending_plan_id is None:
        return
    _save_pending_plan(subscription, None)
    voided = _void_renewal_unless_for(
        subscription, subscription.plan_id, actor=actor, reason="Scheduled downgrade cleared"
    )
    reissued = _reissue_renewal(subscription) if voided is not None else None
    audit_record(
        action="subscription.downgrade_cleared",
        object_type="subscription",
        object_id=subscription.pk,
        subject_user_id=subscription.user_id,
        summary=summary,
        actor=actor,
        before={"pending_plan_id": str(pending_plan_id) if pending_plan_id else None},
        after={
            "pending_plan_id": None,
            "voided_renewal": voided.invoice_number if voided is not None else None,
            "reissued_renewal": reissued.invoice_number if reissued is not None else None,
        },
    )


def subscription_downgrade(*, subscription_id, actor, plan_id) -> tuple[Subscription, str]:
    """Schedules ``plan_id`` for the next renewal (the current plan clears the schedule); an
    unpaid renewal of the coming period is reissued for it, an unpaid plan change voided."""
    with transaction.atomic():
        subscription = _locked(subscription_id)
        target = checked_target(subscription, plan_id, action=DOWNGRADE)
        if target.pk == subscription.plan_id:
            _clear_schedule(
                subscription,
                actor=actor,
                summary=f"Scheduled downgrade cleared: staying on {target.name}",
            )
            message = MESSAGE_DOWNGRADE_CLEARED
        else:
            previous = subscription.pending_plan_id
            _save_pending_plan(subscription, target)
            replaced = _void_plan_change_invoices(
                subscription, actor=actor, reason=f"Replaced by a downgrade to {target.name}"
            )
            voided = _void_renewal_unless_for(
                subscription,
                target.pk,
                actor=actor,
                reason=f"Reissued for the scheduled downgrade to {target.name}",
            )
            reissued = _reissue_renewal(subscription) if voided is not None else None
            audit_record(
                action="subscription.downgrade_scheduled",
                object_type="subscription",
                object_id=subscription.pk,
                subject_user_id=subscription.user_id,
                summary=(
                    f"Change from {subscription.plan.name} to {target.name} scheduled for the "
                    f"next renewal"
                ),
                actor=actor,
                before={"pending_plan_id": str(previous) if previous else None},
                after={
                    "pending_plan_id": str(target.pk),
                    "replaced_invoices": replaced,
                    "voided_renewal": voided.invoice_number if voided is not None else None,
                    "reissued_renewal": reissued.invoice_number if reissued is not None else None,
                },
            )
            message = MESSAGE_DOWNGRADE_SCHEDULED
        subscription = Subscription.objects.select_related("plan", "pending_plan").get(
            pk=subscription.pk
        )
    return subscription, message


def subscription_cancel_downgrade(*, subscription_id, actor) -> Subscription:
    """Clears a scheduled downgrade; an unpaid renewal already issued for the pending plan is
    voided and reissued for the current plan."""
    with transaction.atomic():
        subscription = _locked(subscription_id)
        if subscription.pending_plan_id is None:
            raise BusinessRuleError(NO_DOWNGRADE)
        _clear_schedule(
            subscription,
            actor=actor,
            summary=f"Scheduled downgrade cleared: staying on {subscription.plan.name}",
        )
        subscription = Subscription.objects.select_related("plan", "pending_plan").get(
            pk=subscription.pk
        )
    return subscription
