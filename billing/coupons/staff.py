"""Staff editing of coupons: create, update (a redeemed coupon keeps its code, kind, amounts and
currency), activate / deactivate, and delete one nobody redeemed. Each change is audited."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from django.db import IntegrityError, transaction

from audit.services import audit_record, changes
from billing.catalog.models import AddOn, Currency, Plan
from billing.coupons.models import Coupon, CouponDuration, CouponKind, CouponRedemption
from billing.coupons.serializers import (
    AMOUNT_MESSAGE,
    CODE_MESSAGE,
    PERCENT_MESSAGE,
    PERIODS_MESSAGE,
)
from tokens.models import TokenBundle
from vbwd.exceptions import BusinessRuleError, Conflict, NotFound, ValidationFailed

NOT_FOUND = "Coupon not found"
CODE_TAKEN = "Coupon code already exists"
FIXED_ONCE_REDEEMED = "A redeemed coupon's code, kind, amounts and currency cannot change"
HAS_REDEMPTIONS = "Coupon has redemptions; deactivate it instead"
FIXED_FIELDS = ("code", "kind", "percent_off", "amount_off", "currency")
WRITE_FIELDS = (
    "code", "name", "kind", "percent_off", "amount_off", "currency", "duration",
    "duration_periods", "plan_ids", "add_on_ids", "token_bundle_ids", "valid_from",
    "valid_until", "max_redemptions", "once_per_customer", "first_purchase_only", "is_active",
)  # fmt: skip
_CATALOG = (
    ("plan_ids", Plan, "plan"),
    ("add_on_ids", AddOn, "add-on"),
    ("token_bundle_ids", TokenBundle, "token bundle"),
)


def coupon_for_staff(coupon_id) -> Coupon:
    coupon = Coupon.objects.filter(pk=coupon_id).first()
    if coupon is None:
        raise NotFound(NOT_FOUND)
    return coupon


def _snapshot(coupon: Coupon) -> dict:
    values = {name: getattr(coupon, name) for name in WRITE_FIELDS}
    for name, value in values.items():
        if isinstance(value, Decimal) or hasattr(value, "isoformat"):
            values[name] = str(value)
    return values


def _checked(coupon: Coupon) -> None:
    """The rules that tie the fields together, on the coupon as it would be saved."""
    if not coupon.code or not isinstance(coupon.code, str):
        raise ValidationFailed(CODE_MESSAGE, field="code")
    if coupon.kind == CouponKind.PERCENT:
        if coupon.percent_off is None or not (0 < coupon.percent_off <= 100):
            raise ValidationFailed(PERCENT_MESSAGE, field="percent_off")
        coupon.amount_off = coupon.currency = None
    else:
        if coupon.amount_off is None or coupon.amount_off <= 0 or not coupon.currency:
            raise ValidationFailed(AMOUNT_MESSAGE, field="amount_off")
        if not Currency.objects.filter(code=coupon.currency).exists():
            raise ValidationFailed(
                f"Currency '{coupon.currency}' is not supported", field="currency"
            )
        coupon.percent_off = None
    if coupon.duration == CouponDuration.REPEATING:
        if not coupon.duration_periods:
            raise ValidationFailed(PERIODS_MESSAGE, field="duration_periods")
    else:
        coupon.duration_periods = None
    if coupon.valid_from and coupon.valid_until and coupon.valid_until < coupon.valid_from:
        raise ValidationFailed("valid_until must not be before valid_from", field="valid_until")
    for field, model, label in _CATALOG:
        ids = [str(value) for value in getattr(coupon, field) or []]
        known = {str(pk) for pk in model.objects.filter(pk__in=ids).values_list("pk", flat=True)}
        unknown = next((value for value in ids if value not in known), None)
        if unknown is not None:
            raise ValidationFailed(f"Unknown {label} id: {unknown}", field="applies_to")
        setattr(coupon, field, list(dict.fromkeys(ids)))


def coupon_values_check(values: Mapping, *, coupon: Coupon | None = None) -> None:
    """The checks of ``coupon_create`` (``coupon`` None) or ``coupon_update`` on ``values``,
    writing nothing: for forms that report them next to the field."""
    draft = Coupon() if coupon is None else Coupon.objects.get(pk=coupon.pk)
    before = _snapshot(draft)
    for name, value in values.items():
        if name in WRITE_FIELDS:
            setattr(draft, name, value)
    _checked(draft)
    taken = Coupon.objects.filter(code=draft.code)
    if coupon is not None:
        taken = taken.exclude(pk=coupon.pk)
        _old, new = changes(before, _snapshot(draft))
        if set(new) & set(FIXED_FIELDS) and CouponRedemption.objects.filter(coupon=coupon).exists():
            raise BusinessRuleError(FIXED_ONCE_REDEEMED)
    if taken.exists():
        raise Conflict(CODE_TAKEN)


def _saved(coupon: Coupon, **save) -> Coupon:
    try:
        with transaction.atomic():
            coupon.save(**save)
    except IntegrityError:
        if Coupon.objects.filter(code=coupon.code).exclude(pk=coupon.pk).exists():
            raise Conflict(CODE_TAKEN) from None
        raise
    return coupon


def coupon_create(*, values: Mapping, actor=None) -> Coupon:
    """A new coupon from the write values (all rules checked), audited."""
    missing = next(
        (name for name in ("code", "name", "kind", "duration") if name not in values), None
    )
    if missing is not None:
        raise ValidationFailed(f"{missing} is required", field=missing)
    with transaction.atomic():
        coupon = Coupon(**{name: value for name, value in values.items() if name in WRITE_FIELDS})
        _checked(coupon)
        if Coupon.objects.filter(code=coupon.code).exists():
            raise Conflict(CODE_TAKEN)
        _saved(coupon, force_insert=True)
        audit_record(
            action="coupon.created",
            object_type="coupon",
            object_id=coupon.pk,
            summary=f"Coupon {coupon.code} created",
            actor=actor,
            after=_snapshot(coupon),
        )
    return coupon


def coupon_update(*, coupon: Coupon, values: Mapping, actor=None) -> Coupon:
    """Applies the given write values; a coupon that was redeemed keeps its code, kind, amounts
    and currency. Audits what changed; no write when nothing does."""
    with transaction.atomic():
        locked = Coupon.objects.select_for_update().get(pk=coupon.pk)
        before = _snapshot(locked)
        for name, value in values.items():
            if name in WRITE_FIELDS:
                setattr(locked, name, value)
        _checked(locked)
        old, new = changes(before, _snapshot(locked))
        if not new:
            return locked
        if set(new) & set(FIXED_FIELDS) and CouponRedemption.objects.filter(coupon=locked).exists():
            raise BusinessRuleError(FIXED_ONCE_REDEEMED)
        if "code" in new and Coupon.objects.filter(code=locked.code).exclude(pk=locked.pk).exists():
            raise Conflict(CODE_TAKEN)
        _saved(locked)
        audit_record(
            action="coupon.updated",
            object_type="coupon",
            object_id=locked.pk,
            summary=f"Coupon {locked.code} updated ({', '.join(sorted(new))})",
            actor=actor,
            before=old,
            after=new,
        )
    return locked


def coupon_set_active(*, coupon: Coupon, active: bool, actor=None) -> Coupon:
    """Activates or deactivates the coupon (audited; nothing when already so)."""
    with transaction.atomic():
        locked = Coupon.objects.select_for_update().get(pk=coupon.pk)
        if locked.is_active == active:
            return locked
        locked.is_active = active
        locked.save(update_fields=["is_active", "updated_at"])
        audit_record(
            action="coupon.activated" if active else "coupon.deactivated",
            object_type="coupon",
            object_id=locked.pk,
            summary=f"Coupon {locked.code} {'activated' if active else 'deactivated'}",
            actor=actor,
            before={"is_active": not active},
            after={"is_active": active},
        )
    return locked


def coupon_delete(*, coupon: Coupon, actor=None) -> None:
    """Deletes a coupon nobody redeemed (deactivate a redeemed one instead)."""
    with transaction.atomic():
        locked = Coupon.objects.select_for_update().get(pk=coupon.pk)
        if CouponRedemption.objects.filter(coupon=locked).exists():
            raise BusinessRuleError(HAS_REDEMPTIONS)
        snapshot = _snapshot(locked)
        coupon_id = locked.pk
        locked.delete()
        audit_record(
            action="coupon.deleted",
            object_type="coupon",
            object_id=coupon_id,
            summary=f"Coupon {snapshot['code']} deleted",
            actor=actor,
            before=snapshot,
        )
