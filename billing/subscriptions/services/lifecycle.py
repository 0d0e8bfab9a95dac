"""The subscription lifecycle: cancel, reactivate, pause, resume, and
the staff verbs extend, activate and refund (staff creation: ``staff_create``).

Each verb runs in one transaction. Rows are locked in the order capture uses (the subscription's
open invoices, then the subscription), with the user's row first where an exclusive category is
checked. The transition is checked against ``TRANSITIONS`` and refused with the documented
message; one audit row records before → after; signals go out after commit.

Rules written down here:

- Cancelling (``cancellation``) settles a pause first, so a reactivation has nothing to shift.
- A trial is a subscription with ``trial_end_at`` and no paid period yet (its current period
  started before the trial end). A cancelled trial cannot be reactivated: its invoice is void.
- Pause leaves an open renewal invoice as it is: it stays payable. Pause voids the open
  plan-change invoices: the upgrade is dropped (paying it while PAUSED would change nothing) and
  can be asked for again after resuming. Pausing a ONE_TIME subscription is refused (there is no
  end to move).
- Resume, extend and a reactivation that settles a pause move ``anchor_day`` to the day of the new
  end, so the next periods are full periods from it.
- Whatever moves the end (resume, extend, a cancel or reactivation that settles a pause) moves
  the ACTIVE add-ons bound to the subscription by the same time (``move_end``), so they still end
  and renew together. Pause itself moves nothing: the end moves when the pause ends.
- A reactivation restores the add-ons cancelled together with the subscription (their
  ``cancelled_at`` is the subscription's) whose access has not ended (``expires_at`` still
  ahead): they are ACTIVE again and renew with it. A one-time add-on that had no end before the
  cancellation gets none again.
"""

from __future__ import annotations

import datetime
import math

from django.db import transaction
from django.utils import timezone

from audit.models import ActorType, AuditEntry
from audit.services import audit_record
from billing.catalog.models import BillingPeriod
from billing.invoices.models import Invoice, InvoiceStatus, InvoiceType
from billing.invoices.services import (
    RefundOutcome,
    invoice_refund,
    invoice_refund_resumed,
    invoice_void,
)
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services.cancellation import ALREADY_ENDED, subscription_cancel
from billing.subscriptions.services.common import (
    NOT_FOUND,
    as_utc,
    as_uuid,
    audit_subscription,
    exclusive_refusal,
    is_trial,
    iso,
    lock_user,
    locked_subscription,
    locked_with_open_invoices,
    move_end,
    state_of,
    user_id_of,
)
from billing.subscriptions.services.staff_create import subscription_staff_create
from platform_settings.selectors import platform_settings_get
from vbwd.exceptions import BusinessRuleError, InvalidTransition, NotFound, ValidationFailed
from vbwd.idempotency import NO_RECOVERY, Recovery

__all__ = [
    "subscription_cancel",
    "subscription_extend",
    "subscription_pause",
    "subscription_reactivate",
    "subscription_refund",
    "subscription_resume",
    "subscription_staff_activate",
    "subscription_staff_create",
]

S = SubscriptionStatus

ONLY_CANCELLED_REACTIVATE = "Only cancelled subscriptions can be reactivated"
TRIAL_NOT_REACTIVATABLE = "A cancelled trial cannot be reactivated"
ALREADY_PAUSED = "Subscription is already paused"
ONLY_ACTIVE_PAUSE = "Only active subscriptions can be paused"
ONE_TIME_PAUSE = "One-time subscriptions cannot be paused"
NOT_PAUSED = "Subscription is not paused"
ONE_TIME_EXTEND = "One-time subscriptions do not expire"
EXTEND_PENDING = "Pending subscriptions cannot be extended; they start when their invoice is paid"
ACTIVATE_PENDING = "Pending subscriptions are activated by paying their invoice"
ACTIVATE_TRIALING = "Trialing subscriptions are activated by paying their invoice"
ACTIVATE_PAST_DUE = "Past-due subscriptions are activated by paying their open invoice"
ACTIVATE_EXPIRED = "Expired subscriptions cannot be activated; create a new one"
ALREADY_ACTIVE = "Subscription is already active"
NO_PAID_INVOICE = "No paid invoice to refund for this subscription"

MIN_EXTEND_DAYS = 1
MAX_EXTEND_DAYS = 3650
DEFAULT_EXTEND_DAYS = 30
SECONDS_PER_DAY = 86400
# The scheduled job that ends long pauses, named on its audit rows.
AUTO_RESUME_LABEL = "subscriptions_auto_resume"


def _issue_renewal_if_due(subscription: Subscription, now: datetime.datetime) -> None:
    """After a reactivation: the renewal invoice of the coming period when its end is inside
    the renewal lead time (``renewal_invoice_issue`` decides what is due and is idempotent)."""
    if not subscription.is_recurring or subscription.expires_at is None:
        return
    lead = datetime.timedelta(days=platform_settings_get().renewal_lead_days)
    if subscription.expires_at - now > lead:
        return
    from billing.subscriptions.services.renewal import renewal_invoice_issue

    renewal_invoice_issue(subscription_id=subscription.pk, now=now)


# --- reactivate ---------------------------------------------------------------------------------


def _check_reactivatable(subscription: Subscription, now, *, subject: str, user) -> None:
    if subscription.status != S.CANCELLED:
        raise InvalidTransition(ONLY_CANCELLED_REACTIVATE)
    if subscription.expires_at is None or subscription.expires_at <= now:
        raise InvalidTransition(ALREADY_ENDED)
    if is_trial(subscription):
        raise InvalidTransition(TRIAL_NOT_REACTIVATABLE)
    exclusive_refusal(user=user, plan=subscription.plan, subject=subject)


def _reverse_cancellation(subscription: Subscription, now) -> None:
    # A pause that was not settled when the subscription was cancelled (older rows) resumes.
    if subscription.paused_at is not None:
        end = subscription.cancelled_at or now
        move_end(subscription, max(end - subscription.paused_at, datetime.timedelta(0)))
    subscription.reactivate()
    subscription.save()


def _ends_before_cancellation(items: list[AddOnSubscription]) -> dict:
    """add-on subscription id -> ``expires_at`` before its latest cancellation (from the audit
    row of that cancellation), for the one-time add-ons among ``items`` (the only ones that can
    have had no end; one query, none when there are none)."""
    one_time = {
        str(item.pk) for item in items if item.addon.billing_period == BillingPeriod.ONE_TIME
    }
    if not one_time:
        return {}
    rows = (
        AuditEntry.objects.filter(
            object_type="addon_subscription",
            object_id__in=one_time,
            action="addon_subscription.cancelled",
        )
        .order_by("created_at")
        .values_list("object_id", "before")
    )
    return {object_id: (before or {}).get("expires_at", "") for object_id, before in rows}


def _restore_addons(subscription: Subscription, *, cancelled_at, now, actor, reason=None) -> None:
    """The add-ons cancelled together with the subscription (the same ``cancelled_at``) whose
    access has not ended go back to ACTIVE, one audit row each (see the module notes)."""
    if cancelled_at is None:
        return
    items = list(
        AddOnSubscription.objects.select_for_update(of=("self",))
        .select_related("addon")
        .filter(
            subscription=subscription,
            status=AddOnSubscriptionStatus.CANCELLED,
            cancelled_at=cancelled_at,
            expires_at__gt=now,
        )
        .order_by("pk")
    )
    ends = _ends_before_cancellation(items)
    for item in items:
        before = {"status": item.status, "expires_at": iso(item.expires_at)}
        item.activate()
        if ends.get(str(item.pk), "") is None:
            item.expires_at = None  # a one-time add-on: no end, as before the cancellation
        item.save(update_fields=["status", "cancelled_at", "expires_at", "updated_at"])
        audit_record(
            action="addon_subscription.reactivated",
            object_type="addon_subscription",
            object_id=item.pk,
            subject_user_id=item.user_id,
            summary=f"Add-on {item.addon.name} reactivated with its subscription",
            actor=actor,
            before=before,
            after={"status": item.status, "expires_at": iso(item.expires_at)},
            reason=reason,
        )


def subscription_reactivate(*, subscription_id, actor) -> Subscription:
    """CANCELLED before ``expires_at`` → ACTIVE with renewals resumed and the add-ons cancelled
    with it restored (the renewal invoice is issued at once when the end is inside the renewal
    lead time); not for a cancelled trial or while another subscription holds a shared
    exclusive category."""
    with transaction.atomic():
        user = lock_user(user_id_of(subscription_id))
        subscription = locked_subscription(subscription_id)
        now = timezone.now()
        _check_reactivatable(subscription, now, subject="You", user=user)
        before = state_of(subscription)
        _restore_addons(subscription, cancelled_at=subscription.cancelled_at, now=now, actor=actor)
        _reverse_cancellation(subscription, now)
        audit_subscription(
            subscription,
            "subscription.reactivated",
            f"Subscription to {subscription.plan.name} reactivated; it renews as usual",
            before,
            actor,
        )
        _issue_renewal_if_due(subscription, now)
    return subscription


# --- pause and resume ---------------------------------------------------------------------------


def subscription_pause(
    *,
    subscription_id,
    actor,
    reason: str | None = None,
    until: datetime.datetime | None = None,
) -> Subscription:
    """ACTIVE → PAUSED from now; it resumes by itself at ``until`` (ahead of now, at most
    ``max_pause_days`` away; by default that far). Its unpaid plan-change invoices are voided."""
    with transaction.atomic():
        plan_changes, subscription = locked_with_open_invoices(
            subscription_id, invoice_types=(InvoiceType.PLAN_CHANGE,)
        )
        if subscription.status == S.PAUSED:
            raise InvalidTransition(ALREADY_PAUSED)
        if subscription.status != S.ACTIVE or not subscription.can_become(S.PAUSED):
            raise InvalidTransition(ONLY_ACTIVE_PAUSE)
        if subscription.expires_at is None:
            raise BusinessRuleError(ONE_TIME_PAUSE)
        now = timezone.now()
        before = state_of(subscription)
        days = platform_settings_get().max_pause_days
        longest = now + datetime.timedelta(days=days)
        if until is not None and until <= now:
            raise ValidationFailed("until must be in the future", field="until")
        if until is not None and until > longest:
            raise ValidationFailed(f"A pause lasts at most {days} days", field="until")
        subscription.pause(at=now, until=until or longest)
        subscription.save()
        audit_subscription(
            subscription,
            "subscription.paused",
            f"Subscription to {subscription.plan.name} paused; resumes by itself on "
            f"{subscription.pause_ends_at:%Y-%m-%d}",
            before,
            actor,
            reason=reason,
        )
        for invoice in plan_changes:
            invoice_void(invoice_id=invoice.pk, actor=actor, reason="Subscription paused")
    return subscription


def _resume(subscription: Subscription, now) -> datetime.timedelta:
    paused = max(now - (subscription.paused_at or now), datetime.timedelta(0))
    move_end(subscription, paused)
    subscription.resume()
    subscription.save()
    return paused


def _pause_is_over(subscription: Subscription, now) -> bool:
    ends = subscription.pause_ends_at
    if ends is None and subscription.paused_at is not None:
        ends = subscription.paused_at + datetime.timedelta(
            days=platform_settings_get().max_pause_days
        )
    return ends is None or ends <= now


def subscription_resume(
    *,
    subscription_id,
    actor,
    auto: bool = False,
    actor_label: str | None = None,
    reason: str | None = None,
) -> Subscription:
    """PAUSED → ACTIVE; ``expires_at`` moves forward by the paused time. ``auto`` (the job at the
    end of the longest pause, no actor) leaves a subscription that is not due unchanged."""
    with transaction.atomic():
        subscription = locked_subscription(subscription_id)
        now = timezone.now()
        if subscription.status != S.PAUSED:
            if auto:
                return subscription
            raise InvalidTransition(NOT_PAUSED)
        if auto and not _pause_is_over(subscription, now):
            return subscription
        before = state_of(subscription)
        paused = _resume(subscription, now)
        extra = {}
        if auto:
            extra = {
                "actor_type": ActorType.SYSTEM,
                "actor_label": actor_label or AUTO_RESUME_LABEL,
            }
        audit_subscription(
            subscription,
            "subscription.resumed",
            f"Subscription to {subscription.plan.name} resumed"
            f"{' after the longest pause' if auto else ''}; end moved by {_duration(paused)}",
            before,
            actor,
            reason=reason,
            **extra,
        )
    return subscription


def _duration(delta: datetime.timedelta) -> str:
    seconds = int(delta.total_seconds())
    days, rest = divmod(seconds, SECONDS_PER_DAY)
    hours = rest // 3600
    if days and hours:
        return f"{days} d {hours} h"
    if days:
        return f"{days} d"
    if hours:
        return f"{hours} h"
    return f"{rest // 60} min"


# --- staff: extend, activate, refund ------------------------------------------------------------


def subscription_extend(
    *,
    subscription_id,
    actor,
    days: int | None = None,
    until: datetime.datetime | None = None,
    reason: str | None = None,
) -> Subscription:
    """Moves ``expires_at`` (and ``trial_end_at`` while TRIALING) by ``days`` (1..3650, default
    30) or to ``until``; a PAST_DUE subscription whose new end is ahead becomes ACTIVE. The
    returned subscription carries ``extended_days`` (whole days, rounded up) for the message."""
    if days is not None and until is not None:
        raise ValidationFailed("Give either days or until, not both", field="days")
    if days is not None and (
        isinstance(days, bool)
        or not isinstance(days, int)
        or not MIN_EXTEND_DAYS <= days <= MAX_EXTEND_DAYS
    ):
        raise ValidationFailed(
            f"days must be an integer between {MIN_EXTEND_DAYS} and {MAX_EXTEND_DAYS}",
            field="days",
        )
    with transaction.atomic():
        subscription = locked_subscription(subscription_id)
        now = timezone.now()
        status = subscription.status
        if status in (S.PENDING, S.EXPIRED) or (
            status == S.CANCELLED
            and (subscription.expires_at is None or subscription.expires_at <= now)
        ):
            if status == S.PENDING:
                raise InvalidTransition(EXTEND_PENDING)
            raise InvalidTransition(ALREADY_ENDED)
        if subscription.plan.billing_period == BillingPeriod.ONE_TIME or (
            subscription.expires_at is None
        ):
            raise BusinessRuleError(ONE_TIME_EXTEND)
        if until is not None:
            until = as_utc(until)
            if until <= subscription.expires_at:
                raise ValidationFailed("until must be later than expires_at", field="until")
            delta = until - subscription.expires_at
        else:
            delta = datetime.timedelta(days=days if days is not None else DEFAULT_EXTEND_DAYS)
        before = state_of(subscription)
        move_end(subscription, delta)
        if status == S.TRIALING and subscription.trial_end_at is not None:
            subscription.trial_end_at += delta
        if status == S.PAST_DUE and subscription.expires_at > now:
            subscription.activate()
        subscription.save()
        extended_days = math.ceil(delta.total_seconds() / SECONDS_PER_DAY)
        audit_subscription(
            subscription,
            "subscription.extended",
            f"Subscription to {subscription.plan.name} extended by {extended_days} days "
            f"to {subscription.expires_at:%Y-%m-%d}",
            before,
            actor,
            reason,
        )
    subscription.extended_days = extended_days
    return subscription


def subscription_staff_activate(*, subscription_id, actor, reason: str | None = None):
    """Staff: PAUSED → ACTIVE (as resume) or CANCELLED before ``expires_at`` → ACTIVE (as
    reactivate). Grants no tokens: no new period starts."""
    with transaction.atomic():
        user = lock_user(user_id_of(subscription_id))
        subscription = locked_subscription(subscription_id)
        now = timezone.now()
        status = subscription.status
        refusals = {
            S.PENDING: ACTIVATE_PENDING,
            S.TRIALING: ACTIVATE_TRIALING,
            S.PAST_DUE: ACTIVATE_PAST_DUE,
            S.EXPIRED: ACTIVATE_EXPIRED,
            S.ACTIVE: ALREADY_ACTIVE,
        }
        if status in refusals:
            raise InvalidTransition(refusals[status])
        before = state_of(subscription)
        if status == S.PAUSED:
            paused = _resume(subscription, now)
            action = "subscription.resumed"
            summary = f"resumed by staff; end moved by {_duration(paused)}"
        else:
            _check_reactivatable(subscription, now, subject="The user", user=user)
            _restore_addons(
                subscription,
                cancelled_at=subscription.cancelled_at,
                now=now,
                actor=actor,
                reason=reason,
            )
            _reverse_cancellation(subscription, now)
            action = "subscription.reactivated"
            summary = "reactivated by staff"
        audit_subscription(
            subscription,
            action,
            f"Subscription to {subscription.plan.name} {summary}",
            before,
            actor,
            reason,
        )
        if action == "subscription.reactivated":
            _issue_renewal_if_due(subscription, now)
    return subscription


def subscription_refund(
    *,
    subscription_id,
    actor,
    amount=None,
    reason: str | None = None,
    force: bool = False,
    recovery: Recovery = NO_RECOVERY,
) -> RefundOutcome:
    """Refunds the subscription's latest PAID invoice exactly as the staff invoice refund (full
    by default: the subscription ends now and its tokens are clawed back). A resumed request
    (``recovery``) returns the refund it made, never refunding an older invoice next."""
    subscription = Subscription.objects.filter(pk=as_uuid(subscription_id)).first()
    if subscription is None:
        raise NotFound(NOT_FOUND)
    resumed = invoice_refund_resumed(recovery)
    if resumed is not None:
        return resumed
    invoice = (
        Invoice.objects.filter(subscription_id=subscription.pk, status=InvoiceStatus.PAID)
        .order_by("-paid_at", "-invoiced_at", "-invoice_number")
        .first()
    )
    if invoice is None:
        raise BusinessRuleError(NO_PAID_INVOICE)
    return invoice_refund(
        invoice_id=invoice.pk,
        actor=actor,
        amount=amount,
        reason=reason,
        force=force,
        recovery=recovery,
    )
