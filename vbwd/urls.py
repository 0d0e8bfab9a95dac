"""Root URLs: the Django admin, the banner and ``/api/v1`` (every app plugs into api_patterns)."""

from django.contrib import admin
from django.urls import include, path, re_path
from django.views.generic import RedirectView

from vbwd import frontend_events, views
from vbwd.api import route

admin.site.site_header = "VBWD back office"
admin.site.site_title = "VBWD"
admin.site.index_title = "Billing administration"
admin.site.site_url = "/api/v1/docs/"

api_patterns = [
    # First: provider webhooks arrive here in bursts, and a path that matches early skips the
    # cost of trying every other app's patterns (only paths under plugins/, admin/plugins and
    # the few staff routes plugins serve, such as admin/analytics, can match these).
    path("", include("plugins.urls")),
    route(r"health", views.HealthView.as_view(), name="health"),
    route(r"config/languages", views.LanguagesView.as_view(), name="config-languages"),
    route(r"schema", views.SchemaView.as_view(), name="schema"),
    route(r"docs", views.DocsView.as_view(url="/api/v1/schema/?format=json"), name="docs"),
    route(r"redoc", views.RedocView.as_view(url="/api/v1/schema/?format=json"), name="redoc"),
    route(r"events", frontend_events.FrontendEventsView.as_view(), name="events"),
    route(r"events/types", frontend_events.FrontendEventTypesView.as_view(), name="event-types"),
    path("", include("accounts.urls")),
    path("", include("platform_settings.urls")),
    path("", include("billing.catalog.urls")),
    path("", include("billing.checkout.urls")),
    path("", include("billing.coupons.urls")),
    path("", include("billing.invoices.urls")),
    path("", include("billing.subscriptions.urls")),
    path("", include("tokens.urls")),
    path("", include("audit.urls")),
    path("", include("webhooks.urls")),
]

urlpatterns = [
    path("admin", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("api/v1/", include(api_patterns)),
    re_path(r"^$", views.BannerView.as_view(), name="banner"),
    # Last: every other path answers the JSON 404, whatever DEBUG says.
    # ``[\s\S]`` rather than ``.``: an encoded line break in the path is still this route's.
    re_path(r"^(?!admin/|static/)[\s\S]*$", views.NotFoundView.as_view(), name="not-found"),
]

handler400 = "vbwd.exceptions.bad_request"
handler403 = "vbwd.exceptions.permission_denied"
handler404 = "vbwd.exceptions.page_not_found"
handler500 = "vbwd.exceptions.server_error"
