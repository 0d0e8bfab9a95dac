"""The analytics routes: staff only, and 404 while the plugin is disabled (its routes are
guarded where they are mounted)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from plugins.analytics import selectors
from plugins.analytics.serializers import (
    AnalyticsDashboardSerializer,
    AnalyticsRevenueSerializer,
    DashboardQuerySerializer,
    RevenueQuerySerializer,
    dashboard_data,
    revenue_data,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.schema import errors

TAGS = ["admin: analytics"]
# Staff only under both prefixes; 404 while the plugin is disabled.
ERRORS = errors(403, 404)


class DashboardView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="MRR, ARR, revenue, active subscriptions, user growth, churn, trial conversion "
        "and ARPU over a period, each with its change against the previous period",
        parameters=[DashboardQuerySerializer],
        responses={200: AnalyticsDashboardSerializer, **ERRORS},
    )
    def get(self, request):
        query = DashboardQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(dashboard_data(selectors.dashboard(**query.validated_data)))


class RevenueView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Net revenue of a period with one zero-filled point per day, week or month",
        parameters=[RevenueQuerySerializer],
        responses={200: AnalyticsRevenueSerializer, **ERRORS},
    )
    def get(self, request):
        query = RevenueQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        return Response(revenue_data(selectors.revenue(**query.validated_data)))
