"""The only writes of plugin state: enable, disable, configure (audited, one transaction each)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from audit.services import audit_record
from plugins import crypto, registry, state
from plugins.base import SETTING_TYPES, PluginConfig
from plugins.models import Plugin
from plugins.signals import plugin_disabled, plugin_disabling, plugin_enabled, plugin_enabling
from vbwd.exceptions import BusinessRuleError, ValidationFailed


def _locked_row(name: str) -> Plugin:
    Plugin.objects.get_or_create(name=name)
    return Plugin.objects.select_for_update().get(name=name)


def _after_commit(signal, plugin: PluginConfig, actor) -> None:
    def notify():
        state.refresh()
        if signal is not None:
            signal.send_robust(sender=PluginConfig, plugin=plugin, actor=actor)

    # Readers that miss now load from the database; after commit everyone gets the new state.
    state.forget()
    transaction.on_commit(notify, robust=True)


def plugin_enable(*, name: str, actor=None) -> Plugin:
    """Enables an installed plugin whose dependencies are enabled; a no-op when it already is."""
    plugin = registry.get(name)
    with transaction.atomic():
        row = _locked_row(name)
        if row.enabled:
            return row
        enabled = set(
            Plugin.objects.filter(name__in=plugin.dependencies, enabled=True).values_list(
                "name", flat=True
            )
        )
        for dependency in plugin.dependencies:
            if dependency not in enabled or dependency not in registry.installed():
                raise BusinessRuleError(f"Dependency '{dependency}' not enabled")
        plugin_enabling.send(sender=PluginConfig, plugin=plugin, actor=actor)
        row.enabled = True
        row.enabled_at = timezone.now()
        row.save()
        audit_record(
            action="plugin.enabled",
            object_type="plugin",
            object_id=name,
            summary=f"Plugin {name} enabled",
            actor=actor,
            before={"enabled": False},
            after={"enabled": True},
        )
        _after_commit(plugin_enabled, plugin, actor)
    return row


def dependants_of(name: str) -> list[str]:
    """Enabled installed plugins that declare ``name`` as a dependency, by name."""
    enabled = set(Plugin.objects.filter(enabled=True).values_list("name", flat=True))
    return sorted(
        other
        for other, config in registry.installed().items()
        if name in config.dependencies and other in enabled
    )


def plugin_disable(*, name: str, actor=None) -> Plugin:
    """Disables a plugin nothing enabled depends on; a no-op when it already is disabled."""
    plugin = registry.get(name)
    with transaction.atomic():
        row = _locked_row(name)
        if not row.enabled:
            return row
        dependants = dependants_of(name)
        if dependants:
            raise BusinessRuleError(
                f"Cannot disable: plugins [{', '.join(dependants)}] depend on it"
            )
        plugin_disabling.send(sender=PluginConfig, plugin=plugin, actor=actor)
        row.enabled = False
        row.disabled_at = timezone.now()
        row.save()
        audit_record(
            action="plugin.disabled",
            object_type="plugin",
            object_id=name,
            summary=f"Plugin {name} disabled",
            actor=actor,
            before={"enabled": True},
            after={"enabled": False},
        )
        _after_commit(plugin_disabled, plugin, actor)
    return row


def _check_value(key: str, kind: str, enum, value) -> None:
    expected = SETTING_TYPES[kind]
    wrong_type = not isinstance(value, expected) or (kind != "boolean" and isinstance(value, bool))
    if wrong_type:
        article = "an" if kind[0] in "aeiou" else "a"
        raise ValidationFailed(f"{key} must be {article} {kind}", field=key)
    if enum and value not in enum:
        raise ValidationFailed(f"{key} must be one of {', '.join(map(str, enum))}", field=key)


def plugin_configure(*, name: str, values: dict, actor=None) -> Plugin:
    """Stores configuration: non-secret keys present replace the stored values;
    a secret with a non-empty string is stored encrypted, ``null`` removes it, ``""`` keeps it.
    Unknown keys are refused. Environment values always win when reading."""
    plugin = registry.get(name)
    schema = plugin.settings_schema
    for key in values:
        if key not in schema:
            raise ValidationFailed(f"Unknown configuration key: {key}", field=key)
    config_changes: dict = {}
    secret_changes: dict[str, str | None] = {}
    for key, value in values.items():
        spec = schema[key]
        if spec.secret:
            if value is None:
                secret_changes[key] = None
            elif value == "":
                continue
            else:
                _check_value(key, "string", None, value)
                secret_changes[key] = value
        elif value is None:
            config_changes[key] = None
        else:
            _check_value(key, spec.type, spec.enum, value)
            config_changes[key] = value
    with transaction.atomic():
        row = _locked_row(name)
        before_config = dict(row.config or {})
        secrets = crypto.decrypt(row.secrets)
        config = dict(before_config)
        for key, value in config_changes.items():
            if value is None:
                config.pop(key, None)  # back to the default
            else:
                config[key] = value
        changed_secrets = []
        for key, value in secret_changes.items():
            if value is None:
                if key in secrets:
                    secrets.pop(key)
                    changed_secrets.append(key)
            elif secrets.get(key) != value:
                secrets[key] = value
                changed_secrets.append(key)
        row.config = config
        row.secrets = crypto.encrypt(secrets)
        row.save()
        changed_keys = sorted(
            {
                key
                for key in config.keys() | before_config.keys()
                if config.get(key) != before_config.get(key)
            }
        )
        if changed_keys or changed_secrets:
            audit_record(
                action="plugin.configured",
                object_type="plugin",
                object_id=name,
                summary=f"Plugin {name} configuration changed",
                actor=actor,
                before={key: before_config.get(key) for key in changed_keys},
                # Secret values never enter the audit log, only which ones changed.
                after={
                    **{key: config.get(key) for key in changed_keys},
                    **{key: "(secret changed)" for key in sorted(changed_secrets)},
                },
            )
        _after_commit(None, plugin, actor)
    return row
