from django.contrib import admin

from audit.models import AuditEntry
from vbwd.admin_tools import ReadOnlyAdmin


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdmin):
    """Read-only: staff can search and read the log, never change it."""

    list_display = ("created_at", "actor_type", "actor_email", "action", "object_type", "summary")
    list_filter = ("actor_type", "object_type", "action")
    search_fields = ("summary", "actor_email", "object_id", "request_id", "action")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50
