from platform_settings import views
from vbwd.api import route

urlpatterns = [
    route(r"settings/terms", views.TermsView.as_view(), name="settings-terms"),
    route(r"admin/settings", views.AdminSettingsView.as_view(), name="admin-settings"),
]
