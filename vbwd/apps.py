from django.apps import AppConfig


class VbwdConfig(AppConfig):
    """Cross-cutting API plumbing (idempotency records); no business rules live here."""

    name = "vbwd"
    verbose_name = "API plumbing"
    default_auto_field = "django.db.models.BigAutoField"
