"""Back office: payment methods with their translations inline.

Every write goes through ``billing.catalog.services.payment_methods`` (validation, row locks,
audit). The active and default flags change only through the actions; the code is immutable.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.http import HttpResponseRedirect
from django.urls import reverse
from unfold.admin import ModelAdmin, StackedInline

from billing.catalog.models import PaymentMethod, PaymentMethodTranslation
from billing.catalog.serializers.payment_method_input import (
    PaymentMethodInputSerializer,
    PaymentMethodTranslationInputSerializer,
)
from billing.catalog.services import payment_methods as services
from vbwd.admin_tools import StyledModelForm
from vbwd.exceptions import DomainError, ValidationFailed

EDITABLE_FIELDS = (
    "code",
    "name",
    "short_description",
    "description",
    "instructions",
    "icon",
    "plugin_id",
    "is_active",
    "position",
    "min_amount",
    "max_amount",
    "currencies",
    "countries",
    "fee_type",
    "fee_amount",
    "fee_charged_to",
    "config",
)


def _split_codes(value: str) -> list[str]:
    return [part.strip() for part in (value or "").replace(";", ",").split(",") if part.strip()]


def _add_errors(form: forms.BaseForm, errors: dict) -> None:
    for field, field_messages in errors.items():
        target = field if field in form.fields else None
        for message in field_messages:
            form.add_error(target, str(message))


def _add_domain_error(form: forms.BaseForm, error: DomainError) -> None:
    if isinstance(error, ValidationFailed) and error.errors:
        _add_errors(form, error.errors)
    else:
        form.add_error(None, error.message)


class PaymentMethodForm(StyledModelForm):
    """Checks with the same rules as the API; ``service_input`` is what the service receives."""

    plugin_id = forms.ChoiceField(
        required=False, label="Gateway plugin", help_text="Empty for an offline method."
    )
    currencies = forms.CharField(
        required=False, help_text="Comma-separated ISO 4217 codes; empty allows every currency."
    )
    countries = forms.CharField(
        required=False, help_text="Comma-separated ISO 3166 codes; empty allows every country."
    )

    class Meta:
        model = PaymentMethod
        fields = EDITABLE_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.service_input: dict = {}
        choices = [("", "— offline —")] + [(key, key) for key in services.gateway_plugins()]
        adding = self.instance._state.adding  # a new row already has its UUID
        current = None if adding else self.instance.plugin_id
        if current and current not in dict(choices):
            choices.append((current, f"{current} (not installed)"))
        self.fields["plugin_id"].choices = choices
        if not adding:
            self.initial["currencies"] = ", ".join(self.instance.currencies or [])
            self.initial["countries"] = ", ".join(self.instance.countries or [])

    def clean_currencies(self):
        return _split_codes(self.cleaned_data.get("currencies"))

    def clean_countries(self):
        return _split_codes(self.cleaned_data.get("countries"))

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        method = None if self.instance._state.adding else self.instance
        if method is None:
            raw = {field: cleaned.get(field) for field in self.fields if field in cleaned}
        else:
            raw = {field: cleaned.get(field) for field in self.changed_data if field in cleaned}
        serializer = PaymentMethodInputSerializer(data=raw, context={"method": method})
        if not serializer.is_valid():
            _add_errors(self, serializer.errors)
            return cleaned
        self.service_input = dict(serializer.validated_data)
        try:
            services.payment_method_check(method=method, data=self.service_input)
        except DomainError as error:
            _add_domain_error(self, error)
        return cleaned


def _translation_input(cleaned: dict) -> dict:
    """The translation form's values as the service takes them (the form already checked them)."""
    serializer = PaymentMethodTranslationInputSerializer(data=cleaned)
    serializer.is_valid(raise_exception=True)
    return dict(serializer.validated_data)


class PaymentMethodTranslationForm(StyledModelForm):
    class Meta:
        model = PaymentMethodTranslation
        fields = ("locale", "name", "short_description", "description", "instructions")

    def clean_locale(self):
        try:
            return services.canonical_locale(self.cleaned_data.get("locale"))
        except ValidationFailed as error:
            raise forms.ValidationError(error.message) from None


class PaymentMethodTranslationInline(StackedInline):
    model = PaymentMethodTranslation
    form = PaymentMethodTranslationForm
    extra = 0
    fields = ("locale", "name", "short_description", "description", "instructions")


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ModelAdmin):
    form = PaymentMethodForm
    inlines = [PaymentMethodTranslationInline]
    list_display = (
        "code",
        "name",
        "kind",
        "plugin_id",
        "is_active",
        "is_default",
        "available",
        "position",
        "fee_type",
    )
    list_filter = ("is_active", "is_default", "fee_type", "fee_charged_to", "plugin_id")
    search_fields = ("code", "name", "plugin_id")
    ordering = ("position", "name")
    actions = ["activate_methods", "deactivate_methods", "make_default", "delete_methods"]
    fieldsets = (
        (None, {"fields": ("code", "name", "plugin_id", "kind", "is_active", "is_default")}),
        ("Texts", {"fields": ("short_description", "description", "instructions", "icon")}),
        (
            "Availability",
            {"fields": ("position", "min_amount", "max_amount", "currencies", "countries")},
        ),
        ("Fee", {"fields": ("fee_type", "fee_amount", "fee_charged_to")}),
        ("Configuration", {"fields": ("config", "id", "created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        readonly = ["kind", "is_default", "id", "created_at", "updated_at"]
        if obj is not None:
            readonly += ["code", "is_active"]  # immutable / changed by the actions
        return readonly

    @admin.display(description="kind")
    def kind(self, obj):
        return "—" if obj._state.adding else services.payment_method_kind(obj)

    @admin.display(description="available", boolean=True)
    def available(self, obj):
        return services.payment_method_is_available(obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Replaced by delete_methods, which goes through the service (default and usage rules).
        actions.pop("delete_selected", None)
        return actions

    # --- saving through the services ---

    def save_model(self, request, obj, form, change):
        if change:
            services.payment_method_update(method=obj, data=form.service_input, actor=request.user)
            obj.refresh_from_db()
            return
        created = services.payment_method_create(data=form.service_input, actor=request.user)
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db
        obj.refresh_from_db()

    def save_formset(self, request, form, formset, change):
        if formset.model is not PaymentMethodTranslation:
            return super().save_formset(request, form, formset, change)
        # What Django's change message reads from a saved formset.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        method = form.instance
        for translation_form in formset.forms:
            translation = translation_form.instance
            original_locale = None if translation._state.adding else translation.locale
            if formset.can_delete and formset._should_delete_form(translation_form):
                if original_locale:
                    services.payment_method_translation_delete(
                        method=method, locale=original_locale, actor=request.user
                    )
                    formset.deleted_objects.append(translation)
                continue
            if not translation_form.has_changed():
                continue
            texts = _translation_input(translation_form.cleaned_data)
            locale = texts.pop("locale")
            if original_locale and original_locale != locale:
                services.payment_method_translation_delete(
                    method=method, locale=original_locale, actor=request.user
                )
            saved = services.payment_method_translation_save(
                method=method, locale=locale, data=texts, actor=request.user
            )
            if original_locale:
                formset.changed_objects.append((saved, translation_form.changed_data))
            else:
                formset.new_objects.append(saved)
        return None

    def delete_model(self, request, obj):
        services.payment_method_delete(method=obj, actor=request.user)

    def delete_view(self, request, object_id, extra_context=None):
        try:
            return super().delete_view(request, object_id, extra_context)
        except DomainError as error:
            # The delete transaction has been rolled back; back to the change page.
            self.message_user(request, error.message, messages.ERROR)
            return HttpResponseRedirect(
                reverse("admin:catalog_paymentmethod_change", args=[object_id])
            )

    # --- actions ---

    def _apply(self, request, queryset, service, verb: str) -> None:
        done = 0
        for method in queryset:
            try:
                service(method=method, actor=request.user)
                done += 1
            except DomainError as error:
                self.message_user(request, f"{method.code}: {error.message}", messages.ERROR)
        if done:
            self.message_user(request, f"{done} payment method(s) {verb}.", messages.SUCCESS)

    @admin.action(description="Activate selected payment methods")
    def activate_methods(self, request, queryset):
        self._apply(request, queryset, services.payment_method_activate, "activated")

    @admin.action(description="Deactivate selected payment methods")
    def deactivate_methods(self, request, queryset):
        self._apply(request, queryset, services.payment_method_deactivate, "deactivated")

    @admin.action(description="Make the selected payment method the default")
    def make_default(self, request, queryset):
        if queryset.count() != 1:
            self.message_user(
                request, "Select exactly one payment method to make it the default.", messages.ERROR
            )
            return
        self._apply(request, queryset, services.payment_method_set_default, "made the default")

    @admin.action(description="Delete selected payment methods")
    def delete_methods(self, request, queryset):
        self._apply(request, queryset, services.payment_method_delete, "deleted")
