"""Staff money actions on an invoice: recording a payment, voiding, refunding."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from billing.catalog.pricing import format_money
from billing.catalog.selectors import currency_places
from billing.invoices import selectors, services
from billing.invoices.serializers import (
    AdminInvoiceMessageSerializer,
    AdminInvoiceSerializer,
    CreditNoteSerializer,
    PaymentSerializer,
    credit_note_data,
    payment_data,
)
from billing.invoices.services.capture import MANUAL_GATEWAY
from billing.invoices.views.admin.common import (
    DEFAULT_PAYMENT_REFERENCE,
    MAX_METHOD_LABEL_LENGTH,
    MAX_REASON_LENGTH,
    MAX_REFERENCE_LENGTH,
    TAGS,
    _amount,
    _flag,
    _invoice_response,
    _paid_at,
    _text,
)
from vbwd.api import AdminMixin, ApiView
from vbwd.schema import ErrorSerializer, errors


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
