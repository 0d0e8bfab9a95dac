"""The one rule about catalog slugs (plans, add-ons, categories): a slug names one row of its
kind, and a taken slug is a 409 "Slug already exists" — whether another row already has it or
a concurrent write claims it between the check and the save."""

from __future__ import annotations

from django.db import IntegrityError, models, transaction

from vbwd.exceptions import Conflict

SLUG_TAKEN = "Slug already exists"


def slug_check_free(
    *, model: type[models.Model], data: dict, row: models.Model | None = None
) -> None:
    """409 when ``data`` sets a slug another row of ``model`` (not ``row``) already has."""
    if "slug" not in data:
        return
    others = model.objects.filter(slug=data["slug"])
    if row is not None:
        others = others.exclude(pk=row.pk)
    if others.exists():
        raise Conflict(SLUG_TAKEN)


def slug_save(*, row: models.Model) -> None:
    """Saves ``row``; a slug claimed meanwhile by a concurrent write is the same 409."""
    try:
        with transaction.atomic():
            row.save()
    except IntegrityError:
        raise Conflict(SLUG_TAKEN) from None
