"""Staff invoice and credit-note endpoints."""

from billing.invoices.views.admin.credit_notes import (
    AdminCreditNotePdfView,
    AdminCreditNotesView,
    AdminCreditNoteView,
    AdminInvoiceCreditNotesView,
)
from billing.invoices.views.admin.invoices import (
    AdminInvoiceDuplicateView,
    AdminInvoicePdfView,
    AdminInvoiceResendView,
    AdminInvoicesView,
    AdminInvoiceView,
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
    "AdminCreditNotesView",
    "AdminInvoiceCreditNotesView",
    "AdminInvoiceDuplicateView",
    "AdminInvoiceMarkPaidView",
    "AdminInvoicePdfView",
    "AdminInvoiceRefundView",
    "AdminInvoiceResendView",
    "AdminInvoiceView",
    "AdminInvoiceVoidView",
    "AdminInvoicesView",
    "MarkPaidRequestSerializer",
    "MarkPaidResponseSerializer",
    "RefundRequestSerializer",
    "RefundResponseSerializer",
    "VoidRequestSerializer",
]
