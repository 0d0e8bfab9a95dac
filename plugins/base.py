"""What a plugin is: a Django app whose AppConfig subclasses ``PluginConfig``.

Being in ``INSTALLED_APPS`` makes a plugin *installed* (its migrations run, its routes are
mounted); being *enabled* is a row in the database (``plugins.models.Plugin``), the same for
every worker process.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.apps import AppConfig

SETTING_TYPES = {"string": str, "integer": int, "boolean": bool, "number": (int, float)}


@dataclass(frozen=True)
class SettingSpec:
    """One configuration key of a plugin."""

    type: str = "string"
    default: Any = None
    description: str = ""
    secret: bool = False
    enum: tuple | None = None
    # Environment variable that overrides the stored value; default VBWD_PLUGIN_<NAME>_<KEY>.
    env: str | None = None
    label: str | None = None

    def __post_init__(self) -> None:
        if self.type not in SETTING_TYPES:
            raise ValueError(f"Unknown setting type {self.type!r}")


@dataclass(frozen=True)
class CategorySpec:
    """A catalog category the plugin needs; created (idempotently by slug) on enable."""

    slug: str
    name: str
    description: str = ""
    is_single: bool = False


@dataclass(frozen=True)
class Capabilities:
    # Dotted path of the plugins.gateway.PaymentGateway subclass, for payment plugins.
    payment_gateway: str | None = None
    saved_payment_methods: bool = False
    categories: tuple[CategorySpec, ...] = ()
    line_types: tuple[str, ...] = field(default_factory=tuple)


class PluginConfig(AppConfig):
    """Base AppConfig of every plugin; subclasses declare the class attributes below."""

    # Plugin key in URLs, the database and the API; defaults to the app label.
    plugin_name: str = ""
    version: str = "0.0.0"
    author: str = ""
    description: str = ""
    dependencies: tuple[str, ...] = ()
    capabilities: Capabilities = Capabilities()
    # Module with ``urlpatterns`` mounted under /api/v1/plugins/<name>/ (None: no routes).
    urls: str | None = None
    # Module with ``urlpatterns`` mounted at the API root (/api/v1/), for the few routes a
    # plugin serves outside its own prefix (its staff routes under admin/). They are guarded
    # like the routes under /plugins/<name>/: 404 while the plugin is disabled.
    api_urls: str | None = None
    settings_schema: dict[str, SettingSpec] = {}
    # Back-office layout: {"tabs": [{"id", "label", "fields": [{"key", "label", "component"}]}]}
    admin_config: dict | None = None

    default = False  # the base class is never an app's default config; subclasses are

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "default" not in cls.__dict__:
            cls.default = True

    @property
    def key(self) -> str:
        return self.plugin_name or self.label

    def env_name(self, setting: str) -> str:
        spec = self.settings_schema[setting]
        return spec.env or f"VBWD_PLUGIN_{self.key}_{setting}".upper().replace("-", "_")

    def layout(self) -> dict:
        """The declared back-office layout, or one tab listing every setting."""
        if self.admin_config is not None:
            return self.admin_config
        fields = [
            {
                "key": key,
                "label": spec.label or key.replace("_", " ").capitalize(),
                "component": "select" if spec.enum else _component(spec),
                **({"inputType": "password"} if spec.secret else {}),
            }
            for key, spec in self.settings_schema.items()
        ]
        return (
            {"tabs": [{"id": "settings", "label": "Settings", "fields": fields}]}
            if fields
            else {"tabs": []}
        )


def _component(spec: SettingSpec) -> str:
    return {"boolean": "checkbox", "integer": "number", "number": "number"}.get(spec.type, "input")
