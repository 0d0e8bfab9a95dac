"""Add-ons: create, update, activate / deactivate, delete."""

from __future__ import annotations

import uuid

from django.db import transaction

from audit.services import audit_record, changes
from billing.catalog import extensions
from billing.catalog.models import AddOn, Plan
from billing.catalog.services.slugs import slug_check_free, slug_save
from vbwd.exceptions import HasDependencies, ValidationFailed

TRACKED_FIELDS = (
    "name",
    "slug",
    "description",
    "price",
    "currency",
    "billing_period",
    "config",
    "is_active",
    "sort_order",
)
INVALID_PLANS = "One or more tariff plan IDs are invalid"


def _plans(ids: list[uuid.UUID]) -> list[Plan]:
    """The plans of ``ids``; an unknown one is a 400."""
    plans = list(Plan.objects.filter(pk__in=ids))
    if len(plans) != len(set(ids)):
        raise ValidationFailed(INVALID_PLANS, field="tarif_plan_ids")
    return plans


def _split_plans(data: dict) -> tuple[dict, list[Plan] | None]:
    fields = {key: value for key, value in data.items() if key != "tarif_plan_ids"}
    ids = data.get("tarif_plan_ids")
    return fields, (_plans(ids) if ids is not None else None)


def _snapshot(addon: AddOn) -> dict:
    return {field: getattr(addon, field) for field in TRACKED_FIELDS}


def addon_create(*, data: dict, actor) -> AddOn:
    """Creates an add-on (with the plans it is offered with) from validated input
    (``AddOnInputSerializer``); 409 when the slug is taken."""
    cleaned, plans = _split_plans(data)
    with transaction.atomic():
        slug_check_free(model=AddOn, data=cleaned)
        addon = AddOn(**cleaned)
        slug_save(row=addon)
        if plans is not None:
            addon.plans.set(plans)
        audit_record(
            action="addon.created",
            object_type="addon",
            object_id=addon.pk,
            summary=f"Add-on {addon.slug} created",
            actor=actor,
            after={**_snapshot(addon), "tarif_plan_ids": [str(plan.pk) for plan in plans or []]},
        )
    return addon


def addon_update(*, addon: AddOn, data: dict, actor) -> AddOn:
    """Partial update from validated input; ``tarif_plan_ids: []`` makes the add-on available
    to everyone."""
    cleaned, plans = _split_plans(data)
    with transaction.atomic():
        locked = AddOn.objects.select_for_update().get(pk=addon.pk)
        slug_check_free(model=AddOn, data=cleaned, row=locked)
        before = _snapshot(locked)
        old_plans = sorted(str(pk) for pk in locked.plans.values_list("pk", flat=True))
        for field, value in cleaned.items():
            setattr(locked, field, value)
        slug_save(row=locked)
        if plans is not None:
            locked.plans.set(plans)
        old, new = changes(before, _snapshot(locked))
        new_plans = sorted(str(pk) for pk in locked.plans.values_list("pk", flat=True))
        if new_plans != old_plans:
            old["tarif_plan_ids"], new["tarif_plan_ids"] = old_plans, new_plans
        if new:
            audit_record(
                action="addon.updated",
                object_type="addon",
                object_id=locked.pk,
                summary=f"Add-on {locked.slug} updated ({', '.join(sorted(new))})",
                actor=actor,
                before=old,
                after=new,
            )
    return locked


def _set_active(*, addon: AddOn, active: bool, actor) -> AddOn:
    with transaction.atomic():
        locked = AddOn.objects.select_for_update().get(pk=addon.pk)
        if locked.is_active == active:
            return locked
        locked.is_active = active
        locked.save(update_fields=["is_active", "updated_at"])
        audit_record(
            action="addon.activated" if active else "addon.deactivated",
            object_type="addon",
            object_id=locked.pk,
            summary=f"Add-on {locked.slug} {'activated' if active else 'deactivated'}",
            actor=actor,
            before={"is_active": not active},
            after={"is_active": active},
        )
    return locked


def addon_activate(*, addon: AddOn, actor) -> AddOn:
    return _set_active(addon=addon, active=True, actor=actor)


def addon_deactivate(*, addon: AddOn, actor) -> AddOn:
    """No longer offered; existing add-on subscriptions continue."""
    return _set_active(addon=addon, active=False, actor=actor)


def addon_delete(*, addon: AddOn, actor) -> None:
    with transaction.atomic():
        locked = AddOn.objects.select_for_update().get(pk=addon.pk)
        if extensions.usage_count("addon", locked) > 0:
            raise HasDependencies(
                "Cannot delete add-on with existing subscriptions. Deactivate instead."
            )
        audit_record(
            action="addon.deleted",
            object_type="addon",
            object_id=locked.pk,
            summary=f"Add-on {locked.slug} deleted",
            actor=actor,
            before=_snapshot(locked),
        )
        locked.delete()
