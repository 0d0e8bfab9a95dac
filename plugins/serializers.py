from collections.abc import Mapping

from drf_spectacular.extensions import OpenApiSerializerExtension
from rest_framework import serializers

from plugins import registry, services, state
from plugins.base import PluginConfig


class PluginCapabilitiesSerializer(serializers.Serializer):
    payment_gateway = serializers.BooleanField()
    saved_payment_methods = serializers.BooleanField()
    categories = serializers.ListField(child=serializers.CharField())
    line_types = serializers.ListField(child=serializers.CharField())
    has_urls = serializers.BooleanField()


def plugin_item(config: PluginConfig) -> dict:
    """Plugin."""
    row = state.row_of(config.key)
    enabled = bool(row.get("enabled"))
    error = registry.load_errors.get(config.key)
    capabilities = config.capabilities
    return {
        "name": config.key,
        "version": config.version,
        "author": config.author,
        "description": config.description,
        "status": ("error" if error else "active") if enabled else "inactive",
        "enabled": enabled,
        "dependencies": list(config.dependencies),
        "capabilities": {
            "payment_gateway": bool(capabilities.payment_gateway),
            "saved_payment_methods": capabilities.saved_payment_methods,
            "categories": [category.slug for category in capabilities.categories],
            "line_types": list(capabilities.line_types),
            "has_urls": bool(config.urls),
        },
        "hasConfig": bool(config.settings_schema),
        "enabled_at": serializers.DateTimeField().to_representation(row["enabled_at"])
        if row.get("enabled_at")
        else None,
        "disabled_at": serializers.DateTimeField().to_representation(row["disabled_at"])
        if row.get("disabled_at")
        else None,
    }


def plugin_detail(config: PluginConfig) -> dict:
    """PluginDetail: Plugin + dependents, schema, layout, non-secret values, secrets set."""
    return {
        **plugin_item(config),
        "dependents": services.dependants_of(config.key),
        "configSchema": {
            key: {
                "type": spec.type,
                "default": None if spec.secret else spec.default,
                "description": spec.description,
                "secret": spec.secret,
                **({"enum": list(spec.enum)} if spec.enum else {}),
            }
            for key, spec in config.settings_schema.items()
        },
        "adminConfig": config.layout(),
        "savedConfig": state.saved_config(config.key),
        "secretsSet": state.secrets_set(config.key),
        "error": registry.load_errors.get(config.key),
    }


class PluginSerializer(serializers.Serializer):
    """Plugin (documentation of the dict built by ``plugin_item``)."""

    name = serializers.CharField()
    version = serializers.CharField()
    author = serializers.CharField()
    description = serializers.CharField()
    status = serializers.ChoiceField(choices=["active", "inactive", "error"])
    enabled = serializers.BooleanField()
    dependencies = serializers.ListField(child=serializers.CharField())
    capabilities = PluginCapabilitiesSerializer()
    hasConfig = serializers.BooleanField()  # noqa: N815 - the admin app's spelling
    enabled_at = serializers.DateTimeField(allow_null=True)
    disabled_at = serializers.DateTimeField(allow_null=True)


class PluginDetailSerializer(PluginSerializer):
    """PluginDetail: never carries a secret value."""

    dependents = serializers.ListField(child=serializers.CharField())
    configSchema = serializers.DictField()  # noqa: N815
    adminConfig = serializers.DictField()  # noqa: N815
    savedConfig = serializers.DictField()  # noqa: N815
    secretsSet = serializers.DictField(child=serializers.BooleanField())  # noqa: N815
    error = serializers.CharField(allow_null=True)


class PluginListSerializer(serializers.Serializer):
    plugins = PluginSerializer(many=True)


class PluginStateChangeSerializer(serializers.Serializer):
    message = serializers.CharField()
    status = serializers.ChoiceField(choices=["enabled", "disabled"])
    plugin = PluginSerializer()


class PluginConfigInputSerializer(serializers.Serializer):
    """The plugin's configuration keys and their values: ``null`` puts a key back to its
    default and ``""`` keeps a stored secret. Which keys and value types a plugin accepts comes
    from its settings schema and is checked when the configuration is stored."""

    def to_internal_value(self, data) -> dict:
        if not isinstance(data, Mapping):
            raise serializers.ValidationError(
                {"non_field_errors": ["The configuration must be a JSON object"]}
            )
        return dict(data)


class PluginConfigInputSchema(OpenApiSerializerExtension):
    """Documents the configuration body as an object of the plugin's own keys."""

    target_class = PluginConfigInputSerializer

    def map_serializer(self, auto_schema, direction) -> dict:
        return {
            "type": "object",
            "description": "Configuration keys of the plugin (see its settings) and their values",
            "additionalProperties": {},
        }


class PluginConfigSavedSerializer(serializers.Serializer):
    message = serializers.CharField()
    config = serializers.DictField()
    secretsSet = serializers.DictField(child=serializers.BooleanField())  # noqa: N815
