"""admin invoice routes."""

from billing.invoices.views import admin as views
from vbwd.api import UUID_PATTERN, route

INVOICE = rf"admin/invoices/(?P<invoice_id>{UUID_PATTERN})"
CREDIT_NOTE = rf"admin/credit-notes/(?P<credit_note_id>{UUID_PATTERN})"

urlpatterns = [
    route(r"admin/invoices", views.AdminInvoicesView.as_view(), name="admin-invoices"),
    route(INVOICE, views.AdminInvoiceView.as_view(), name="admin-invoice"),
    route(
        rf"{INVOICE}/mark-paid",
        views.AdminInvoiceMarkPaidView.as_view(),
        name="admin-invoice-mark-paid",
    ),
    route(rf"{INVOICE}/void", views.AdminInvoiceVoidView.as_view(), name="admin-invoice-void"),
    route(
        rf"{INVOICE}/refund", views.AdminInvoiceRefundView.as_view(), name="admin-invoice-refund"
    ),
    route(
        rf"{INVOICE}/duplicate",
        views.AdminInvoiceDuplicateView.as_view(),
        name="admin-invoice-duplicate",
    ),
    route(
        rf"{INVOICE}/resend", views.AdminInvoiceResendView.as_view(), name="admin-invoice-resend"
    ),
    route(rf"{INVOICE}/pdf", views.AdminInvoicePdfView.as_view(), name="admin-invoice-pdf"),
    route(rf"{INVOICE}/xml", views.AdminInvoiceXmlView.as_view(), name="admin-invoice-xml"),
    route(
        rf"{INVOICE}/credit-notes",
        views.AdminInvoiceCreditNotesView.as_view(),
        name="admin-invoice-credit-notes",
    ),
    route(r"admin/credit-notes", views.AdminCreditNotesView.as_view(), name="admin-credit-notes"),
    route(CREDIT_NOTE, views.AdminCreditNoteView.as_view(), name="admin-credit-note"),
    route(
        rf"{CREDIT_NOTE}/pdf",
        views.AdminCreditNotePdfView.as_view(),
        name="admin-credit-note-pdf",
    ),
    route(
        rf"{CREDIT_NOTE}/xml",
        views.AdminCreditNoteXmlView.as_view(),
        name="admin-credit-note-xml",
    ),
]
