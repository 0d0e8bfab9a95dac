"""Back office for subscriptions and add-on subscriptions.

The screens are read-only: staff change a subscription's state only through the actions below,
which ask for a reason and call the same lifecycle services as the API (cancel, pause, resume,
activate, extend), one subscription at a time. Subscriptions are created through the API (or
checkout) and never deleted.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from billing.invoices.models import Invoice
from billing.subscriptions.models import AddOnSubscription, Subscription
from billing.subscriptions.services import (
    addon_subscription_cancel,
    subscription_cancel,
    subscription_extend,
    subscription_pause,
    subscription_resume,
    subscription_staff_activate,
)
from vbwd.admin_tools import (
    CustomerSectionInline,
    ReadOnlyAdmin,
    ReadOnlyInline,
    ReasonActionsMixin,
    ReasonForm,
    admin_link,
)

# --- the intermediate forms of the actions ---------------------------------------------------


class ExtendForm(ReasonForm):
    days = forms.IntegerField(
        min_value=1,
        max_value=3650,
        initial=30,
        help_text="Moves the end of access (and of a trial) forward by this many days.",
    )

    field_order = ("days", "reason")


class AddOnCancelForm(ReasonForm):
    immediate = forms.BooleanField(
        required=False,
        help_text="End access now instead of at the end of the paid period.",
    )

    field_order = ("immediate", "reason")


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "-"


class SubscriptionRowsMixin(ReasonActionsMixin):
    def _describe(self, row) -> str:
        """The row on the confirmation page: its label, status and end of access."""
        return f"{self._label(row)} ({row.status}, access until {_when(row.expires_at)})"


# --- subscriptions ----------------------------------------------------------------------------


class AddOnSubscriptionInline(ReadOnlyInline):
    model = AddOnSubscription
    fk_name = "subscription"
    fields = ("addon", "status", "starts_at", "expires_at", "cancelled_at", "invoice")
    ordering = ("-created_at",)
    show_change_link = True

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("addon", "invoice")


class CustomerSubscriptionInline(CustomerSectionInline):
    model = Subscription
    verbose_name_plural = "subscriptions"
    section_order = 10
    fields = ("subscription", "status", "started_at", "expires_at", "pending_plan")
    ordering = ("-created_at",)

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("plan", "pending_plan")

    @admin.display(description="plan")
    def subscription(self, row: Subscription) -> str:
        return admin_link(row, row.plan.name)


CUSTOMER_SECTIONS = (CustomerSubscriptionInline,)


@admin.register(Subscription)
class SubscriptionAdmin(SubscriptionRowsMixin, ReadOnlyAdmin):
    list_display = (
        "user_email",
        "plan",
        "status",
        "valid",
        "expires_at",
        "pending_plan",
        "created_at",
    )
    list_filter = (
        "status",
        "plan",
        ("created_at", admin.DateFieldListFilter),
        ("expires_at", admin.DateFieldListFilter),
    )
    search_fields = ("user__email",)
    list_select_related = ("user", "plan", "pending_plan")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50
    inlines = [AddOnSubscriptionInline]
    actions = [
        "cancel_at_period_end",
        "cancel_immediately",
        "pause",
        "resume",
        "activate",
        "extend",
    ]
    fieldsets = (
        (None, {"fields": ("id", "user", "plan", "status", "valid", "pending_plan")}),
        (
            "Period",
            {
                "fields": (
                    "started_at",
                    "current_period_start",
                    "expires_at",
                    "trial_end_at",
                )
            },
        ),
        (
            "Cancellation and pause",
            {"fields": ("cancelled_at", "cancel_reason", "paused_at", "pause_ends_at")},
        ),
        (
            "Payment",
            {
                "fields": (
                    "payment_method",
                    "saved_method_gateway",
                    "saved_method_id",
                    "charge_attempts",
                    "last_charge_at",
                    "last_reminder_at",
                )
            },
        ),
        ("Invoices", {"fields": ("invoices",)}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "valid", "invoices"]

    @admin.display(description="user", ordering="user__email")
    def user_email(self, subscription: Subscription) -> str:
        return subscription.user.email

    @admin.display(description="valid", boolean=True)
    def valid(self, subscription: Subscription) -> bool:
        return subscription.is_valid

    @admin.display(description="invoices")
    def invoices(self, subscription: Subscription) -> str:
        rows = list(
            Invoice.objects.filter(subscription_id=subscription.pk)
            .order_by("invoiced_at", "invoice_number")
            .only("pk", "invoice_number", "invoice_type", "status")
        )
        if not rows:
            return "-"
        everything = format_html(
            '<a href="{}?subscription_id={}">All {} invoices of this subscription</a>',
            reverse("admin:invoices_invoice_changelist"),
            subscription.pk,
            len(rows),
        )
        each = format_html_join(
            "",
            '<li><a href="{}">{}</a> ({}, {})</li>',
            (
                (
                    reverse("admin:invoices_invoice_change", args=[row.pk]),
                    row.invoice_number,
                    row.invoice_type,
                    row.status,
                )
                for row in rows
            ),
        )
        return format_html("{}<ul>{}</ul>", everything, each)

    def _rows(self, queryset):
        return queryset.select_related("user", "plan").order_by("created_at", "pk")

    def _label(self, subscription: Subscription) -> str:
        return f"{subscription.user.email}, {subscription.plan.name}"

    @admin.action(description="Cancel at period end (access until it expires)")
    def cancel_at_period_end(self, request, queryset):
        def apply(subscription, data):
            done = subscription_cancel(
                subscription_id=subscription.pk, actor=request.user, reason=data["reason"]
            )
            return f"cancelled, access until {_when(done.expires_at)}"

        return self._with_form(
            request,
            queryset,
            form_class=ReasonForm,
            title="Cancel subscriptions at the end of their period",
            submit="Cancel at period end",
            apply=apply,
        )

    @admin.action(description="Cancel immediately (access ends now)")
    def cancel_immediately(self, request, queryset):
        def apply(subscription, data):
            subscription_cancel(
                subscription_id=subscription.pk,
                actor=request.user,
                reason=data["reason"],
                immediate=True,
            )
            return "cancelled, access ended now"

        return self._with_form(
            request,
            queryset,
            form_class=ReasonForm,
            title="Cancel subscriptions with immediate effect",
            submit="Cancel immediately",
            apply=apply,
        )

    @admin.action(description="Pause")
    def pause(self, request, queryset):
        def apply(subscription, data):
            done = subscription_pause(
                subscription_id=subscription.pk, actor=request.user, reason=data["reason"]
            )
            return f"paused, resumes by itself on {_when(done.pause_ends_at)}"

        return self._with_form(
            request,
            queryset,
            form_class=ReasonForm,
            title="Pause subscriptions",
            submit="Pause",
            apply=apply,
        )

    @admin.action(description="Resume (the paused time is added to the period)")
    def resume(self, request, queryset):
        def apply(subscription, data):
            done = subscription_resume(
                subscription_id=subscription.pk, actor=request.user, reason=data["reason"]
            )
            return f"resumed, access until {_when(done.expires_at)}"

        return self._with_form(
            request,
            queryset,
            form_class=ReasonForm,
            title="Resume paused subscriptions",
            submit="Resume",
            apply=apply,
        )

    @admin.action(description="Reactivate / activate (paused or cancelled before it expires)")
    def activate(self, request, queryset):
        def apply(subscription, data):
            done = subscription_staff_activate(
                subscription_id=subscription.pk, actor=request.user, reason=data["reason"]
            )
            return f"activated, access until {_when(done.expires_at)}"

        return self._with_form(
            request,
            queryset,
            form_class=ReasonForm,
            title="Activate subscriptions",
            submit="Activate",
            apply=apply,
        )

    @admin.action(description="Extend by N days")
    def extend(self, request, queryset):
        def apply(subscription, data):
            done = subscription_extend(
                subscription_id=subscription.pk,
                actor=request.user,
                days=data["days"],
                reason=data["reason"],
            )
            return f"extended by {data['days']} days, access until {_when(done.expires_at)}"

        return self._with_form(
            request,
            queryset,
            form_class=ExtendForm,
            title="Extend subscriptions",
            submit="Extend",
            apply=apply,
        )


# --- add-on subscriptions ---------------------------------------------------------------------


@admin.register(AddOnSubscription)
class AddOnSubscriptionAdmin(SubscriptionRowsMixin, ReadOnlyAdmin):
    list_display = (
        "user_email",
        "addon",
        "status",
        "valid",
        "starts_at",
        "expires_at",
        "subscription",
        "invoice",
        "created_at",
    )
    list_filter = (
        "status",
        "addon",
        ("created_at", admin.DateFieldListFilter),
        ("expires_at", admin.DateFieldListFilter),
    )
    search_fields = ("user__email",)
    list_select_related = ("user", "addon", "subscription__plan", "invoice")
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    list_per_page = 50
    actions = ["cancel"]
    fields = (
        "id",
        "user",
        "addon",
        "subscription",
        "invoice",
        "status",
        "valid",
        "starts_at",
        "expires_at",
        "cancelled_at",
        "created_at",
        "updated_at",
    )

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "valid"]

    @admin.display(description="user", ordering="user__email")
    def user_email(self, row: AddOnSubscription) -> str:
        return row.user.email

    @admin.display(description="valid", boolean=True)
    def valid(self, row: AddOnSubscription) -> bool:
        return row.is_valid

    def _rows(self, queryset):
        return queryset.select_related("user", "addon").order_by("created_at", "pk")

    def _label(self, row: AddOnSubscription) -> str:
        return f"{row.user.email}, {row.addon.name}"

    @admin.action(description="Cancel")
    def cancel(self, request, queryset):
        def apply(row, data):
            done = addon_subscription_cancel(
                addon_subscription_id=row.pk,
                actor=request.user,
                immediate=data["immediate"],
                reason=data["reason"],
            )
            return f"cancelled, access until {_when(done.expires_at)}"

        return self._with_form(
            request,
            queryset,
            form_class=AddOnCancelForm,
            title="Cancel add-on subscriptions",
            submit="Cancel add-ons",
            apply=apply,
        )
