from django.apps import AppConfig


class PluginsFrameworkConfig(AppConfig):
    """The plugin framework itself (state, signals, URL mounting, gateway interface)."""

    name = "plugins"
    label = "plugins"
    verbose_name = "Plugins"
    default_auto_field = "django.db.models.BigAutoField"
