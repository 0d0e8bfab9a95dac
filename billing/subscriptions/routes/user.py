"""User subscription and add-on routes (plan changes: ``plan_change``)."""

from billing.subscriptions.views import user as views
from vbwd.api import UUID_PATTERN, route

SUBSCRIPTION = rf"user/subscriptions/(?P<subscription_id>{UUID_PATTERN})"
ADDON = rf"user/addons/(?P<addon_subscription_id>{UUID_PATTERN})"

urlpatterns = [
    route(r"user/subscriptions", views.UserSubscriptionsView.as_view(), name="user-subscriptions"),
    route(
        r"user/subscriptions/active",
        views.UserActiveSubscriptionView.as_view(),
        name="user-subscription-active",
    ),
    route(
        r"user/subscriptions/active-all",
        views.UserActiveSubscriptionsView.as_view(),
        name="user-subscriptions-active-all",
    ),
    route(SUBSCRIPTION, views.UserSubscriptionView.as_view(), name="user-subscription"),
    route(
        rf"{SUBSCRIPTION}/cancel",
        views.UserSubscriptionCancelView.as_view(),
        name="user-subscription-cancel",
    ),
    route(
        rf"{SUBSCRIPTION}/reactivate",
        views.UserSubscriptionReactivateView.as_view(),
        name="user-subscription-reactivate",
    ),
    route(
        rf"{SUBSCRIPTION}/pause",
        views.UserSubscriptionPauseView.as_view(),
        name="user-subscription-pause",
    ),
    route(
        rf"{SUBSCRIPTION}/resume",
        views.UserSubscriptionResumeView.as_view(),
        name="user-subscription-resume",
    ),
    route(r"user/addons", views.UserAddOnsView.as_view(), name="user-addons"),
    route(ADDON, views.UserAddOnView.as_view(), name="user-addon"),
    route(rf"{ADDON}/cancel", views.UserAddOnCancelView.as_view(), name="user-addon-cancel"),
]
