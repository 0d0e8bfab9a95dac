"""The caller's invoices and paying them (API.md §11)."""

from __future__ import annotations

from urllib.parse import urlencode

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog.services.payment_methods import canonical_locale
from billing.invoices import selectors, signing
from billing.invoices.serializers import (
    InvoiceDownloadSerializer,
    InvoiceEnvelopeSerializer,
    InvoiceListSerializer,
    PaymentStartSerializer,
    invoice_data,
    invoices_data,
    payment_start_data,
)
from billing.invoices.services.payments import invoice_payment_start
from vbwd import idempotency
from vbwd.api import ApiView, OptionalAuthMixin, UserMixin
from vbwd.exceptions import AuthenticationError, ValidationFailed
from vbwd.pagination import is_requested, paginate
from vbwd.schema import ErrorSerializer, errors
from vbwd.throttling import rate_limit

TAGS = ["user: invoices"]
LINK_INVALID = "Invalid or expired download link"
PROVIDER_ERROR = {
    502: OpenApiResponse(response=ErrorSerializer, description="Payment provider error")
}
PDF_RESPONSE = {
    (200, "application/pdf"): OpenApiResponse(
        response=OpenApiTypes.BINARY,
        description='PDF, Content-Disposition: attachment; filename="<invoice_number>.pdf"',
    )
}


def _pdf_response(invoice) -> HttpResponse:
    from billing.invoices.pdf import render_invoice_pdf

    response = HttpResponse(render_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.invoice_number}.pdf"'
    return response


def _locale(request) -> str | None:
    """``locale`` from the query or the body; a malformed value is ignored (the service then
    uses the caller's saved language)."""
    data = request.data if hasattr(request.data, "get") else {}
    raw = request.query_params.get("locale") or data.get("locale")
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        return canonical_locale(raw)
    except ValidationFailed:
        return None


class UserInvoicesView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="The caller's invoices, newest first (all rows unless a pagination parameter "
        "is given)",
        parameters=[
            OpenApiParameter("status", str, description="InvoiceStatus (any case)"),
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: InvoiceListSerializer, **errors(400, 401)},
    )
    def get(self, request):
        query = request.query_params
        status = selectors.invoice_status_filter(query.get("status"))
        invoices = selectors.invoices_for_user(request.user, status=status)
        if is_requested(query):
            rows, meta = paginate(query, invoices)
            return Response({"invoices": invoices_data(rows), **meta})
        rows = list(invoices)
        return Response({"invoices": invoices_data(rows), "total": len(rows)})


class UserInvoiceView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="One of the caller's invoices with payments and credit notes",
        responses={200: InvoiceEnvelopeSerializer, **errors(401, 404)},
    )
    def get(self, request, invoice_id):
        invoice = selectors.invoice_for_user(request.user, invoice_id, detail=True)
        return Response({"invoice": invoice_data(invoice, detail=True)})


class UserInvoicePayView(UserMixin, ApiView):
    throttle_classes = [rate_limit("payment_user", "user")]

    @extend_schema(
        tags=TAGS,
        summary="Start paying an invoice: bank transfer details, a gateway session, or paid at "
        "once for a zero total (never marks a non-zero invoice paid)",
        request=None,
        parameters=[
            OpenApiParameter("locale", str, description="language of the instructions text")
        ],
        responses={
            200: PaymentStartSerializer,
            **errors(400, 401, 404, 429, 503),
            **PROVIDER_ERROR,
        },
    )
    def post(self, request, invoice_id):
        start = invoice_payment_start(
            invoice_id=invoice_id,
            user=request.user,
            locale=_locale(request),
            idempotency_key=idempotency.key_from(request),
        )
        return Response(payment_start_data(start))


class UserInvoicePdfView(OptionalAuthMixin, ApiView):
    """A valid signed link (``?signature=``) or the owner's bearer token."""

    @extend_schema(
        tags=TAGS,
        summary="The invoice as PDF (bearer token or signed link)",
        parameters=[OpenApiParameter("signature", str, description="from …/download")],
        responses={**PDF_RESPONSE, **errors(401, 404)},
    )
    def get(self, request, invoice_id):
        signed_user_id = signing.download_signature_user_id(
            request.query_params.get("signature"), invoice_id=invoice_id
        )
        if signed_user_id is not None:
            invoice = selectors.invoice_for_user(signed_user_id, invoice_id, detail=False)
        elif request.user is not None and request.user.is_authenticated:
            invoice = selectors.invoice_for_user(request.user, invoice_id, detail=False)
        else:
            raise AuthenticationError(LINK_INVALID)
        return _pdf_response(invoice)


class UserInvoiceDownloadView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="A signed, short-lived PDF link usable without an Authorization header",
        responses={200: InvoiceDownloadSerializer, **errors(401, 404)},
    )
    def get(self, request, invoice_id):
        invoice = selectors.invoice_for_user(request.user, invoice_id, detail=False)
        signature = signing.download_signature(invoice_id=invoice.pk, user_id=request.user.pk)
        path = reverse("user-invoice-pdf", kwargs={"invoice_id": str(invoice.pk)})
        url = f"{path}?{urlencode({'signature': signature})}"
        expires_at = serializers.DateTimeField().to_representation(signing.download_expires_at())
        return Response(
            {
                "downloadUrl": url,
                "download_url": url,
                "filename": f"{invoice.invoice_number}.pdf",
                "expires_at": expires_at,
            }
        )
