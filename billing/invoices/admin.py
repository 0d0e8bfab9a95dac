"""Back office for invoices, payments, credit notes and provider events.

Everything here is read-only: an issued invoice never changes and is never deleted. Staff change an
invoice's state only through the actions below, which ask for a reason and call the same services
as the API (mark paid, void, full refund), one invoice at a time.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import OuterRef, Subquery
from django.utils import timezone
from django.utils.html import format_html

from billing.catalog.models import Currency
from billing.catalog.pricing import format_money
from billing.invoices.models import (
    CreditNote,
    Invoice,
    InvoiceLine,
    Payment,
    ProviderEvent,
    Refund,
)
from billing.invoices.services import invoice_mark_paid, invoice_refund, invoice_void
from billing.invoices.services.capture import INVOICE_SCOPED_GATEWAYS
from plugins import gateway as gateways
from vbwd.admin_tools import (
    CustomerSectionInline,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ReasonActionsMixin,
    ReasonForm,
    admin_link,
)


def _places_subquery():
    """The currency's decimal places, in the same query as the rows."""
    return Subquery(Currency.objects.filter(code=OuterRef("currency")).values("decimal_places")[:1])


def _money(row, amount) -> str:
    places = getattr(row, "currency_places", None)
    return format_money(amount, 2 if places is None else places)


def _money_with_currency(row, amount) -> str:
    return f"{_money(row, amount)} {row.currency}"


# --- the customer's page: their invoices, payments and credit notes --------------------------


class CustomerInvoiceInline(CustomerSectionInline):
    model = Invoice
    verbose_name_plural = "invoices"
    section_order = 20
    fields = ("number", "invoice_type", "status", "total", "invoiced_at", "due_date")
    ordering = ("-invoiced_at", "-invoice_number")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(currency_places=_places_subquery())

    @admin.display(description="number")
    def number(self, invoice: Invoice) -> str:
        return admin_link(invoice, invoice.invoice_number)

    @admin.display(description="total")
    def total(self, invoice: Invoice) -> str:
        return _money_with_currency(invoice, invoice.total_amount)


class CustomerPaymentInline(CustomerSectionInline):
    model = Payment
    verbose_name_plural = "payments"
    section_order = 30
    fields = ("payment", "invoice_number", "gateway", "amount_display", "status", "captured_at")
    ordering = ("-created_at",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("invoice")
            .annotate(currency_places=_places_subquery())
        )

    @admin.display(description="payment")
    def payment(self, payment: Payment) -> str:
        return admin_link(
            payment, timezone.localtime(payment.created_at).strftime("%Y-%m-%d %H:%M")
        )

    @admin.display(description="invoice")
    def invoice_number(self, payment: Payment) -> str:
        return admin_link(payment.invoice, payment.invoice.invoice_number)

    @admin.display(description="amount")
    def amount_display(self, payment: Payment) -> str:
        return _money_with_currency(payment, payment.amount)


class CustomerCreditNoteInline(CustomerSectionInline):
    model = CreditNote
    verbose_name_plural = "credit notes"
    section_order = 40
    fields = ("number", "invoice_number", "amount_display", "full_refund", "created_at")
    ordering = ("-created_at", "-credit_note_number")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("invoice")
            .annotate(currency_places=_places_subquery())
        )

    @admin.display(description="number")
    def number(self, note: CreditNote) -> str:
        return admin_link(note, note.credit_note_number)

    @admin.display(description="invoice")
    def invoice_number(self, note: CreditNote) -> str:
        return admin_link(note.invoice, note.invoice.invoice_number)

    @admin.display(description="amount")
    def amount_display(self, note: CreditNote) -> str:
        return _money_with_currency(note, note.amount)


CUSTOMER_SECTIONS = (CustomerInvoiceInline, CustomerPaymentInline, CustomerCreditNoteInline)


# --- the intermediate forms of the actions ---------------------------------------------------


class MarkPaidForm(ReasonForm):
    payment_reference = forms.CharField(
        max_length=255,
        initial="MANUAL",
        help_text="The bank transfer's reference (stored as the payment's external id).",
    )


class RefundForm(ReasonForm):
    force = forms.BooleanField(
        required=False,
        help_text="Claw back the tokens that are left when the balance is short; the rest is "
        "recorded as a shortfall.",
    )
    record_only = forms.BooleanField(
        required=False,
        help_text="Only record a refund already made at the provider or by bank transfer; the "
        "gateway is not called.",
    )


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = (
        "position",
        "type",
        "description",
        "quantity",
        "unit_price",
        "amount",
        "tax_rate",
        "tax_amount",
        "gross_amount",
        "item_id",
        "period_start",
        "period_end",
    )
    ordering = ("position",)


def provider_link(payment: Payment) -> str:
    """The provider's id of the payment, linked to the provider's dashboard where it has one."""
    if not payment.external_id:
        return "—"
    url = None
    if payment.gateway not in INVOICE_SCOPED_GATEWAYS:
        try:
            url = gateways.gateway_for(payment.gateway).dashboard_url(payment.external_id)
        except gateways.NotConfigured:
            url = None  # the plugin is gone; the id alone still names the payment
    if not url:
        return payment.external_id
    return format_html(
        '<a href="{}" target="_blank" rel="noopener noreferrer">{}</a>', url, payment.external_id
    )


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = (
        "created_at",
        "gateway",
        "provider_payment",
        "amount",
        "currency",
        "status",
        "refunded_amount",
        "captured_at",
        "failure_reason",
    )
    ordering = ("created_at",)

    @admin.display(description="provider payment")
    def provider_payment(self, payment: Payment) -> str:
        return provider_link(payment)


class CreditNoteInline(ReadOnlyInline):
    model = CreditNote
    fk_name = "invoice"
    fields = (
        "credit_note_number",
        "created_at",
        "amount",
        "currency",
        "full_refund",
        "reason",
        "refund_reference",
        "created_by",
    )
    ordering = ("created_at",)


@admin.register(Invoice)
class InvoiceAdmin(ReasonActionsMixin, ReadOnlyAdmin):
    list_display = (
        "invoice_number",
        "user",
        "invoice_type",
        "status",
        "total_display",
        "currency",
        "invoiced_at",
        "due_date",
        "needs_review",
    )
    list_filter = (
        "status",
        "invoice_type",
        ("invoiced_at", admin.DateFieldListFilter),
        "needs_review",
    )
    search_fields = ("invoice_number", "user__email")
    list_select_related = ("user",)
    date_hierarchy = "invoiced_at"
    ordering = ("-invoiced_at", "-invoice_number")
    list_per_page = 50
    inlines = [InvoiceLineInline, PaymentInline, CreditNoteInline]
    actions = ["mark_paid", "void", "refund_full"]
    fieldsets = (
        (None, {"fields": ("id", "invoice_number", "invoice_type", "user", "status")}),
        (
            "Amounts",
            {
                "fields": (
                    "currency",
                    "exchange_rate",
                    "subtotal",
                    "tax_amount",
                    "total_amount",
                    "refunded_amount",
                    "reverse_charge",
                )
            },
        ),
        (
            "Payment",
            {"fields": ("payment_method", "payment_method_name", "payment_ref")},
        ),
        ("Review", {"fields": ("needs_review", "review_reason")}),
        ("Links", {"fields": ("subscription_id", "tarif_plan_id")}),
        ("Snapshots", {"fields": ("billing_address", "seller")}),
        (
            "Dates",
            {
                "fields": (
                    "invoiced_at",
                    "due_date",
                    "paid_at",
                    "cancelled_at",
                    "refunded_at",
                    "created_at",
                    "updated_at",
                )
            },
        ),
    )

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(currency_places=_places_subquery())

    @admin.display(description="total", ordering="total_amount")
    def total_display(self, invoice: Invoice) -> str:
        return _money(invoice, invoice.total_amount)

    def _rows(self, queryset):
        return (
            queryset.select_related("user")
            .annotate(currency_places=_places_subquery())
            .order_by("invoiced_at")
        )

    def _label(self, invoice: Invoice) -> str:
        return invoice.invoice_number

    def _describe(self, invoice: Invoice) -> str:
        return (
            f"{invoice.invoice_number}: {invoice.user.email}, "
            f"{_money(invoice, invoice.total_amount)} {invoice.currency} ({invoice.status})"
        )

    @admin.action(description="Mark paid (payment received outside the system)")
    def mark_paid(self, request, queryset):
        def apply(invoice, data):
            result = invoice_mark_paid(
                invoice_id=invoice.pk,
                actor=request.user,
                payment_reference=data["payment_reference"],
                reason=data["reason"],
            )
            return f"marked as paid ({result.invoice.status})"

        return self._with_form(
            request,
            queryset,
            form_class=MarkPaidForm,
            title="Mark invoices as paid",
            submit="Mark paid",
            apply=apply,
        )

    @admin.action(description="Void (unpaid invoices only)")
    def void(self, request, queryset):
        def apply(invoice, data):
            invoice_void(invoice_id=invoice.pk, actor=request.user, reason=data["reason"])
            return "voided"

        return self._with_form(
            request,
            queryset,
            form_class=ReasonForm,
            title="Void invoices",
            submit="Void",
            apply=apply,
        )

    @admin.action(description="Refund (full: the whole refundable amount)")
    def refund_full(self, request, queryset):
        def apply(invoice, data):
            outcome = invoice_refund(
                invoice_id=invoice.pk,
                actor=request.user,
                reason=data["reason"],
                force=data["force"],
                record_only=data["record_only"],
            )
            note = outcome.credit_note
            text = f"refunded {_money(invoice, note.amount)} {note.currency} ({note})"
            if outcome.tokens_clawed_back or outcome.token_shortfall:
                text += (
                    f"; {outcome.tokens_clawed_back} tokens clawed back, "
                    f"shortfall {outcome.token_shortfall}"
                )
            return text

        return self._with_form(
            request,
            queryset,
            form_class=RefundForm,
            title="Refund invoices in full",
            submit="Refund",
            apply=apply,
        )


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "invoice",
        "user",
        "gateway",
        "provider_payment",
        "amount_display",
        "currency",
        "status",
        "refunded_amount",
        "captured_at",
    )
    list_filter = ("status", "gateway")
    # The customer's checkout secret stays out of the back office.
    exclude = ("session_client_secret",)
    search_fields = ("invoice__invoice_number", "user__email", "external_id", "session_id")
    list_select_related = ("invoice", "user")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(currency_places=_places_subquery())

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, payment: Payment) -> str:
        return _money(payment, payment.amount)

    @admin.display(description="provider payment", ordering="external_id")
    def provider_payment(self, payment: Payment) -> str:
        return provider_link(payment)

    def get_readonly_fields(self, request, obj=None):
        fields = [
            name for name in super().get_readonly_fields(request, obj) if name not in self.exclude
        ]
        return [*fields, "provider_payment"]


@admin.register(Refund)
class RefundAdmin(ReadOnlyAdmin):
    """Refunds asked of a payment provider. A PENDING one waits for the provider's answer; the
    billing jobs (or the same refund asked again) repeat it with its own idempotency key."""

    list_display = (
        "created_at",
        "invoice",
        "amount",
        "currency",
        "status",
        "provider_refund_id",
        "credit_note",
        "failure_reason",
        "call_started_at",
    )
    list_filter = ("status",)
    search_fields = ("invoice__invoice_number", "provider_refund_id")
    list_select_related = ("invoice", "credit_note")
    ordering = ("-created_at",)


@admin.register(CreditNote)
class CreditNoteAdmin(ReadOnlyAdmin):
    list_display = (
        "credit_note_number",
        "invoice",
        "user",
        "amount_display",
        "currency",
        "full_refund",
        "tokens_clawed_back",
        "token_shortfall",
        "created_by",
        "created_at",
        "reversed_at",
    )
    list_filter = ("full_refund", ("created_at", admin.DateFieldListFilter))
    search_fields = ("credit_note_number", "invoice__invoice_number", "user__email")
    list_select_related = ("invoice", "user", "created_by")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-credit_note_number")
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(currency_places=_places_subquery())

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, note: CreditNote) -> str:
        return _money(note, note.amount)


@admin.register(ProviderEvent)
class ProviderEventAdmin(ReadOnlyAdmin):
    list_display = (
        "received_at",
        "provider",
        "event_type",
        "event_id",
        "status",
        "attempts",
        "processed_at",
    )
    list_filter = ("provider", "status", "event_type")
    search_fields = ("event_id", "event_type")
    date_hierarchy = "received_at"
    ordering = ("-received_at",)
    list_per_page = 50
