"""Shapes of invoices, lines, payments and credit notes and the envelopes of the invoice
endpoints.

Money is a decimal string with exactly the places of its currency. The serializers read the places
from ``context["places"]`` (currency code → places), which the data functions load once per call
(one query for any number of rows); a currency missing from the map is answered by the catalog.
Datetimes use DRF's DateTimeField, i.e. ISO-8601 in UTC with a ``Z`` (REST_FRAMEWORK settings).

Views use the data functions (``invoice_data``, ``invoices_data``, ``admin_invoice_data``,
``admin_invoices_data``, ``payment_data``, ``credit_note_data``, ``payment_start_data``); the
serializer classes document the same shapes for drf-spectacular. For constant query counts the
invoices should come from ``billing.invoices.selectors`` (lines, payments, credit notes, user and
details prefetched).
"""

from billing.invoices.selectors import currency_places_by_code
from billing.invoices.serializers.data import (
    admin_invoice_data,
    admin_invoices_data,
    credit_note_data,
    credit_notes_data,
    invoice_data,
    invoice_ref_data,
    invoices_data,
    payment_data,
    payment_start_data,
)
from billing.invoices.serializers.documents import (
    AdminPaymentSerializer,
    CreditNoteSerializer,
    InvoiceLineSerializer,
    PaymentSerializer,
)
from billing.invoices.serializers.envelopes import (
    AdminInvoiceEnvelopeSerializer,
    AdminInvoiceMessageSerializer,
    AdminInvoicePageSerializer,
    BankTransferInstructionsSerializer,
    CreditNoteEnvelopeSerializer,
    CreditNoteListSerializer,
    CreditNotePageSerializer,
    GatewaySessionSerializer,
    InvoiceDownloadSerializer,
    InvoiceEnvelopeSerializer,
    InvoiceListSerializer,
    PaymentStartSerializer,
)
from billing.invoices.serializers.fields import (
    PERCENT,
    RATE,
    MoneyField,
    PercentField,
    RateField,
    context_money,
    context_places,
    percent_text,
)
from billing.invoices.serializers.invoices import (
    ADMIN_KEYS,
    BILLING_KEYS,
    SELLER_KEYS,
    AdminInvoiceDetailSerializer,
    AdminInvoiceSerializer,
    BillingSnapshotSerializer,
    InvoiceDetailSerializer,
    InvoiceRefSerializer,
    InvoiceSerializer,
    SellerSnapshotSerializer,
    TaxBreakdownRowSerializer,
    tax_breakdown,
)

# The name other apps' serializers import for currency places in bulk.

__all__ = [
    "ADMIN_KEYS",
    "BILLING_KEYS",
    "PERCENT",
    "RATE",
    "SELLER_KEYS",
    "AdminInvoiceDetailSerializer",
    "AdminInvoiceEnvelopeSerializer",
    "AdminInvoiceMessageSerializer",
    "AdminInvoicePageSerializer",
    "AdminInvoiceSerializer",
    "AdminPaymentSerializer",
    "BankTransferInstructionsSerializer",
    "BillingSnapshotSerializer",
    "CreditNoteEnvelopeSerializer",
    "CreditNoteListSerializer",
    "CreditNotePageSerializer",
    "CreditNoteSerializer",
    "GatewaySessionSerializer",
    "InvoiceDetailSerializer",
    "InvoiceDownloadSerializer",
    "InvoiceEnvelopeSerializer",
    "InvoiceLineSerializer",
    "InvoiceListSerializer",
    "InvoiceRefSerializer",
    "InvoiceSerializer",
    "MoneyField",
    "PaymentSerializer",
    "PaymentStartSerializer",
    "PercentField",
    "RateField",
    "SellerSnapshotSerializer",
    "TaxBreakdownRowSerializer",
    "admin_invoice_data",
    "admin_invoices_data",
    "context_money",
    "context_places",
    "credit_note_data",
    "credit_notes_data",
    "currency_places_by_code",
    "invoice_data",
    "invoice_ref_data",
    "invoices_data",
    "payment_data",
    "payment_start_data",
    "percent_text",
    "tax_breakdown",
]
