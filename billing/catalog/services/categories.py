"""Categories: create, update, delete, attach and detach plans, and the categories plugins
declare."""

import uuid

from django.db import transaction

from audit.services import audit_record, changes
from billing.catalog.models import Category, Plan
from billing.catalog.services.slugs import slug_check_free, slug_save
from vbwd.exceptions import BusinessRuleError, ValidationFailed


def categories_register_for_plugin(*, plugin, actor=None) -> list[Category]:
    """Creates the categories a plugin declares under ``root``; existing slugs are kept as they
    are (idempotent), so enabling twice or re-enabling changes nothing."""
    created = []
    with transaction.atomic():
        root = Category.objects.filter(slug=Category.ROOT_SLUG).first()
        for spec in plugin.capabilities.categories:
            category, was_created = Category.objects.get_or_create(
                slug=spec.slug,
                defaults={
                    "name": spec.name,
                    "description": spec.description or None,
                    "is_single": spec.is_single,
                    "parent": root,
                    "registered_by": plugin.key,
                },
            )
            if was_created:
                created.append(category)
                audit_record(
                    action="category.created",
                    object_type="category",
                    object_id=category.pk,
                    summary=f"Category {spec.slug} registered by plugin {plugin.key}",
                    actor=actor,
                    after={"slug": spec.slug, "registered_by": plugin.key},
                )
    return created


def _would_cycle(category: Category, parent: Category | None) -> bool:
    """True when ``parent`` is the category itself or one of its descendants."""
    seen = set()
    node = parent
    while node is not None and node.pk not in seen:
        if node.pk == category.pk:
            return True
        seen.add(node.pk)
        node = node.parent
    return False


def _resolved(data: dict) -> dict:
    """Validated input with ``parent_id`` turned into the parent row (400 when unknown)."""
    cleaned = {key: value for key, value in data.items() if key != "parent_id"}
    if "parent_id" in data:
        parent = None
        if data["parent_id"] is not None:
            parent = Category.objects.filter(pk=data["parent_id"]).first()
            if parent is None:
                raise ValidationFailed("Parent category not found", field="parent_id")
        cleaned["parent"] = parent
    return cleaned


def _snapshot(category: Category) -> dict:
    return {
        "name": category.name,
        "slug": category.slug,
        "description": category.description,
        "parent_id": str(category.parent_id) if category.parent_id else None,
        "is_single": category.is_single,
        "sort_order": category.sort_order,
    }


def category_create(*, data: dict, actor) -> Category:
    """Creates a category from validated input (``CategoryInputSerializer``); 409 when the
    slug is taken."""
    cleaned = _resolved(data)
    with transaction.atomic():
        slug_check_free(model=Category, data=cleaned)
        category = Category(**cleaned)
        slug_save(row=category)
        audit_record(
            action="category.created",
            object_type="category",
            object_id=category.pk,
            summary=f"Category {category.slug} created",
            actor=actor,
            after=_snapshot(category),
        )
    return category


def category_update(*, category: Category, data: dict, actor) -> Category:
    """Partial update from validated input; no cycles, and the root keeps its slug and (no)
    parent."""
    cleaned = _resolved(data)
    with transaction.atomic():
        locked = Category.objects.select_for_update().get(pk=category.pk)
        if locked.is_root and (
            cleaned.get("slug", locked.slug) != locked.slug
            or ("parent" in cleaned and cleaned["parent"] is not None)
        ):
            raise BusinessRuleError("The root category's slug and parent cannot be changed")
        if "parent" in cleaned and _would_cycle(locked, cleaned["parent"]):
            raise BusinessRuleError("A category cannot be its own parent or descendant")
        slug_check_free(model=Category, data=cleaned, row=locked)
        before = _snapshot(locked)
        for field, value in cleaned.items():
            setattr(locked, field, value)
        slug_save(row=locked)
        old, new = changes(before, _snapshot(locked))
        if new:
            audit_record(
                action="category.updated",
                object_type="category",
                object_id=locked.pk,
                summary=f"Category {locked.slug} updated ({', '.join(sorted(new))})",
                actor=actor,
                before=old,
                after=new,
            )
    return locked


def category_delete(*, category: Category, actor) -> None:
    """Deletes a leaf category (its plan links go, the plans stay); never the root."""
    with transaction.atomic():
        locked = Category.objects.select_for_update().get(pk=category.pk)
        if locked.is_root:
            raise BusinessRuleError("The root category cannot be deleted")
        if Category.objects.filter(parent=locked).exists():
            raise BusinessRuleError("Category with children cannot be deleted")
        audit_record(
            action="category.deleted",
            object_type="category",
            object_id=locked.pk,
            summary=f"Category {locked.slug} deleted",
            actor=actor,
            before=_snapshot(locked),
        )
        locked.plans.clear()
        locked.delete()


def _plans_from(plan_ids: list[uuid.UUID]) -> list[Plan]:
    found = {plan.pk: plan for plan in Plan.objects.filter(pk__in=plan_ids)}
    for plan_id in plan_ids:
        if plan_id not in found:
            raise ValidationFailed(f"Plan not found: {plan_id}", field="plan_ids")
    return [found[plan_id] for plan_id in plan_ids]


def category_attach_plans(*, category: Category, plan_ids: list[uuid.UUID], actor) -> Category:
    """Links plans (every id must exist); already attached ones are skipped. Existing
    subscriptions are untouched."""
    plans = _plans_from(plan_ids)
    with transaction.atomic():
        locked = Category.objects.select_for_update().get(pk=category.pk)
        present = set(locked.plans.values_list("pk", flat=True))
        added = [plan for plan in plans if plan.pk not in present]
        if added:
            locked.plans.add(*added)
            audit_record(
                action="category.plans_attached",
                object_type="category",
                object_id=locked.pk,
                summary=f"{len(added)} plan(s) attached to {locked.slug}",
                actor=actor,
                after={"plan_ids": [str(plan.pk) for plan in added]},
            )
    return locked


def category_detach_plans(*, category: Category, plan_ids: list[uuid.UUID], actor) -> Category:
    """Unlinks plans; ids that are not attached are ignored."""
    ids = plan_ids
    with transaction.atomic():
        locked = Category.objects.select_for_update().get(pk=category.pk)
        removed = list(locked.plans.filter(pk__in=ids))
        if removed:
            locked.plans.remove(*removed)
            audit_record(
                action="category.plans_detached",
                object_type="category",
                object_id=locked.pk,
                summary=f"{len(removed)} plan(s) detached from {locked.slug}",
                actor=actor,
                before={"plan_ids": [str(plan.pk) for plan in removed]},
            )
    return locked
