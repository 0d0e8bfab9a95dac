"""Invoice use cases; each runs in one transaction with the invoice row locked."""

from billing.invoices.services.bulk import InvoiceSpec, invoices_issue_bulk
from billing.invoices.services.capture import (
    CaptureOutcome,
    CaptureResult,
    invoice_capture,
    invoice_capture_zero,
    invoice_mark_paid,
    payment_fail,
)
from billing.invoices.services.duplicate import invoice_duplicate
from billing.invoices.services.emailing import invoice_resend
from billing.invoices.services.events import ProviderEventOutcome, provider_event_handle
from billing.invoices.services.issuing import (
    BUYER_DETAIL_FIELDS,
    LineDraft,
    build_lines,
    buyer_snapshot_of,
    invoice_issue,
)
from billing.invoices.services.numbering import number_allocate
from billing.invoices.services.overdue import invoices_mark_overdue
from billing.invoices.services.refunds import (
    RefundOutcome,
    invoice_refund,
    invoice_refund_resumed,
    invoice_refund_reverse,
)
from billing.invoices.services.voiding import invoice_void

__all__ = [
    "BUYER_DETAIL_FIELDS",
    "CaptureOutcome",
    "CaptureResult",
    "InvoiceSpec",
    "LineDraft",
    "ProviderEventOutcome",
    "RefundOutcome",
    "build_lines",
    "buyer_snapshot_of",
    "invoice_capture",
    "invoice_capture_zero",
    "invoice_duplicate",
    "invoice_issue",
    "invoice_mark_paid",
    "invoice_refund",
    "invoice_refund_resumed",
    "invoice_refund_reverse",
    "invoice_resend",
    "invoice_void",
    "invoices_issue_bulk",
    "invoices_mark_overdue",
    "number_allocate",
    "payment_fail",
    "provider_event_handle",
]
