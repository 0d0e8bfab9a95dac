from django.contrib import admin

from audit import admin_filters
from audit.models import AuditEntry
from vbwd.admin_tools import ReadOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Read-only: staff can search and read the log, never change it."""

    list_display = admin_filters.LIST_DISPLAY
    list_filter = admin_filters.LIST_FILTER
    search_fields = ("summary", "actor_email", "object_id", "request_id", "action")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50
