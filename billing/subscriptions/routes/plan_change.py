"""Plan-change routes of the caller's subscriptions."""

from billing.subscriptions.views import plan_change as views
from vbwd.api import UUID_PATTERN, route

SUBSCRIPTION = rf"user/subscriptions/(?P<subscription_id>{UUID_PATTERN})"

urlpatterns = [
    route(
        rf"{SUBSCRIPTION}/proration",
        views.ProrationView.as_view(),
        name="user-subscription-proration",
    ),
    route(
        rf"{SUBSCRIPTION}/upgrade",
        views.UpgradeView.as_view(),
        name="user-subscription-upgrade",
    ),
    route(
        rf"{SUBSCRIPTION}/downgrade",
        views.DowngradeView.as_view(),
        name="user-subscription-downgrade",
    ),
    route(
        rf"{SUBSCRIPTION}/cancel-downgrade",
        views.CancelDowngradeView.as_view(),
        name="user-subscription-cancel-downgrade",
    ),
]
