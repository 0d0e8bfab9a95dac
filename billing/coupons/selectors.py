"""Coupon queries for the staff screens and the API."""

from __future__ import annotations

from django.db.models import Count, Q, QuerySet

from billing.coupons.models import COUNTING_STATUSES, Coupon, CouponRedemption


def coupons_for_output(queryset: QuerySet[Coupon] | None = None) -> QuerySet[Coupon]:
    """``queryset`` (default: all) with ``redemptions_count`` (PENDING and APPLIED uses)."""
    queryset = queryset if queryset is not None else Coupon.objects.all()
    return queryset.annotate(
        redemptions_count=Count("redemptions", filter=Q(redemptions__status__in=COUNTING_STATUSES))
    )


def coupons_for_staff(
    *, is_active=None, search: str | None = None, kind=None, duration=None
) -> QuerySet[Coupon]:
    """The coupons staff list, newest first, filtered."""
    rows = Coupon.objects.all()
    if is_active is not None:
        rows = rows.filter(is_active=is_active)
    if search:
        rows = rows.filter(Q(code__icontains=search) | Q(name__icontains=search))
    if kind:
        rows = rows.filter(kind=kind)
    if duration:
        rows = rows.filter(duration=duration)
    return coupons_for_output(rows).order_by("-created_at", "-pk")


def redemptions_of(coupon: Coupon, *, status=None) -> QuerySet[CouponRedemption]:
    """The coupon's redemptions, newest first, with their user and invoice."""
    rows = CouponRedemption.objects.filter(coupon=coupon).select_related("user", "invoice")
    if status:
        rows = rows.filter(status=status)
    return rows.order_by("-created_at", "-pk")
