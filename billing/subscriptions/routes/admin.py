"""Staff subscription routes and a user's add-ons."""

from billing.subscriptions.views import admin as views
from vbwd.api import UUID_PATTERN, route

SUBSCRIPTION = rf"admin/subscriptions/(?P<subscription_id>{UUID_PATTERN})"
USER_ADDONS = rf"admin/users/(?P<user_id>{UUID_PATTERN})/addons"

urlpatterns = [
    route(
        r"admin/subscriptions", views.AdminSubscriptionsView.as_view(), name="admin-subscriptions"
    ),
    route(SUBSCRIPTION, views.AdminSubscriptionView.as_view(), name="admin-subscription"),
    route(
        rf"{SUBSCRIPTION}/discount",
        views.AdminSubscriptionDiscountView.as_view(),
        name="admin-subscription-discount",
    ),
    route(
        rf"{SUBSCRIPTION}/extend",
        views.AdminSubscriptionExtendView.as_view(),
        name="admin-subscription-extend",
    ),
    route(
        rf"{SUBSCRIPTION}/cancel",
        views.AdminSubscriptionCancelView.as_view(),
        name="admin-subscription-cancel",
    ),
    route(
        rf"{SUBSCRIPTION}/pause",
        views.AdminSubscriptionPauseView.as_view(),
        name="admin-subscription-pause",
    ),
    route(
        rf"{SUBSCRIPTION}/resume",
        views.AdminSubscriptionResumeView.as_view(),
        name="admin-subscription-resume",
    ),
    route(
        rf"{SUBSCRIPTION}/activate",
        views.AdminSubscriptionActivateView.as_view(),
        name="admin-subscription-activate",
    ),
    route(
        rf"{SUBSCRIPTION}/refund",
        views.AdminSubscriptionRefundView.as_view(),
        name="admin-subscription-refund",
    ),
    route(USER_ADDONS, views.AdminUserAddOnsView.as_view(), name="admin-user-addons"),
    route(
        rf"{USER_ADDONS}/(?P<addon_subscription_id>{UUID_PATTERN})/cancel",
        views.AdminUserAddOnCancelView.as_view(),
        name="admin-user-addon-cancel",
    ),
]
