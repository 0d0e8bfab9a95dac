"""Routes under /api/v1/plugins/analytics/."""

from plugins.analytics import views
from vbwd.api import route

urlpatterns = [
    route(r"dashboard", views.DashboardView.as_view(), name="dashboard"),
    route(r"revenue", views.RevenueView.as_view(), name="revenue"),
]
