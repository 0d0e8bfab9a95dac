"""Plan changes (DOMAIN §4, API.md §8): the proration preview, the immediate upgrade billed on a
PLAN_CHANGE invoice, the downgrade scheduled for the next renewal, and cancelling it.

Every request is checked in the order of the "Plan-change checks" table of API.md §8; the first
failure answers 400 and nothing is written. Upgrade, downgrade and cancel-downgrade each run in
one transaction and write one audit row; they lock the subscription's open invoices first, then
the subscription row (the order capture locks them in). The plan itself only switches when the
PLAN_CHANGE invoice (or, for a downgrade, the renewal) is paid: that is the SUBSCRIPTION line
handler's job (``billing.subscriptions.lines``).

Rules written down here (the specs are silent on them):

- Proration is measured in whole seconds of the real calendar period ``current_period_start`` →
  ``expires_at``. The remaining time is clamped to 0..period (an ACTIVE subscription converted
  from a trial has a first period that starts at the trial end, possibly still ahead: the unused
  trial days are not credited, only the paid period).
- ``credit`` is computed on the current plan's catalog price (rounded to the currency) and
  ``credit_applied = min(credit, new plan catalog price)``, both in catalog terms (gross when the
  buyer country's prices include tax). Both lines then go through ``build_lines`` exactly like an
  invoice, so the preview equals the invoice to the cent and the total is never negative.
- A PRORATION line is only added when ``credit_applied`` is above zero; it carries the unused part
  of the current period (now → period end) as its service period.
- The upgrade invoice has no FEE line (the preview shows every line the invoice carries) and is
  due after the usual payment terms. A zero total records no payment method.
- The payment method of an upgrade: ``payment_method_code``, else the subscription's method when
  it is still available (as renewals choose it), else the default method; it must be available
  and accept the amount, currency and billing country (as at checkout).
- An upgrade clears a scheduled downgrade; an unpaid renewal already issued for the pending plan
  is voided and, unless the upgrade took effect at once, reissued for the current plan.
- Exclusive categories: the target is refused when another of the user's subscriptions in
  TRIALING, ACTIVE, PAST_DUE or PAUSED holds a plan of an exclusive category of the target (the
  subscription being changed does not count).
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from billing.catalog.models import BillingPeriod, Category, Currency, PaymentMethod, Plan
from billing.catalog.periods import period_end as compute_period_end
from billing.catalog.services.payment_methods import (
    amount_in_default_currency,
    payment_method_accepts,
    payment_method_is_available,
)
from billing.invoices.models import OPEN_STATUSES, Invoice, InvoiceType, LineType
from billing.invoices.services import (
    LineDraft,
    build_lines,
    invoice_capture_zero,
    invoice_issue,
    invoice_void,
)
from billing.invoices.services.issuing import buyer_snapshot, treatment_for
from billing.invoices.tax import TaxTreatment
from billing.subscriptions.models import HOLDING_STATUSES, Subscription, SubscriptionStatus
from billing.subscriptions.services.common import as_uuid, lock_in_order, open_invoices
from platform_settings.selectors import platform_settings_get
from vbwd.exceptions import BusinessRuleError, InvalidTransition, ValidationFailed
from vbwd.money import round_money

MESSAGE_UPGRADED = "Subscription upgraded successfully."
MESSAGE_UPGRADE_INVOICED = "Upgrade invoice issued. The new plan starts when it is paid."
MESSAGE_DOWNGRADE_SCHEDULED = "Downgrade scheduled for next renewal."
MESSAGE_DOWNGRADE_CLEARED = "Scheduled downgrade cleared."

NO_PRORATION = "Unable to calculate proration"
NO_DOWNGRADE = "No downgrade is scheduled"
ONE_TIME_REFUSED = "Plan changes are not available for one-time plans"
DOWNGRADE_NOT_RECURRING = "A downgrade target must be a recurring plan"
ITEM_UNAVAILABLE = "item_unavailable"
EXCLUSIVE_CATEGORY = "exclusive_category"

PREVIEW, UPGRADE, DOWNGRADE = "preview", "upgrade", "downgrade"

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400

PERIOD_LABELS = {
    BillingPeriod.DAILY: "daily",
    BillingPeriod.WEEKLY: "weekly",
    BillingPeriod.MONTHLY: "monthly",
    BillingPeriod.QUARTERLY: "quarterly",
    BillingPeriod.YEARLY: "yearly",
    BillingPeriod.ONE_TIME: "one-time",
}


@dataclass(frozen=True)
class ProrationLine:
    """One line of the plan-change invoice as it would be issued (money in the invoice
    currency, net unit price, tax rounded per line), with a human explanation."""

    type: str
    description: str
    explanation: str
    quantity: int
    unit_price: Decimal
    amount: Decimal
    tax_rate: Decimal
    tax_amount: Decimal
    gross_amount: Decimal
    period_start: datetime.datetime | None
    period_end: datetime.datetime | None


@dataclass
class Proration:
    """The Proration shape of API.md §2.7; ``drafts`` are what ``invoice_issue`` receives and
    ``lines`` what it would write from them (``build_lines`` with ``treatment``)."""

    subscription_id: uuid.UUID
    current_plan: Plan
    new_plan: Plan
    currency: str
    period_start: datetime.datetime
    period_end: datetime.datetime
    period_seconds: int
    remaining_seconds: int
    days_remaining: int
    credit: Decimal  # current price × remaining ÷ period, rounded to the currency
    credit_applied: Decimal  # min(credit, new plan price): the part that fits on the invoice
    new_price: Decimal  # net amount of the SUBSCRIPTION line
    subtotal: Decimal
    tax_amount: Decimal
    amount_due: Decimal  # gross total of the lines, never negative
    lines: list[ProrationLine]
    drafts: list[LineDraft]
    treatment: TaxTreatment
    places: int
    computed_at: datetime.datetime


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


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _period_label(billing_period: str) -> str:
    return PERIOD_LABELS.get(billing_period, billing_period.lower())


def duration_text(seconds: int) -> str:
    """``"<d> d <h> h"``; a zero part is left out (``"31 d"``, ``"5 h"``), ``"<m> min"`` below
    one hour (API.md §2.7)."""
    seconds = max(0, int(seconds))
    if seconds < SECONDS_PER_HOUR:
        return f"{seconds // SECONDS_PER_MINUTE} min"
    days, rest = divmod(seconds, SECONDS_PER_DAY)
    hours = rest // SECONDS_PER_HOUR
    parts = []
    if days:
        parts.append(f"{days} d")
    if hours:
        parts.append(f"{hours} h")
    return " ".join(parts)


def _unavailable(message: str) -> BusinessRuleError:
    return BusinessRuleError(message, code=ITEM_UNAVAILABLE)


def _parse_plan_id(plan_id, *, field: str) -> uuid.UUID:
    if plan_id is None or (isinstance(plan_id, str) and not plan_id.strip()):
        raise ValidationFailed(f"{field} is required", field=field)
    if isinstance(plan_id, uuid.UUID):
        return plan_id
    try:
        if isinstance(plan_id, str):
            return uuid.UUID(plan_id.strip())
    except ValueError:
        pass
    raise ValidationFailed("Invalid plan_id format", field=field)


def _exclusive_category_held_elsewhere(subscription: Subscription, plan: Plan) -> Category | None:
    """The first exclusive category of ``plan`` that one of the user's other subscriptions in
    HOLDING_STATUSES holds a plan of. One query."""
    others = (
        Subscription.objects.filter(user_id=subscription.user_id, status__in=HOLDING_STATUSES)
        .exclude(pk=subscription.pk)
        .values("plan_id")
    )
    return (
        Category.objects.filter(is_single=True, plans=plan)
        .filter(plans__in=others)
        .order_by("sort_order", "name", "pk")
        .first()
    )


def _checked_target(subscription: Subscription, plan_id, *, action: str) -> Plan:
    """The plan-change checks of API.md §8, in order; returns the target plan. For a downgrade
    to the current plan the remaining checks are skipped (the request clears the schedule)."""
    plan_uuid = _parse_plan_id(plan_id, field="new_plan_id" if action == PREVIEW else "plan_id")
    if subscription.status != SubscriptionStatus.ACTIVE:
        verb = "downgraded" if action == DOWNGRADE else "upgraded"
        raise InvalidTransition(f"Only active subscriptions can be {verb}")
    target = Plan.objects.filter(pk=plan_uuid).first()
    if target is None:
        raise ValidationFailed("Plan not found", field="plan_id")
    current = subscription.plan
    if action == DOWNGRADE and target.pk == current.pk:
        return target
    if not target.is_active:
        raise _unavailable("Plan is not active")
    if target.pk == current.pk:
        raise BusinessRuleError("Already subscribed to this plan")
    if not current.is_recurring:
        raise BusinessRuleError(ONE_TIME_REFUSED)
    if not target.is_recurring:
        raise BusinessRuleError(
            DOWNGRADE_NOT_RECURRING if action == DOWNGRADE else ONE_TIME_REFUSED
        )
    if target.currency != current.currency:
        raise BusinessRuleError(f"The new plan must use the same currency ({current.currency})")
    category = _exclusive_category_held_elsewhere(subscription, target)
    if category is not None:
        raise BusinessRuleError(
            f"You already have an active subscription in category '{category.name}'. "
            "Upgrade or downgrade instead.",
            code=EXCLUSIVE_CATEGORY,
        )
    return target


def _currency(code: str) -> Currency:
    currency = Currency.objects.filter(code=code).first()
    if currency is None:  # a currency in use cannot be deleted; only a broken catalog lacks it
        raise _unavailable(f"Currency '{code}' is not supported")
    return currency


def _compute(
    subscription: Subscription,
    new_plan: Plan,
    *,
    now: datetime.datetime,
    currency: Currency,
    treatment: TaxTreatment,
) -> Proration:
    start, end = subscription.current_period_start, subscription.expires_at
    if start is None or end is None or end <= start:
        raise BusinessRuleError(NO_PRORATION)
    current = subscription.plan
    places = currency.decimal_places
    period_seconds = int((end - start).total_seconds())
    remaining_seconds = min(period_seconds, max(0, int((end - now).total_seconds())))
    current_price = round_money(current.price, places)
    new_catalog_price = round_money(new_plan.price, places)
    credit = round_money(current_price * remaining_seconds / period_seconds, places)
    credit_applied = min(credit, new_catalog_price)

    label = _period_label(new_plan.billing_period)
    drafts = [
        LineDraft(
            type=LineType.SUBSCRIPTION,
            description=f"{new_plan.name} ({label})",
            unit_price=new_catalog_price,
            item_id=subscription.pk,
            catalog_item_id=new_plan.pk,
            period_start=now,
            period_end=compute_period_end(now, new_plan.billing_period),
        )
    ]
    explanations = [f"Full price of {new_plan.name} for a new {label} period"]
    if credit_applied > 0:
        drafts.append(
            LineDraft(
                type=LineType.PRORATION,
                description=f"Credit for unused time on {current.name}",
                unit_price=-credit_applied,
                item_id=subscription.pk,
                catalog_item_id=current.pk,
                period_start=max(now, start),
                period_end=end,
            )
        )
        explanations.append(
            f"Unused time on {current.name}, {duration_text(remaining_seconds)} of "
            f"{duration_text(period_seconds)}"
        )
    built = build_lines(drafts, treatment=treatment, places=places)
    lines = [
        ProrationLine(
            type=line.type,
            description=line.description,
            explanation=explanation,
            quantity=line.quantity,
            unit_price=line.unit_price,
            amount=line.amount,
            tax_rate=line.tax_rate,
            tax_amount=line.tax_amount,
            gross_amount=line.gross_amount,
            period_start=line.period_start,
            period_end=line.period_end,
        )
        for line, explanation in zip(built, explanations, strict=True)
    ]
    zero = round_money(Decimal(0), places)
    gross = sum((line.gross_amount for line in lines), zero)
    return Proration(
        subscription_id=subscription.pk,
        current_plan=current,
        new_plan=new_plan,
        currency=currency.code,
        period_start=start,
        period_end=end,
        period_seconds=period_seconds,
        remaining_seconds=remaining_seconds,
        days_remaining=remaining_seconds // SECONDS_PER_DAY,
        credit=credit,
        credit_applied=credit_applied,
        new_price=lines[0].amount,
        subtotal=sum((line.amount for line in lines), zero),
        tax_amount=sum((line.tax_amount for line in lines), zero),
        amount_due=max(gross, zero),
        lines=lines,
        drafts=drafts,
        treatment=treatment,
        places=places,
        computed_at=now,
    )


def _prorate(subscription: Subscription, plan_id, *, action: str, now) -> Proration:
    target = _checked_target(subscription, plan_id, action=action)
    return _compute(
        subscription,
        target,
        now=now,
        currency=_currency(subscription.plan.currency),
        treatment=treatment_for(subscription.user, on=now.date()),
    )


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
        method = (
            PaymentMethod.objects.filter(code=code.strip()).first()
            if isinstance(code, str)
            else None
        )
        if method is None:
            raise ValidationFailed(
                f"Payment method '{code}' not found", field="payment_method_code"
            )
    else:
        method = None
        if subscription.payment_method:
            method = PaymentMethod.objects.filter(code=subscription.payment_method).first()
        if method is None or not payment_method_is_available(method):
            method = PaymentMethod.objects.filter(is_default=True).first()
        if method is None:
            raise _unavailable("No payment method is available for this order")
    user = subscription.user
    country = buyer_snapshot(user)["country"] or platform_settings_get().address_country or None
    accepted = payment_method_is_available(method) and payment_method_accepts(
        method,
        currency=proration.currency,
        country=country,
        amount_in_default=amount_in_default_currency(proration.amount_due, proration.currency),
    )
    if not accepted:
        raise _unavailable(f"Payment method '{method.name}' is not available for this order")
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


def proration_preview(*, subscription: Subscription, new_plan_id, now=None) -> Proration:
    """The lines an upgrade of ``subscription`` to ``new_plan_id`` would be invoiced with now,
    after the plan-change checks; writes nothing."""
    return _prorate(subscription, new_plan_id, action=PREVIEW, now=now or timezone.now())


def subscription_upgrade(
    *, subscription_id, actor, plan_id, payment_method_code=None
) -> UpgradeResult:
    """Issues the PLAN_CHANGE invoice of an immediate upgrade (an older unpaid one is voided, a
    scheduled downgrade cleared); a zero total is captured at once and the plan switches."""
    with transaction.atomic():
        subscription = _locked(subscription_id)
        now = timezone.now()
        proration = _prorate(subscription, plan_id, action=UPGRADE, now=now)
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
            currency=_currency(proration.currency),
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
        target = _checked_target(subscription, plan_id, action=DOWNGRADE)
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
