"""Tariff plans: create, update, activate / deactivate / archive, copy, delete."""

from __future__ import annotations

import uuid

from django.db import transaction

from audit.services import audit_record, changes
from billing.catalog import extensions
from billing.catalog.models import Category, Plan
from billing.catalog.services.slugs import slug_check_free, slug_save
from vbwd.exceptions import BusinessRuleError, HasDependencies, ValidationFailed

TRACKED_FIELDS = (
    "name",
    "slug",
    "description",
    "price",
    "currency",
    "billing_period",
    "trial_days",
    "features",
    "is_active",
    "is_archived",
    "sort_order",
)


def _categories(ids: list[uuid.UUID]) -> list[Category]:
    """The categories of ``ids`` in order; an unknown one is a 400."""
    found = {category.pk: category for category in Category.objects.filter(pk__in=ids)}
    for category_id in ids:
        if category_id not in found:
            raise ValidationFailed(f"Category not found: {category_id}", field="category_ids")
    return [found[category_id] for category_id in ids]


def _split_categories(data: dict) -> tuple[dict, list[Category] | None]:
    fields = {key: value for key, value in data.items() if key != "category_ids"}
    ids = data.get("category_ids")
    return fields, (_categories(ids) if ids is not None else None)


def _snapshot(plan: Plan) -> dict:
    return {field: getattr(plan, field) for field in TRACKED_FIELDS}


def plan_create(*, data: dict, actor) -> Plan:
    """Creates a plan (with its categories) from validated input (``PlanInputSerializer``); 409
    when the slug is taken."""
    cleaned, categories = _split_categories(data)
    with transaction.atomic():
        slug_check_free(model=Plan, data=cleaned)
        plan = Plan(**cleaned)
        slug_save(row=plan)
        if categories is not None:
            plan.categories.set(categories)
        audit_record(
            action="plan.created",
            object_type="plan",
            object_id=plan.pk,
            summary=f"Plan {plan.slug} created",
            actor=actor,
            after=_snapshot(plan),
        )
    return plan


def plan_update(*, plan: Plan, data: dict, actor) -> Plan:
    """Partial update from validated input; currency and billing period are fixed once
    subscriptions exist."""
    cleaned, categories = _split_categories(data)
    with transaction.atomic():
        locked = Plan.objects.select_for_update().get(pk=plan.pk)
        used = extensions.usage_count("plan", locked) > 0
        if used and cleaned.get("currency", locked.currency) != locked.currency:
            raise BusinessRuleError("Currency cannot be changed while the plan has subscriptions")
        if used and cleaned.get("billing_period", locked.billing_period) != locked.billing_period:
            raise BusinessRuleError(
                "Billing period cannot be changed while the plan has subscriptions"
            )
        slug_check_free(model=Plan, data=cleaned, row=locked)
        before = _snapshot(locked)
        for field, value in cleaned.items():
            setattr(locked, field, value)
        slug_save(row=locked)
        old_categories = sorted(str(pk) for pk in locked.categories.values_list("pk", flat=True))
        if categories is not None:
            locked.categories.set(categories)
        old, new = changes(before, _snapshot(locked))
        new_categories = sorted(str(pk) for pk in locked.categories.values_list("pk", flat=True))
        if new_categories != old_categories:
            old["category_ids"], new["category_ids"] = old_categories, new_categories
        if new:
            audit_record(
                action="plan.updated",
                object_type="plan",
                object_id=locked.pk,
                summary=f"Plan {locked.slug} updated ({', '.join(sorted(new))})",
                actor=actor,
                before=old,
                after=new,
            )
    return locked


def _set_flags(*, plan: Plan, actor, action: str, **flags) -> Plan:
    with transaction.atomic():
        locked = Plan.objects.select_for_update().get(pk=plan.pk)
        before = {key: getattr(locked, key) for key in flags}
        if before == flags:
            return locked
        for key, value in flags.items():
            setattr(locked, key, value)
        locked.save(update_fields=[*flags, "updated_at"])
        audit_record(
            action=action,
            object_type="plan",
            object_id=locked.pk,
            summary=f"Plan {locked.slug}: {action.split('.')[-1]}",
            actor=actor,
            before=before,
            after=flags,
        )
    return locked


def plan_activate(*, plan: Plan, actor) -> Plan:
    """Active and back in the admin list (un-archived)."""
    return _set_flags(
        plan=plan, actor=actor, action="plan.activated", is_active=True, is_archived=False
    )


def plan_deactivate(*, plan: Plan, actor) -> Plan:
    """Hidden from the catalog and checkout; existing subscriptions continue and renew."""
    return _set_flags(plan=plan, actor=actor, action="plan.deactivated", is_active=False)


def plan_archive(*, plan: Plan, actor) -> Plan:
    """Deactivated and hidden from the admin list unless archived plans are asked for."""
    return _set_flags(
        plan=plan, actor=actor, action="plan.archived", is_active=False, is_archived=True
    )


def _free_copy_slug(slug: str) -> str:
    base = f"{slug}-copy"[:100]
    taken = set(Plan.objects.filter(slug__startswith=base).values_list("slug", flat=True))
    if base not in taken:
        return base
    number = 2
    while f"{base}-{number}" in taken:
        number += 1
    return f"{base}-{number}"


def plan_copy(*, plan: Plan, actor) -> Plan:
    """An inactive copy with the same fields and categories: "<name> (copy)", "<slug>-copy"."""
    with transaction.atomic():
        source = Plan.objects.select_for_update().get(pk=plan.pk)
        copy = Plan(
            name=f"{source.name} (copy)"[:100],
            slug=_free_copy_slug(source.slug),
            description=source.description,
            price=source.price,
            currency=source.currency,
            billing_period=source.billing_period,
            trial_days=source.trial_days,
            features=dict(source.features or {}),
            is_active=False,
            sort_order=source.sort_order,
        )
        slug_save(row=copy)
        copy.categories.set(source.categories.all())
        audit_record(
            action="plan.copied",
            object_type="plan",
            object_id=copy.pk,
            summary=f"Plan {copy.slug} copied from {source.slug}",
            actor=actor,
            after={"copied_from": str(source.pk), **_snapshot(copy)},
        )
    return copy


def plan_delete(*, plan: Plan, actor) -> None:
    """Deletes a plan nothing references; otherwise it must be deactivated (409)."""
    with transaction.atomic():
        locked = Plan.objects.select_for_update().get(pk=plan.pk)
        if extensions.usage_count("plan", locked) > 0:
            raise HasDependencies(
                "Cannot delete plan with existing subscriptions. Deactivate instead."
            )
        audit_record(
            action="plan.deleted",
            object_type="plan",
            object_id=locked.pk,
            summary=f"Plan {locked.slug} deleted",
            actor=actor,
            before=_snapshot(locked),
        )
        locked.delete()
