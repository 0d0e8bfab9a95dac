"""The installed plugins: every app in INSTALLED_APPS whose config is a ``PluginConfig``."""

from __future__ import annotations

import functools

from django.apps import apps

from plugins.base import PluginConfig
from vbwd.exceptions import NotFound

# plugin name -> why it could not be loaded (for example its urls module failed to import)
load_errors: dict[str, str] = {}


@functools.cache
def installed() -> dict[str, PluginConfig]:
    """Computed once: INSTALLED_APPS does not change while the process runs (hot path)."""
    plugins = [config for config in apps.get_app_configs() if isinstance(config, PluginConfig)]
    return {config.key: config for config in sorted(plugins, key=lambda config: config.key)}


def get(name: str) -> PluginConfig:
    """The installed plugin ``name``; 404 "Plugin not found" otherwise."""
    config = installed().get(name)
    if config is None:
        raise NotFound("Plugin not found")
    return config


def plugin_of_module(module: str) -> str | None:
    """The plugin whose app contains ``module`` (None for core code)."""
    config = apps.get_containing_app_config(module)
    return config.key if isinstance(config, PluginConfig) else None
