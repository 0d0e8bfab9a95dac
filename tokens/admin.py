"""Back office for token bundles: every write (add, change, delete, activate, deactivate) goes
through tokens.services, so validation and the audit log are the same as in the API."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.db.models import OuterRef, Subquery
from django.http import HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from unfold.admin import ModelAdmin

from billing.catalog.models import Currency
from billing.catalog.pricing import format_money
from tokens import services
from tokens.models import TokenBalance, TokenBundle, TokenTransaction
from tokens.selectors import purchase_count_of_bundle
from tokens.serializers import TokenBundleWriteSerializer
from tokens.services import ledger
from vbwd import admin_tools
from vbwd.admin_tools import StyledForm, StyledModelForm
from vbwd.exceptions import DomainError, ValidationFailed

FORM_FIELDS = tuple(TokenBundleWriteSerializer().fields)


class TokenBundleForm(StyledModelForm):
    currency = forms.ChoiceField(choices=())

    class Meta:
        model = TokenBundle
        fields = FORM_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        currencies = {
            currency.code: currency
            for currency in Currency.objects.filter(is_active=True).order_by("-is_default", "code")
        }
        editing = not self.instance._state.adding
        current = self.instance.currency if editing else None
        if current and current not in currencies:
            # A bundle keeps its currency when that currency is deactivated later.
            currencies.update(
                {currency.code: currency for currency in Currency.objects.filter(code=current)}
            )
        self.fields["currency"].choices = [(code, code) for code in currencies]
        if editing and current in currencies:
            # Shown with the currency's places rather than the column's four.
            places = currencies[current].decimal_places
            self.initial["price"] = format_money(self.instance.price, places)
        elif not editing:
            default = next((code for code, row in currencies.items() if row.is_default), None)
            self.initial.setdefault("currency", default)
        self.service_input: dict = {}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        editing = not self.instance._state.adding
        data = {
            field: cleaned.get(field)
            for field in FORM_FIELDS
            if not editing or field in self.changed_data
        }
        if data.get("price") is not None:
            # The form field allows the column's four places; trailing zeros are not places.
            data["price"] = services.significant_price(data["price"])
        serializer = TokenBundleWriteSerializer(data=data, partial=editing)
        if not serializer.is_valid():
            self._add_errors({field: list(found) for field, found in serializer.errors.items()})
            return cleaned
        try:
            services.bundle_values_check(
                serializer.validated_data, bundle=self.instance if editing else None
            )
        except ValidationFailed as error:
            self._add_errors(error.errors or {})
        self.service_input = serializer.validated_data
        return cleaned

    def _add_errors(self, errors: dict) -> None:
        for field, field_messages in errors.items():
            self.add_error(field if field in self.fields else None, field_messages)


@admin.register(TokenBundle)
class TokenBundleAdmin(ModelAdmin):
    form = TokenBundleForm
    list_display = (
        "name",
        "token_amount",
        "price_display",
        "currency",
        "is_active",
        "sort_order",
        "updated_at",
    )
    list_filter = ("is_active", "currency")
    search_fields = ("name", "description")
    ordering = ("sort_order", "name")
    readonly_fields = ("id", "created_at", "updated_at")
    actions = ["activate_bundles", "deactivate_bundles"]
    fieldsets = (
        (None, {"fields": ("name", "description", "token_amount")}),
        ("Price", {"fields": ("price", "currency")}),
        ("Catalog", {"fields": ("is_active", "sort_order")}),
        ("Record", {"fields": ("id", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        # The currency's places for the price column, in the same query as the rows.
        places = Currency.objects.filter(code=OuterRef("currency")).values("decimal_places")[:1]
        return super().get_queryset(request).annotate(currency_places=Subquery(places))

    @admin.display(description="price", ordering="price")
    def price_display(self, bundle: TokenBundle) -> str:
        places = getattr(bundle, "currency_places", None)
        return format_money(bundle.price, 2 if places is None else places)

    def save_model(self, request, obj, form, change):
        if change:
            services.token_bundle_update(bundle=obj, values=form.service_input, actor=request.user)
            return
        created = services.token_bundle_create(values=form.service_input, actor=request.user)
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db

    def delete_view(self, request, object_id, extra_context=None):
        bundle = self.get_object(request, unquote(object_id))
        if bundle is not None and purchase_count_of_bundle(bundle) > 0:
            self.message_user(request, services.HAS_PURCHASES, messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:tokens_tokenbundle_change", args=[bundle.pk])
            )
        return super().delete_view(request, object_id, extra_context)

    def delete_model(self, request, obj):
        try:
            services.token_bundle_delete(bundle=obj, actor=request.user)
        except DomainError as error:
            self.message_user(request, f"{obj.name}: {error.message}", messages.ERROR)

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, _protected = super().get_deleted_objects(objs, request)
        # Purchases protect a bought bundle; the delete service refuses it by name, one by one,
        # while the others selected are still deleted.
        return deleted, model_count, perms_needed, []

    def delete_queryset(self, request, queryset):
        for bundle in queryset:
            self.delete_model(request, bundle)

    def _each(self, request, queryset, apply, done: str) -> None:
        count = 0
        for bundle in queryset:
            try:
                apply(bundle=bundle, actor=request.user)
                count += 1
            except DomainError as error:
                self.message_user(request, f"{bundle.name}: {error.message}", messages.ERROR)
        if count:
            self.message_user(request, f"{count} token bundle(s) {done}.", messages.SUCCESS)

    @admin.action(description="Activate selected token bundles")
    def activate_bundles(self, request, queryset):
        self._each(request, queryset, services.token_bundle_activate, "activated")

    @admin.action(description="Deactivate selected token bundles")
    def deactivate_bundles(self, request, queryset):
        self._each(request, queryset, services.token_bundle_deactivate, "deactivated")


# --- balances and the ledger: read-only; changes only through the ledger service ------------


class AdjustBalanceForm(StyledForm):
    amount = forms.IntegerField(help_text="Tokens to add; negative to take away.")
    reason = forms.CharField(max_length=255)

    def clean_amount(self):
        amount = self.cleaned_data["amount"]
        if amount == 0:
            raise forms.ValidationError("amount must be a non-zero integer")
        return amount


class ReadOnlyAdmin(admin_tools.ReadOnlyAdmin):
    """Read-only; the detail page lists the model's editable fields only."""

    def get_readonly_fields(self, request, obj=None):
        return self.readonly_fields


# --- the customer's page: their balance and ledger -------------------------------------------


class CustomerTokenBalanceInline(admin_tools.CustomerSectionInline):
    model = TokenBalance
    verbose_name = "token balance"
    verbose_name_plural = "token balance"
    section_order = 50
    fields = ("tokens", "updated_at")
    ordering = ("pk",)

    @admin.display(description="balance")
    def tokens(self, balance: TokenBalance) -> str:
        return admin_tools.admin_link(balance, f"{balance.balance} tokens")


class CustomerTokenLedgerInline(admin_tools.CustomerSectionInline):
    model = TokenTransaction
    verbose_name_plural = "token ledger"
    section_order = 60
    fields = ("entry", "transaction_type", "amount", "balance_after", "description")
    ordering = ("-created_at", "-pk")

    @admin.display(description="when")
    def entry(self, row: TokenTransaction) -> str:
        return admin_tools.admin_link(
            row, timezone.localtime(row.created_at).strftime("%Y-%m-%d %H:%M")
        )


CUSTOMER_SECTIONS = (CustomerTokenBalanceInline, CustomerTokenLedgerInline)


@admin.register(TokenBalance)
class TokenBalanceAdmin(ReadOnlyAdmin):
    list_display = ("user", "balance", "updated_at")
    search_fields = ("user__email",)
    list_select_related = ("user",)
    ordering = ("-updated_at",)
    actions = ["adjust_balance"]

    def get_actions(self, request):
        # The bulk "delete" action is never offered; adjusting needs the change right on users.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    @admin.action(description="Adjust balance (asks for a reason)")
    def adjust_balance(self, request, queryset):
        if "apply" in request.POST:
            form = AdjustBalanceForm(request.POST)
            if form.is_valid():
                for balance in queryset.select_related("user"):
                    try:
                        ledger.tokens_adjust(
                            user=balance.user,
                            actor=request.user,
                            reason=form.cleaned_data["reason"],
                            amount=form.cleaned_data["amount"],
                        )
                    except DomainError as error:
                        self.message_user(
                            request, f"{balance.user.email}: {error.message}", messages.ERROR
                        )
                    else:
                        self.message_user(
                            request, f"{balance.user.email}: balance adjusted", messages.SUCCESS
                        )
                return None
        else:
            form = AdjustBalanceForm()
        return render(
            request,
            "admin/tokens/adjust_balance.html",
            {
                **self.admin_site.each_context(request),
                "title": "Adjust token balance",
                "form": form,
                "balances": queryset.select_related("user"),
                "selected": request.POST.getlist(admin.helpers.ACTION_CHECKBOX_NAME),
                "opts": self.model._meta,
            },
        )


@admin.register(TokenTransaction)
class TokenTransactionAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "user",
        "transaction_type",
        "amount",
        "balance_after",
        "description",
        "created_by",
    )
    list_filter = ("transaction_type", "reference_type")
    search_fields = ("user__email", "description", "reference_id")
    list_select_related = ("user", "created_by")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
