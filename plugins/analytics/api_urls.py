"""The staff routes under /api/v1/admin/analytics/ (the same views as under the plugin's own
prefix)."""

from plugins.analytics import views
from vbwd.api import route

urlpatterns = [
    route(r"admin/analytics/dashboard", views.DashboardView.as_view(), name="admin-dashboard"),
    route(r"admin/analytics/revenue", views.RevenueView.as_view(), name="admin-revenue"),
]
