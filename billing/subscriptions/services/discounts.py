"""A subscription's recurring discount, set or removed by staff: a coupon attached to an existing
subscription discounts its renewals from the next one."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from billing.coupons.models import CouponDuration
from billing.coupons.services import (
    coupon_check,
    coupon_lock,
    not_applicable,
    redemption_create,
)
from billing.invoices.models import LineType
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from vbwd.exceptions import BusinessRuleError, InvalidTransition

MESSAGE_APPLIED = "Discount applied from the next renewal"
MESSAGE_REMOVED = "Discount removed"
NO_DISCOUNT = "Subscription has no discount"
_FIELDS = ["discount_coupon", "discount_periods_remaining", "discount_started_at", "updated_at"]


def _locked(subscription_id) -> Subscription:
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("plan", "user", "discount_coupon")
        .get(pk=subscription_id)
    )


def subscription_discount_apply(
    *, subscription_id, coupon_code, actor, reason: str | None = None
) -> Subscription:
    """Attaches the coupon typed as ``coupon_code`` to the subscription (replacing its discount):
    the checks of a checkout except first purchases, under the coupon's lock; one APPLIED
    redemption; the discount counts from the next renewal (a REPEATING coupon for its
    ``duration_periods`` renewals, a ONCE coupon for one). Audited."""
    with transaction.atomic():
        subscription = _locked(subscription_id)
        if subscription.status in (SubscriptionStatus.CANCELLED, SubscriptionStatus.EXPIRED):
            raise InvalidTransition(
                f"A {subscription.status} subscription cannot be given a discount"
            )
        now = timezone.now()
        coupon = coupon_check(
            coupon_code,
            user=subscription.user,
            now=now,
            first_purchase=False,
            currency=subscription.plan.currency,
        )
        addon_ids = AddOnSubscription.objects.filter(
            subscription=subscription, status=AddOnSubscriptionStatus.ACTIVE
        ).values_list("addon_id", flat=True)
        if not coupon.covers(LineType.SUBSCRIPTION, subscription.plan_id) and not any(
            coupon.covers(LineType.ADD_ON, addon_id) for addon_id in addon_ids
        ):
            raise not_applicable(coupon)
        coupon = coupon_lock(coupon, user=subscription.user)
        before = _state(subscription)
        redemption_create(
            coupon=coupon,
            user=subscription.user,
            invoice=None,
            subscription_id=subscription.pk,
            discount=0,
            currency=subscription.plan.currency,
        )
        subscription.discount_coupon = coupon
        subscription.discount_periods_remaining = {
            CouponDuration.ONCE: 1,
            CouponDuration.REPEATING: coupon.duration_periods,
        }.get(coupon.duration)
        subscription.discount_started_at = now
        subscription.save(update_fields=_FIELDS)
        _audit(subscription, "subscription.discount_applied", before, actor,
               f"Discount {coupon.code} applied from the next renewal", reason)  # fmt: skip
    return subscription


def subscription_discount_remove(
    *, subscription_id, actor, reason: str | None = None
) -> Subscription:
    """Removes the subscription's recurring discount (audited); its renewals are billed at the
    full price from the next one."""
    with transaction.atomic():
        subscription = _locked(subscription_id)
        if subscription.discount_coupon_id is None:
            raise BusinessRuleError(NO_DISCOUNT)
        before = _state(subscription)
        code = subscription.discount_coupon.code
        subscription.discount_coupon = None
        subscription.discount_periods_remaining = None
        subscription.discount_started_at = None
        subscription.save(update_fields=_FIELDS)
        _audit(subscription, "subscription.discount_removed", before, actor,
               f"Discount {code} removed", reason)  # fmt: skip
    return subscription


def _state(subscription: Subscription) -> dict:
    coupon = subscription.discount_coupon
    return {
        "discount_coupon": coupon.code if coupon is not None else None,
        "discount_periods_remaining": subscription.discount_periods_remaining,
    }


def _audit(subscription, action, before, actor, summary, reason) -> None:
    audit_record(
        action=action,
        object_type="subscription",
        object_id=subscription.pk,
        subject_user_id=subscription.user_id,
        summary=summary,
        actor=actor,
        before=before,
        after=_state(subscription),
        reason=reason,
    )
