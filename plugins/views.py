"""Admin API of the plugins."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from plugins import registry, services, state
from plugins.serializers import (
    PluginConfigInputSerializer,
    PluginConfigSavedSerializer,
    PluginDetailSerializer,
    PluginListSerializer,
    PluginStateChangeSerializer,
    plugin_detail,
    plugin_item,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.schema import errors

TAGS = ["admin: plugins"]


class AdminPluginsView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Installed plugins",
        responses={200: PluginListSerializer, **errors(401, 403)},
    )
    def get(self, request):
        return Response(
            {"plugins": [plugin_item(config) for config in registry.installed().values()]}
        )


class AdminPluginDetailView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="One plugin with its schema and non-secret configuration",
        responses={200: PluginDetailSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, name):
        return Response(plugin_detail(registry.get(name)))


class AdminPluginConfigView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Save configuration (secrets write-only)",
        request=PluginConfigInputSerializer,
        responses={200: PluginConfigSavedSerializer, **errors(400, 401, 403, 404)},
    )
    def put(self, request, name):
        serializer = PluginConfigInputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.plugin_configure(name=name, values=serializer.validated_data, actor=request.user)
        return Response(
            {
                "message": "Configuration saved",
                "config": state.saved_config(name),
                "secretsSet": state.secrets_set(name),
            }
        )

    patch = put


class AdminPluginEnableView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Enable a plugin",
        request=None,
        responses={200: PluginStateChangeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, name):
        services.plugin_enable(name=name, actor=request.user)
        return Response(
            {
                "message": f"Plugin {name} enabled",
                "status": "enabled",
                "plugin": plugin_item(registry.get(name)),
            }
        )


class AdminPluginDisableView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Disable a plugin",
        request=None,
        responses={200: PluginStateChangeSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, name):
        services.plugin_disable(name=name, actor=request.user)
        return Response(
            {
                "message": f"Plugin {name} disabled",
                "status": "disabled",
                "plugin": plugin_item(registry.get(name)),
            }
        )
