"""Staff open a subscription for a user.

``active`` is complimentary: ACTIVE at once from ``started_at``, no invoice, the plan's tokens
credited. ``trialing`` and ``pending`` do what a checkout of the plan would do on the user's
behalf: the subscription and its CHECKOUT invoice (due at the trial end for a trial, after the
payment terms otherwise; a zero total is captured at once). None of them displaces another
subscription: an exclusive category held by the user refuses the creation.
"""

from __future__ import annotations

import datetime
import uuid

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from billing.catalog.models import Currency, PaymentMethod, Plan
from billing.catalog.periods import add_months, period_end, period_label
from billing.catalog.services.payment_methods import (
    payment_method_chosen,
    payment_method_is_available,
)
from billing.invoices.models import Invoice, InvoiceType, LineType
from billing.invoices.services import LineDraft, invoice_capture_zero, invoice_issue
from billing.subscriptions.models import Subscription, SubscriptionStatus
from billing.subscriptions.services.common import exclusive_refusal, state_of
from billing.subscriptions.services.creation import subscription_trial_open
from billing.subscriptions.signals import subscription_activated
from tokens.models import TokenTransactionType
from tokens.services.ledger import tokens_credit
from vbwd.exceptions import BusinessRuleError, ValidationFailed

S = SubscriptionStatus

MAX_BILLING_PERIOD_MONTHS = 1200


def _payment_method(code) -> PaymentMethod:
    """The method of a staff-issued invoice: ``code`` or the default one, available now."""
    if code in (None, ""):
        method = PaymentMethod.objects.filter(is_default=True).first()
        if method is None:
            raise BusinessRuleError("No payment method is available", code="item_unavailable")
    else:
        method = payment_method_chosen(code)
    if not payment_method_is_available(method):
        raise BusinessRuleError(
            f"Payment method '{method.name}' is currently unavailable", code="item_unavailable"
        )
    return method


def _active_period(
    *, plan: Plan, now, started_at, expires_at, months: int | None
) -> tuple[datetime.datetime, datetime.datetime]:
    """(start, end) of a complimentary subscription: from ``started_at`` (default now) by the
    plan's period, ``months`` or an explicit ``expires_at``, which must be in the future."""
    started_at = started_at or now
    if expires_at is not None:
        if expires_at <= now:
            raise ValidationFailed("expires_at must be in the future", field="expires_at")
        return started_at, expires_at
    if months is not None:
        end = add_months(started_at, months)
    else:
        end = period_end(started_at, plan.billing_period, anchor_day=started_at.day)
    if end is not None and end <= now:
        raise ValidationFailed("The computed period has already ended", field="started_at")
    return started_at, end


def _create_active(*, user, plan, period, grant_tokens, actor, now, reason) -> Subscription:
    given_start, given_end, months = period
    started_at, expires_at = _active_period(
        plan=plan, now=now, started_at=given_start, expires_at=given_end, months=months
    )
    explicit_end = given_end is not None
    exclusive_refusal(user=user, plan=plan, subject="The user")
    subscription = Subscription.objects.create(
        user=user,
        plan=plan,
        status=S.ACTIVE,
        started_at=started_at,
        current_period_start=started_at,
        expires_at=expires_at,
        # Renewals follow on from the end: an explicit end sets the day later periods keep.
        anchor_day=expires_at.day if explicit_end else started_at.day,
    )
    tokens = int((plan.features or {}).get("default_tokens") or 0) if grant_tokens else 0
    audit_record(
        action="subscription.created",
        object_type="subscription",
        object_id=subscription.pk,
        subject_user_id=user.pk,
        summary=f"Complimentary subscription to {plan.name} granted to {user.email} by staff",
        actor=actor,
        after={**state_of(subscription), "plan_id": str(plan.pk), "tokens_granted": tokens},
        reason=reason,
    )
    if tokens > 0:
        tokens_credit(
            user=user,
            amount=tokens,
            transaction_type=TokenTransactionType.SUBSCRIPTION,
            description=f"{plan.name}: tokens for the period",
            reference_type="subscription",
            reference_id=subscription.pk,
            actor=actor,
            idempotency_key=f"subscription-granted:{subscription.pk}",
        )
    subscription_activated.send_on_commit(
        sender=Subscription, subscription=subscription, invoice=None
    )
    return subscription


def _create_with_invoice(*, user, plan, status, payment_method_code, actor, now, reason):
    """TRIALING (trial invoice due at the trial end) or PENDING (CHECKOUT invoice due after the
    payment terms), as a checkout on the user's behalf; a zero total is captured at once."""
    if status == S.TRIALING:
        if plan.trial_days <= 0:
            raise BusinessRuleError("Plan has no trial period")
        if user.has_used_trial:
            raise BusinessRuleError("User has already used a trial")
    method = _payment_method(payment_method_code)
    exclusive_refusal(user=user, plan=plan, subject="The user")
    trial_end = None
    if status == S.TRIALING:
        subscription = subscription_trial_open(
            user=user, plan=plan, payment_method=method.code, now=now
        )
        trial_end = subscription.trial_end_at
        summary = f"Trial of {plan.name} started for {user.email} by staff"
    else:
        subscription = Subscription.objects.create(
            user=user, plan=plan, status=S.PENDING, payment_method=method.code
        )
        summary = f"Subscription to {plan.name} opened for {user.email} by staff"
    audit_record(
        action="subscription.created",
        object_type="subscription",
        object_id=subscription.pk,
        subject_user_id=user.pk,
        summary=summary,
        actor=actor,
        after={**state_of(subscription), "plan_id": str(plan.pk)},
        reason=reason,
    )
    label = period_label(plan.billing_period)
    draft = LineDraft(
        type=LineType.SUBSCRIPTION,
        description=f"{plan.name} ({label})",
        unit_price=plan.price,
        item_id=subscription.pk,
        catalog_item_id=plan.pk,
        period_start=trial_end,
        period_end=period_end(trial_end, plan.billing_period) if trial_end else None,
    )
    invoice = invoice_issue(
        user=user,
        invoice_type=InvoiceType.CHECKOUT,
        currency=Currency.objects.get(code=plan.currency),
        drafts=[draft],
        payment_method=method,
        subscription_id=subscription.pk,
        tarif_plan_id=plan.pk,
        due_date=trial_end,
        actor=actor,
        now=now,
    )
    if invoice.total_amount == 0:
        invoice = invoice_capture_zero(invoice_id=invoice.pk, actor=actor).invoice
        subscription.refresh_from_db()
    return subscription, invoice


def subscription_staff_create(
    *,
    actor,
    user_id: uuid.UUID,
    plan_id: uuid.UUID,
    status: str = S.ACTIVE,
    reason: str | None = None,
    started_at: datetime.datetime | None = None,
    expires_at: datetime.datetime | None = None,
    billing_period_months: int | None = None,
    grant_tokens: bool = True,
    payment_method_code=None,
) -> tuple[Subscription, Invoice | None]:
    """Staff open a subscription for a user: ``ACTIVE`` is complimentary (no invoice; from
    ``started_at``, default now, to ``expires_at`` or after ``billing_period_months`` or the
    plan's period; the plan's tokens unless ``grant_tokens`` is false), ``TRIALING`` and
    ``PENDING`` issue the trial / checkout invoice as a checkout would, with
    ``payment_method_code`` or the default method. The user and the plan must exist and be
    active; exclusive categories are respected."""
    User = get_user_model()  # noqa: N806
    if not User.objects.filter(pk=user_id).exists():
        raise ValidationFailed("User not found", field="user_id")
    plan = Plan.objects.filter(pk=plan_id).first()
    if plan is None:
        raise ValidationFailed("Plan not found", field="plan_id")
    with transaction.atomic():
        user = User.objects.select_for_update().get(pk=user_id)
        if not user.is_active:
            raise BusinessRuleError("User account is not active")
        if not plan.is_active:
            raise BusinessRuleError("Plan is not active", code="item_unavailable")
        now = timezone.now()
        if status == S.ACTIVE:
            subscription = _create_active(
                user=user,
                plan=plan,
                period=(started_at, expires_at, billing_period_months),
                grant_tokens=grant_tokens,
                actor=actor,
                now=now,
                reason=reason,
            )
            return subscription, None
        return _create_with_invoice(
            user=user,
            plan=plan,
            status=status,
            payment_method_code=payment_method_code,
            actor=actor,
            now=now,
            reason=reason,
        )
