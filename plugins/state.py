"""Reads of plugin state on the hot path, through the shared cache.

The whole table is one cache entry (a handful of rows), so ``is_enabled`` costs no query once
cached and every worker process sees a change as soon as the writing transaction commits.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.cache import cache

from plugins import crypto, registry
from plugins.models import Plugin

CACHE_KEY = "plugins:state:v1"


def _load() -> dict[str, dict[str, Any]]:
    return {
        row.name: {
            "enabled": row.enabled,
            "config": row.config or {},
            "secrets": row.secrets,
            "enabled_at": row.enabled_at,
            "disabled_at": row.disabled_at,
        }
        for row in Plugin.objects.all()
    }


def snapshot() -> dict[str, dict[str, Any]]:
    state = cache.get(CACHE_KEY)
    if state is None:
        state = _load()
        # add, not set: a writer that committed meanwhile has already stored the newer state.
        cache.add(CACHE_KEY, state, timeout=None)
    return state


def refresh() -> None:
    """Stores the committed state in the cache (writers call this after commit)."""
    cache.set(CACHE_KEY, _load(), timeout=None)


def forget() -> None:
    cache.delete(CACHE_KEY)


def is_enabled(name: str) -> bool:
    """Installed and enabled; no database query once the state is cached."""
    return name in registry.installed() and bool(snapshot().get(name, {}).get("enabled"))


def enabled_names() -> set[str]:
    installed = registry.installed()
    return {name for name, row in snapshot().items() if row.get("enabled") and name in installed}


def row_of(name: str) -> dict[str, Any]:
    return snapshot().get(name, {})


def stored_secrets(name: str) -> dict[str, str]:
    return crypto.decrypt(row_of(name).get("secrets", ""))


def config_value(name: str, key: str) -> Any:
    """A setting of an installed plugin: environment, then stored value, then the default.

    Secrets come from the environment or the encrypted store; nothing here is ever returned by
    an endpoint except non-secret values through ``saved_config``.
    """
    config = registry.get(name)
    spec = config.settings_schema[key]
    from_env = os.environ.get(config.env_name(key))
    if from_env not in (None, ""):
        return _coerce(spec.type, from_env)
    if spec.secret:
        return stored_secrets(name).get(key, spec.default)
    return row_of(name).get("config", {}).get(key, spec.default)


def saved_config(name: str) -> dict[str, Any]:
    """Every non-secret setting with its effective value."""
    config = registry.get(name)
    return {
        key: config_value(name, key)
        for key, spec in config.settings_schema.items()
        if not spec.secret
    }


def secrets_set(name: str) -> dict[str, bool]:
    """Secret key → whether a value is configured (environment or encrypted store)."""
    config = registry.get(name)
    stored = stored_secrets(name)
    return {
        key: bool(os.environ.get(config.env_name(key))) or bool(stored.get(key))
        for key, spec in config.settings_schema.items()
        if spec.secret
    }


def _coerce(kind: str, raw: str) -> Any:
    if kind == "integer":
        return int(raw)
    if kind == "number":
        return float(raw)
    if kind == "boolean":
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    return raw
