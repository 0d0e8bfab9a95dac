"""Routes of the payment methods: public settings and admin."""

from billing.catalog.views import payment_methods as views
from vbwd.api import UUID_PATTERN, route

ADMIN = r"admin/payment-methods"
METHOD = rf"{ADMIN}/(?P<method_id>{UUID_PATTERN})"

urlpatterns = [
    route(r"settings/payment-methods", views.PublicPaymentMethodsView.as_view(),
          name="public-payment-methods"),
    route(r"settings/payment-methods/(?P<code>[^/]+)",
          views.PublicPaymentMethodDetailView.as_view(), name="public-payment-method"),
    route(ADMIN, views.AdminPaymentMethodsView.as_view(), name="admin-payment-methods"),
    # Before the <id> routes, although "reorder" is no UUID anyway.
    route(rf"{ADMIN}/reorder", views.AdminPaymentMethodReorderView.as_view(),
          name="admin-payment-methods-reorder"),
    route(rf"{ADMIN}/code/(?P<code>[^/]+)", views.AdminPaymentMethodByCodeView.as_view(),
          name="admin-payment-method-by-code"),
    route(METHOD, views.AdminPaymentMethodDetailView.as_view(), name="admin-payment-method"),
    route(rf"{METHOD}/activate", views.AdminPaymentMethodActivateView.as_view(),
          name="admin-payment-method-activate"),
    route(rf"{METHOD}/deactivate", views.AdminPaymentMethodDeactivateView.as_view(),
          name="admin-payment-method-deactivate"),
    route(rf"{METHOD}/set-default", views.AdminPaymentMethodSetDefaultView.as_view(),
          name="admin-payment-method-set-default"),
    route(rf"{METHOD}/translations", views.AdminPaymentMethodTranslationsView.as_view(),
          name="admin-payment-method-translations"),
    route(rf"{METHOD}/translations/(?P<locale>[^/]+)",
          views.AdminPaymentMethodTranslationDetailView.as_view(),
          name="admin-payment-method-translation"),
]  # fmt: skip
