from vbwd.api import UUID_PATTERN, route
from webhooks import views

WEBHOOK = rf"admin/webhooks/(?P<webhook_id>{UUID_PATTERN})"
DELIVERY = rf"admin/webhooks/deliveries/(?P<delivery_id>{UUID_PATTERN})"

urlpatterns = [
    route(r"admin/webhooks", views.AdminWebhooksView.as_view(), name="admin-webhooks"),
    route(
        r"admin/webhooks/event-types",
        views.AdminWebhookEventTypesView.as_view(),
        name="admin-webhook-event-types",
    ),
    route(DELIVERY, views.AdminWebhookDeliveryView.as_view(), name="admin-webhook-delivery"),
    route(
        rf"{DELIVERY}/replay",
        views.AdminWebhookDeliveryReplayView.as_view(),
        name="admin-webhook-delivery-replay",
    ),
    route(WEBHOOK, views.AdminWebhookView.as_view(), name="admin-webhook"),
    route(
        rf"{WEBHOOK}/toggle", views.AdminWebhookToggleView.as_view(), name="admin-webhook-toggle"
    ),
    route(
        rf"{WEBHOOK}/rotate-secret",
        views.AdminWebhookRotateSecretView.as_view(),
        name="admin-webhook-rotate-secret",
    ),
    route(rf"{WEBHOOK}/test", views.AdminWebhookTestView.as_view(), name="admin-webhook-test"),
    route(
        rf"{WEBHOOK}/deliveries",
        views.AdminWebhookDeliveriesView.as_view(),
        name="admin-webhook-deliveries",
    ),
]
