"""Coupon use cases: the checks of a code, redeeming it on an invoice (under a lock on the
coupon row), applying and releasing redemptions with their invoice, subscription discounts, and
staff editing."""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.utils import timezone

from audit.services import audit_record
from billing.coupons.models import (
    COUNTING_STATUSES,
    Coupon,
    CouponDuration,
    CouponKind,
    CouponRedemption,
    RedemptionStatus,
)
from billing.invoices.models import Invoice, InvoiceStatus
from vbwd.exceptions import BusinessRuleError, ValidationFailed

ITEM_UNAVAILABLE = "item_unavailable"
NOT_FOUND = "Coupon not found"


def _unavailable(message: str) -> BusinessRuleError:
    return BusinessRuleError(message, code=ITEM_UNAVAILABLE)


def coupon_by_code(code) -> Coupon:
    """The active coupon typed as ``code`` (any case); else ``Coupon not found``."""
    if not isinstance(code, str) or not code.strip():
        raise ValidationFailed(NOT_FOUND, field="coupon_code")
    coupon = Coupon.objects.filter(code=code.strip().upper()).first()
    if coupon is None or not coupon.is_active:
        raise ValidationFailed(NOT_FOUND, field="coupon_code")
    return coupon


def limits_check(coupon: Coupon, *, user, check_customer: bool = True) -> None:
    """The redemption limit, then the once-per-customer rule, counting PENDING and APPLIED
    redemptions. Under the coupon row's lock the counts cannot change meanwhile."""
    counting = CouponRedemption.objects.filter(coupon=coupon, status__in=COUNTING_STATUSES)
    if coupon.max_redemptions is not None and counting.count() >= coupon.max_redemptions:
        raise _unavailable(f"Coupon {coupon.code} has reached its redemption limit")
    if check_customer and coupon.once_per_customer and counting.filter(user=user).exists():
        raise BusinessRuleError(f"Coupon {coupon.code} has already been used")


def coupon_check(
    code, *, user, now: datetime.datetime, first_purchase: bool = True, currency: str | None
) -> Coupon:
    """The checks of a typed code in the order their refusals are reported: unknown or
    inactive, not valid now, limit reached, already used by this customer, first purchases only
    (when ``first_purchase``), and an AMOUNT coupon in another currency than ``currency``.
    Whether it covers an item of the order is the caller's last check."""
    coupon = coupon_by_code(code)
    if not coupon.is_valid_at(now):
        raise _unavailable(f"Coupon {coupon.code} is not valid now")
    limits_check(coupon, user=user)
    if (
        first_purchase
        and coupon.first_purchase_only
        and Invoice.objects.filter(user=user, status=InvoiceStatus.PAID).exists()
    ):
        raise BusinessRuleError(f"Coupon {coupon.code} is only for first purchases")
    if currency is not None and coupon.kind == CouponKind.AMOUNT and coupon.currency != currency:
        raise BusinessRuleError(f"Coupon {coupon.code} is not valid for {currency}")
    return coupon


def not_applicable(coupon: Coupon) -> BusinessRuleError:
    return BusinessRuleError(f"Coupon {coupon.code} does not apply to this order")


def coupon_lock(coupon: Coupon, *, user) -> Coupon:
    """Locks the coupon row in the caller's transaction and checks its limits again: concurrent
    checkouts queue here, so they never exceed the limit nor use a once-per-customer coupon
    twice."""
    locked = Coupon.objects.select_for_update().get(pk=coupon.pk)
    if not locked.is_active:
        raise ValidationFailed(NOT_FOUND, field="coupon_code")
    limits_check(locked, user=user)
    return locked


def redemption_create(
    *, coupon: Coupon, user, invoice: Invoice | None, subscription_id, discount, currency: str
) -> CouponRedemption:
    """A PENDING redemption of the locked ``coupon`` on ``invoice`` (APPLIED when there is no
    invoice to pay: staff attached it to a subscription), with its audit row."""
    now = timezone.now()
    redemption = CouponRedemption(
        coupon=coupon,
        user=user,
        invoice=invoice,
        subscription_id=subscription_id,
        discount=discount,
        currency=currency,
    )
    if invoice is None:
        redemption.apply(at=now)
    redemption.save(force_insert=True)
    audit_record(
        action="coupon.redemption_created",
        object_type="coupon",
        object_id=coupon.pk,
        subject_user_id=getattr(user, "pk", None),
        summary=(
            f"Coupon {coupon.code} redeemed by {user.email}"
            + (f" on invoice {invoice.invoice_number}" if invoice is not None else "")
        ),
        after={"status": redemption.status, "discount": str(discount), "currency": currency},
    )
    return redemption


@dataclass
class RedemptionOutcome:
    redemption: CouponRedemption | None
    changed: bool


def _invoice_redemption(invoice: Invoice) -> CouponRedemption | None:
    return (
        CouponRedemption.objects.select_for_update()
        .select_related("coupon", "user")
        .filter(invoice=invoice)
        .first()
    )


def redemption_apply(*, invoice: Invoice, now, actor=None, actor_type=None, actor_label=None):
    """The invoice was captured: its PENDING redemption becomes APPLIED (audited;
    ``coupon_redeemed`` after commit). Idempotent; runs in the capture's transaction."""
    from billing.coupons.signals import coupon_redeemed

    redemption = _invoice_redemption(invoice)
    if redemption is None or redemption.status != RedemptionStatus.PENDING:
        return RedemptionOutcome(redemption, False)
    redemption.invoice = invoice
    redemption.apply(at=now)
    redemption.save(update_fields=["status", "applied_at", "updated_at"])
    audit_record(
        action="coupon.redemption_applied",
        object_type="coupon",
        object_id=redemption.coupon_id,
        subject_user_id=redemption.user_id,
        summary=f"Coupon {redemption.coupon.code} applied: invoice {invoice.invoice_number} paid",
        actor=actor,
        actor_type=actor_type,
        actor_label=actor_label,
        before={"status": RedemptionStatus.PENDING},
        after={"status": redemption.status},
    )
    coupon_redeemed.send_on_commit(sender=Coupon, redemption=redemption, invoice=invoice)
    return RedemptionOutcome(redemption, True)


def redemption_release(
    *, invoice: Invoice, now, actor=None, actor_type=None, actor_label=None, reason=None
):
    """The invoice was voided unpaid (by staff, or because it expired): its PENDING redemption
    is RELEASED and no longer counts against the coupon's limits. Idempotent."""
    redemption = _invoice_redemption(invoice)
    if redemption is None or redemption.status != RedemptionStatus.PENDING:
        return RedemptionOutcome(redemption, False)
    redemption.release(at=now)
    redemption.save(update_fields=["status", "released_at", "updated_at"])
    audit_record(
        action="coupon.redemption_released",
        object_type="coupon",
        object_id=redemption.coupon_id,
        subject_user_id=redemption.user_id,
        summary=(
            f"Coupon {redemption.coupon.code} released: invoice {invoice.invoice_number} voided"
        ),
        actor=actor,
        actor_type=actor_type,
        actor_label=actor_label,
        before={"status": RedemptionStatus.PENDING},
        after={"status": redemption.status},
        reason=reason,
    )
    return RedemptionOutcome(redemption, True)


def periods_after_checkout(coupon: Coupon) -> int | None:
    """``periods_remaining`` of a subscription discount started at checkout (the checkout
    invoice was the first period); None for FOREVER."""
    if coupon.duration == CouponDuration.FOREVER:
        return None
    return max((coupon.duration_periods or 1) - 1, 0)
