"""Staff money actions on an invoice: recording a payment, voiding, refunding."""

from __future__ import annotations

from django.utils import timezone
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
    admin_invoice_data,
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
    _invoice_response,
)
from vbwd import idempotency
from vbwd.api import AdminMixin, ApiView
from vbwd.fields import MoneyField, StrictBooleanField, StrictCharField, StrictDateTimeField
from vbwd.schema import ErrorSerializer, errors


def _optional_text(max_length: int, **kwargs) -> StrictCharField:
    """Text that may be left out: null, "" and blanks mean "not given"; trimmed."""
    return StrictCharField(required=False, empty_as_none=True, max_length=max_length, **kwargs)


def _optional_flag(help_text: str) -> StrictBooleanField:
    return StrictBooleanField(
        required=False,
        allow_null=True,
        accept_strings=True,
        blank_as_null=True,
        help_text=help_text,
    )


# Money is in the invoice currency: the view passes its decimal places as context["places"].
class MarkPaidRequestSerializer(serializers.Serializer):
    payment_reference = _optional_text(MAX_REFERENCE_LENGTH, help_text='default "MANUAL"')
    payment_method = _optional_text(
        MAX_METHOD_LABEL_LENGTH, help_text='informational label, default "manual"'
    )
    amount = MoneyField(
        required=False,
        allow_null=True,
        blank_as_null=True,
        help_text="money; when given it must equal total_amount",
    )
    paid_at = StrictDateTimeField(
        required=False,
        allow_null=True,
        blank_as_null=True,
        help_text="not in the future; default now",
    )

    def validate_paid_at(self, value):
        if value is not None and value > timezone.now():
            raise serializers.ValidationError("paid_at cannot be in the future")
        return value


class MarkPaidResponseSerializer(serializers.Serializer):
    invoice = AdminInvoiceSerializer()
    payment = PaymentSerializer()
    message = serializers.CharField()


class VoidRequestSerializer(serializers.Serializer):
    reason = _optional_text(MAX_REASON_LENGTH)


class RefundRequestSerializer(serializers.Serializer):
    # A negative amount reaches the service, whose message is "must be greater than zero".
    amount = MoneyField(
        required=False,
        allow_null=True,
        blank_as_null=True,
        allow_negative=True,
        help_text="money; default: the remaining refundable amount",
    )
    reason = _optional_text(
        MAX_REASON_LENGTH, help_text="internal: kept for staff and in the audit log, never printed"
    )
    customer_reason = _optional_text(
        MAX_REASON_LENGTH, help_text="printed on the credit note for the customer"
    )
    refund_reference = _optional_text(
        MAX_REFERENCE_LENGTH, help_text='default: the gateway refund id, else "ADMIN_REFUND"'
    )
    record_only = _optional_flag("only record a refund made outside the system")
    force = _optional_flag("claw back the tokens available when the balance is short")


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
        invoice_pk, currency, places = selectors.invoice_currency_for_staff(invoice_id)
        serializer = MarkPaidRequestSerializer(data=request.data, context={"places": places})
        serializer.is_valid(raise_exception=True)
        given = serializer.validated_data
        result = services.invoice_mark_paid(
            invoice_id=invoice_pk,
            actor=request.user,
            payment_reference=given.get("payment_reference") or DEFAULT_PAYMENT_REFERENCE,
            amount=given.get("amount"),
            paid_at=given.get("paid_at"),
            method_label=given.get("payment_method") or MANUAL_GATEWAY,
        )
        # The service's invoice holds its owner and lines as the capture left them; the payment
        # is in the invoice's currency, whose places were read above.
        all_places = selectors.PlacesByCode({currency: places})
        return Response(
            {
                "invoice": admin_invoice_data(result.invoice, places=all_places),
                "payment": payment_data(result.payment, places=all_places),
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
        serializer = VoidRequestSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        services.invoice_void(
            invoice_id=invoice.pk,
            actor=request.user,
            reason=serializer.validated_data.get("reason"),
        )
        return Response({"invoice": _invoice_response(invoice.pk), "message": "Invoice voided"})


class AdminInvoiceRefundView(AdminMixin, ApiView):
    # Refunds at the provider: resumed from the refund claim or the credit note it recorded.
    idempotency_resumable = True

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
        places = currency_places(invoice.currency)
        serializer = RefundRequestSerializer(data=request.data, context={"places": places})
        serializer.is_valid(raise_exception=True)
        given = serializer.validated_data
        outcome = services.invoice_refund(
            invoice_id=invoice.pk,
            actor=request.user,
            amount=given.get("amount"),
            reason=given.get("reason"),
            customer_reason=given.get("customer_reason"),
            # Not given: the gateway's refund id, or "ADMIN_REFUND" when no gateway is called.
            refund_reference=given.get("refund_reference"),
            record_only=bool(given.get("record_only")),
            force=bool(given.get("force")),
            recovery=idempotency.recovery_for(request),
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
