"""Staff administration of add-ons."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from billing.catalog import selectors
from billing.catalog.models import AddOn
from billing.catalog.serializers.plan_input import AddOnInputSerializer, AdminAddOnsQuerySerializer
from billing.catalog.serializers.plans import AddOnSerializer
from billing.catalog.services import addons as addon_services
from billing.catalog.views.plans.common import (
    ADMIN_ADDONS,
    AddOnEnvelopeSerializer,
    addons_with_plans,
    object_or_404,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.exceptions import NotFound
from vbwd.pagination import page_serializer, paginate
from vbwd.schema import MessageSerializer, errors, update_request

PAGINATION = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("limit", int),
    OpenApiParameter("offset", int),
]


AdminAddOnListSerializer = page_serializer(
    "AdminAddOnListSerializer", items="items", item=AddOnSerializer
)


def _addon_data(addon: AddOn) -> dict:
    addon = addons_with_plans().get(pk=addon.pk)
    return AddOnSerializer(addon, context={"currencies": selectors.currencies_by_code()}).data


def _addon(addon_id: str) -> AddOn:
    return object_or_404(AddOn.objects.all(), addon_id, "Add-on not found")


class AdminAddOnsView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_ADDONS,
        summary="Add-ons (paginated)",
        parameters=[AdminAddOnsQuerySerializer, *PAGINATION],
        responses={200: AdminAddOnListSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = AdminAddOnsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        addons = addons_with_plans().order_by("sort_order", "name", "pk")
        if not filters.get("include_inactive"):
            addons = addons.filter(is_active=True)
        search = (filters.get("search") or "").strip()
        if search:
            addons = addons.filter(Q(name__icontains=search) | Q(slug__icontains=search))
        if filters.get("plan_id") is not None:
            addons = addons.filter(plans__pk=filters["plan_id"])
        rows, meta = paginate(request.query_params, addons)
        context = {"currencies": selectors.currencies_by_code()}
        return Response({"items": AddOnSerializer(rows, many=True, context=context).data, **meta})

    @extend_schema(
        tags=ADMIN_ADDONS,
        summary="Create an add-on",
        request=AddOnInputSerializer,
        responses={201: AddOnEnvelopeSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        serializer = AddOnInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        addon = addon_services.addon_create(data=serializer.validated_data, actor=request.user)
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
        request=update_request(AddOnInputSerializer, "current"),
        responses={200: AddOnEnvelopeSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def put(self, request, addon_id):
        addon = _addon(addon_id)
        serializer = AddOnInputSerializer(data=request.data, context={"current": addon})
        serializer.is_valid(raise_exception=True)
        addon = addon_services.addon_update(
            addon=addon, data=serializer.validated_data, actor=request.user
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
