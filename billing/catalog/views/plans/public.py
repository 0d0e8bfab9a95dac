"""The public catalog: plans with prices in a display currency (and tax for a country) and
the add-ons a caller may buy."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog import extensions, selectors
from billing.catalog.models import Category
from billing.catalog.serializers.plan_input import (
    CatalogQuerySerializer,
    PublicAddOnsQuerySerializer,
    TariffPlansQuerySerializer,
)
from billing.catalog.serializers.plans import AddOnSerializer, PricedPlanSerializer
from billing.catalog.views.plans.common import (
    PUBLIC,
    AddOnEnvelopeSerializer,
    addons_with_plans,
    object_or_404,
    plans_with_categories,
)
from vbwd.api import ApiView, OptionalAuthMixin, PublicMixin
from vbwd.catalog_cache import CatalogCacheMixin
from vbwd.exceptions import NotFound
from vbwd.schema import errors


def _pricing_context(query: dict) -> dict:
    country = query["country"]
    return {
        "currencies": selectors.currencies_by_code(),
        "display": query["currency"],
        "country": country,
        "with_tax": country is not None,
        "tax": selectors.tax_rate_for(country) if country else None,
    }


class PricedPlanListSerializer(serializers.Serializer):
    plans = PricedPlanSerializer(many=True)
    currency = serializers.CharField()
    country = serializers.CharField(allow_null=True)


class TariffPlansView(CatalogCacheMixin, PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC,
        summary="Active plans with prices in a display currency (and tax for a country)",
        parameters=[TariffPlansQuerySerializer],
        responses={200: PricedPlanListSerializer, **errors(400, 404)},
    )
    def get(self, request):
        query = TariffPlansQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        context = _pricing_context(query.validated_data)
        plans = plans_with_categories().filter(is_active=True).order_by("sort_order", "name")
        slug = query.validated_data.get("category")
        if slug:
            category = Category.objects.filter(slug=slug).first()
            if category is None:
                raise NotFound(f"Category '{slug}' not found")
            plans = plans.filter(categories=category)
        return Response(
            {
                "plans": PricedPlanSerializer(plans, many=True, context=context).data,
                "currency": context["display"].code,
                "country": context["country"],
            }
        )


class TariffPlanView(CatalogCacheMixin, PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC,
        summary="One plan by slug or id (inactive ones too)",
        parameters=[CatalogQuerySerializer],
        responses={200: PricedPlanSerializer, **errors(400, 404)},
    )
    def get(self, request, slug_or_id):
        query = CatalogQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        context = _pricing_context(query.validated_data)
        plan = selectors.plan_by_slug_or_id(slug_or_id)
        return Response(PricedPlanSerializer(plan, context=context).data)


class AddOnListSerializer(serializers.Serializer):
    addons = AddOnSerializer(many=True)


class PublicAddOnsView(CatalogCacheMixin, OptionalAuthMixin, ApiView):
    def catalog_cacheable(self, request) -> bool:
        # An identified caller also sees the add-ons of the plans they subscribe to.
        return not request.user.is_authenticated

    @extend_schema(
        tags=PUBLIC,
        summary="Add-ons the caller may buy",
        parameters=[PublicAddOnsQuerySerializer],
        responses={200: AddOnListSerializer, **errors(400)},
    )
    def get(self, request):
        query = PublicAddOnsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        plan_id = query.validated_data.get("plan_id")
        visible_plans = set()
        if plan_id is not None:
            visible_plans.add(plan_id)
        if request.user.is_authenticated:
            visible_plans |= set(extensions.subscribed_plan_ids(request.user))
        addons = (
            addons_with_plans()
            .filter(is_active=True)
            .filter(Q(plans__isnull=True) | Q(plans__in=visible_plans))
            .distinct()
            .order_by("sort_order", "name")
        )
        context = {"currencies": selectors.currencies_by_code()}
        return Response({"addons": AddOnSerializer(addons, many=True, context=context).data})


class PublicAddOnView(CatalogCacheMixin, PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC,
        summary="One add-on (inactive ones too)",
        responses={200: AddOnEnvelopeSerializer, **errors(404)},
    )
    def get(self, request, addon_id):
        addon = object_or_404(addons_with_plans(), addon_id, "Add-on not found")
        context = {"currencies": selectors.currencies_by_code()}
        return Response({"addon": AddOnSerializer(addon, context=context).data})
