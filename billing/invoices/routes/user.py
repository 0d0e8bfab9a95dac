"""user invoice routes."""

from billing.invoices.views import user as views
from vbwd.api import UUID_PATTERN, route

INVOICE = rf"user/invoices/(?P<invoice_id>{UUID_PATTERN})"

urlpatterns = [
    route(r"user/invoices", views.UserInvoicesView.as_view(), name="user-invoices"),
    route(INVOICE, views.UserInvoiceView.as_view(), name="user-invoice"),
    route(rf"{INVOICE}/pay", views.UserInvoicePayView.as_view(), name="user-invoice-pay"),
    route(rf"{INVOICE}/pdf", views.UserInvoicePdfView.as_view(), name="user-invoice-pdf"),
    route(rf"{INVOICE}/xml", views.UserInvoiceXmlView.as_view(), name="user-invoice-xml"),
    route(
        rf"{INVOICE}/download",
        views.UserInvoiceDownloadView.as_view(),
        name="user-invoice-download",
    ),
]
