from django.apps import AppConfig


class PlatformSettingsConfig(AppConfig):
    """The operator's business settings: seller details, terms, numbering, days."""

    name = "platform_settings"
    verbose_name = "Platform settings"
    default_auto_field = "django.db.models.BigAutoField"
