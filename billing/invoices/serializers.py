"""Shapes of invoices, lines, payments and credit notes (API.md §2.7) and the envelopes of the
invoice endpoints (§11, §14).

Money is a decimal string with exactly the places of its currency. The serializers read the places
from ``context["places"]`` (currency code → places), which the data functions below load once per
call (one query for any number of rows); a currency missing from the map falls back to 2 places.
Datetimes use DRF's DateTimeField, i.e. ISO-8601 in UTC with a ``Z`` (REST_FRAMEWORK settings).

Views use the data functions (``invoice_data``, ``invoices_data``, ``admin_invoice_data``,
``admin_invoices_data``, ``payment_data``, ``credit_note_data``, ``payment_start_data``); the
serializer classes document the same shapes for drf-spectacular. For constant query counts the
invoices should come from ``billing.invoices.selectors`` (lines, payments, credit notes, user and
details prefetched).
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from billing.catalog.pricing import format_money
from billing.invoices.extensions import subscription_facts
from billing.invoices.models import (
    CreditNote,
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
    Payment,
    PaymentStatus,
)
from billing.invoices.selectors import currency_places_by_code

PERCENT = Decimal("0.01")
RATE = Decimal("0.000001")


# The name other apps' serializers import for places in bulk.
currency_places = currency_places_by_code


def _places(context, code: str | None) -> int:
    places = context.get("places")
    if places is None:
        places = context["places"] = currency_places_by_code()
    return places[code]


def _money(context, amount, code: str | None) -> str | None:
    if amount is None:
        return None
    return format_money(amount, _places(context, code))


def _percent(value) -> str:
    return str(Decimal(value).quantize(PERCENT))


@extend_schema_field(OpenApiTypes.STR)
class MoneyField(serializers.Field):
    """A money string in the currency of the row (``currency_source`` names where to find it)."""

    def __init__(self, *, currency_source: str = "currency", **kwargs):
        self.currency_source = currency_source
        kwargs["read_only"] = True
        kwargs.setdefault("help_text", "money: decimal string with the currency's places")
        super().__init__(**kwargs)

    def get_attribute(self, instance):
        value = super().get_attribute(instance)
        currency = instance
        for part in self.currency_source.split("."):
            currency = getattr(currency, part)
        return value, currency

    def to_representation(self, value):
        amount, currency = value
        return _money(self.context, amount, currency)


@extend_schema_field(OpenApiTypes.STR)
class PercentField(serializers.Field):
    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        kwargs.setdefault("help_text", "percent: two decimals, e.g. 19.00")
        super().__init__(**kwargs)

    def to_representation(self, value):
        return _percent(value)


@extend_schema_field(OpenApiTypes.STR)
class RateField(serializers.Field):
    def __init__(self, **kwargs):
        kwargs["read_only"] = True
        kwargs.setdefault("help_text", "exchange rate with six decimals, e.g. 1.080000")
        super().__init__(**kwargs)

    def to_representation(self, value):
        return str(Decimal(value).quantize(RATE))


# --- lines, payments, credit notes --------------------------------------------------------------


class InvoiceLineSerializer(serializers.ModelSerializer):
    """InvoiceLine (API.md §2.7)."""

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


class PaymentSerializer(serializers.ModelSerializer):
    """Payment (API.md §2.7), without ``provider_data``."""

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


class CreditNoteSerializer(serializers.ModelSerializer):
    """CreditNote (API.md §2.7)."""

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


# --- invoices -----------------------------------------------------------------------------------


class BillingSnapshotSerializer(serializers.Serializer):
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


class SellerSnapshotSerializer(serializers.Serializer):
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


class TaxBreakdownRowSerializer(serializers.Serializer):
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


class InvoiceSerializer(serializers.ModelSerializer):
    """Invoice (API.md §2.7); list responses and the base of the detail."""

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
        return tax_breakdown(invoice, lines, _places(self.context, invoice.currency))


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
    """AdminInvoice (API.md §2.7) = Invoice + user and review fields."""

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
        return _money(self.context, plan.price, plan.currency) if plan is not None else None

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


class InvoiceRefSerializer(serializers.ModelSerializer):
    """InvoiceRef (API.md §2.7)."""

    status = serializers.ChoiceField(choices=InvoiceStatus.choices, read_only=True)
    amount = MoneyField(source="total_amount")
    total_amount = MoneyField()

    class Meta:
        model = Invoice
        fields = ["id", "invoice_number", "status", "amount", "total_amount", "currency",
                  "created_at"]  # fmt: skip
        read_only_fields = fields


# --- starting a payment -------------------------------------------------------------------------


class BankTransferInstructionsSerializer(serializers.Serializer):
    """BankTransferInstructions (API.md §2.7)."""

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


class GatewaySessionSerializer(serializers.Serializer):
    """GatewaySession (API.md §2.7)."""

    provider = serializers.CharField()
    session_id = serializers.CharField()
    session_url = serializers.CharField(allow_null=True)
    client_secret = serializers.CharField(allow_null=True, help_text="Stripe only")
    expires_at = serializers.DateTimeField(allow_null=True)


class PaymentStartSerializer(serializers.Serializer):
    """PaymentStart (API.md §2.7): the result of ``POST /user/invoices/<id>/pay``."""

    action = serializers.ChoiceField(choices=["BANK_TRANSFER", "REDIRECT", "PAID"])
    invoice = InvoiceSerializer()
    payment = PaymentSerializer(allow_null=True)
    instructions = BankTransferInstructionsSerializer(allow_null=True)
    session = GatewaySessionSerializer(allow_null=True)
    message = serializers.CharField()


# --- data functions -----------------------------------------------------------------------------


def _context(places: dict[str, int] | None) -> dict:
    return {"places": places if places is not None else currency_places_by_code()}


def invoice_data(invoice: Invoice, *, detail: bool = False, places=None) -> dict:
    """One invoice in the user shape; ``detail`` adds payments and credit notes."""
    serializer = InvoiceDetailSerializer if detail else InvoiceSerializer
    return serializer(invoice, context=_context(places)).data


def invoices_data(invoices: Iterable[Invoice]) -> list:
    """Invoices in the user shape, currencies read once."""
    invoices = list(invoices)
    places = currency_places_by_code() if invoices else {}
    return InvoiceSerializer(invoices, many=True, context=_context(places)).data


def _plans_for(invoices: list[Invoice]) -> dict:
    from billing.catalog.models import Plan

    ids = {invoice.tarif_plan_id for invoice in invoices if invoice.tarif_plan_id is not None}
    return {plan.pk: plan for plan in Plan.objects.filter(pk__in=ids)} if ids else {}


def admin_invoice_data(
    invoice: Invoice, *, detail: bool = False, facts: dict | None = None, places=None
) -> dict:
    """One invoice in the admin shape. ``detail`` adds payments with provider data, credit notes
    and the plan and subscription facts; ``facts`` is the mapping of
    ``extensions.subscription_facts`` (read here when not given)."""
    context = _context(places)
    if not detail:
        return AdminInvoiceSerializer(invoice, context=context).data
    if facts is None:
        facts = subscription_facts([invoice.subscription_id])
    context["facts"] = facts
    context["plans"] = _plans_for([invoice])
    return AdminInvoiceDetailSerializer(invoice, context=context).data


def admin_invoices_data(invoices: Iterable[Invoice]) -> list:
    """Invoices in the admin list shape, currencies read once."""
    invoices = list(invoices)
    places = currency_places_by_code() if invoices else {}
    return AdminInvoiceSerializer(invoices, many=True, context=_context(places)).data


def invoice_ref_data(invoice: Invoice, *, places=None) -> dict:
    return InvoiceRefSerializer(invoice, context=_context(places)).data


def payment_data(payment: Payment, *, admin: bool = False, places=None) -> dict:
    """A Payment; ``admin`` adds ``provider_data``."""
    serializer = AdminPaymentSerializer if admin else PaymentSerializer
    return serializer(payment, context=_context(places)).data


def credit_note_data(credit_note: CreditNote, *, places=None) -> dict:
    """A CreditNote (reads ``credit_note.invoice`` for its number: select it with the note)."""
    return CreditNoteSerializer(credit_note, context=_context(places)).data


def payment_start_data(start) -> dict:
    """PaymentStart from ``billing.invoices.services.payments.PaymentStart``."""
    context = _context(None)
    payment = start.payment
    return {
        "action": start.action,
        "invoice": InvoiceSerializer(start.invoice, context=context).data,
        "payment": PaymentSerializer(payment, context=context).data if payment else None,
        "instructions": (
            BankTransferInstructionsSerializer(start.instructions).data
            if start.instructions is not None
            else None
        ),
        "session": (
            GatewaySessionSerializer(start.session).data if start.session is not None else None
        ),
        "message": start.message,
    }


def credit_notes_data(credit_notes: Iterable[CreditNote]) -> list:
    credit_notes = list(credit_notes)
    places = currency_places_by_code() if credit_notes else {}
    return CreditNoteSerializer(credit_notes, many=True, context=_context(places)).data


# --- envelopes (schema) -------------------------------------------------------------------------


class InvoiceListSerializer(serializers.Serializer):
    """``GET /user/invoices``: all rows and ``total``; the pagination keys only when paged."""

    invoices = InvoiceSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField(required=False, help_text="only when paginated")
    per_page = serializers.IntegerField(required=False, help_text="only when paginated")
    pages = serializers.IntegerField(required=False, help_text="only when paginated")
    limit = serializers.IntegerField(required=False, help_text="only when paginated")
    offset = serializers.IntegerField(required=False, help_text="only when paginated")


class InvoiceEnvelopeSerializer(serializers.Serializer):
    invoice = InvoiceDetailSerializer()


class InvoiceDownloadSerializer(serializers.Serializer):
    downloadUrl = serializers.CharField(help_text="site-relative signed link")  # noqa: N815
    download_url = serializers.CharField(help_text="same as downloadUrl")
    filename = serializers.CharField()
    expires_at = serializers.DateTimeField()


class AdminInvoicePageSerializer(serializers.Serializer):
    invoices = AdminInvoiceSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    pages = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()


class AdminInvoiceEnvelopeSerializer(serializers.Serializer):
    invoice = AdminInvoiceDetailSerializer()


class AdminInvoiceMessageSerializer(serializers.Serializer):
    invoice = AdminInvoiceSerializer()
    message = serializers.CharField()


class CreditNoteEnvelopeSerializer(serializers.Serializer):
    credit_note = CreditNoteSerializer()


class CreditNoteListSerializer(serializers.Serializer):
    credit_notes = CreditNoteSerializer(many=True)


class CreditNotePageSerializer(serializers.Serializer):
    credit_notes = CreditNoteSerializer(many=True)
    total = serializers.IntegerField()
    page = serializers.IntegerField()
    per_page = serializers.IntegerField()
    pages = serializers.IntegerField()
    limit = serializers.IntegerField()
    offset = serializers.IntegerField()
