"""What the staff invoice and credit-note endpoints share: tags, limits and the PDF response."""

from __future__ import annotations

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse

from billing.invoices import selectors
from billing.invoices.serializers import (
    admin_invoice_data,
)

TAGS = ["admin: invoices"]
CREDIT_NOTE_TAGS = ["admin: credit notes"]

CREDIT_NOTE_NOT_FOUND = "Credit note not found"
NOT_DELETABLE = "Invoices cannot be deleted; void the invoice instead"
DEFAULT_PAYMENT_REFERENCE = "MANUAL"
INVOICE_ORDERING = ("invoiced_at", "due_date", "total_amount", "invoice_number")
MAX_REFERENCE_LENGTH = 255
MAX_REASON_LENGTH = 500
MAX_METHOD_LABEL_LENGTH = 100

PAGINATION_PARAMETERS = [
    OpenApiParameter("page", int),
    OpenApiParameter("per_page", int),
    OpenApiParameter("limit", int),
    OpenApiParameter("offset", int),
]


# A malformed id in a query string, in the words the list filters always used.
UUID_MESSAGES = {"invalid": "{name} must be a valid UUID"}


def _invoice_response(invoice_id) -> dict:
    return admin_invoice_data(selectors.invoice_for_staff(invoice_id, detail=False))


PDF_RESPONSE = {
    (200, "application/pdf"): OpenApiResponse(
        response=OpenApiTypes.BINARY, description="attachment <number>.pdf"
    )
}


def _pdf(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
