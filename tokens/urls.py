from tokens import views
from vbwd.api import UUID_PATTERN, route

BUNDLE = rf"(?P<bundle_id>{UUID_PATTERN})"

urlpatterns = [
    route(r"token-bundles", views.TokenBundlesView.as_view(), name="token-bundles"),
    route(rf"token-bundles/{BUNDLE}", views.TokenBundleView.as_view(), name="token-bundle"),
    route(
        r"admin/token-bundles", views.AdminTokenBundlesView.as_view(), name="admin-token-bundles"
    ),
    route(
        rf"admin/token-bundles/{BUNDLE}",
        views.AdminTokenBundleView.as_view(),
        name="admin-token-bundle",
    ),
    route(
        rf"admin/token-bundles/{BUNDLE}/activate",
        views.AdminTokenBundleActivateView.as_view(),
        name="admin-token-bundle-activate",
    ),
    route(
        rf"admin/token-bundles/{BUNDLE}/deactivate",
        views.AdminTokenBundleDeactivateView.as_view(),
        name="admin-token-bundle-deactivate",
    ),
]
