"""Staff administration of plans."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog import extensions, selectors
from billing.catalog.models import Plan
from billing.catalog.serializers.plan_input import AdminPlansQuerySerializer, PlanInputSerializer
from billing.catalog.serializers.plans import AdminPlanSerializer
from billing.catalog.services import plans as plan_services
from billing.catalog.views.plans.common import ADMIN_PLANS, object_or_404, plans_with_categories
from vbwd.api import AdminMixin, ApiView
from vbwd.schema import MessageSerializer, errors, update_request


class AdminPlanListSerializer(serializers.Serializer):
    plans = AdminPlanSerializer(many=True)
    total = serializers.IntegerField()


class AdminPlanEnvelopeSerializer(serializers.Serializer):
    plan = AdminPlanSerializer()
    message = serializers.CharField(required=False)


def _admin_plan(plan: Plan) -> dict:
    plan = plans_with_categories().get(pk=plan.pk)
    context = {
        "currencies": selectors.currencies_by_code(),
        "subscriber_counts": extensions.subscriber_counts([plan]),
    }
    return AdminPlanSerializer(plan, context=context).data


def _plan(plan_id: str) -> Plan:
    return object_or_404(Plan.objects.all(), plan_id, "Plan not found")


class AdminPlansView(AdminMixin, ApiView):
    @extend_schema(
        tags=ADMIN_PLANS,
        summary="Plans (not paginated)",
        parameters=[AdminPlansQuerySerializer],
        responses={200: AdminPlanListSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = AdminPlansQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        filters = query.validated_data
        plans = plans_with_categories().order_by("sort_order", "name")
        if not filters.get("include_archived"):
            plans = plans.filter(is_archived=False)
        if filters.get("is_active") is not None:
            plans = plans.filter(is_active=filters["is_active"])
        if filters.get("category"):
            plans = plans.filter(categories__slug=filters["category"])
        search = (filters.get("search") or "").strip()
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
        request=PlanInputSerializer,
        responses={201: AdminPlanEnvelopeSerializer, **errors(400, 401, 403, 409)},
    )
    def post(self, request):
        serializer = PlanInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        plan = plan_services.plan_create(data=serializer.validated_data, actor=request.user)
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
        request=update_request(PlanInputSerializer, "current"),
        responses={200: AdminPlanEnvelopeSerializer, **errors(400, 401, 403, 404, 409)},
    )
    def put(self, request, plan_id):
        plan = _plan(plan_id)
        serializer = PlanInputSerializer(data=request.data, context={"current": plan})
        serializer.is_valid(raise_exception=True)
        plan = plan_services.plan_update(
            plan=plan, data=serializer.validated_data, actor=request.user
        )
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
