"""Catalog services: categories."""

import uuid

from django.db import IntegrityError, transaction

from audit.services import audit_record, changes
from billing.catalog.models import Category, Plan
from billing.catalog.services import validation
from vbwd.exceptions import BusinessRuleError, Conflict, ValidationFailed


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


def clean_category_input(data: dict, *, category: Category | None) -> dict:
    creating = category is None
    cleaned: dict = {}
    if creating or "name" in data:
        cleaned["name"] = validation.name(data.get("name"), required=creating, max_length=100)
    if data.get("slug") not in (None, ""):
        cleaned["slug"] = validation.slug(data["slug"])
    elif creating:
        cleaned["slug"] = validation.slug_from(cleaned["name"])
    if "description" in data:
        cleaned["description"] = validation.optional_text(data["description"], field="description")
    if "parent_id" in data:
        if data["parent_id"] in (None, ""):
            cleaned["parent"] = None
        else:
            try:
                parent_id = uuid.UUID(str(data["parent_id"]))
            except ValueError:
                raise ValidationFailed("Parent category not found", field="parent_id") from None
            parent = Category.objects.filter(pk=parent_id).first()
            if parent is None:
                raise ValidationFailed("Parent category not found", field="parent_id")
            cleaned["parent"] = parent
    if "is_single" in data and data["is_single"] is not None:
        cleaned["is_single"] = validation.boolean(data["is_single"], field="is_single")
    if "sort_order" in data and data["sort_order"] is not None:
        cleaned["sort_order"] = validation.integer(data["sort_order"], field="sort_order")
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


def _save(category: Category) -> None:
    try:
        with transaction.atomic():
            category.save()
    except IntegrityError:
        raise Conflict("Slug already exists") from None


def category_create(*, data: dict, actor) -> Category:
    cleaned = clean_category_input(data, category=None)
    with transaction.atomic():
        if Category.objects.filter(slug=cleaned["slug"]).exists():
            raise Conflict("Slug already exists")
        category = Category(**cleaned)
        _save(category)
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
    """Partial update; no cycles, and the root keeps its slug and (no) parent."""
    cleaned = clean_category_input(data, category=category)
    with transaction.atomic():
        locked = Category.objects.select_for_update().get(pk=category.pk)
        if locked.is_root and (
            cleaned.get("slug", locked.slug) != locked.slug
            or ("parent" in cleaned and cleaned["parent"] is not None)
        ):
            raise BusinessRuleError("The root category's slug and parent cannot be changed")
        if "parent" in cleaned and _would_cycle(locked, cleaned["parent"]):
            raise BusinessRuleError("A category cannot be its own parent or descendant")
        if (
            "slug" in cleaned
            and Category.objects.filter(slug=cleaned["slug"]).exclude(pk=locked.pk).exists()
        ):
            raise Conflict("Slug already exists")
        before = _snapshot(locked)
        for field, value in cleaned.items():
            setattr(locked, field, value)
        _save(locked)
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


def _plans_from(plan_ids) -> list[Plan]:
    if not isinstance(plan_ids, list) or not plan_ids:
        raise ValidationFailed("plan_ids is required", field="plan_ids")
    ids = []
    for item in plan_ids:
        try:
            ids.append(uuid.UUID(str(item)))
        except ValueError:
            raise ValidationFailed(f"Plan not found: {item}", field="plan_ids") from None
    found = {plan.pk: plan for plan in Plan.objects.filter(pk__in=ids)}
    for plan_id in ids:
        if plan_id not in found:
            raise ValidationFailed(f"Plan not found: {plan_id}", field="plan_ids")
    return [found[plan_id] for plan_id in ids]


def category_attach_plans(*, category: Category, plan_ids, actor) -> Category:
    """Links plans; already attached ones are skipped. Existing subscriptions are untouched."""
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


def category_detach_plans(*, category: Category, plan_ids, actor) -> Category:
    """Unlinks plans; ids that are not attached are ignored."""
    if not isinstance(plan_ids, list) or not plan_ids:
        raise ValidationFailed("plan_ids is required", field="plan_ids")
    ids = []
    for item in plan_ids:
        try:
            ids.append(uuid.UUID(str(item)))
        except ValueError:
            continue  # cannot be attached, so nothing to detach
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
