from django.apps import AppConfig


class AuditConfig(AppConfig):
    """The append-only audit log every state change writes to: who (user, staff, system or
    provider), what, before → after, when."""

    name = "audit"
    verbose_name = "Audit log"
    default_auto_field = "django.db.models.BigAutoField"
