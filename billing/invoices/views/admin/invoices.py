"""Staff invoice endpoints: the list, one invoice, duplicating, resending and its PDF."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.invoices import selectors, services
from billing.invoices.models import InvoiceStatus, InvoiceType
from billing.invoices.pdf_store import stored_invoice_pdf
from billing.invoices.serializers import (
    AdminInvoiceEnvelopeSerializer,
    AdminInvoiceMessageSerializer,
    AdminInvoicePageSerializer,
    admin_invoice_data,
    admin_invoices_data,
)
from billing.invoices.views.admin.common import (
    INVOICE_ORDERING,
    NOT_DELETABLE,
    PAGINATION_PARAMETERS,
    PDF_RESPONSE,
    TAGS,
    UUID_MESSAGES,
    _invoice_response,
    _pdf,
)
from billing.invoices.views.filters import EnumFilterField
from billing.invoices.views.xml import (
    INCOMPLETE,
    XML_RESPONSE,
    EInvoiceQuerySerializer,
    profile_from,
    xml_response,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.exceptions import BusinessRuleError
from vbwd.fields import (
    DateOrDateTimeField,
    OrderingField,
    StrictBooleanField,
    StrictCharField,
    UUIDField,
)
from vbwd.pagination import paginate
from vbwd.schema import MessageSerializer, errors


class AdminInvoicesQuerySerializer(serializers.Serializer):
    """The filters of the staff invoice list, checked in this order."""

    status = EnumFilterField(InvoiceStatus, help_text="any case")
    user_id = UUIDField(required=False, blank_as_null=True, error_messages=UUID_MESSAGES)
    invoice_type = EnumFilterField(InvoiceType, help_text="any case")
    payment_method = StrictCharField(required=False, empty_as_none=True, help_text="method code")
    needs_review = StrictBooleanField(
        required=False, allow_null=True, accept_strings=True, blank_as_null=True
    )
    search = StrictCharField(
        required=False, empty_as_none=True, help_text="invoice number or user email"
    )
    date_from = DateOrDateTimeField()
    date_to = DateOrDateTimeField()
    ordering = OrderingField(allowed=INVOICE_ORDERING, default="-invoiced_at")


class AdminInvoicesView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Every invoice, paginated and filtered; newest invoiced_at first by default",
        parameters=[AdminInvoicesQuerySerializer, *PAGINATION_PARAMETERS],
        responses={200: AdminInvoicePageSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = AdminInvoicesQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        invoices = selectors.invoices_for_staff_filtered(**query.validated_data)
        rows, meta = paginate(request.query_params, invoices)
        return Response({"invoices": admin_invoices_data(rows), **meta})


class AdminInvoiceView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="One invoice with payments (incl. provider data), credit notes, plan and "
        "subscription facts",
        responses={200: AdminInvoiceEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, invoice_id):
        invoice = selectors.invoice_for_staff(invoice_id, detail=True)
        return Response({"invoice": admin_invoice_data(invoice, detail=True)})

    @extend_schema(
        tags=TAGS,
        summary="Never succeeds: invoices are never deleted (void instead)",
        responses={**errors(400, 401, 403, 404)},
    )
    def delete(self, request, invoice_id):
        selectors.invoice_for_staff(invoice_id, detail=False)
        raise BusinessRuleError(NOT_DELETABLE)


class AdminInvoiceDuplicateView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="A new PENDING MANUAL invoice with the same lines as CUSTOM lines",
        request=None,
        responses={201: AdminInvoiceMessageSerializer, **errors(401, 403, 404)},
    )
    def post(self, request, invoice_id):
        invoice = selectors.invoice_for_staff(invoice_id, detail=False)
        duplicate = services.invoice_duplicate(invoice_id=invoice.pk, actor=request.user)
        return Response(
            {
                "invoice": _invoice_response(duplicate.pk),
                "message": "Invoice duplicated successfully",
            },
            status=201,
        )


class AdminInvoiceResendView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Queue the invoice email with the PDF attached again",
        request=None,
        responses={200: MessageSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, invoice_id):
        invoice = selectors.invoice_for_staff(invoice_id, detail=False)
        email = services.invoice_resend(invoice_id=invoice.pk, actor=request.user)
        return Response({"message": f"Invoice sent to {email}"})


class AdminInvoicePdfView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="The invoice as PDF",
        responses={**PDF_RESPONSE, **errors(401, 403, 404)},
    )
    def get(self, request, invoice_id):
        invoice = selectors.invoice_for_staff(invoice_id, detail=False)
        return _pdf(stored_invoice_pdf(invoice), f"{invoice.invoice_number}.pdf")


class AdminInvoiceXmlView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="The invoice as a structured e-invoice (CII XML, EN 16931)",
        description="Factur-X / ZUGFeRD (profile EN 16931, the default) or XRechnung 3.0 "
        "(`profile=xrechnung`, needs the buyer reference / Leitweg-ID and the seller's "
        "contact). " + INCOMPLETE,
        parameters=[EInvoiceQuerySerializer],
        responses={**XML_RESPONSE, **errors(400, 401, 403, 404, 409)},
    )
    def get(self, request, invoice_id):
        profile = profile_from(request.query_params)
        invoice = selectors.invoice_for_staff(invoice_id, detail=False)
        return xml_response(invoice, invoice.invoice_number, profile)
