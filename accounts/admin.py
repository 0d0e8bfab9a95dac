"""Back office for accounts. Status and role change only through actions that call the services
(each asks for a reason, which goes into the audit log)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.password_validation import validate_password
from django.shortcuts import render
from unfold.admin import ModelAdmin, StackedInline

from accounts import services
from accounts.countries import is_known_country
from accounts.extensions import CUSTOMER_ADMIN_SECTIONS
from accounts.models import User, UserDetails, UserRole
from vbwd.admin_tools import StyledForm, StyledModelForm
from vbwd.exceptions import DomainError


class UserDetailsForm(StyledModelForm):
    class Meta:
        model = UserDetails
        fields = (
            "first_name",
            "last_name",
            "company",
            "tax_number",
            "phone",
            "address_line_1",
            "address_line_2",
            "postal_code",
            "city",
            "state",
            "country",
            "config",
        )

    def clean_country(self):
        code = (self.cleaned_data.get("country") or "").strip().upper()
        if code and not is_known_country(code):
            raise forms.ValidationError(f"Unknown country code: {code}")
        return code or None


class UserDetailsInline(StackedInline):
    model = UserDetails
    form = UserDetailsForm
    can_delete = False
    extra = 0
    fields = (
        ("first_name", "last_name"),
        "company",
        "tax_number",
        "phone",
        "address_line_1",
        "address_line_2",
        ("postal_code", "city"),
        ("state", "country"),
        "config",
    )


class UserCreationForm(StyledModelForm):
    password = forms.CharField(widget=forms.PasswordInput, strip=False)
    role = forms.ChoiceField(choices=UserRole.choices, initial=UserRole.USER)

    class Meta:
        model = User
        fields = ("email",)

    def clean_email(self):
        email = self.cleaned_data["email"].strip().lower()
        if User.objects.filter(email=email).exists():
            raise forms.ValidationError("User with this email already exists")
        return email

    def clean_password(self):
        password = self.cleaned_data["password"]
        validate_password(password)
        return password


class ReasonForm(StyledForm):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), required=True)
    role = forms.ChoiceField(choices=UserRole.choices, required=False)


@admin.register(User)
class UserAdmin(ModelAdmin):
    list_display = ("email", "role", "status", "has_used_trial", "last_login_at", "created_at")
    list_filter = ("status", "role", "has_used_trial", "is_superuser")
    search_fields = ("email", "details__first_name", "details__last_name", "details__company")
    ordering = ("-created_at",)
    list_select_related = ("details",)
    list_per_page = 50
    date_hierarchy = "created_at"
    inlines = [UserDetailsInline]
    actions = ["suspend_users", "activate_users", "change_role", "delete_or_anonymise"]
    readonly_fields = (
        "id",
        "email",
        "status",
        "role",
        "is_superuser",
        "has_used_trial",
        "last_login_at",
        "created_at",
        "updated_at",
    )
    fieldsets = (
        (None, {"fields": ("id", "email")}),
        ("Access", {"fields": ("status", "role", "is_superuser")}),
        ("Activity", {"fields": ("has_used_trial", "last_login_at", "created_at", "updated_at")}),
    )

    def get_form(self, request, obj=None, **kwargs):
        if obj is None:
            kwargs["form"] = UserCreationForm
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return ((None, {"fields": ("email", "password", "role")}),)
        return self.fieldsets

    def get_readonly_fields(self, request, obj=None):
        return () if obj is None else self.readonly_fields

    def get_inlines(self, request, obj):
        if obj is None:
            return []
        # The customer's records, one read-only tab each, from the apps that keep them.
        sections = sorted(
            CUSTOMER_ADMIN_SECTIONS.answers(), key=lambda inline: inline.section_order
        )
        return [*self.inlines, *sections]

    def save_model(self, request, obj, form, change):
        if change:
            return  # the user row itself is read-only here; details are saved by the inline
        created = services.user_create(
            email=form.cleaned_data["email"],
            password=form.cleaned_data["password"],
            role=form.cleaned_data["role"],
            actor=request.user,
        )
        obj.pk = created.pk
        obj._state.adding = False
        obj._state.db = created._state.db

    def save_formset(self, request, form, formset, change):
        if formset.model is not UserDetails:
            return super().save_formset(request, form, formset, change)
        # What Django's change message reads from a saved formset.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for details_form in formset.forms:
            if details_form.has_changed():
                user = form.instance
                data = {
                    field: details_form.cleaned_data[field] for field in details_form.changed_data
                }
                services.user_details_update(user=user, data=data, actor=request.user)
                formset.changed_objects.append((details_form.instance, details_form.changed_data))
        return None

    def has_delete_permission(self, request, obj=None):
        # Users are anonymised, never deleted, once they have financial history (issue-level
        # rules live in accounts.services); the back office does not hard-delete.
        return False

    def _run_with_reason(self, request, queryset, title, apply, *, ask_role=False):
        if "apply" in request.POST:
            form = ReasonForm(request.POST)
            if form.is_valid():
                done = 0
                for user in queryset:
                    try:
                        apply(user, form.cleaned_data)
                        done += 1
                    except DomainError as error:
                        self.message_user(request, f"{user.email}: {error.message}", messages.ERROR)
                if done:
                    self.message_user(
                        request, f"{title}: {done} user(s) updated.", messages.SUCCESS
                    )
                return None
        else:
            form = ReasonForm()
        return render(
            request,
            "admin/accounts/reason_action.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "form": form,
                "ask_role": ask_role,
                "users": queryset,
                "action": request.POST.get("action"),
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "opts": self.model._meta,
            },
        )

    @admin.action(description="Suspend selected users (signs them out)")
    def suspend_users(self, request, queryset):
        return self._run_with_reason(
            request,
            queryset,
            "Suspend users",
            lambda user, data: services.user_suspend(
                user=user, actor=request.user, reason=data["reason"]
            ),
        )

    @admin.action(description="Activate selected users")
    def activate_users(self, request, queryset):
        return self._run_with_reason(
            request,
            queryset,
            "Activate users",
            lambda user, data: services.user_activate(
                user=user, actor=request.user, reason=data["reason"]
            ),
        )

    @admin.action(description="Delete or anonymise selected users (financial records are kept)")
    def delete_or_anonymise(self, request, queryset):
        def apply(user, data):
            outcome = services.user_delete(
                user=user, actor=request.user, force=True, reason=data["reason"]
            )
            self.message_user(request, f"{user.email}: {outcome.lower()}", messages.INFO)

        return self._run_with_reason(request, queryset, "Delete or anonymise users", apply)

    @admin.action(description="Change the role of selected users")
    def change_role(self, request, queryset):
        def apply(user, data):
            if not data.get("role"):
                raise DomainError("Choose a role")
            services.user_set_role(
                user=user, role=data["role"], actor=request.user, reason=data["reason"]
            )

        return self._run_with_reason(request, queryset, "Change role", apply, ask_role=True)
