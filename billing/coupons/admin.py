"""Back office for coupons: every write (add, change, delete, activate, deactivate) goes through
the same staff services as the API, so the rules (a redeemed coupon keeps its code, kind,
amounts and currency; a redeemed coupon is deactivated, not deleted) and the audit log are the
same. Redemptions are read-only."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count, Q
from unfold.admin import ModelAdmin

from billing.catalog.models import AddOn, Plan
from billing.coupons import staff
from billing.coupons.models import COUNTING_STATUSES, Coupon, CouponRedemption
from tokens.models import TokenBundle
from vbwd.admin_tools import ReadOnlyAdmin, ReadOnlyInline, StyledModelForm, admin_link
from vbwd.exceptions import DomainError

SCALAR_FIELDS = (
    "code", "name", "kind", "percent_off", "amount_off", "currency", "duration",
    "duration_periods", "valid_from", "valid_until", "max_redemptions", "once_per_customer",
    "first_purchase_only", "is_active",
)  # fmt: skip
CATALOG_FIELDS = (
    ("plans", "plan_ids", Plan),
    ("add_ons", "add_on_ids", AddOn),
    ("token_bundles", "token_bundle_ids", TokenBundle),
)


class CouponForm(StyledModelForm):
    plans = forms.ModelMultipleChoiceField(
        queryset=Plan.objects.order_by("name"), required=False, help_text="Empty: every item"
    )
    add_ons = forms.ModelMultipleChoiceField(
        queryset=AddOn.objects.order_by("name"), required=False
    )
    token_bundles = forms.ModelMultipleChoiceField(
        queryset=TokenBundle.objects.order_by("name"), required=False
    )

    class Meta:
        model = Coupon
        fields = SCALAR_FIELDS

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for form_field, model_field, _model in CATALOG_FIELDS:
            self.initial[form_field] = list(getattr(self.instance, model_field) or [])
        self.service_input: dict = {}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        values = {name: cleaned.get(name) for name in SCALAR_FIELDS}
        if isinstance(values.get("code"), str):
            values["code"] = values["code"].strip().upper()
        if isinstance(values.get("currency"), str):
            values["currency"] = values["currency"].strip().upper() or None
        for form_field, model_field, _model in CATALOG_FIELDS:
            values[model_field] = [str(row.pk) for row in cleaned.get(form_field) or []]
        try:
            staff.coupon_values_check(
                values, coupon=None if self.instance._state.adding else self.instance
            )
        except DomainError as error:
            found = getattr(error, "errors", None) or {None: [error.message]}
            for field, field_messages in found.items():
                field = {"applies_to": "plans"}.get(field, field)
                self.add_error(field if field in self.fields else None, field_messages)
        self.service_input = values
        return cleaned


class RedemptionInline(ReadOnlyInline):
    model = CouponRedemption
    fields = ("redeemed", "user", "invoice", "status", "discount", "currency")
    ordering = ("-created_at",)
    max_num = 0

    @admin.display(description="when")
    def redeemed(self, row: CouponRedemption) -> str:
        return admin_link(row, f"{row.created_at:%Y-%m-%d %H:%M}")


@admin.register(Coupon)
class CouponAdmin(ModelAdmin):
    form = CouponForm
    list_display = (
        "code",
        "name",
        "kind",
        "value",
        "duration",
        "redemptions",
        "max_redemptions",
        "is_active",
        "created_at",
    )
    list_filter = ("is_active", "kind", "duration")
    search_fields = ("code", "name")
    ordering = ("-created_at",)
    readonly_fields = ("id", "created_at", "updated_at")
    actions = ["activate_coupons", "deactivate_coupons"]
    inlines = [RedemptionInline]
    fieldsets = (
        (None, {"fields": ("code", "name", "is_active")}),
        ("Discount", {"fields": ("kind", "percent_off", "amount_off", "currency")}),
        ("Duration", {"fields": ("duration", "duration_periods")}),
        ("Covers", {"fields": ("plans", "add_ons", "token_bundles")}),
        (
            "Limits",
            {
                "fields": (
                    "valid_from",
                    "valid_until",
                    "max_redemptions",
                    "once_per_customer",
                    "first_purchase_only",
                )
            },
        ),
        ("Record", {"fields": ("id", "created_at", "updated_at")}),
    )

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                redemptions_count=Count(
                    "redemptions", filter=Q(redemptions__status__in=COUNTING_STATUSES)
                )
            )
        )

    @admin.display(description="redemptions", ordering="redemptions_count")
    def redemptions(self, coupon: Coupon) -> int:
        return getattr(coupon, "redemptions_count", 0)

    @admin.display(description="off")
    def value(self, coupon: Coupon) -> str:
        return coupon.label()

    def save_model(self, request, obj, form, change):
        if change:
            staff.coupon_update(coupon=obj, values=form.service_input, actor=request.user)
            return
        created = staff.coupon_create(values=form.service_input, actor=request.user)
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db

    def delete_model(self, request, obj):
        try:
            staff.coupon_delete(coupon=obj, actor=request.user)
        except DomainError as error:
            self.message_user(request, f"{obj.code}: {error.message}", messages.ERROR)

    def get_deleted_objects(self, objs, request):
        deleted, model_count, perms_needed, _protected = super().get_deleted_objects(objs, request)
        # The delete service refuses a redeemed coupon by name, one by one.
        return deleted, model_count, perms_needed, []

    def delete_queryset(self, request, queryset):
        for coupon in queryset:
            self.delete_model(request, coupon)

    def _each(self, request, queryset, active: bool, done: str) -> None:
        count = 0
        for coupon in queryset:
            staff.coupon_set_active(coupon=coupon, active=active, actor=request.user)
            count += 1
        if count:
            self.message_user(request, f"{count} coupon(s) {done}.", messages.SUCCESS)

    @admin.action(description="Activate selected coupons")
    def activate_coupons(self, request, queryset):
        self._each(request, queryset, True, "activated")

    @admin.action(description="Deactivate selected coupons")
    def deactivate_coupons(self, request, queryset):
        self._each(request, queryset, False, "deactivated")


@admin.register(CouponRedemption)
class CouponRedemptionAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "coupon", "user", "invoice", "status", "discount", "currency")
    list_filter = ("status",)
    search_fields = ("coupon__code", "user__email", "invoice__invoice_number")
    list_select_related = ("coupon", "user", "invoice")
    ordering = ("-created_at",)
