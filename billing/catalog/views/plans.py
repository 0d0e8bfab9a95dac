"""Plans, categories and add-ons: public catalog (API.md §5) and staff (§15, §16.1)."""

from __future__ import annotations

import uuid

from django.db.models import Count, Prefetch, Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog import extensions, selectors
from billing.catalog.models import AddOn, Category, Plan
from billing.catalog.serializers.plans import (
    AddOnSerializer,
    AdminPlanSerializer,
    CategoryDetailSerializer,
    CategorySerializer,
    CategoryTreeSerializer,
    PricedPlanSerializer,
)
from billing.catalog.services import addons as addon_services
from billing.catalog.services import categories as category_services
from billing.catalog.services import plans as plan_services
from vbwd.api import AdminMixin, ApiView, OptionalAuthMixin, PublicMixin
from vbwd.exceptions import NotFound, ValidationFailed
from vbwd.filters import parse_bool, parse_uuid
from vbwd.pagination import paginate
from vbwd.renderers import QueryFormatIsDataNegotiation
from vbwd.schema import MessageSerializer, errors

PUBLIC = ["catalog"]
ADMIN_PLANS = ["admin: plans"]
ADMIN_CATEGORIES = ["admin: categories"]
ADMIN_ADDONS = ["admin: add-ons"]

CATALOG_PARAMETERS = [
    OpenApiParameter("currency", str, description="display currency (default: the default one)"),
    OpenApiParameter("country", str, description="alpha-2; adds net, tax and gross"),
]


def _plans_with_categories():
    return Plan.objects.prefetch_related(
        Prefetch("categories", queryset=Category.objects.order_by("sort_order", "name"))
    )


def _addons_with_plans():
    return AddOn.objects.prefetch_related(Prefetch("plans", queryset=Plan.objects.order_by("name")))


def _pricing_context(query) -> dict:
    display = selectors.active_currency(query.get("currency"))
    country = selectors.known_country(query.get("country"))
    return {
        "currencies": selectors.currencies_by_code(),
        "display": display,
        "country": country,
        "with_tax": country is not None,
        "tax": selectors.tax_rate_for(country) if country else None,
    }


def _object(queryset, object_id: str, message: str):
    found = queryset.filter(pk=uuid.UUID(object_id)).first()
    if found is None:
        raise NotFound(message)
    return found


# --- public catalog -------------------------------------------------------------------------


class PricedPlanListSerializer(serializers.Serializer):
    plans = PricedPlanSerializer(many=True)
    currency = serializers.CharField()
    country = serializers.CharField(allow_null=True)


class TariffPlansView(PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC,
        summary="Active plans with prices in a display currency (and tax for a country)",
        parameters=[*CATALOG_PARAMETERS, OpenApiParameter("category", str, description="slug")],
        responses={200: PricedPlanListSerializer, **errors(400, 404)},
    )
    def get(self, request):
        context = _pricing_context(request.query_params)
        plans = _plans_with_categories().filter(is_active=True).order_by("sort_order", "name")
        slug = request.query_params.get("category")
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


class TariffPlanView(PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC,
        summary="One plan by slug or id (inactive ones too)",
        parameters=CATALOG_PARAMETERS,
        responses={200: PricedPlanSerializer, **errors(400, 404)},
    )
    def get(self, request, slug_or_id):
        context = _pricing_context(request.query_params)
        plan = selectors.plan_by_slug_or_id(slug_or_id)
        return Response(PricedPlanSerializer(plan, context=context).data)


class AddOnListSerializer(serializers.Serializer):
    addons = AddOnSerializer(many=True)


class AddOnEnvelopeSerializer(serializers.Serializer):
    addon = AddOnSerializer()
    message = serializers.CharField(required=False)


class PublicAddOnsView(OptionalAuthMixin, ApiView):
    @extend_schema(
        tags=PUBLIC,
        summary="Add-ons the caller may buy",
        parameters=[OpenApiParameter("plan_id", str, description="the plan being bought")],
        responses={200: AddOnListSerializer, **errors(400)},
    )
    def get(self, request):
        plan_id = parse_uuid(request.query_params.get("plan_id"), name="plan_id")
        visible_plans = set()
        if plan_id is not None:
            visible_plans.add(plan_id)
        if request.user.is_authenticated:
            visible_plans |= set(extensions.subscribed_plan_ids(request.user))
        addons = (
            _addons_with_plans()
            .filter(is_active=True)
            .filter(Q(plans__isnull=True) | Q(plans__in=visible_plans))
            .distinct()
            .order_by("sort_order", "name")
        )
        context = {"currencies": selectors.currencies_by_code()}
        return Response({"addons": AddOnSerializer(addons, many=True, context=context).data})


class PublicAddOnView(PublicMixin, ApiView):
    @extend_schema(
        tags=PUBLIC,
        summary="One add-on (inactive ones too)",
        responses={200: AddOnEnvelopeSerializer, **errors(404)},
    )
    def get(self, request, addon_id):
        addon = _object(_addons_with_plans(), addon_id, "Add-on not found")
        context = {"currencies": selectors.currencies_by_code()}
        return Response({"addon": AddOnSerializer(addon, context=context).data})


# --- staff: plans ---------------------------------------------------------------------------


class AdminPlanListSerializer(serializers.Serializer):
    plans = AdminPlanSerializer(many=True)
    total = serializers.IntegerField()


class AdminPlanEnvelopeSerializer(serializers.Serializer):
    plan = AdminPlanSerializer()
    message = serializers.CharField(required=False)


class PlanWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    price = serializers.CharField(help_text="money")
    slug = serializers.CharField(required=False)
    description = serializers.CharField(required=False, allow_null=True)
    currency = serializers.CharField(required=False)
    billing_period = serializers.CharField(required=False)
    trial_days = serializers.IntegerField(required=False)
    features = serializers.JSONField(required=False)
    is_active = serializers.BooleanField(required=False)
    sort_order = serializers.IntegerField(required=False)
    category_ids = serializers.ListField(child=serializers.UUIDField(), required=False)


def _admin_plan(plan: Plan) -> dict:
    plan = _plans_with_categories().get(pk=plan.pk)
    context = {
        "currencies": selectors.currencies_by_code(),
        "subscriber_counts": extensions.subscriber_counts([plan]),
    }
    return AdminPlanSerializer(plan, context=context).data


def _plan(plan_id: str) -> Plan:
    return _object(Plan.objects.all(), plan_id, "Plan not found")


class AdminPlansView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_PLANS,
        summary="Plans (not paginated)",
        parameters=[
            OpenApiParameter("include_archived", bool),
            OpenApiParameter("is_active", bool),
            OpenApiParameter("category", str, description="slug"),
            OpenApiParameter("search", str, description="name or slug"),
        ],
        responses={200: AdminPlanListSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = request.query_params
        plans = _plans_with_categories().order_by("sort_order", "name")
        if not parse_bool(query.get("include_archived"), name="include_archived"):
            plans = plans.filter(is_archived=False)
        is_active = parse_bool(query.get("is_active"), name="is_active")
        if is_active is not None:
            plans = plans.filter(is_active=is_active)
        if query.get("category"):
            plans = plans.filter(categories__slug=query["category"])
        search = (query.get("search") or "").strip()
        if search:
            plans = plans.filter(Q(name__icontains=search) | Q(slug__icontains=search))
        plans = list(plans)
        context = {
            "currencies": selectors.currencies_by_code(),
            "subscriber_counts": extensions.subscriber_counts(plans),
        }
        return Response(
            {
                "plans": AdminPlanSerializer(plans, many=True, context=context).data,
                "total": len(plans),
            }
        )

    @extend_schema(
        tags=ADMIN_PLANS,
        summary="Create a plan",
        request=PlanWriteSerializer,
        responses={201: AdminPlanEnvelopeSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        plan = plan_services.plan_create(data=request.data, actor=request.user)
        return Response(
            {"plan": _admin_plan(plan), "message": "Plan created successfully"}, status=201
        )


class AdminPlanView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_PLANS,
        summary="One plan",
        responses={200: AdminPlanEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, plan_id):
        return Response({"plan": _admin_plan(_plan(plan_id))})

    @extend_schema(
        tags=ADMIN_PLANS,
        summary="Update a plan (partial)",
        request=PlanWriteSerializer,
        responses={200: AdminPlanEnvelopeSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def put(self, request, plan_id):
        plan = plan_services.plan_update(plan=_plan(plan_id), data=request.data, actor=request.user)
        return Response({"plan": _admin_plan(plan), "message": "Plan updated successfully"})

    patch = put

    @extend_schema(
        tags=ADMIN_PLANS,
        summary="Delete a plan nothing references",
        responses={200: MessageSerializer, **errors(401, 403, 404, 409)},
    )
    def delete(self, request, plan_id):
        plan_services.plan_delete(plan=_plan(plan_id), actor=request.user)
        return Response({"message": "Plan deleted successfully"})


def _plan_action(service, message: str, status: int = 200):
    class PlanActionView(AdminMixin, ApiView):
        @extend_schema(
            tags=ADMIN_PLANS,
            summary=message,
            request=None,
            responses={status: AdminPlanEnvelopeSerializer, **errors(401, 403, 404)},
        )
        def post(self, request, plan_id):
            plan = service(plan=_plan(plan_id), actor=request.user)
            return Response({"plan": _admin_plan(plan), "message": message}, status=status)

    PlanActionView.__name__ = PlanActionView.__qualname__ = (
        f"AdminPlan{service.__name__.title()}View"
    )
    return PlanActionView


AdminPlanActivateView = _plan_action(plan_services.plan_activate, "Plan activated")
AdminPlanDeactivateView = _plan_action(plan_services.plan_deactivate, "Plan deactivated")
AdminPlanArchiveView = _plan_action(plan_services.plan_archive, "Plan archived")
AdminPlanCopyView = _plan_action(plan_services.plan_copy, "Plan copied successfully", 201)


# --- staff: categories ----------------------------------------------------------------------


class CategoryListSerializer(serializers.Serializer):
    categories = CategoryTreeSerializer(many=True)


class CategoryEnvelopeSerializer(serializers.Serializer):
    category = CategoryDetailSerializer()
    message = serializers.CharField(required=False)


class CategoryWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    slug = serializers.CharField(required=False)
    description = serializers.CharField(required=False, allow_null=True)
    parent_id = serializers.UUIDField(required=False, allow_null=True)
    is_single = serializers.BooleanField(required=False)
    sort_order = serializers.IntegerField(required=False)


class PlanIdsSerializer(serializers.Serializer):
    plan_ids = serializers.ListField(child=serializers.UUIDField())


def _categories_with_counts():
    return Category.objects.annotate(plan_total=Count("plans", distinct=True)).order_by(
        "sort_order", "name"
    )


def _category(category_id: str) -> Category:
    return _object(Category.objects.all(), category_id, "Category not found")


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
        parameters=[OpenApiParameter("format", str, enum=["tree", "flat"])],
        responses={200: CategoryListSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        shape = (request.query_params.get("format") or "tree").strip().lower()
        if shape not in {"tree", "flat"}:
            raise ValidationFailed("format must be flat or tree", field="format")
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
        request=CategoryWriteSerializer,
        responses={201: CategoryEnvelopeSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        category = category_services.category_create(data=request.data, actor=request.user)
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
        request=CategoryWriteSerializer,
        responses={200: CategoryEnvelopeSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def put(self, request, category_id):
        category = category_services.category_update(
            category=_category(category_id), data=request.data, actor=request.user
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
        request=PlanIdsSerializer,
        responses={200: CategoryEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, category_id):
        category = category_services.category_attach_plans(
            category=_category(category_id),
            plan_ids=request.data.get("plan_ids"),
            actor=request.user,
        )
        return Response({"category": _category_detail(category), "message": "Plans attached"})


class AdminCategoryDetachView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_CATEGORIES,
        summary="Detach plans",
        request=PlanIdsSerializer,
        responses={200: CategoryEnvelopeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, category_id):
        category = category_services.category_detach_plans(
            category=_category(category_id),
            plan_ids=request.data.get("plan_ids"),
            actor=request.user,
        )
        return Response({"category": _category_detail(category), "message": "Plans detached"})


# --- staff: add-ons -------------------------------------------------------------------------


class AdminAddOnListSerializer(serializers.Serializer):
    items = AddOnSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    pages = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class AddOnWriteSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=255)
    price = serializers.CharField(help_text="money")
    slug = serializers.CharField(required=False)
    description = serializers.CharField(required=False, allow_null=True)
    currency = serializers.CharField(required=False)
    billing_period = serializers.CharField(required=False)
    config = serializers.DictField(required=False)
    is_active = serializers.BooleanField(required=False)
    sort_order = serializers.IntegerField(required=False)
    tarif_plan_ids = serializers.ListField(child=serializers.UUIDField(), required=False)


def _addon_data(addon: AddOn) -> dict:
    addon = _addons_with_plans().get(pk=addon.pk)
    return AddOnSerializer(addon, context={"currencies": selectors.currencies_by_code()}).data


def _addon(addon_id: str) -> AddOn:
    return _object(AddOn.objects.all(), addon_id, "Add-on not found")


class AdminAddOnsView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_ADDONS,
        summary="Add-ons (paginated)",
        parameters=[
            OpenApiParameter("include_inactive", bool),
            OpenApiParameter("search", str),
            OpenApiParameter("plan_id", str),
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: AdminAddOnListSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = request.query_params
        addons = _addons_with_plans().order_by("sort_order", "name", "pk")
        if not parse_bool(query.get("include_inactive"), name="include_inactive"):
            addons = addons.filter(is_active=True)
        search = (query.get("search") or "").strip()
        if search:
            addons = addons.filter(Q(name__icontains=search) | Q(slug__icontains=search))
        plan_id = parse_uuid(query.get("plan_id"), name="plan_id")
        if plan_id is not None:
            addons = addons.filter(plans__pk=plan_id)
        rows, meta = paginate(query, addons)
        context = {"currencies": selectors.currencies_by_code()}
        return Response({"items": AddOnSerializer(rows, many=True, context=context).data, **meta})

    @extend_schema(
        tags=ADMIN_ADDONS,
        summary="Create an add-on",
        request=AddOnWriteSerializer,
        responses={201: AddOnEnvelopeSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        addon = addon_services.addon_create(data=request.data, actor=request.user)
        return Response(
            {"addon": _addon_data(addon), "message": "Add-on created successfully"}, status=201
        )


class AdminAddOnView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_ADDONS,
        summary="One add-on",
        responses={200: AddOnEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, addon_id):
        return Response({"addon": _addon_data(_addon(addon_id))})

    @extend_schema(
        tags=ADMIN_ADDONS,
        summary="Update an add-on (partial)",
        request=AddOnWriteSerializer,
        responses={200: AddOnEnvelopeSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def put(self, request, addon_id):
        addon = addon_services.addon_update(
            addon=_addon(addon_id), data=request.data, actor=request.user
        )
        return Response({"addon": _addon_data(addon), "message": "Add-on updated successfully"})

    patch = put

    @extend_schema(
        tags=ADMIN_ADDONS,
        summary="Delete an add-on nothing references",
        responses={200: MessageSerializer, **errors(401, 403, 404, 409)},
    )
    def delete(self, request, addon_id):
        addon_services.addon_delete(addon=_addon(addon_id), actor=request.user)
        return Response({"message": "Add-on deleted successfully"})


class AdminAddOnBySlugView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_ADDONS,
        summary="One add-on by slug",
        responses={200: AddOnEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, slug):
        addon = AddOn.objects.filter(slug=slug).first()
        if addon is None:
            raise NotFound("Add-on not found")
        return Response({"addon": _addon_data(addon)})


class AdminAddOnActivateView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_ADDONS,
        summary="Activate an add-on",
        request=None,
        responses={200: AddOnEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, addon_id):
        addon = addon_services.addon_activate(addon=_addon(addon_id), actor=request.user)
        return Response({"addon": _addon_data(addon), "message": "Add-on activated"})


class AdminAddOnDeactivateView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_ADDONS,
        summary="Deactivate an add-on",
        request=None,
        responses={200: AddOnEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, addon_id):
        addon = addon_services.addon_deactivate(addon=_addon(addon_id), actor=request.user)
        return Response({"addon": _addon_data(addon), "message": "Add-on deactivated"})
