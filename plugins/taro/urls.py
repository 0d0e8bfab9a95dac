"""Routes under /api/v1/plugins/taro/ (the same views are also at /api/v1/taro/)."""

from plugins.taro import views
from vbwd.api import UUID_PATTERN, route

SESSION = rf"session/(?P<taro_session_id>{UUID_PATTERN})"
USER = rf"admin/users/(?P<user_id>{UUID_PATTERN})"


def routes(prefix: str, name_prefix: str) -> list:
    """The taro routes under ``prefix`` (a regex body ending in "/", or empty)."""
    return [
        route(rf"{prefix}session", views.SessionCreateView.as_view(), name=f"{name_prefix}session"),
        route(
            rf"{prefix}{SESSION}/follow-up",
            views.FollowUpView.as_view(),
            name=f"{name_prefix}follow-up",
        ),
        route(rf"{prefix}history", views.HistoryView.as_view(), name=f"{name_prefix}history"),
        route(rf"{prefix}limits", views.LimitsView.as_view(), name=f"{name_prefix}limits"),
        route(
            rf"{prefix}{USER}/sessions",
            views.AdminUserSessionsView.as_view(),
            name=f"{name_prefix}admin-user-sessions",
        ),
        route(
            rf"{prefix}{USER}/reset-sessions",
            views.AdminResetSessionsView.as_view(),
            name=f"{name_prefix}admin-reset-sessions",
        ),
        route(
            rf"{prefix}admin/prompts",
            views.AdminPromptsView.as_view(),
            name=f"{name_prefix}admin-prompts",
        ),
    ]


urlpatterns = routes("", "")
