"""Back office of currencies, countries and tax rates. Every save, delete and action goes
through ``services.geography`` (same rules and audit entries as the API); the forms run the
API's input serializers and the service's checks first, so a refusal shows on the form instead
of failing the save."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils import timezone
from unfold.admin import ModelAdmin

from billing.catalog.models import Country, Currency, TaxRate
from billing.catalog.serializers.geography_input import (
    CountryInputSerializer,
    CurrencyInputSerializer,
    TaxRateInputSerializer,
)
from billing.catalog.services import geography
from vbwd.admin_tools import StyledModelForm
from vbwd.exceptions import DomainError, ValidationFailed


def _report(form: forms.Form, error: DomainError) -> None:
    """Puts a service refusal on the form: field errors on their fields, the rest on top."""
    if isinstance(error, ValidationFailed) and error.errors:
        for field, field_messages in error.errors.items():
            form.add_error(field if field in form.fields else None, field_messages)
    else:
        form.add_error(None, error.message)


def _validated(form: forms.Form, serializer) -> dict | None:
    """The serializer's values, or None after putting its errors on the form."""
    if serializer.is_valid():
        return dict(serializer.validated_data)
    for field, field_messages in serializer.errors.items():
        target = field if field in form.fields else None
        form.add_error(target, [str(message) for message in field_messages])
    return None


def _changes(form: forms.ModelForm, cleaned: dict, creating: bool) -> dict:
    """What the service is asked to write: every field on add, the changed ones on edit."""
    names = form.fields if creating else form.changed_data
    return {name: cleaned.get(name) for name in names if name in cleaned}


def _adopt(obj, saved) -> None:
    """Makes the admin's unsaved instance stand for the row the service created."""
    obj.pk = saved.pk
    obj._state.adding = False
    obj._state.db = saved._state.db
    for field in saved._meta.concrete_fields:
        setattr(obj, field.attname, getattr(saved, field.attname))


def _run_each(modeladmin, request, queryset, apply, done_message: str) -> None:
    done = 0
    for obj in queryset:
        try:
            apply(obj)
            done += 1
        except DomainError as error:
            modeladmin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
    if done:
        modeladmin.message_user(request, done_message.format(count=done), messages.SUCCESS)


# --- currencies -----------------------------------------------------------------------------


class CurrencyForm(StyledModelForm):
    class Meta:
        model = Currency
        fields = ("code", "name", "symbol", "decimal_places", "exchange_rate", "is_active")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        creating = self.instance._state.adding
        data = _changes(self, cleaned, creating)
        current = None if creating else self.instance
        serializer = CurrencyInputSerializer(data=data, context={"currency": current})
        self.validated_changes = _validated(self, serializer)
        if self.validated_changes is None or current is None:
            return cleaned
        try:
            geography.check_currency_update(current, self.validated_changes)
        except DomainError as error:
            _report(self, error)
        return cleaned


@admin.register(Currency)
class CurrencyAdmin(ModelAdmin):
    form = CurrencyForm
    list_display = (
        "code",
        "name",
        "symbol",
        "decimal_places",
        "exchange_rate",
        "is_default",
        "is_active",
        "updated_at",
    )
    list_filter = ("is_active", "is_default", "decimal_places")
    search_fields = ("code", "name")
    ordering = ("-is_default", "code")
    actions = ["make_default", "activate_currencies", "deactivate_currencies"]
    readonly_fields = ("id", "is_default", "created_at", "updated_at")

    def get_fields(self, request, obj=None):
        fields = ["code", "name", "symbol", "decimal_places", "exchange_rate", "is_active"]
        return fields if obj is None else [*fields, *self.readonly_fields]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = ["code", *self.readonly_fields]
        if obj.is_default:
            readonly.append("exchange_rate")  # always 1 for the default
        return readonly

    def save_model(self, request, obj, form, change):
        if change:
            geography.currency_update(currency=obj, data=form.validated_changes, actor=request.user)
            obj.refresh_from_db()
        else:
            _adopt(obj, geography.currency_create(data=form.validated_changes, actor=request.user))

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for currency in objs:
            try:
                geography.check_currency_delete(currency)
            except DomainError as error:
                protected.append(f"{currency.code}: {error.message}")
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        geography.currency_delete(currency=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for currency in queryset:
            geography.currency_delete(currency=currency, actor=request.user)

    @admin.action(description="Make the selected currency the default (rebases all rates)")
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(request, "Select exactly one currency.", messages.ERROR)
            return
        currency = queryset.get()
        try:
            geography.currency_set_default(currency=currency, actor=request.user)
        except DomainError as error:
            self.message_user(request, f"{currency.code}: {error.message}", messages.ERROR)
            return
        self.message_user(
            request, f"{currency.code} is now the default currency.", messages.SUCCESS
        )

    @admin.action(description="Activate selected currencies")
    def activate_currencies(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda currency: geography.currency_update(
                currency=currency, data={"is_active": True}, actor=request.user
            ),
            "{count} currency(ies) activated.",
        )

    @admin.action(description="Deactivate selected currencies")
    def deactivate_currencies(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda currency: geography.currency_update(
                currency=currency, data={"is_active": False}, actor=request.user
            ),
            "{count} currency(ies) deactivated.",
        )


# --- countries ------------------------------------------------------------------------------


class CountryForm(StyledModelForm):
    class Meta:
        model = Country
        fields = ("name", "is_eu", "position")

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        serializer = CountryInputSerializer(
            data=_changes(self, cleaned, creating=False), context={"country": self.instance}
        )
        self.validated_changes = _validated(self, serializer)
        return cleaned


@admin.register(Country)
class CountryAdmin(ModelAdmin):
    """Reference data: countries are enabled, disabled, renamed and ordered, never added or
    deleted here."""

    form = CountryForm
    list_display = ("code", "name", "is_enabled", "position", "is_eu")
    list_filter = ("is_enabled", "is_eu")
    search_fields = ("code", "name")
    ordering = ("-is_enabled", "position", "name")
    actions = ["enable_countries", "disable_countries"]
    fields = ("id", "code", "name", "is_eu", "is_enabled", "position", "created_at", "updated_at")
    list_per_page = 100

    def get_readonly_fields(self, request, obj=None):
        readonly = ["id", "code", "is_enabled", "created_at", "updated_at"]
        if obj is not None and not obj.is_enabled:
            readonly.append("position")  # 999 while disabled
        return readonly

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        geography.country_update(country=obj, data=form.validated_changes, actor=request.user)
        obj.refresh_from_db()

    @admin.action(description="Enable selected countries (appended after the enabled ones)")
    def enable_countries(self, request, queryset):
        _run_each(
            self,
            request,
            queryset.order_by("name"),
            lambda country: geography.country_enable(country=country, actor=request.user),
            "{count} country(ies) enabled.",
        )

    @admin.action(description="Disable selected countries")
    def disable_countries(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda country: geography.country_disable(country=country, actor=request.user),
            "{count} country(ies) disabled.",
        )


# --- tax rates ------------------------------------------------------------------------------


class TaxRateForm(StyledModelForm):
    country_code = forms.ChoiceField(choices=())

    class Meta:
        model = TaxRate
        fields = geography.TAX_RATE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "country_code" in self.fields:
            self.fields["country_code"].choices = [
                (code, f"{code} {name}")
                for code, name in Country.objects.order_by("code").values_list("code", "name")
            ]
        if "valid_from" in self.fields and self.instance._state.adding:
            self.fields["valid_from"].initial = timezone.now().date

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        creating = self.instance._state.adding
        serializer = TaxRateInputSerializer(
            data=_changes(self, cleaned, creating), context={"creating": creating}
        )
        self.validated_changes = _validated(self, serializer)
        if self.validated_changes is None:
            return cleaned
        if creating:
            values = {**geography.TAX_RATE_DEFAULTS, "valid_from": timezone.now().date()}
            self.validated_changes = {**values, **self.validated_changes}
        try:
            geography.check_tax_rate(
                self.validated_changes, tax_rate=None if creating else self.instance
            )
        except DomainError as error:
            _report(self, error)
        return cleaned


@admin.register(TaxRate)
class TaxRateAdmin(ModelAdmin):
    form = TaxRateForm
    list_display = (
        "code",
        "country_code",
        "region_code",
        "name",
        "rate",
        "is_inclusive",
        "is_active",
        "valid_from",
        "valid_to",
        "in_use",
    )
    list_filter = ("is_active", "is_inclusive", "country_code")
    search_fields = ("code", "name", "country_code", "region_code")
    ordering = ("country_code", "region_code", "-valid_from")
    date_hierarchy = "valid_from"
    actions = ["activate_tax_rates", "deactivate_tax_rates"]

    @admin.display(boolean=True, description="on invoices")
    def in_use(self, tax_rate) -> bool:
        return geography.tax_rate_in_use(tax_rate)

    def get_fields(self, request, obj=None):
        fields = list(geography.TAX_RATE_FIELDS)
        return fields if obj is None else [*fields, "in_use", "created_at", "updated_at"]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        readonly = ["in_use", "created_at", "updated_at"]
        if geography.tax_rate_in_use(obj):
            readonly += [
                field
                for field in geography.TAX_RATE_FIELDS
                if field not in geography.TAX_RATE_FIELDS_AFTER_USE
            ]
        return readonly

    def save_model(self, request, obj, form, change):
        if change:
            geography.tax_rate_update(tax_rate=obj, data=form.validated_changes, actor=request.user)
            obj.refresh_from_db()
        else:
            _adopt(obj, geography.tax_rate_create(data=form.validated_changes, actor=request.user))

    def get_deleted_objects(self, objs, request):
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        for tax_rate in objs:
            try:
                geography.check_tax_rate_delete(tax_rate)
            except DomainError as error:
                protected.append(f"{tax_rate.code}: {error.message}")
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        geography.tax_rate_delete(tax_rate=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for tax_rate in queryset:
            geography.tax_rate_delete(tax_rate=tax_rate, actor=request.user)

    @admin.action(description="Activate selected tax rates")
    def activate_tax_rates(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda tax_rate: geography.tax_rate_set_active(
                tax_rate=tax_rate, is_active=True, actor=request.user
            ),
            "{count} tax rate(s) activated.",
        )

    @admin.action(description="Deactivate selected tax rates")
    def deactivate_tax_rates(self, request, queryset):
        _run_each(
            self,
            request,
            queryset,
            lambda tax_rate: geography.tax_rate_set_active(
                tax_rate=tax_rate, is_active=False, actor=request.user
            ),
            "{count} tax rate(s) deactivated.",
        )
