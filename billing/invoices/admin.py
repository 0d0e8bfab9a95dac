"""Back office for invoices, payments, credit notes and provider events.

Everything here is read-only: an issued invoice never changes and is never deleted. Staff change an
invoice's state only through the actions below, which ask for a reason and call the same services
as the API (mark paid, void, full refund), one invoice at a time.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import OuterRef, Subquery
from django.http import Http404, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from unfold import widgets
from unfold.decorators import action

from billing.catalog.models import Currency, Plan
from billing.catalog.pricing import format_money
from billing.invoices import einvoice
from billing.invoices.exports import DayRange, credit_notes_csv, invoices_csv, payments_csv
from billing.invoices.models import (
    CreditNote,
    Invoice,
    InvoiceLine,
    Payment,
    ProviderEvent,
    Refund,
)
from billing.invoices.pdf import address_blocks
from billing.invoices.pdf_store import (
    stored_credit_note_pdf,
    stored_hybrid_pdf,
    stored_invoice_pdf,
)
from billing.invoices.services import (
    invoice_duplicate,
    invoice_mark_paid,
    invoice_refund,
    invoice_resend,
    invoice_void,
)
from billing.invoices.services.capture import INVOICE_SCOPED_GATEWAYS, MANUAL_GATEWAY
from billing.invoices.services.refunds import invoice_refund_plan
from billing.invoices.views.admin.common import (
    DEFAULT_PAYMENT_REFERENCE,
    MAX_METHOD_LABEL_LENGTH,
    MAX_REASON_LENGTH,
    MAX_REFERENCE_LENGTH,
)
from billing.invoices.views.admin.payments import (
    MarkPaidRequestSerializer,
    RefundRequestSerializer,
    VoidRequestSerializer,
)
from billing.invoices.views.xml import xml_response
from plugins import gateway as gateways
from vbwd.admin_tools import (
    ApiCheckedForm,
    CustomerSectionInline,
    ObjectActionsMixin,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ReasonActionsMixin,
    ReasonForm,
    StyledForm,
    admin_link,
)


def _places_subquery():
    """The currency's decimal places, in the same query as the rows."""
    return Subquery(Currency.objects.filter(code=OuterRef("currency")).values("decimal_places")[:1])


def _money(row, amount) -> str:
    places = getattr(row, "currency_places", None)
    return format_money(amount, 2 if places is None else places)


ADDRESS_TEMPLATE = "admin/invoices/address_block.html"
EXPORT_TEMPLATE = "admin/invoices/export.html"
MAX_EXPORT_DAYS = 400


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


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


class MarkPaidPageForm(ApiCheckedForm):
    serializer_class = MarkPaidRequestSerializer

    payment_reference = forms.CharField(
        max_length=MAX_REFERENCE_LENGTH,
        initial=DEFAULT_PAYMENT_REFERENCE,
        help_text="The bank transfer's reference (stored as the payment's external id).",
    )
    payment_method = forms.CharField(
        max_length=MAX_METHOD_LABEL_LENGTH,
        required=False,
        help_text='How it was paid, for the record (default "manual").',
    )
    amount = forms.DecimalField(
        required=False, help_text="Optional; when given it must equal the invoice total."
    )
    paid_at = forms.SplitDateTimeField(
        required=False,
        widget=widgets.UnfoldAdminSplitDateTimeWidget,
        help_text="When the money arrived; not in the future. Default: now.",
    )
    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the audit log.",
    )


class VoidPageForm(ApiCheckedForm):
    serializer_class = VoidRequestSerializer

    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the audit log.",
    )


class RefundPageForm(ApiCheckedForm):
    serializer_class = RefundRequestSerializer

    amount = forms.DecimalField(
        required=False,
        help_text="Leave empty to refund all that is refundable; less is a partial refund.",
    )
    refund_reference = forms.CharField(
        max_length=MAX_REFERENCE_LENGTH,
        required=False,
        help_text='Default: the gateway\'s refund id, or "ADMIN_REFUND" when no gateway is called.',
    )
    record_only = forms.BooleanField(
        required=False,
        help_text="Only record a refund already made at the provider or by bank transfer; the "
        "gateway is not called.",
    )
    force = forms.BooleanField(
        required=False,
        help_text="Claw back the tokens that are left when the balance is short; the rest is "
        "recorded as a shortfall.",
    )
    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Internal reason",
        help_text="For staff: kept in the audit log, never printed on the credit note.",
    )
    customer_reason = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        label="Reason on the credit note",
        help_text="Optional; printed on the credit note the customer receives.",
    )


class ExportForm(StyledForm):
    first = forms.DateField(label="From", widget=widgets.UnfoldAdminSingleDateWidget)
    last = forms.DateField(label="To (included)", widget=widgets.UnfoldAdminSingleDateWidget)

    def clean(self):
        cleaned = super().clean()
        first, last = cleaned.get("first"), cleaned.get("last")
        if first and last and last < first:
            raise forms.ValidationError("The range ends before it starts")
        if first and last and (last - first).days >= MAX_EXPORT_DAYS:
            raise forms.ValidationError(f"Export at most {MAX_EXPORT_DAYS} days at a time")
        return cleaned


class CsvExportMixin:
    """A list's "Export CSV" button: asks for a range of days, then downloads the rows."""

    export_explanation = ""

    def _export(self, request, build, name: str):
        if request.method == "POST":
            form = ExportForm(request.POST)
            if form.is_valid():
                days = DayRange(form.cleaned_data["first"], form.cleaned_data["last"])
                response = StreamingHttpResponse(
                    build(days), content_type="text/csv; charset=utf-8"
                )
                response["Content-Disposition"] = (
                    f'attachment; filename="{name}-{days.first}-{days.last}.csv"'
                )
                return response
        else:
            today = timezone.now().date()
            form = ExportForm(initial={"first": today.replace(day=1), "last": today})
        return render(
            request,
            EXPORT_TEMPLATE,
            {
                **self.admin_site.each_context(request),
                "title": f"Export {self.model._meta.verbose_name_plural} as CSV",
                "explanation": self.export_explanation,
                "opts": self.model._meta,
                "form": form,
                "cancel_url": reverse(
                    f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_changelist"
                ),
            },
        )


class PdfActionsMixin:
    """Detail-page actions that open or download the stored PDF of the page's document and
    download its e-invoice (the CII XML in either profile, the hybrid PDF); the admin names the
    document's file and number (``pdf_of``) and its 404 (``pdf_not_found``).

    A document that lacks a field its e-invoice requires gets no file: the page comes back with
    a notice naming each missing field and where it is kept."""

    pdf_not_found = "Not found"
    # The detail-page group of these actions.
    pdf_actions = [
        "view_pdf",
        "download_pdf",
        "download_hybrid_pdf",
        "download_xml",
        "download_xrechnung_xml",
    ]

    def pdf_of(self, document) -> tuple[bytes, str]:
        raise NotImplementedError

    def _document(self, request, object_id):
        document = self.get_object(request, object_id)
        if document is None:
            raise Http404(self.pdf_not_found)
        return document

    def _pdf(self, request, object_id, disposition: str) -> HttpResponse:
        content, number = self.pdf_of(self._document(request, object_id))
        response = HttpResponse(content, content_type="application/pdf")
        response["Content-Disposition"] = f'{disposition}; filename="{number}.pdf"'
        return response

    def _einvoice(self, request, object_id, build) -> HttpResponse:
        """``build(document)`` → the response; an incomplete document → its page with the
        notice."""
        document = self._document(request, object_id)
        try:
            return build(document)
        except einvoice.EInvoiceIncomplete as incomplete:
            messages.error(request, incomplete.message)
            meta = document._meta
            return redirect(
                reverse(f"admin:{meta.app_label}_{meta.model_name}_change", args=[document.pk])
            )

    @staticmethod
    def _number(document) -> str:
        return getattr(document, "invoice_number", None) or document.credit_note_number

    def _xml(self, request, object_id, profile: einvoice.Profile) -> HttpResponse:
        return self._einvoice(
            request,
            object_id,
            lambda document: xml_response(document, self._number(document), profile),
        )

    @action(description="Download hybrid PDF (Factur-X / ZUGFeRD)", url_path="pdf-hybrid",
            icon="picture_as_pdf")  # fmt: skip
    def download_hybrid_pdf(self, request, object_id):
        def build(document) -> HttpResponse:
            response = HttpResponse(stored_hybrid_pdf(document), content_type="application/pdf")
            number = self._number(document)
            response["Content-Disposition"] = f'attachment; filename="{number}.pdf"'
            return response

        return self._einvoice(request, object_id, build)

    @action(description="Download XML (EN 16931)", url_path="xml", icon="code")
    def download_xml(self, request, object_id):
        return self._xml(request, object_id, einvoice.EN16931)

    @action(description="Download XML (XRechnung)", url_path="xml-xrechnung", icon="code")
    def download_xrechnung_xml(self, request, object_id):
        return self._xml(request, object_id, einvoice.XRECHNUNG)

    @action(description="View PDF", url_path="pdf", icon="visibility", attrs={"target": "_blank"})
    def view_pdf(self, request, object_id):
        return self._pdf(request, object_id, "inline")

    @action(description="Download PDF", url_path="pdf-download", icon="download")
    def download_pdf(self, request, object_id):
        return self._pdf(request, object_id, "attachment")


class InvoiceLineInline(ReadOnlyInline):
    model = InvoiceLine
    fields = (
        "position",
        "type",
        "description",
        "quantity",
        "unit_price_display",
        "net_display",
        "tax_rate",
        "tax_display",
        "gross_display",
        "period_start",
        "period_end",
    )
    ordering = ("position",)

    def get_queryset(self, request):
        places = Currency.objects.filter(code=OuterRef("invoice__currency")).values(
            "decimal_places"
        )[:1]
        return super().get_queryset(request).annotate(currency_places=Subquery(places))

    @admin.display(description="unit price")
    def unit_price_display(self, line: InvoiceLine) -> str:
        return _money(line, line.unit_price)

    @admin.display(description="net")
    def net_display(self, line: InvoiceLine) -> str:
        return _money(line, line.amount)

    @admin.display(description="tax")
    def tax_display(self, line: InvoiceLine) -> str:
        return _money(line, line.tax_amount)

    @admin.display(description="gross")
    def gross_display(self, line: InvoiceLine) -> str:
        return _money(line, line.gross_amount)


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
        "payment",
        "gateway",
        "provider_payment",
        "amount_display",
        "status",
        "refunded_display",
        "captured_at",
        "failure_reason",
    )
    ordering = ("created_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(currency_places=_places_subquery())

    @admin.display(description="created")
    def payment(self, payment: Payment) -> str:
        return admin_link(payment, _when(payment.created_at))

    @admin.display(description="amount")
    def amount_display(self, payment: Payment) -> str:
        return _money_with_currency(payment, payment.amount)

    @admin.display(description="refunded")
    def refunded_display(self, payment: Payment) -> str:
        return _money_with_currency(payment, payment.refunded_amount)

    @admin.display(description="provider payment")
    def provider_payment(self, payment: Payment) -> str:
        return provider_link(payment)


class CreditNoteInline(ReadOnlyInline):
    model = CreditNote
    fk_name = "invoice"
    fields = (
        "number",
        "created_at",
        "amount_display",
        "full_refund",
        "reason",
        "customer_reason",
        "refund_reference",
        "created_by",
    )
    ordering = ("created_at",)

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("created_by")
            .annotate(currency_places=_places_subquery())
        )

    @admin.display(description="number")
    def number(self, note: CreditNote) -> str:
        return admin_link(note, note.credit_note_number)

    @admin.display(description="amount")
    def amount_display(self, note: CreditNote) -> str:
        return _money_with_currency(note, note.amount)


@admin.register(Invoice)
class InvoiceAdmin(
    PdfActionsMixin, CsvExportMixin, ObjectActionsMixin, ReasonActionsMixin, ReadOnlyAdmin
):
    list_display = (
        "invoice_number",
        "customer_email",
        "invoice_type",
        "status",
        "total_with_currency",
        "invoiced_at",
        "due_date",
        "needs_review",
    )
    list_filter = (
        "status",
        "invoice_type",
        "currency",
        ("invoiced_at", admin.DateFieldListFilter),
        "needs_review",
    )
    actions_list = ["export_csv"]
    export_explanation = (
        "Invoices issued in the range: number, dates, customer, country, VAT id, net, tax by "
        "rate, gross, refunded, currency and status."
    )
    search_fields = ("invoice_number", "user__email")
    list_select_related = ("user",)
    date_hierarchy = "invoiced_at"
    ordering = ("-invoiced_at", "-invoice_number")
    list_per_page = 50
    inlines = [InvoiceLineInline, PaymentInline, CreditNoteInline]
    # Voiding is the one bulk action (a batch issued by mistake); paying and refunding are
    # decided invoice by invoice, on the invoice's page, where their effect is shown first.
    actions = ["void"]
    actions_detail = [
        {
            "title": "PDF",
            "icon": "picture_as_pdf",
            "items": PdfActionsMixin.pdf_actions,
        },
        {
            "title": "Payment",
            "icon": "payments",
            "items": ["mark_paid_page", "refund_page", "void_page"],
        },
        {
            "title": "Send and copy",
            "icon": "forward_to_inbox",
            "items": ["resend_page", "duplicate_page"],
        },
    ]
    fieldsets = (
        (
            None,
            {"fields": ("invoice_number", "invoice_type", "status", "customer")},
        ),
        (
            "Amounts",
            {
                "fields": (
                    "currency",
                    "subtotal_display",
                    "tax_display",
                    "total_display",
                    "refunded_display",
                    "reverse_charge",
                    "exchange_rate",
                )
            },
        ),
        (
            "Payment",
            {"fields": ("payment_method", "payment_method_name", "payment_ref")},
        ),
        ("Review", {"fields": ("needs_review", "review_reason")}),
        ("Subscription", {"fields": ("subscription_link", "plan_link")}),
        ("Seller and buyer", {"fields": ("seller_block", "buyer_block")}),
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

    def get_readonly_fields(self, request, obj=None):
        return [
            *super().get_readonly_fields(request, obj),
            "customer",
            "subtotal_display",
            "tax_display",
            "total_display",
            "refunded_display",
            "subscription_link",
            "plan_link",
            "seller_block",
            "buyer_block",
        ]

    @admin.display(description="total", ordering="total_amount")
    def total_display(self, invoice: Invoice) -> str:
        return _money(invoice, invoice.total_amount)

    @admin.display(description="total", ordering="total_amount")
    def total_with_currency(self, invoice: Invoice) -> str:
        return _money_with_currency(invoice, invoice.total_amount)

    @admin.display(description="customer", ordering="user__email")
    def customer_email(self, invoice: Invoice) -> str:
        return invoice.user.email

    @action(description="Export CSV", url_path="export", icon="download")
    def export_csv(self, request):
        return self._export(request, invoices_csv, "invoices")

    @admin.display(description="customer")
    def customer(self, invoice: Invoice) -> str:
        return admin_link(invoice.user, invoice.user.email)

    @admin.display(description="net")
    def subtotal_display(self, invoice: Invoice) -> str:
        return _money_with_currency(invoice, invoice.subtotal)

    @admin.display(description="tax")
    def tax_display(self, invoice: Invoice) -> str:
        return _money_with_currency(invoice, invoice.tax_amount)

    @admin.display(description="refunded")
    def refunded_display(self, invoice: Invoice) -> str:
        return _money_with_currency(invoice, invoice.refunded_amount)

    @admin.display(description="subscription")
    def subscription_link(self, invoice: Invoice) -> str:
        if invoice.subscription_id is None:
            return "-"
        url = reverse("admin:subscriptions_subscription_change", args=[invoice.subscription_id])
        return format_html('<a class="font-medium text-primary-600" href="{}">Open</a>', url)

    @admin.display(description="plan")
    def plan_link(self, invoice: Invoice) -> str:
        plan = Plan.objects.filter(pk=invoice.tarif_plan_id).only("pk", "name").first()
        return admin_link(plan, plan.name) if plan else "-"

    @admin.display(description="seller")
    def seller_block(self, invoice: Invoice) -> str:
        return render_to_string(ADDRESS_TEMPLATE, {"block": address_blocks(invoice)[0]})

    @admin.display(description="bill to")
    def buyer_block(self, invoice: Invoice) -> str:
        return render_to_string(ADDRESS_TEMPLATE, {"block": address_blocks(invoice)[1]})

    # --- the page's actions ---------------------------------------------------------------

    def _places_of(self, invoice: Invoice) -> int:
        places = getattr(invoice, "currency_places", None)
        return 2 if places is None else places

    pdf_not_found = "Invoice not found"

    def pdf_of(self, invoice: Invoice) -> tuple[bytes, str]:
        return stored_invoice_pdf(invoice), invoice.invoice_number

    @action(description="Resend by email", url_path="resend", icon="send")
    def resend_page(self, request, object_id):
        def preview(invoice, data):
            return [f"email {invoice.invoice_number} with its PDF to {invoice.user.email}"]

        def apply(invoice, data):
            email = invoice_resend(invoice_id=invoice.pk, actor=request.user)
            return f"{invoice.invoice_number}: sent to {email}"

        return self._object_action(
            request,
            object_id,
            title="Resend the invoice",
            submit="Send",
            preview=preview,
            apply=apply,
        )

    @action(description="Duplicate", url_path="duplicate", icon="content_copy")
    def duplicate_page(self, request, object_id):
        def preview(invoice, data):
            lines = invoice.lines.count()
            return [
                f"issue a new PENDING manual invoice to {invoice.user.email} in "
                f"{invoice.currency}, with a new number",
                f"copy its {lines} line(s) as custom lines (paying the copy activates nothing)",
            ]

        def apply(invoice, data):
            copy = invoice_duplicate(invoice_id=invoice.pk, actor=request.user)
            self.message_user(
                request,
                f"{invoice.invoice_number}: duplicated as {copy.invoice_number}",
                messages.SUCCESS,
            )
            return redirect(reverse("admin:invoices_invoice_change", args=[copy.pk]))

        return self._object_action(
            request,
            object_id,
            title="Duplicate the invoice",
            submit="Duplicate",
            preview=preview,
            apply=apply,
        )

    @action(description="Mark paid", url_path="mark-paid", icon="price_check")
    def mark_paid_page(self, request, object_id):
        def preview(invoice, data):
            paid_at = data.get("paid_at")
            when = _when(paid_at) if paid_at else "now"
            return [
                f"record a payment of {_money_with_currency(invoice, invoice.total_amount)} "
                f"received {when}, reference {data['payment_reference']}",
                f"change the invoice from {invoice.status} to PAID and activate what it sells",
            ]

        def apply(invoice, data):
            result = invoice_mark_paid(
                invoice_id=invoice.pk,
                actor=request.user,
                payment_reference=data["payment_reference"],
                amount=data.get("amount"),
                paid_at=data.get("paid_at"),
                method_label=data.get("payment_method") or MANUAL_GATEWAY,
                reason=data["reason"],
            )
            return f"{invoice.invoice_number}: marked as paid ({result.invoice.status})"

        invoice = self.get_object(request, object_id)
        return self._object_action(
            request,
            object_id,
            title="Mark the invoice as paid",
            submit="Mark paid",
            form_class=MarkPaidPageForm,
            form_kwargs={"context": {"places": self._places_of(invoice) if invoice else 2}},
            preview=preview,
            apply=apply,
        )

    @action(description="Void", url_path="void", icon="block")
    def void_page(self, request, object_id):
        def preview(invoice, data):
            return [
                f"change the invoice from {invoice.status} to CANCELLED (it can no longer be paid)",
                "cancel what its lines would have activated (a pending subscription, add-ons, "
                "token bundles)",
            ]

        def apply(invoice, data):
            invoice_void(invoice_id=invoice.pk, actor=request.user, reason=data["reason"])
            return f"{invoice.invoice_number}: voided"

        return self._object_action(
            request,
            object_id,
            title="Void the invoice",
            submit="Void",
            form_class=VoidPageForm,
            preview=preview,
            apply=apply,
        )

    @action(description="Refund", url_path="refund", icon="undo")
    def refund_page(self, request, object_id):
        def preview(invoice, data):
            plan = invoice_refund_plan(
                invoice=invoice, amount=data.get("amount"), record_only=data["record_only"]
            )
            amount = f"{format_money(plan.amount, plan.places)} {invoice.currency}"
            printed = data.get("customer_reason")
            effect = [
                f"issue a credit note of {amount}, printing "
                + (f"the reason “{printed}”" if printed else "no reason"),
                f"call {plan.gateway} to pay back {amount}"
                if plan.gateway
                else f"only record the refund of {amount} (no gateway is called)",
            ]
            if plan.full_refund:
                effect.append(
                    "complete the refund: the invoice becomes REFUNDED, what it sold is "
                    "reversed and the tokens it granted are clawed back"
                )
            else:
                left = invoice.refundable_amount - plan.amount
                effect.append(
                    f"leave the invoice PAID with {format_money(left, plan.places)} "
                    f"{invoice.currency} still refundable"
                )
            return effect

        def apply(invoice, data):
            outcome = invoice_refund(
                invoice_id=invoice.pk,
                actor=request.user,
                amount=data.get("amount"),
                reason=data["reason"],
                customer_reason=data.get("customer_reason") or None,
                refund_reference=data.get("refund_reference") or None,
                record_only=data["record_only"],
                force=data["force"],
            )
            note = outcome.credit_note
            text = (
                f"{invoice.invoice_number}: refunded {_money_with_currency(invoice, note.amount)}"
                f" ({note})"
            )
            if outcome.tokens_clawed_back or outcome.token_shortfall:
                text += (
                    f"; {outcome.tokens_clawed_back} tokens clawed back, "
                    f"shortfall {outcome.token_shortfall}"
                )
            return text

        invoice = self.get_object(request, object_id)
        return self._object_action(
            request,
            object_id,
            title="Refund the invoice",
            submit="Refund",
            form_class=RefundPageForm,
            form_kwargs={"context": {"places": self._places_of(invoice) if invoice else 2}},
            preview=preview,
            apply=apply,
        )

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


@admin.register(Payment)
class PaymentAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = (
        "created_at",
        "invoice",
        "customer_email",
        "gateway",
        "provider_payment",
        "amount_display",
        "status",
        "refunded_display",
        "captured_at",
    )
    list_filter = (
        "status",
        "gateway",
        "currency",
        ("captured_at", admin.DateFieldListFilter),
        # The dashboard's failed renewal charges: FAILED payments of unpaid RENEWAL invoices.
        ("invoice__invoice_type", admin.ChoicesFieldListFilter),
        ("invoice__status", admin.ChoicesFieldListFilter),
    )
    actions_list = ["export_csv"]
    export_explanation = (
        "Payments received in the range: invoice number, dates, customer, country, VAT id, "
        "gateway, provider reference, gross, refunded, currency and status."
    )
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
        return _money_with_currency(payment, payment.amount)

    @admin.display(description="refunded", ordering="refunded_amount")
    def refunded_display(self, payment: Payment) -> str:
        return _money_with_currency(payment, payment.refunded_amount)

    @admin.display(description="customer", ordering="user__email")
    def customer_email(self, payment: Payment) -> str:
        return payment.user.email

    @action(description="Export CSV", url_path="export", icon="download")
    def export_csv(self, request):
        return self._export(request, payments_csv, "payments")

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
        "amount_display",
        "status",
        "provider_refund_id",
        "credit_note",
        "failure_reason",
        "call_started_at",
    )
    list_filter = ("status",)
    search_fields = ("invoice__invoice_number", "invoice__user__email", "provider_refund_id")
    list_select_related = ("invoice", "credit_note")
    ordering = ("-created_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(currency_places=_places_subquery())

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, refund: Refund) -> str:
        return _money_with_currency(refund, refund.amount)


@admin.register(CreditNote)
class CreditNoteAdmin(PdfActionsMixin, CsvExportMixin, ReadOnlyAdmin):
    actions_detail = PdfActionsMixin.pdf_actions
    actions_list = ["export_csv"]
    export_explanation = (
        "Credit notes issued in the range: number, dates, invoice, customer, country, VAT id, "
        "net, tax by rate, gross, currency and kind."
    )
    list_display = (
        "credit_note_number",
        "invoice",
        "customer_email",
        "amount_display",
        "full_refund",
        "tokens_clawed_back",
        "token_shortfall",
        "created_by",
        "created_at",
        "reversed_at",
    )
    list_filter = ("full_refund", "currency", ("created_at", admin.DateFieldListFilter))
    search_fields = ("credit_note_number", "invoice__invoice_number", "user__email")
    list_select_related = ("invoice", "user", "created_by")
    date_hierarchy = "created_at"
    ordering = ("-created_at", "-credit_note_number")
    list_per_page = 50

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(currency_places=_places_subquery())

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, note: CreditNote) -> str:
        return _money_with_currency(note, note.amount)

    @admin.display(description="customer", ordering="user__email")
    def customer_email(self, note: CreditNote) -> str:
        return note.user.email

    @action(description="Export CSV", url_path="export", icon="download")
    def export_csv(self, request):
        return self._export(request, credit_notes_csv, "credit-notes")

    pdf_not_found = "Credit note not found"

    def pdf_of(self, note: CreditNote) -> tuple[bytes, str]:
        return stored_credit_note_pdf(note), note.credit_note_number


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
