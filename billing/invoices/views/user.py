"""The caller's invoices and paying them."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from django.http import HttpResponse
from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
)
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog.services.payment_methods import canonical_locale
from billing.invoices import selectors, signing
from billing.invoices.models import InvoiceStatus
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
from billing.invoices.views.filters import EnumFilterField
from billing.invoices.views.xml import (
    INCOMPLETE,
    XML_RESPONSE,
    EInvoiceQuerySerializer,
    profile_from,
    xml_response,
)
from vbwd import idempotency
from vbwd.api import ApiView, OptionalAuthMixin, UserMixin
from vbwd.exceptions import AuthenticationError, ValidationFailed
from vbwd.fields import StrictCharField
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
    from billing.invoices.pdf_store import stored_invoice_pdf

    response = HttpResponse(stored_invoice_pdf(invoice), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{invoice.invoice_number}.pdf"'
    return response


class _LocaleField(StrictCharField):
    """A language code such as ``de`` or ``pt-BR``: a text like any other, else taken as
    given; ``_locale_or_none`` reads it (a code it cannot read is ignored)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("allow_null", True)
        kwargs.setdefault("allow_blank", True)
        kwargs.setdefault("help_text", "language of the instructions text")
        super().__init__(**kwargs)


def _locale_or_none(value) -> str | None:
    """The canonical language code, or None for a missing or malformed one (the service then
    uses the caller's saved language)."""
    if not isinstance(value, str) or not value.strip():
        return None
    try:
        return canonical_locale(value)
    except ValidationFailed:
        return None


class PaymentStartQuerySerializer(serializers.Serializer):
    locale = _LocaleField()


class PaymentStartInputSerializer(serializers.Serializer):
    """The body is optional; one that is not an object is ignored like an absent one."""

    locale = _LocaleField()

    def run_validation(self, data=serializers.empty):
        return super().run_validation(data if isinstance(data, Mapping) else {})


class UserInvoicesQuerySerializer(serializers.Serializer):
    status = EnumFilterField(InvoiceStatus, help_text="InvoiceStatus (any case)")


class InvoicePdfQuerySerializer(serializers.Serializer):
    signature = StrictCharField(
        required=False, allow_blank=True, secret=True, help_text="from …/download"
    )


class UserInvoicesView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="The caller's invoices, newest first (all rows unless a pagination parameter "
        "is given)",
        parameters=[
            UserInvoicesQuerySerializer,
            OpenApiParameter("page", int),
            OpenApiParameter("per_page", int),
            OpenApiParameter("limit", int),
            OpenApiParameter("offset", int),
        ],
        responses={200: InvoiceListSerializer, **errors(400, 401)},
    )
    def get(self, request):
        query = request.query_params
        filters = UserInvoicesQuerySerializer(data=query)
        filters.is_valid(raise_exception=True)
        invoices = selectors.invoices_for_user(
            request.user, status=filters.validated_data.get("status")
        )
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
    # May open a session at the provider: resumed from the session claim or the zero capture.
    idempotency_resumable = True

    @extend_schema(
        tags=TAGS,
        summary="Start paying an invoice: bank transfer details, a gateway session, or paid at "
        "once for a zero total (never marks a non-zero invoice paid)",
        request=PaymentStartInputSerializer,
        parameters=[PaymentStartQuerySerializer],
        responses={
            200: PaymentStartSerializer,
            **errors(400, 401, 404, 429, 503),
            **PROVIDER_ERROR,
        },
    )
    def post(self, request, invoice_id):
        query = PaymentStartQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        body = PaymentStartInputSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        # A locale in the query string wins over the body's, even a malformed one.
        locale = _locale_or_none(
            query.validated_data.get("locale") or body.validated_data.get("locale")
        )
        start = invoice_payment_start(
            invoice_id=invoice_id,
            user=request.user,
            locale=locale,
            idempotency_key=idempotency.key_from(request),
            recovery=idempotency.recovery_for(request),
        )
        return Response(payment_start_data(start))


class UserInvoicePdfView(OptionalAuthMixin, ApiView):
    """A valid signed link (``?signature=``) or the owner's bearer token."""

    @extend_schema(
        tags=TAGS,
        summary="The invoice as PDF (bearer token or signed link)",
        parameters=[InvoicePdfQuerySerializer],
        responses={**PDF_RESPONSE, **errors(401, 404)},
    )
    def get(self, request, invoice_id):
        query = InvoicePdfQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        signed_user_id = signing.download_signature_user_id(
            query.validated_data.get("signature"), invoice_id=invoice_id
        )
        if signed_user_id is not None:
            invoice = selectors.invoice_for_user(signed_user_id, invoice_id, detail=False)
        elif request.user is not None and request.user.is_authenticated:
            invoice = selectors.invoice_for_user(request.user, invoice_id, detail=False)
        else:
            raise AuthenticationError(LINK_INVALID)
        return _pdf_response(invoice)


class UserInvoiceXmlView(UserMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="The invoice as a structured e-invoice (CII XML, EN 16931)",
        description="The same invoice as the PDF, as machine-readable XML: Factur-X / ZUGFeRD "
        "(profile EN 16931) by default, or XRechnung 3.0. " + INCOMPLETE,
        parameters=[EInvoiceQuerySerializer],
        responses={**XML_RESPONSE, **errors(400, 401, 404, 409)},
    )
    def get(self, request, invoice_id):
        profile = profile_from(request.query_params)
        invoice = selectors.invoice_for_user(request.user, invoice_id, detail=False)
        return xml_response(invoice, invoice.invoice_number, profile)


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
