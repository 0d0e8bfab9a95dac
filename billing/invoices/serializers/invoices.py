"""Invoices in the user and the staff shape, their snapshots and tax breakdown."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.catalog.pricing import format_money
from billing.invoices.models import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
)
from billing.invoices.serializers.documents import (
    AdminPaymentSerializer,
    CreditNoteSerializer,
    InvoiceLineSerializer,
    PaymentSerializer,
)
from billing.invoices.serializers.fields import (
    PERCENT,
    MoneyField,
    RateField,
    context_money,
    context_places,
)
from vbwd.output import OutputModelSerializer, OutputSerializer


class BillingSnapshotSerializer(OutputSerializer):
    name = serializers.CharField(allow_null=True)
    company = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    line1 = serializers.CharField(allow_null=True)
    line2 = serializers.CharField(allow_null=True)
    city = serializers.CharField(allow_null=True)
    state = serializers.CharField(allow_null=True)
    postal_code = serializers.CharField(allow_null=True)
    country = serializers.CharField(allow_null=True)
    vat_id = serializers.CharField(allow_null=True)


class SellerSnapshotSerializer(OutputSerializer):
    company_name = serializers.CharField(allow_null=True)
    address_street = serializers.CharField(allow_null=True)
    address_city = serializers.CharField(allow_null=True)
    address_postal_code = serializers.CharField(allow_null=True)
    address_country = serializers.CharField(allow_null=True)
    vat_id = serializers.CharField(allow_null=True)
    email = serializers.CharField(allow_null=True)
    website_url = serializers.CharField(allow_null=True)
    bank_account_holder = serializers.CharField(allow_null=True)
    bank_name = serializers.CharField(allow_null=True)
    bank_iban = serializers.CharField(allow_null=True)
    bank_bic = serializers.CharField(allow_null=True)


class TaxBreakdownRowSerializer(OutputSerializer):
    tax_name = serializers.CharField(allow_null=True)
    tax_rate = serializers.CharField(help_text="percent")
    net_amount = serializers.CharField(help_text="money")
    tax_amount = serializers.CharField(help_text="money")


BILLING_KEYS = tuple(BillingSnapshotSerializer().fields)
SELLER_KEYS = tuple(SellerSnapshotSerializer().fields)


def _snapshot(stored: dict | None, keys: tuple[str, ...]) -> dict:
    stored = stored or {}
    return {key: stored.get(key) for key in keys}


def tax_breakdown(invoice: Invoice, lines: Iterable[InvoiceLine], places: int) -> list[dict]:
    """One row per distinct tax rate, in the order the rates first appear on the invoice."""
    rows: dict[Decimal, dict] = {}
    for line in lines:
        rate = Decimal(line.tax_rate).quantize(PERCENT)
        row = rows.setdefault(
            rate,
            {"tax_name": None, "net": Decimal(0), "tax": Decimal(0)},
        )
        row["tax_name"] = row["tax_name"] or line.tax_name
        row["net"] += line.amount
        row["tax"] += line.tax_amount
    return [
        {
            "tax_name": row["tax_name"],
            "tax_rate": str(rate),
            "net_amount": format_money(row["net"], places),
            "tax_amount": format_money(row["tax"], places),
        }
        for rate, row in rows.items()
    ]


class InvoiceSerializer(OutputModelSerializer):
    """Invoice; list responses and the base of the detail."""

    invoice_type = serializers.ChoiceField(choices=InvoiceType.choices, read_only=True)
    user_id = serializers.UUIDField(read_only=True)
    status = serializers.ChoiceField(choices=InvoiceStatus.choices, read_only=True)
    exchange_rate = RateField()
    subtotal = MoneyField()
    tax_amount = MoneyField()
    total_amount = MoneyField()
    amount = MoneyField(source="total_amount", help_text="= total_amount (compatibility)")
    amount_due = MoneyField(help_text="total_amount while PENDING or OVERDUE, else 0")
    refunded_amount = MoneyField()
    is_payable = serializers.BooleanField(read_only=True)
    billing_address = serializers.SerializerMethodField()
    seller = serializers.SerializerMethodField()
    line_items = serializers.SerializerMethodField()
    tax_breakdown = serializers.SerializerMethodField()
    expires_at = serializers.DateTimeField(source="due_date", read_only=True)

    class Meta:
        model = Invoice
        fields = [
            "id",
            "invoice_number",
            "invoice_type",
            "user_id",
            "status",
            "currency",
            "exchange_rate",
            "subtotal",
            "tax_amount",
            "total_amount",
            "amount",
            "amount_due",
            "refunded_amount",
            "is_payable",
            "reverse_charge",
            "payment_method",
            "payment_method_name",
            "payment_ref",
            "tarif_plan_id",
            "subscription_id",
            "billing_address",
            "seller",
            "line_items",
            "tax_breakdown",
            "invoiced_at",
            "due_date",
            "expires_at",
            "paid_at",
            "cancelled_at",
            "refunded_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    @extend_schema_field(BillingSnapshotSerializer)
    def get_billing_address(self, invoice: Invoice) -> dict:
        return _snapshot(invoice.billing_address, BILLING_KEYS)

    @extend_schema_field(SellerSnapshotSerializer)
    def get_seller(self, invoice: Invoice) -> dict:
        return _snapshot(invoice.seller, SELLER_KEYS)

    @extend_schema_field(InvoiceLineSerializer(many=True))
    def get_line_items(self, invoice: Invoice) -> list:
        lines = sorted(invoice.lines.all(), key=lambda line: line.position)
        return InvoiceLineSerializer(lines, many=True, context=self.context).data

    @extend_schema_field(TaxBreakdownRowSerializer(many=True))
    def get_tax_breakdown(self, invoice: Invoice) -> list:
        lines = sorted(invoice.lines.all(), key=lambda line: line.position)
        return tax_breakdown(invoice, lines, context_places(self.context, invoice.currency))


def _newest_first(rows: Iterable) -> list:
    return sorted(rows, key=lambda row: (row.created_at, str(row.pk)), reverse=True)


def _oldest_first(rows: Iterable) -> list:
    return sorted(rows, key=lambda row: (row.created_at, row.credit_note_number))


class InvoiceDetailSerializer(InvoiceSerializer):
    """Invoice in detail responses: + ``payments`` (newest first) and ``credit_notes``."""

    payments = serializers.SerializerMethodField()
    credit_notes = serializers.SerializerMethodField()

    class Meta(InvoiceSerializer.Meta):
        fields = [*InvoiceSerializer.Meta.fields, "payments", "credit_notes"]
        read_only_fields = fields

    payment_serializer = PaymentSerializer

    @extend_schema_field(PaymentSerializer(many=True))
    def get_payments(self, invoice: Invoice) -> list:
        payments = _newest_first(invoice.payments.all())
        return self.payment_serializer(payments, many=True, context=self.context).data

    @extend_schema_field(CreditNoteSerializer(many=True))
    def get_credit_notes(self, invoice: Invoice) -> list:
        notes = _oldest_first(invoice.credit_notes.all())
        return CreditNoteSerializer(notes, many=True, context=self.context).data


ADMIN_KEYS = ["user_email", "user_name", "needs_review", "review_reason"]


class AdminInvoiceSerializer(InvoiceSerializer):
    """AdminInvoice = Invoice + user and review fields."""

    user_email = serializers.EmailField(source="user.email", read_only=True)
    user_name = serializers.CharField(source="user.display_name", read_only=True, allow_null=True)

    class Meta(InvoiceSerializer.Meta):
        fields = [*InvoiceSerializer.Meta.fields, *ADMIN_KEYS]
        read_only_fields = fields


class AdminInvoiceDetailSerializer(AdminInvoiceSerializer):
    """AdminInvoice in the admin detail: + payments (with provider_data), credit notes, plan and
    subscription facts (null without a plan / subscription). Context: ``plans`` (id → Plan) and
    ``facts`` (subscription id → facts of ``billing.invoices.extensions.subscription_facts``)."""

    payments = serializers.SerializerMethodField()
    credit_notes = serializers.SerializerMethodField()
    plan_name = serializers.SerializerMethodField()
    plan_description = serializers.SerializerMethodField()
    plan_billing_period = serializers.SerializerMethodField()
    plan_price = serializers.SerializerMethodField()
    subscription_status = serializers.SerializerMethodField()
    subscription_start_date = serializers.SerializerMethodField()
    subscription_end_date = serializers.SerializerMethodField()
    subscription_is_trial = serializers.SerializerMethodField()
    subscription_trial_end = serializers.SerializerMethodField()

    class Meta(AdminInvoiceSerializer.Meta):
        fields = [
            *AdminInvoiceSerializer.Meta.fields,
            "payments",
            "credit_notes",
            "plan_name",
            "plan_description",
            "plan_billing_period",
            "plan_price",
            "subscription_status",
            "subscription_start_date",
            "subscription_end_date",
            "subscription_is_trial",
            "subscription_trial_end",
        ]
        read_only_fields = fields

    def _plan(self, invoice: Invoice):
        if invoice.tarif_plan_id is None:
            return None
        return self.context.get("plans", {}).get(invoice.tarif_plan_id)

    def _facts(self, invoice: Invoice) -> dict | None:
        if invoice.subscription_id is None:
            return None
        return self.context.get("facts", {}).get(invoice.subscription_id)

    def _datetime(self, value) -> str | None:
        return serializers.DateTimeField().to_representation(value) if value else None

    @extend_schema_field(AdminPaymentSerializer(many=True))
    def get_payments(self, invoice: Invoice) -> list:
        payments = _newest_first(invoice.payments.all())
        return AdminPaymentSerializer(payments, many=True, context=self.context).data

    @extend_schema_field(CreditNoteSerializer(many=True))
    def get_credit_notes(self, invoice: Invoice) -> list:
        notes = _oldest_first(invoice.credit_notes.all())
        return CreditNoteSerializer(notes, many=True, context=self.context).data

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_plan_name(self, invoice: Invoice) -> str | None:
        plan = self._plan(invoice)
        return plan.name if plan is not None else None

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_plan_description(self, invoice: Invoice) -> str | None:
        plan = self._plan(invoice)
        return plan.description if plan is not None else None

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="BillingPeriod"))
    def get_plan_billing_period(self, invoice: Invoice) -> str | None:
        plan = self._plan(invoice)
        return plan.billing_period if plan is not None else None

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="money"))
    def get_plan_price(self, invoice: Invoice) -> str | None:
        plan = self._plan(invoice)
        return context_money(self.context, plan.price, plan.currency) if plan is not None else None

    @extend_schema_field(serializers.CharField(allow_null=True, help_text="SubscriptionStatus"))
    def get_subscription_status(self, invoice: Invoice) -> str | None:
        facts = self._facts(invoice)
        return facts["status"] if facts else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_subscription_start_date(self, invoice: Invoice) -> str | None:
        facts = self._facts(invoice)
        return self._datetime(facts["start_date"]) if facts else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_subscription_end_date(self, invoice: Invoice) -> str | None:
        facts = self._facts(invoice)
        return self._datetime(facts["end_date"]) if facts else None

    @extend_schema_field(serializers.BooleanField(allow_null=True))
    def get_subscription_is_trial(self, invoice: Invoice) -> bool | None:
        facts = self._facts(invoice)
        return bool(facts["is_trial"]) if facts else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_subscription_trial_end(self, invoice: Invoice) -> str | None:
        facts = self._facts(invoice)
        return self._datetime(facts["trial_end"]) if facts else None


class InvoiceRefSerializer(OutputModelSerializer):
    """InvoiceRef."""

    status = serializers.ChoiceField(choices=InvoiceStatus.choices, read_only=True)
    amount = MoneyField(source="total_amount")
    total_amount = MoneyField()

    class Meta:
        model = Invoice
        fields = ["id", "invoice_number", "status", "amount", "total_amount", "currency",
                  "created_at"]  # fmt: skip
        read_only_fields = fields
