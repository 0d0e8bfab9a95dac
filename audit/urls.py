from audit import views
from vbwd.api import UUID_PATTERN, route

urlpatterns = [
    route(r"admin/audit-log", views.AdminAuditLogView.as_view(), name="admin-audit-log"),
    route(
        rf"admin/audit-log/(?P<entry_id>{UUID_PATTERN})",
        views.AdminAuditEntryView.as_view(),
        name="admin-audit-entry",
    ),
]
