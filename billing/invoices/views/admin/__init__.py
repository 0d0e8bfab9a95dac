"""Staff invoice and credit-note endpoints."""

from billing.invoices.views.admin.credit_notes import (
    AdminCreditNotePdfView,
    AdminCreditNotesView,
    AdminCreditNoteView,
    AdminCreditNoteXmlView,
    AdminInvoiceCreditNotesView,
)
from billing.invoices.views.admin.invoices import (
    AdminInvoiceDuplicateView,
    AdminInvoicePdfView,
    AdminInvoiceResendView,
    AdminInvoicesView,
    AdminInvoiceView,
    AdminInvoiceXmlView,
)
from billing.invoices.views.admin.payments import (
    AdminInvoiceMarkPaidView,
    AdminInvoiceRefundView,
    AdminInvoiceVoidView,
    MarkPaidRequestSerializer,
    MarkPaidResponseSerializer,
    RefundRequestSerializer,
    RefundResponseSerializer,
    VoidRequestSerializer,
)

__all__ = [
    "AdminCreditNotePdfView",
    "AdminCreditNoteView",
    "AdminCreditNoteXmlView",
    "AdminCreditNotesView",
    "AdminInvoiceCreditNotesView",
    "AdminInvoiceDuplicateView",
    "AdminInvoiceMarkPaidView",
    "AdminInvoicePdfView",
    "AdminInvoiceRefundView",
    "AdminInvoiceResendView",
    "AdminInvoiceView",
    "AdminInvoiceVoidView",
    "AdminInvoiceXmlView",
    "AdminInvoicesView",
    "MarkPaidRequestSerializer",
    "MarkPaidResponseSerializer",
    "RefundRequestSerializer",
    "RefundResponseSerializer",
    "VoidRequestSerializer",
]
