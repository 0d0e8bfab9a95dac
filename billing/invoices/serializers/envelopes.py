"""Starting a payment, and the envelopes of the invoice endpoints (for the schema)."""

from __future__ import annotations

from rest_framework import serializers

from billing.invoices.serializers.documents import CreditNoteSerializer, PaymentSerializer
from billing.invoices.serializers.invoices import (
    AdminInvoiceDetailSerializer,
    AdminInvoiceSerializer,
    InvoiceDetailSerializer,
    InvoiceSerializer,
)
from vbwd.output import OutputSerializer
from vbwd.pagination import page_serializer


class BankTransferInstructionsSerializer(OutputSerializer):
    """BankTransferInstructions."""

    method_code = serializers.CharField()
    method_name = serializers.CharField()
    text = serializers.CharField(allow_null=True, help_text="the method's translated instructions")
    account_holder = serializers.CharField(allow_null=True)
    bank_name = serializers.CharField(allow_null=True)
    iban = serializers.CharField(allow_null=True)
    bic = serializers.CharField(allow_null=True)
    reference = serializers.CharField(help_text="the invoice number")
    amount = serializers.CharField(help_text="money")
    currency = serializers.CharField()
    due_date = serializers.DateTimeField()


class GatewaySessionSerializer(OutputSerializer):
    """GatewaySession."""

    provider = serializers.CharField()
    session_id = serializers.CharField()
    session_url = serializers.CharField(allow_null=True)
    client_secret = serializers.CharField(allow_null=True, help_text="Stripe only")
    expires_at = serializers.DateTimeField(allow_null=True)


class PaymentStartSerializer(OutputSerializer):
    """PaymentStart: the result of ``POST /user/invoices/<id>/pay``."""

    action = serializers.ChoiceField(choices=["BANK_TRANSFER", "REDIRECT", "PAID"])
    invoice = InvoiceSerializer()
    payment = PaymentSerializer(allow_null=True)
    instructions = BankTransferInstructionsSerializer(allow_null=True)
    session = GatewaySessionSerializer(allow_null=True)
    message = serializers.CharField()


InvoiceListSerializer = page_serializer(
    "InvoiceListSerializer",
    items="invoices",
    item=InvoiceSerializer,
    always_paged=False,
    description=(
        "``GET /user/invoices``: all rows and ``total``; the pagination keys only when paged."
    ),
)


class InvoiceEnvelopeSerializer(OutputSerializer):
    invoice = InvoiceDetailSerializer()


class InvoiceDownloadSerializer(OutputSerializer):
    downloadUrl = serializers.CharField(help_text="site-relative signed link")  # noqa: N815
    download_url = serializers.CharField(help_text="same as downloadUrl")
    filename = serializers.CharField()
    expires_at = serializers.DateTimeField()


AdminInvoicePageSerializer = page_serializer(
    "AdminInvoicePageSerializer", items="invoices", item=AdminInvoiceSerializer
)


class AdminInvoiceEnvelopeSerializer(OutputSerializer):
    invoice = AdminInvoiceDetailSerializer()


class AdminInvoiceMessageSerializer(OutputSerializer):
    invoice = AdminInvoiceSerializer()
    message = serializers.CharField()


class CreditNoteEnvelopeSerializer(OutputSerializer):
    credit_note = CreditNoteSerializer()


class CreditNoteListSerializer(OutputSerializer):
    credit_notes = CreditNoteSerializer(many=True)


CreditNotePageSerializer = page_serializer(
    "CreditNotePageSerializer", items="credit_notes", item=CreditNoteSerializer
)
