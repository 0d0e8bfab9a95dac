"""What the catalog views share: querysets with their relations, object lookups and the
envelope shapes used by more than one module."""

from __future__ import annotations

import uuid

from django.db.models import Prefetch
from rest_framework import serializers

from billing.catalog.models import AddOn, Category, Plan
from billing.catalog.serializers.plans import AddOnSerializer
from vbwd.exceptions import NotFound

PUBLIC = ["catalog"]
ADMIN_PLANS = ["admin: plans"]
ADMIN_CATEGORIES = ["admin: categories"]
ADMIN_ADDONS = ["admin: add-ons"]


def plans_with_categories():
    return Plan.objects.prefetch_related(
        Prefetch("categories", queryset=Category.objects.order_by("sort_order", "name"))
    )


def addons_with_plans():
    return AddOn.objects.prefetch_related(Prefetch("plans", queryset=Plan.objects.order_by("name")))


def object_or_404(queryset, object_id: str, message: str):
    found = queryset.filter(pk=uuid.UUID(object_id)).first()
    if found is None:
        raise NotFound(message)
    return found


class AddOnEnvelopeSerializer(serializers.Serializer):
    addon = AddOnSerializer()
    message = serializers.CharField(required=False)
