"""The proration of a plan change: the checks a target plan must pass, in the order their
refusals are reported, and the lines an upgrade would be invoiced with now.

- Proration is measured in whole seconds of the real calendar period ``current_period_start`` →
  ``expires_at``. The remaining time is clamped to 0..period (an ACTIVE subscription converted
  from a trial has a first period that starts at the trial end, possibly still ahead: the unused
  trial days are not credited, only the paid period).
- ``credit`` is computed on what was charged for the current period: the current plan's catalog
  price (rounded to the currency), reduced in the proportion its last paid SUBSCRIPTION line was
  discounted (DISCOUNT lines of a coupon), never the undiscounted price of a discounted period.
  ``credit_applied = min(credit, what the new plan's lines cost)``, both in catalog terms (gross
  when the buyer country's prices include tax). The new plan's line is discounted when the
  subscription's recurring discount covers it. The lines then go through ``build_lines`` exactly
  like an invoice, so the preview equals the invoice to the cent and the total is never negative.
- A PRORATION line is only added when ``credit_applied`` is above zero; it carries the unused part
  of the current period (now → period end) as its service period.
- An upgrade (and its preview) must not lower the price: the target's price normalised to a month
  is at least the current plan's, else it is refused and goes through the scheduled downgrade.
- Plan tokens follow the money: the new plan's ``default_tokens`` are granted less the unused
  share of the current plan's, prorated like the credit (``plan_change_tokens``), never below 0,
  so switching back and forth between plans never creates tokens.
- Exclusive categories: the target is refused when another of the user's subscriptions in
  TRIALING, ACTIVE, PAST_DUE or PAUSED holds a plan of an exclusive category of the target (the
  subscription being changed does not count).
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal

from django.utils import timezone

from billing.catalog.models import Category, Currency, Plan
from billing.catalog.periods import monthly_price, period_label
from billing.catalog.periods import period_end as compute_period_end
from billing.coupons.discounts import with_discounts
from billing.coupons.models import DISCOUNT_LINE
from billing.invoices.models import InvoiceLine, InvoiceStatus, LineType
from billing.invoices.services import LineDraft, build_lines
from billing.invoices.services.issuing import treatment_for
from billing.invoices.tax import TaxTreatment
from billing.subscriptions.models import HOLDING_STATUSES, Subscription, SubscriptionStatus
from vbwd.exceptions import BusinessRuleError, InvalidTransition, ValidationFailed
from vbwd.money import round_money

NO_PRORATION = "Unable to calculate proration"
ONE_TIME_REFUSED = "Plan changes are not available for one-time plans"
DOWNGRADE_NOT_RECURRING = "A downgrade target must be a recurring plan"
ITEM_UNAVAILABLE = "item_unavailable"
EXCLUSIVE_CATEGORY = "exclusive_category"

PREVIEW, UPGRADE, DOWNGRADE = "preview", "upgrade", "downgrade"

SECONDS_PER_MINUTE = 60
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400


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
    """The proration an upgrade is invoiced with; ``drafts`` are what ``invoice_issue`` receives and
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
    tokens_granted: int  # plan tokens the change grants when paid (``plan_change_tokens``)


# --- checks and computation ---------------------------------------------------------------------


def duration_text(seconds: int) -> str:
    """``"<d> d <h> h"``; a zero part is left out (``"31 d"``, ``"5 h"``), ``"<m> min"`` below
    one hour."""
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


def plan_tokens(plan: Plan) -> int:
    """The plan's ``default_tokens`` feature (0 when absent)."""
    return int((plan.features or {}).get("default_tokens") or 0)


def plan_change_tokens(
    *, current: Plan, new: Plan, remaining_seconds: int, period_seconds: int
) -> int:
    """Tokens a change from ``current`` to ``new`` grants: the new plan's tokens less the unused
    share of the current period's (``remaining / period``, rounded half up), never below 0."""
    unused = Decimal(0)
    if period_seconds > 0:
        share = Decimal(min(max(remaining_seconds, 0), period_seconds)) / period_seconds
        unused = (plan_tokens(current) * share).quantize(Decimal(1), rounding=ROUND_HALF_UP)
    return max(plan_tokens(new) - int(unused), 0)


def unavailable(message: str) -> BusinessRuleError:
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


def checked_target(subscription: Subscription, plan_id, *, action: str) -> Plan:
    """The plan-change checks, in the order their refusals are reported; returns the target
    plan. For a downgrade to the current plan the remaining checks are skipped (the request
    clears the schedule)."""
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
        raise unavailable("Plan is not active")
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
    if action != DOWNGRADE and monthly_price(target.price, target.billing_period) < monthly_price(
        current.price, current.billing_period
    ):
        raise BusinessRuleError(
            f"Plan {target.name} costs less than your current plan; downgrade instead"
        )
    category = _exclusive_category_held_elsewhere(subscription, target)
    if category is not None:
        raise BusinessRuleError(
            f"You already have an active subscription in category '{category.name}'. "
            "Upgrade or downgrade instead.",
            code=EXCLUSIVE_CATEGORY,
        )
    return target


def currency_for(code: str) -> Currency:
    currency = Currency.objects.filter(code=code).first()
    if currency is None:  # a currency in use cannot be deleted; only a broken catalog lacks it
        raise unavailable(f"Currency '{code}' is not supported")
    return currency


def charged_price(subscription: Subscription, catalog_price: Decimal, *, places: int) -> Decimal:
    """What the current period was charged for the current plan, in catalog terms: the catalog
    price scaled by (net after discount ÷ net) of the SUBSCRIPTION line of the subscription's
    latest paid invoice (one query); the catalog price when that line was not discounted."""
    rows = list(
        InvoiceLine.objects.filter(
            item_id=subscription.pk,
            type__in=(LineType.SUBSCRIPTION, DISCOUNT_LINE),
            invoice__status=InvoiceStatus.PAID,
        )
        .order_by("-invoice__invoiced_at", "-invoice__invoice_number", "position")
        .values_list("invoice_id", "type", "amount", "catalog_item_id")[:20]
    )
    if not rows:
        return catalog_price
    latest = rows[0][0]
    lines = [row for row in rows if row[0] == latest]
    base = next(
        (
            amount
            for _invoice, kind, amount, item in lines
            if kind == LineType.SUBSCRIPTION and item == subscription.plan_id
        ),
        None,
    )
    discount = sum((amount for _i, kind, amount, _c in lines if kind == DISCOUNT_LINE), Decimal(0))
    if base is None or base <= 0 or not discount:
        return catalog_price
    return round_money(catalog_price * max(base + discount, Decimal(0)) / base, places)


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
    current_price = charged_price(subscription, round_money(current.price, places), places=places)
    new_catalog_price = round_money(new_plan.price, places)
    credit = round_money(current_price * remaining_seconds / period_seconds, places)

    label = period_label(new_plan.billing_period)
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
    new_cost = new_catalog_price
    if subscription.has_discount:
        coupon = subscription.discount_coupon
        drafts = with_discounts(drafts, coupon, treatment=treatment, places=places)
        if len(drafts) > 1:
            explanations.append(f"Discount {coupon.code} on {new_plan.name}")
            discount = build_lines(drafts, treatment=treatment, places=places)[1]
            # In catalog terms: gross where the country's prices include tax.
            taken = discount.gross_amount if treatment.prices_include_tax else discount.amount
            new_cost = new_catalog_price + taken
    credit_applied = min(credit, max(new_cost, Decimal(0)))
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
        tokens_granted=plan_change_tokens(
            current=current,
            new=new_plan,
            remaining_seconds=remaining_seconds,
            period_seconds=period_seconds,
        ),
    )


def prorate(subscription: Subscription, plan_id, *, action: str, now) -> Proration:
    target = checked_target(subscription, plan_id, action=action)
    return _compute(
        subscription,
        target,
        now=now,
        currency=currency_for(subscription.plan.currency),
        treatment=treatment_for(subscription.user, on=now.date()),
    )


def proration_preview(*, subscription: Subscription, new_plan_id, now=None) -> Proration:
    """The lines an upgrade of ``subscription`` to ``new_plan_id`` would be invoiced with now,
    after the plan-change checks; writes nothing."""
    return prorate(subscription, new_plan_id, action=PREVIEW, now=now or timezone.now())
