"""Staff invoice and credit-note endpoints (API.md §14)."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db.models import Q
from django.http import HttpResponse
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places
from billing.invoices import selectors, services
from billing.invoices.models import CreditNote, InvoiceType
from billing.invoices.pdf import render_credit_note_pdf, render_invoice_pdf
from billing.invoices.serializers import (
    AdminInvoiceEnvelopeSerializer,
    AdminInvoiceMessageSerializer,
    AdminInvoicePageSerializer,
    AdminInvoiceSerializer,
    CreditNoteEnvelopeSerializer,
    CreditNoteListSerializer,
    CreditNotePageSerializer,
    CreditNoteSerializer,
    PaymentSerializer,
    admin_invoice_data,
    admin_invoices_data,
    credit_note_data,
    credit_notes_data,
    payment_data,
)
from billing.invoices.services.capture import MANUAL_GATEWAY
from vbwd.api import AdminMixin, ApiView
from vbwd.exceptions import BusinessRuleError, NotFound, ValidationFailed
from vbwd.filters import normalise_enum, parse_bool, parse_ordering, parse_uuid
from vbwd.money import parse_money
from vbwd.pagination import paginate
from vbwd.schema import ErrorSerializer, MessageSerializer, errors

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
DATE_PARAMETERS = [
    OpenApiParameter("date_from", str, description="date (inclusive UTC day) or datetime"),
    OpenApiParameter("date_to", str, description="date (inclusive UTC day) or datetime"),
]


# --- input ----------------------------------------------------------------------------------


def _text(data, name: str, *, max_length: int, default: str | None = None) -> str | None:
    """An optional text field: null and "" mean "not given"."""
    value = data.get(name)
    if value is None or (isinstance(value, str) and value.strip() == ""):
        return default
    if not isinstance(value, str):
        raise ValidationFailed(f"{name} must be a string", field=name)
    value = value.strip()
    if len(value) > max_length:
        raise ValidationFailed(f"{name} must be at most {max_length} characters", field=name)
    return value


def _flag(data, name: str) -> bool:
    return bool(parse_bool(data.get(name), name=name))


def _amount(data, *, places: int, allow_negative: bool = False) -> Decimal | None:
    value = data.get("amount")
    if value is None or value == "":
        return None
    return parse_money(value, field="amount", places=places, allow_negative=allow_negative)


def _as_utc(value: datetime.datetime) -> datetime.datetime:
    if timezone.is_naive(value):
        return timezone.make_aware(value, datetime.UTC)
    return value


def _paid_at(data) -> datetime.datetime | None:
    value = data.get("paid_at")
    if value is None or value == "":
        return None
    parsed = parse_datetime(value) if isinstance(value, str) else None
    if parsed is None:
        raise ValidationFailed("paid_at must be a datetime", field="paid_at")
    parsed = _as_utc(parsed)
    if parsed > timezone.now():
        raise ValidationFailed("paid_at cannot be in the future", field="paid_at")
    return parsed


def _date_bound(value, *, name: str, end: bool) -> tuple[datetime.datetime, str] | None:
    """``date_from`` / ``date_to`` as (moment, lookup): a date is the whole UTC day, inclusive
    (``date_to`` a day → before the next day's start), a datetime is exact and inclusive."""
    if value is None or str(value).strip() == "":
        return None
    text = str(value).strip()
    try:
        day = parse_date(text) if len(text) == 10 else None
        moment = None if day else parse_datetime(text)
    except ValueError:
        day = moment = None
    if day is not None:
        start = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
        return (start + datetime.timedelta(days=1), "lt") if end else (start, "gte")
    if moment is None:
        raise ValidationFailed(f"{name} must be a date (YYYY-MM-DD) or a datetime", field=name)
    return _as_utc(moment), "lte" if end else "gte"


def _filter_dates(queryset, query, field: str):
    for name, end in (("date_from", False), ("date_to", True)):
        bound = _date_bound(query.get(name), name=name, end=end)
        if bound is not None:
            moment, lookup = bound
            queryset = queryset.filter(**{f"{field}__{lookup}": moment})
    return queryset


def _invoice_response(invoice_id) -> dict:
    return admin_invoice_data(selectors.invoice_for_staff(invoice_id, detail=False))


# --- request shapes (schema only; the views validate with the helpers above) -----------------


class MarkPaidRequestSerializer(serializers.Serializer):
    payment_reference = serializers.CharField(
        required=False, max_length=MAX_REFERENCE_LENGTH, help_text='default "MANUAL"'
    )
    payment_method = serializers.CharField(
        required=False, help_text='informational label, default "manual"'
    )
    amount = serializers.CharField(
        required=False, help_text="money; when given it must equal total_amount"
    )
    paid_at = serializers.DateTimeField(required=False, help_text="not in the future; default now")


class MarkPaidResponseSerializer(serializers.Serializer):
    invoice = AdminInvoiceSerializer()
    payment = PaymentSerializer()
    message = serializers.CharField()


class VoidRequestSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, max_length=MAX_REASON_LENGTH)


class RefundRequestSerializer(serializers.Serializer):
    amount = serializers.CharField(
        required=False, help_text="money; default: the remaining refundable amount"
    )
    reason = serializers.CharField(required=False, max_length=MAX_REASON_LENGTH)
    refund_reference = serializers.CharField(
        required=False,
        max_length=MAX_REFERENCE_LENGTH,
        help_text='default: the gateway refund id, else "ADMIN_REFUND"',
    )
    record_only = serializers.BooleanField(
        required=False, help_text="only record a refund made outside the system"
    )
    force = serializers.BooleanField(
        required=False, help_text="claw back the tokens available when the balance is short"
    )


class RefundResponseSerializer(serializers.Serializer):
    invoice = AdminInvoiceSerializer()
    credit_note = CreditNoteSerializer()
    payment = PaymentSerializer(allow_null=True)
    tokens_clawed_back = serializers.IntegerField()
    token_shortfall = serializers.IntegerField()
    message = serializers.CharField()


PDF_RESPONSE = {
    (200, "application/pdf"): OpenApiResponse(
        response=OpenApiTypes.BINARY, description="attachment <number>.pdf"
    )
}


def _pdf(content: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(content, content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- invoices -------------------------------------------------------------------------------


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


class AdminInvoiceMarkPaidView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Record a payment received outside the system (capture with gateway manual)",
        request=MarkPaidRequestSerializer,
        responses={200: MarkPaidResponseSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, invoice_id):
        invoice = selectors.invoice_for_staff(invoice_id, detail=False)
        data = request.data
        reference = _text(
            data,
            "payment_reference",
            max_length=MAX_REFERENCE_LENGTH,
            default=DEFAULT_PAYMENT_REFERENCE,
        )
        label = _text(
            data, "payment_method", max_length=MAX_METHOD_LABEL_LENGTH, default=MANUAL_GATEWAY
        )
        amount = _amount(data, places=currency_places(invoice.currency))
        paid_at = _paid_at(data)
        result = services.invoice_mark_paid(
            invoice_id=invoice.pk,
            actor=request.user,
            payment_reference=reference,
            amount=amount,
            paid_at=paid_at,
            method_label=label,
        )
        return Response(
            {
                "invoice": _invoice_response(invoice.pk),
                "payment": payment_data(result.payment),
                "message": "Invoice marked as paid",
            }
        )


class AdminInvoiceVoidView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Void an unpaid invoice (PENDING/OVERDUE → CANCELLED)",
        request=VoidRequestSerializer,
        responses={200: AdminInvoiceMessageSerializer, **errors(400, 401, 403, 404)},
    )
    def post(self, request, invoice_id):
        invoice = selectors.invoice_for_staff(invoice_id, detail=False)
        reason = _text(request.data, "reason", max_length=MAX_REASON_LENGTH)
        services.invoice_void(invoice_id=invoice.pk, actor=request.user, reason=reason)
        return Response({"invoice": _invoice_response(invoice.pk), "message": "Invoice voided"})


class AdminInvoiceRefundView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="Refund all or part of a paid invoice; every refund issues a credit note",
        request=RefundRequestSerializer,
        responses={
            200: RefundResponseSerializer,
            **errors(400, 401, 403, 404, 409),
            502: OpenApiResponse(response=ErrorSerializer, description="Provider refund failed"),
        },
    )
    def post(self, request, invoice_id):
        invoice = selectors.invoice_for_staff(invoice_id, detail=False)
        data = request.data
        places = currency_places(invoice.currency)
        # Negative amounts reach the service, whose message is "must be greater than zero".
        amount = _amount(data, places=places, allow_negative=True)
        reason = _text(data, "reason", max_length=MAX_REASON_LENGTH)
        # Not given: the gateway's refund id, or "ADMIN_REFUND" when no gateway is called.
        reference = _text(data, "refund_reference", max_length=MAX_REFERENCE_LENGTH)
        record_only = _flag(data, "record_only")
        force = _flag(data, "force")
        outcome = services.invoice_refund(
            invoice_id=invoice.pk,
            actor=request.user,
            amount=amount,
            reason=reason,
            refund_reference=reference,
            record_only=record_only,
            force=force,
        )
        note = outcome.credit_note
        if outcome.full_refund:
            message = "Invoice refunded"
        else:
            message = (
                f"Partial refund of {format_money(note.amount, places)} {note.currency} issued"
            )
        return Response(
            {
                "invoice": _invoice_response(invoice.pk),
                "credit_note": credit_note_data(note),
                "payment": payment_data(outcome.payment) if outcome.payment else None,
                "tokens_clawed_back": outcome.tokens_clawed_back,
                "token_shortfall": outcome.token_shortfall,
                "message": message,
            }
        )


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


class AdminInvoiceCreditNotesView(AdminMixin, ApiView):
    @extend_schema(
        tags=TAGS,
        summary="The invoice's credit notes, oldest first",
        responses={200: CreditNoteListSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, invoice_id):
        invoice = selectors.invoice_for_staff(invoice_id, detail=False)
        notes = (
            CreditNote.objects.filter(invoice=invoice)
            .select_related("invoice")
            .order_by("created_at", "credit_note_number")
        )
        return Response({"credit_notes": credit_notes_data(notes)})


# --- credit notes ---------------------------------------------------------------------------


def _credit_note(credit_note_id) -> CreditNote:
    note = CreditNote.objects.select_related("invoice").filter(pk=credit_note_id).first()
    if note is None:
        raise NotFound(CREDIT_NOTE_NOT_FOUND)
    return note


class AdminCreditNotesView(AdminMixin, ApiView):
    @extend_schema(
        tags=CREDIT_NOTE_TAGS,
        summary="Every credit note, paginated, newest first",
        parameters=[
            *PAGINATION_PARAMETERS,
            OpenApiParameter("user_id", str),
            OpenApiParameter("invoice_id", str),
            *DATE_PARAMETERS,
        ],
        responses={200: CreditNotePageSerializer, **errors(400, 401, 403)},
    )
    def get(self, request):
        query = request.query_params
        notes = CreditNote.objects.select_related("invoice")
        user_id = parse_uuid(query.get("user_id"), name="user_id")
        if user_id:
            notes = notes.filter(user_id=user_id)
        invoice_id = parse_uuid(query.get("invoice_id"), name="invoice_id")
        if invoice_id:
            notes = notes.filter(invoice_id=invoice_id)
        notes = _filter_dates(notes, query, "created_at")
        rows, meta = paginate(query, notes.order_by("-created_at", "-credit_note_number"))
        return Response({"credit_notes": credit_notes_data(rows), **meta})


class AdminCreditNoteView(AdminMixin, ApiView):
    @extend_schema(
        tags=CREDIT_NOTE_TAGS,
        summary="One credit note",
        responses={200: CreditNoteEnvelopeSerializer, **errors(401, 403, 404)},
    )
    def get(self, request, credit_note_id):
        return Response({"credit_note": credit_note_data(_credit_note(credit_note_id))})


class AdminCreditNotePdfView(AdminMixin, ApiView):
    @extend_schema(
        tags=CREDIT_NOTE_TAGS,
        summary="The credit note as PDF",
        responses={**PDF_RESPONSE, **errors(401, 403, 404)},
    )
    def get(self, request, credit_note_id):
        note = _credit_note(credit_note_id)
        return _pdf(render_credit_note_pdf(note), f"{note.credit_note_number}.pdf")
