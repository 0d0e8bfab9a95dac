from django.apps import AppConfig


class PlatformSettingsConfig(AppConfig):
    """The operator's business settings: seller details, terms, numbering, days."""

    name = "platform_settings"
    verbose_name = "Platform settings"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from platform_settings import checks  # noqa: F401  (registers the deploy check)
        from platform_settings.models import PlatformSettings
        from vbwd import catalog_cache

        # The public terms are a cached catalog answer.
        catalog_cache.track(PlatformSettings)
