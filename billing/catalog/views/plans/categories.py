"""Staff administration of categories: the tree, one category, attaching and detaching
plans."""

from __future__ import annotations

from django.db.models import Count, Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog.models import Category, Plan
from billing.catalog.serializers.plan_input import (
    CategoriesQuerySerializer,
    CategoryInputSerializer,
    PlanIdsDetachInputSerializer,
    PlanIdsInputSerializer,
)
from billing.catalog.serializers.plans import (
    CategoryDetailSerializer,
    CategorySerializer,
    CategoryTreeSerializer,
)
from billing.catalog.services import categories as category_services
from billing.catalog.views.plans.common import ADMIN_CATEGORIES, object_or_404
from vbwd.api import AdminMixin, ApiView
from vbwd.renderers import QueryFormatIsDataNegotiation
from vbwd.schema import MessageSerializer, errors, update_request


class CategoryListSerializer(serializers.Serializer):
    categories = CategoryTreeSerializer(many=True)


class CategoryEnvelopeSerializer(serializers.Serializer):
    category = CategoryDetailSerializer()
    message = serializers.CharField(required=False)


def _categories_with_counts():
    return Category.objects.annotate(plan_total=Count("plans", distinct=True)).order_by(
        "sort_order", "name"
    )


def _category(category_id: str) -> Category:
    return object_or_404(Category.objects.all(), category_id, "Category not found")


def _category_detail(category: Category) -> dict:
    category = (
        _categories_with_counts()
        .prefetch_related(Prefetch("plans", queryset=Plan.objects.order_by("sort_order", "name")))
        .get(pk=category.pk)
    )
    children: dict = {}
    for child in _categories_with_counts().filter(parent=category):
        children.setdefault(category.pk, []).append(child)
    return CategoryDetailSerializer(category, context={"children": children}).data


class AdminCategoriesView(AdminMixin, ApiView):
    # ?format=tree|flat is this endpoint's own parameter, not DRF's renderer override.
    content_negotiation_class = QueryFormatIsDataNegotiation

    @extend_schema(
        tags=ADMIN_CATEGORIES,
        summary="Categories as a tree (default) or flat",
        parameters=[CategoriesQuerySerializer],
        responses={200: CategoryListSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = CategoriesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        shape = query.validated_data["format"]
        categories = list(_categories_with_counts())
        if shape == "flat":
            data = CategorySerializer(categories, many=True).data
            return Response({"categories": data})
        children: dict = {}
        for category in categories:
            if category.parent_id is not None:
                children.setdefault(category.parent_id, []).append(category)
        roots = [category for category in categories if category.parent_id is None]
        data = CategoryTreeSerializer(roots, many=True, context={"children": children}).data
        return Response({"categories": data})

    @extend_schema(
        tags=ADMIN_CATEGORIES,
        summary="Create a category",
        request=CategoryInputSerializer,
        responses={201: CategoryEnvelopeSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        serializer = CategoryInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        category = category_services.category_create(
            data=serializer.validated_data, actor=request.user
        )
        return Response(
            {"category": _category_detail(category), "message": "Category created successfully"},
            status=201,
        )


class AdminCategoryView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_CATEGORIES,
        summary="One category with children and plans",
        responses={200: CategoryEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, category_id):
        return Response({"category": _category_detail(_category(category_id))})

    @extend_schema(
        tags=ADMIN_CATEGORIES,
        summary="Update a category (partial)",
        request=update_request(CategoryInputSerializer, "current"),
        responses={200: CategoryEnvelopeSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def put(self, request, category_id):
        category = _category(category_id)
        serializer = CategoryInputSerializer(data=request.data, context={"current": category})
        serializer.is_valid(raise_exception=True)
        category = category_services.category_update(
            category=category, data=serializer.validated_data, actor=request.user
        )
        return Response(
            {"category": _category_detail(category), "message": "Category updated successfully"}
        )

    patch = put

    @extend_schema(
        tags=ADMIN_CATEGORIES,
        summary="Delete a leaf category (plans stay)",
        responses={200: MessageSerializer, **errors(400, 401, 403, 404)},
    )
    def delete(self, request, category_id):
        category_services.category_delete(category=_category(category_id), actor=request.user)
        return Response({"message": "Category deleted successfully"})


class AdminCategoryAttachView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_CATEGORIES,
        summary="Attach plans",
        request=PlanIdsInputSerializer,
        responses={200: CategoryEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, category_id):
        category = _category(category_id)
        serializer = PlanIdsInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        category = category_services.category_attach_plans(
            category=category,
            plan_ids=serializer.validated_data["plan_ids"],
            actor=request.user,
        )
        return Response({"category": _category_detail(category), "message": "Plans attached"})


class AdminCategoryDetachView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_CATEGORIES,
        summary="Detach plans",
        request=PlanIdsDetachInputSerializer,
        responses={200: CategoryEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, category_id):
        category = _category(category_id)
        serializer = PlanIdsDetachInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        category = category_services.category_detach_plans(
            category=category,
            plan_ids=serializer.validated_data["plan_ids"],
            actor=request.user,
        )
        return Response({"category": _category_detail(category), "message": "Plans detached"})
