from tokens import views
from vbwd.api import UUID_PATTERN, route

BUNDLE = rf"(?P<bundle_id>{UUID_PATTERN})"
USER = rf"admin/users/(?P<user_id>{UUID_PATTERN})"

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
    route(r"user/tokens/balance", views.UserTokenBalanceView.as_view(), name="user-token-balance"),
    route(
        r"user/tokens/transactions",
        views.UserTokenTransactionsView.as_view(),
        name="user-token-transactions",
    ),
    route(rf"{USER}/tokens", views.AdminUserTokensView.as_view(), name="admin-user-tokens"),
    route(
        rf"{USER}/tokens/adjust",
        views.AdminUserTokensAdjustView.as_view(),
        name="admin-user-tokens-adjust",
    ),
]
