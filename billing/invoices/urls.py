from django.urls import include, path

urlpatterns = [
    path("", include("billing.invoices.routes.user")),
    path("", include("billing.invoices.routes.admin")),
]
