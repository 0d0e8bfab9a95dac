"""Staff invoice endpoints: the list, one invoice, duplicating, resending and its PDF."""

from __future__ import annotations

from django.db.models import Q
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from billing.invoices import selectors, services
from billing.invoices.models import InvoiceType
from billing.invoices.pdf import render_invoice_pdf
from billing.invoices.serializers import (
    AdminInvoiceEnvelopeSerializer,
    AdminInvoiceMessageSerializer,
    AdminInvoicePageSerializer,
    admin_invoice_data,
    admin_invoices_data,
)
from billing.invoices.views.admin.common import (
    DATE_PARAMETERS,
    INVOICE_ORDERING,
    NOT_DELETABLE,
    PAGINATION_PARAMETERS,
    PDF_RESPONSE,
    TAGS,
    _filter_dates,
    _invoice_response,
    _pdf,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.exceptions import BusinessRuleError, ValidationFailed
from vbwd.filters import normalise_enum, parse_bool, parse_ordering, parse_uuid
from vbwd.pagination import paginate
from vbwd.schema import MessageSerializer, errors


class AdminInvoicesView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Every invoice, paginated and filtered; newest invoiced_at first by default",
        parameters=[
            *PAGINATION_PARAMETERS,
            OpenApiParameter("status", str, description="InvoiceStatus"),
            OpenApiParameter("user_id", str),
            OpenApiParameter("invoice_type", str, description="InvoiceType"),
            OpenApiParameter("payment_method", str, description="method code"),
            OpenApiParameter("needs_review", bool),
            OpenApiParameter("search", str, description="invoice number or user email"),
            *DATE_PARAMETERS,
            OpenApiParameter(
                "ordering",
                str,
                description="invoiced_at, due_date, total_amount or invoice_number; - for "
                "descending (default -invoiced_at)",
            ),
        ],
        responses={200: AdminInvoicePageSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = request.query_params
        invoices = selectors.invoices_for_staff()
        status = selectors.invoice_status_filter(query.get("status"))
        if status:
            invoices = invoices.filter(status=status)
        user_id = parse_uuid(query.get("user_id"), name="user_id")
        if user_id:
            invoices = invoices.filter(user_id=user_id)
        raw_type = query.get("invoice_type")
        if raw_type not in (None, ""):
            invoice_type = normalise_enum(raw_type, InvoiceType)
            if invoice_type is None:
                raise ValidationFailed(f"Unknown invoice_type: {raw_type}", field="invoice_type")
            invoices = invoices.filter(invoice_type=invoice_type)
        method = (query.get("payment_method") or "").strip()
        if method:
            invoices = invoices.filter(payment_method__iexact=method)
        needs_review = parse_bool(query.get("needs_review"), name="needs_review")
        if needs_review is not None:
            invoices = invoices.filter(needs_review=needs_review)
        search = (query.get("search") or "").strip()
        if search:
            invoices = invoices.filter(
                Q(invoice_number__icontains=search) | Q(user__email__icontains=search)
            )
        invoices = _filter_dates(invoices, query, "invoiced_at")
        ordering = parse_ordering(
            query.get("ordering"), allowed=INVOICE_ORDERING, default="-invoiced_at"
        )
        tie_break = "-invoice_number" if ordering.startswith("-") else "invoice_number"
        order = [ordering] if ordering.lstrip("-") == "invoice_number" else [ordering, tie_break]
        rows, meta = paginate(query, invoices.order_by(*order))
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
        return _pdf(render_invoice_pdf(invoice), f"{invoice.invoice_number}.pdf")
