from django.urls import include, path

urlpatterns = [
    path("", include("billing.subscriptions.routes.user")),
    path("", include("billing.subscriptions.routes.plan_change")),
    path("", include("billing.subscriptions.routes.admin")),
]
