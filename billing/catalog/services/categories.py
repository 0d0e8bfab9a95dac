"""Catalog services: categories."""

from django.db import transaction

from audit.services import audit_record
from billing.catalog.models import Category


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
