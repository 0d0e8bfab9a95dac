"""Lines, payments and credit notes."""

from __future__ import annotations

from rest_framework import serializers

from billing.invoices.models import (
    CreditNote,
    InvoiceLine,
    Payment,
    PaymentStatus,
)
from billing.invoices.serializers.fields import MoneyField, PercentField
from vbwd.output import OutputModelSerializer


class InvoiceLineSerializer(OutputModelSerializer):
    """InvoiceLine."""

    invoice_id = serializers.UUIDField(read_only=True)
    unit_price = MoneyField(currency_source="invoice.currency")
    amount = MoneyField(currency_source="invoice.currency")
    total_price = MoneyField(source="amount", currency_source="invoice.currency")
    tax_rate = PercentField()
    tax_amount = MoneyField(currency_source="invoice.currency")
    gross_amount = MoneyField(currency_source="invoice.currency")
    extra_data = serializers.JSONField(read_only=True)

    class Meta:
        model = InvoiceLine
        fields = [
            "id",
            "invoice_id",
            "type",
            "description",
            "quantity",
            "unit_price",
            "amount",
            "total_price",
            "tax_rate",
            "tax_amount",
            "gross_amount",
            "item_id",
            "catalog_item_id",
            "period_start",
            "period_end",
            "extra_data",
        ]
        read_only_fields = fields


class PaymentSerializer(OutputModelSerializer):
    """Payment, without ``provider_data``."""

    invoice_id = serializers.UUIDField(read_only=True)
    status = serializers.ChoiceField(choices=PaymentStatus.choices, read_only=True)
    amount = MoneyField()
    refunded_amount = MoneyField()

    class Meta:
        model = Payment
        fields = [
            "id",
            "invoice_id",
            "gateway",
            "external_id",
            "amount",
            "currency",
            "status",
            "refunded_amount",
            "failure_reason",
            "created_at",
            "captured_at",
            "updated_at",
        ]
        read_only_fields = fields


class AdminPaymentSerializer(PaymentSerializer):
    """Payment in admin detail responses: + ``provider_data`` (secrets removed at storage)."""

    provider_data = serializers.JSONField(read_only=True)

    class Meta(PaymentSerializer.Meta):
        fields = [*PaymentSerializer.Meta.fields, "provider_data"]
        read_only_fields = fields


class CreditNoteSerializer(OutputModelSerializer):
    """CreditNote."""

    invoice_id = serializers.UUIDField(read_only=True)
    invoice_number = serializers.CharField(source="invoice.invoice_number", read_only=True)
    user_id = serializers.UUIDField(read_only=True)
    net_amount = MoneyField()
    tax_amount = MoneyField()
    amount = MoneyField()
    payment_id = serializers.UUIDField(read_only=True, allow_null=True)
    created_by = serializers.UUIDField(source="created_by_id", read_only=True, allow_null=True)

    class Meta:
        model = CreditNote
        fields = [
            "id",
            "credit_note_number",
            "invoice_id",
            "invoice_number",
            "user_id",
            "currency",
            "net_amount",
            "tax_amount",
            "amount",
            "reason",
            "refund_reference",
            "payment_id",
            "full_refund",
            "created_by",
            "created_at",
        ]
        read_only_fields = fields
