from plugins.base import PluginConfig, SettingSpec


class DemoConfig(PluginConfig):
    """A minimal plugin to copy from: one public route, one setting, one receiver."""

    name = "plugins.demo"
    label = "demo"
    verbose_name = "Demo plugin"

    plugin_name = "demo"
    version = "1.0.0"
    author = "VBWD"
    description = "Greets callers and new users; shows how a plugin is written."
    urls = "plugins.demo.urls"
    settings_schema = {
        "greeting": SettingSpec(
            type="string",
            default="Hello from the VBWD demo plugin",
            description="Text returned by GET /api/v1/plugins/demo/",
        ),
    }

    def ready(self) -> None:
        from plugins.demo import receivers  # noqa: F401
