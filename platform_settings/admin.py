"""The settings page of the back office: one row, validated and saved through the service."""

from django import forms
from django.contrib import admin
from django.shortcuts import redirect
from django.urls import reverse
from stdnum import iban
from unfold.admin import ModelAdmin

from accounts.countries import country_code_for
from platform_settings.models import PlatformSettings
from platform_settings.selectors import platform_settings_get
from platform_settings.serializers import SETTINGS_KEYS, SettingsInputSerializer
from platform_settings.services import platform_settings_update
from vbwd.admin_tools import StyledModelForm


class PlatformSettingsForm(StyledModelForm):
    # Free text, normalised by the service: a code or a country's name, an IBAN with spaces.
    address_country = forms.CharField(max_length=100, help_text="Code (DE) or name (Germany)")
    bank_iban = forms.CharField(max_length=64, required=False)
    payment_retry_days = forms.CharField(
        help_text="Days after a failed charge on which it is retried, comma-separated (1, 3, 5).",
    )

    class Meta:
        model = PlatformSettings
        fields = list(SETTINGS_KEYS)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance and not self.is_bound:
            self.initial["payment_retry_days"] = ", ".join(
                str(day) for day in self.instance.payment_retry_days
            )

    def clean_address_country(self):
        value = self.cleaned_data["address_country"]
        code = country_code_for(value)
        if code is None:
            raise forms.ValidationError(f"Unknown country: {value}")
        return code

    def clean_bank_iban(self):
        return iban.compact(self.cleaned_data.get("bank_iban") or "")

    def clean_payment_retry_days(self):
        raw = self.cleaned_data["payment_retry_days"]
        try:
            return [int(part) for part in raw.replace(" ", "").split(",") if part]
        except ValueError:
            raise forms.ValidationError("Enter whole numbers separated by commas") from None

    def clean(self):
        cleaned = super().clean()
        changed = {key: cleaned[key] for key in self.changed_data if key in cleaned}
        serializer = SettingsInputSerializer(data=changed, context={"current": self.instance})
        if serializer.is_valid():
            self.validated_changes = dict(serializer.validated_data)
        else:
            for key, messages in serializer.errors.items():
                self.add_error(key if key in self.fields else None, [str(m) for m in messages])
        return cleaned


@admin.register(PlatformSettings)
class PlatformSettingsAdmin(ModelAdmin):
    form = PlatformSettingsForm
    fieldsets = (
        (
            "Brand and contact",
            {"fields": ("provider_name", "contact_email", "website_url", "other_links")},
        ),
        (
            "Seller on invoices",
            {
                "fields": (
                    "company_name",
                    "company_email",
                    "address_street",
                    ("address_postal_code", "address_city"),
                    "address_country",
                    "vat_id",
                    "company_register_id",
                    ("company_contact_name", "company_phone"),
                )
            },
        ),
        ("Bank account", {"fields": ("bank_account_holder", "bank_name", "bank_iban", "bank_bic")}),
        ("Terms", {"fields": ("terms_title", "terms_content")}),
        (
            "Invoicing and billing days",
            {
                "fields": (
                    "invoice_number_format",
                    "credit_note_number_format",
                    "payment_terms_days",
                    "grace_period_days",
                    "renewal_lead_days",
                    "max_pause_days",
                    "payment_retry_days",
                    "invoice_footer",
                    "einvoice_hybrid_pdf",
                )
            },
        ),
    )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        row = platform_settings_get()
        return redirect(reverse("admin:platform_settings_platformsettings_change", args=[row.pk]))

    def save_model(self, request, obj, form, change):
        platform_settings_update(data=form.validated_changes, actor=request.user)
