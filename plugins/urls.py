from plugins import views
from plugins.mounting import plugin_urlpatterns
from vbwd.api import route

NAME = r"admin/plugins/(?P<name>[A-Za-z0-9_.-]+)"

urlpatterns = [
    route(r"admin/plugins", views.AdminPluginsView.as_view(), name="admin-plugins"),
    route(NAME, views.AdminPluginDetailView.as_view(), name="admin-plugin"),
    route(rf"{NAME}/config", views.AdminPluginConfigView.as_view(), name="admin-plugin-config"),
    route(rf"{NAME}/enable", views.AdminPluginEnableView.as_view(), name="admin-plugin-enable"),
    route(rf"{NAME}/disable", views.AdminPluginDisableView.as_view(), name="admin-plugin-disable"),
    *plugin_urlpatterns(),
]
