from __future__ import annotations

from decimal import Decimal

import factory

from billing.coupons.models import Coupon, CouponDuration, CouponKind


class CouponFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Coupon

    code = factory.Sequence(lambda n: f"CODE{n}")
    name = factory.LazyAttribute(lambda coupon: f"Coupon {coupon.code}")
    kind = CouponKind.PERCENT
    percent_off = Decimal("25.00")
    duration = CouponDuration.ONCE


def summer25(**kwargs) -> Coupon:
    """25 % off for three billing periods."""
    kwargs.setdefault("code", "SUMMER25")
    kwargs.setdefault("duration", CouponDuration.REPEATING)
    kwargs.setdefault("duration_periods", 3)
    return CouponFactory(**kwargs)


def ten_euros(**kwargs) -> Coupon:
    kwargs.setdefault("code", "TENOFF")
    kwargs.setdefault("kind", CouponKind.AMOUNT)
    kwargs.setdefault("percent_off", None)
    kwargs.setdefault("amount_off", Decimal("10.00"))
    kwargs.setdefault("currency", "EUR")
    return CouponFactory(**kwargs)
