from django.contrib import admin

from audit.models import AuditEntry


@admin.register(AuditEntry)
class AuditEntryAdmin(admin.ModelAdmin):
    """Read-only: staff can search and read the log, never change it."""

    list_display = ("created_at", "actor_type", "actor_email", "action", "object_type", "summary")
    list_filter = ("actor_type", "object_type", "action")
    search_fields = ("summary", "actor_email", "object_id", "request_id", "action")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50
    readonly_fields = [field.name for field in AuditEntry._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
