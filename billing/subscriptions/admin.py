"""Back office for subscriptions and add-on subscriptions.

The screens are read-only: staff change a subscription's state only through the actions below,
which ask for a reason and call the same lifecycle services as the API (cancel, pause, resume,
activate, extend), one subscription at a time. Subscriptions are created through the API (or
checkout) and never deleted.
"""

from __future__ import annotations

import datetime

from django import forms
from django.contrib import admin
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from unfold import widgets
from unfold.decorators import action

from billing.catalog.models import Plan
from billing.catalog.pricing import format_money
from billing.invoices.models import Invoice
from billing.subscriptions.models import AddOnSubscription, Subscription, SubscriptionStatus
from billing.subscriptions.services import (
    addon_subscription_cancel,
    subscription_cancel,
    subscription_extend,
    subscription_pause,
    subscription_resume,
    subscription_staff_activate,
)
from billing.subscriptions.services.discounts import (
    subscription_discount_apply,
    subscription_discount_remove,
)
from billing.subscriptions.services.lifecycle import (
    DEFAULT_EXTEND_DAYS,
    MAX_EXTEND_DAYS,
    MIN_EXTEND_DAYS,
)
from billing.subscriptions.services.plan_change import (
    subscription_downgrade,
    subscription_upgrade,
)
from billing.subscriptions.services.proration import proration_preview
from billing.subscriptions.views.admin_inputs import (
    StaffCancelRequestSerializer,
    SubscriptionExtendRequestSerializer,
)
from billing.subscriptions.views.inputs import MAX_REASON_LENGTH
from platform_settings.selectors import platform_settings_get
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

# --- the intermediate forms of the actions ---------------------------------------------------


class DiscountPageForm(ReasonForm):
    coupon_code = forms.CharField(
        max_length=100, help_text="The coupon whose discount the next renewals get."
    )


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


class ExtendPageForm(ApiCheckedForm):
    serializer_class = SubscriptionExtendRequestSerializer

    days = forms.IntegerField(
        required=False,
        min_value=MIN_EXTEND_DAYS,
        max_value=MAX_EXTEND_DAYS,
        help_text="Days to add to the end of access (and of a trial). Default 30.",
    )
    until = forms.SplitDateTimeField(
        required=False,
        widget=widgets.UnfoldAdminSplitDateTimeWidget,
        help_text="Or the new end of access, later than the current one (instead of days).",
    )
    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the audit log.",
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("days") is not None and cleaned.get("until") is not None:
            raise forms.ValidationError("Give either days or until, not both")
        return cleaned


class PausePageForm(StyledForm):
    days = forms.IntegerField(
        required=False,
        min_value=1,
        help_text="How many days the pause lasts (at most the longest pause the settings "
        "allow). Leave empty for the longest pause.",
    )
    until = forms.SplitDateTimeField(
        required=False,
        widget=widgets.UnfoldAdminSplitDateTimeWidget,
        help_text="Or when it resumes by itself (instead of days).",
    )
    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the audit log.",
    )

    def clean(self):
        cleaned = super().clean()
        days, until = cleaned.get("days"), cleaned.get("until")
        if days is not None and until is not None:
            raise forms.ValidationError("Give either days or until, not both")
        if days is not None:
            cleaned["until"] = timezone.now() + datetime.timedelta(days=days)
        return cleaned


class CancelPageForm(ApiCheckedForm):
    serializer_class = StaffCancelRequestSerializer

    immediate = forms.TypedChoiceField(
        choices=[("", "At the end of the paid period"), ("1", "Now (access ends at once)")],
        coerce=bool,
        empty_value=False,
        required=False,
        label="When",
    )
    reason = forms.CharField(
        max_length=MAX_REASON_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text="Kept in the audit log.",
    )


PLAN_CHANGE_NOW = "now"
PLAN_CHANGE_AT_RENEWAL = "renewal"


class ChangePlanPageForm(StyledForm):
    plan = forms.ModelChoiceField(queryset=Plan.objects.none(), label="New plan")
    timing = forms.ChoiceField(
        choices=[
            (PLAN_CHANGE_NOW, "Now: invoice the prorated difference (upgrade)"),
            (PLAN_CHANGE_AT_RENEWAL, "At the next renewal (downgrade)"),
        ],
        initial=PLAN_CHANGE_NOW,
        label="When",
    )

    def __init__(self, *args, subscription=None, **kwargs):
        super().__init__(*args, **kwargs)
        plans = Plan.objects.filter(is_active=True).order_by("name")
        if subscription is not None:
            plans = plans.filter(currency=subscription.plan.currency)
        self.fields["plan"].queryset = plans


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
class SubscriptionAdmin(ObjectActionsMixin, SubscriptionRowsMixin, ReadOnlyAdmin):
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
    actions_detail = [
        {
            "title": "Access",
            "icon": "event",
            "items": ["extend_page", "pause_page", "resume_page", "activate_page"],
        },
        "change_plan_page",
        {
            "title": "Discount",
            "icon": "sell",
            "items": ["discount_page", "remove_discount_page"],
        },
        "cancel_page",
    ]
    actions = [
        "cancel_at_period_end",
        "cancel_immediately",
        "pause",
        "resume",
        "extend",
    ]
    fieldsets = (
        (None, {"fields": ("user", "plan", "status", "valid", "pending_plan")}),
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
        ("Discount", {"fields": ("discount",)}),
        ("Invoices", {"fields": ("invoices",)}),
        ("Dates", {"fields": ("created_at", "updated_at")}),
    )

    def get_readonly_fields(self, request, obj=None):
        return [*super().get_readonly_fields(request, obj), "valid", "discount", "invoices"]

    # --- the page's actions ---------------------------------------------------------------

    def _act(self, request, object_id, **kwargs):
        return self._object_action(request, object_id, **kwargs)

    @action(description="Extend", url_path="extend", icon="more_time")
    def extend_page(self, request, object_id):
        def preview(sub, data):
            if sub.expires_at is None:
                return ["refuse: the subscription has no end of access to move"]
            end = data.get("until") or sub.expires_at + datetime.timedelta(
                days=data.get("days") or DEFAULT_EXTEND_DAYS
            )
            effect = [f"move the end of access from {_when(sub.expires_at)} to {_when(end)}"]
            if sub.status == SubscriptionStatus.TRIALING:
                effect.append("move the end of the trial with it")
            if sub.status == SubscriptionStatus.PAST_DUE and end > timezone.now():
                effect.append("make the subscription ACTIVE again")
            return effect

        def apply(sub, data):
            done = subscription_extend(
                subscription_id=sub.pk,
                actor=request.user,
                days=data.get("days"),
                until=data.get("until"),
                reason=data["reason"],
            )
            return f"{self._label(sub)}: extended by {done.extended_days} days, access until " + (
                _when(done.expires_at)
            )

        return self._act(
            request,
            object_id,
            title="Extend the subscription",
            submit="Extend",
            form_class=ExtendPageForm,
            preview=preview,
            apply=apply,
        )

    @action(description="Pause", url_path="pause", icon="pause")
    def pause_page(self, request, object_id):
        def preview(sub, data):
            longest = platform_settings_get().max_pause_days
            resumes = data.get("until") or timezone.now() + datetime.timedelta(days=longest)
            return [
                f"pause the subscription now; it resumes by itself on {_when(resumes)}",
                "add the paused time to the end of access when it resumes",
                "void its unpaid plan-change invoices",
            ]

        def apply(sub, data):
            done = subscription_pause(
                subscription_id=sub.pk,
                actor=request.user,
                until=data.get("until"),
                reason=data["reason"],
            )
            return f"{self._label(sub)}: paused, resumes by itself on {_when(done.pause_ends_at)}"

        return self._act(
            request,
            object_id,
            title="Pause the subscription",
            submit="Pause",
            form_class=PausePageForm,
            preview=preview,
            apply=apply,
        )

    @action(description="Resume", url_path="resume", icon="play_arrow")
    def resume_page(self, request, object_id):
        def preview(sub, data):
            if sub.status != SubscriptionStatus.PAUSED or sub.paused_at is None:
                return ["refuse: the subscription is not paused"]
            paused = timezone.now() - sub.paused_at
            end = sub.expires_at + paused if sub.expires_at else None
            return [
                "resume the subscription now",
                f"move the end of access forward by the paused time, to {_when(end)}",
            ]

        def apply(sub, data):
            done = subscription_resume(
                subscription_id=sub.pk, actor=request.user, reason=data["reason"]
            )
            return f"{self._label(sub)}: resumed, access until {_when(done.expires_at)}"

        return self._act(
            request,
            object_id,
            title="Resume the subscription",
            submit="Resume",
            form_class=ReasonForm,
            preview=preview,
            apply=apply,
        )

    @action(description="Cancel", url_path="cancel", icon="cancel")
    def cancel_page(self, request, object_id):
        def preview(sub, data):
            if data.get("immediate"):
                first = "cancel the subscription and end access now"
            else:
                first = (
                    f"cancel the subscription; access continues until {_when(sub.expires_at)} "
                    "and it does not renew"
                )
            return [
                first,
                "cancel its add-ons and void its unpaid trial, renewal and plan-change invoices",
            ]

        def apply(sub, data):
            done = subscription_cancel(
                subscription_id=sub.pk,
                actor=request.user,
                reason=data["reason"],
                immediate=bool(data.get("immediate")),
            )
            return f"{self._label(sub)}: cancelled, access until {_when(done.expires_at)}"

        return self._act(
            request,
            object_id,
            title="Cancel the subscription",
            submit="Cancel the subscription",
            form_class=CancelPageForm,
            preview=preview,
            apply=apply,
        )

    @action(description="Change plan", url_path="change-plan", icon="swap_horiz")
    def change_plan_page(self, request, object_id):
        def preview(sub, data):
            plan = data["plan"]
            if data["timing"] == PLAN_CHANGE_AT_RENEWAL:
                return [
                    f"switch from {sub.plan.name} to {plan.name} at the next renewal "
                    f"({_when(sub.expires_at)}); nothing is invoiced now"
                ]
            proration = proration_preview(subscription=sub, new_plan_id=plan.pk)
            places, currency = proration.places, proration.currency
            effect = [
                f"issue a plan-change invoice from {sub.plan.name} to {plan.name}; the new plan "
                "starts when it is paid",
            ]
            effect += [
                f"{line.description}: {format_money(line.gross_amount, places)} {currency}"
                for line in proration.lines
            ]
            effect.append(
                f"credit for the unused {proration.days_remaining} days: "
                f"{format_money(proration.credit_applied, places)} {currency}"
            )
            effect.append(f"amount due: {format_money(proration.amount_due, places)} {currency}")
            return effect

        def apply(sub, data):
            plan = data["plan"]
            if data["timing"] == PLAN_CHANGE_AT_RENEWAL:
                _done, message = subscription_downgrade(
                    subscription_id=sub.pk, actor=request.user, plan_id=plan.pk
                )
                return f"{self._label(sub)}: {message}"
            result = subscription_upgrade(
                subscription_id=sub.pk, actor=request.user, plan_id=plan.pk
            )
            return f"{self._label(sub)}: {result.message} Invoice {result.invoice.invoice_number}"

        subscription = self.get_object(request, object_id)
        return self._act(
            request,
            object_id,
            title="Change the plan",
            submit="Change plan",
            form_class=ChangePlanPageForm,
            form_kwargs={"subscription": subscription},
            preview=preview,
            apply=apply,
        )

    @action(description="Activate", url_path="activate", icon="check_circle")
    def activate_page(self, request, object_id):
        def preview(sub, data):
            return [
                f"make the subscription ACTIVE again (from {sub.status}), access until "
                f"{_when(sub.expires_at)} or later by the paused time; no tokens are granted"
            ]

        def apply(sub, data):
            done = subscription_staff_activate(
                subscription_id=sub.pk, actor=request.user, reason=data["reason"]
            )
            return f"{self._label(sub)}: activated, access until {_when(done.expires_at)}"

        return self._act(
            request,
            object_id,
            title="Activate the subscription",
            submit="Activate",
            form_class=ReasonForm,
            preview=preview,
            apply=apply,
        )

    @action(description="Give a discount", url_path="discount", icon="sell")
    def discount_page(self, request, object_id):
        def preview(sub, data):
            effect = [f"discount the next renewals with coupon {data['coupon_code'].upper()}"]
            if sub.discount_coupon_id is not None:
                effect.append(f"replace the current discount {sub.discount_coupon.code}")
            return effect

        def apply(sub, data):
            done = subscription_discount_apply(
                subscription_id=sub.pk,
                coupon_code=data["coupon_code"],
                actor=request.user,
                reason=data["reason"],
            )
            return f"{self._label(sub)}: {done.discount_coupon.code} applied from the next renewal"

        return self._act(
            request,
            object_id,
            title="Give the subscription a discount",
            submit="Apply",
            form_class=DiscountPageForm,
            preview=preview,
            apply=apply,
        )

    @action(description="Remove the discount", url_path="remove-discount", icon="backspace")
    def remove_discount_page(self, request, object_id):
        def preview(sub, data):
            if sub.discount_coupon_id is None:
                return ["refuse: the subscription has no discount"]
            return [f"bill the next renewals without the discount {sub.discount_coupon.code}"]

        def apply(sub, data):
            subscription_discount_remove(
                subscription_id=sub.pk, actor=request.user, reason=data["reason"]
            )
            return f"{self._label(sub)}: discount removed"

        return self._act(
            request,
            object_id,
            title="Remove the subscription's discount",
            submit="Remove",
            form_class=ReasonForm,
            preview=preview,
            apply=apply,
        )

    @admin.display(description="discount")
    def discount(self, subscription: Subscription) -> str:
        if not subscription.has_discount:
            return "none"
        coupon = subscription.discount_coupon
        remaining = subscription.discount_periods_remaining
        left = "every renewal" if remaining is None else f"{remaining} more renewal(s)"
        return f"{coupon.code} ({coupon.label()}), {left}"

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
