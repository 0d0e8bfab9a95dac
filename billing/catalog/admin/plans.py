"""Back office: plans, categories and add-ons. Every save, delete and action goes through the
catalog services, so the rules and the audit log are the same as through the API."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.db.models import Count
from unfold.admin import ModelAdmin

from billing.catalog import extensions
from billing.catalog.models import AddOn, Category, Plan
from billing.catalog.serializers.plan_input import (
    AddOnInputSerializer,
    CategoryInputSerializer,
    PlanInputSerializer,
)
from billing.catalog.services import addons as addon_services
from billing.catalog.services import categories as category_services
from billing.catalog.services import plans as plan_services
from vbwd.admin_tools import StyledModelForm
from vbwd.exceptions import DomainError


def service_action(name: str, service, keyword: str, description: str, done: str):
    """A bulk admin action that calls ``service(<keyword>=obj, actor=staff)`` for each row."""

    def action(modeladmin, request, queryset):
        _run(
            modeladmin,
            request,
            queryset,
            lambda obj, actor: service(**{keyword: obj, "actor": actor}),
            done,
        )

    action.__name__ = name
    return admin.action(description=description)(action)


def _run(modeladmin, request, queryset, service, done: str):
    count = 0
    for obj in queryset:
        try:
            service(obj, request.user)
            count += 1
        except DomainError as error:
            modeladmin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
    if count:
        modeladmin.message_user(request, f"{count} {done}", messages.SUCCESS)


# --- plans ----------------------------------------------------------------------------------


class ServiceValidatedForm(StyledModelForm):
    """Runs the API's input serializer in ``clean`` so the form shows the API's messages;
    ``validated_input`` is what the service receives."""

    input_serializer: type

    def clean(self):
        cleaned = super().clean()
        current = None if self.instance._state.adding else self.instance
        serializer = self.input_serializer(data=self.service_data(), context={"current": current})
        try:
            if serializer.is_valid():
                self.validated_input = dict(serializer.validated_data)
                return cleaned
            problems_by_field = serializer.errors
        except DomainError as error:
            problems_by_field = error.errors or {None: [error.message]}
        for field, problems in problems_by_field.items():
            target = field if field in self.fields else None
            self.add_error(target, [str(problem) for problem in problems])
        return cleaned


class PlanForm(ServiceValidatedForm):
    input_serializer = PlanInputSerializer
    categories = forms.ModelMultipleChoiceField(
        queryset=Category.objects.order_by("name"), required=False
    )

    class Meta:
        model = Plan
        fields = (
            "name",
            "slug",
            "description",
            "price",
            "currency",
            "billing_period",
            "trial_days",
            "features",
            "is_active",
            "sort_order",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False
        if self.instance.pk:
            self.initial["categories"] = list(self.instance.categories.all())

    def service_data(self) -> dict:
        data = {key: self.cleaned_data.get(key) for key in self.Meta.fields}
        data["price"] = str(data["price"]) if data["price"] is not None else None
        data["category_ids"] = [str(category.pk) for category in self.cleaned_data["categories"]]
        return data


@admin.register(Plan)
class PlanAdmin(ModelAdmin):
    form = PlanForm
    list_display = (
        "name",
        "slug",
        "price",
        "currency",
        "billing_period",
        "is_active",
        "is_archived",
        "sort_order",
    )
    list_filter = ("is_active", "is_archived", "billing_period", "currency", "categories")
    search_fields = ("name", "slug")
    ordering = ("sort_order", "name")
    actions = [
        service_action(
            "activate",
            plan_services.plan_activate,
            "plan",
            "Activate selected plans",
            "plan(s) activated",
        ),
        service_action(
            "deactivate",
            plan_services.plan_deactivate,
            "plan",
            "Deactivate selected plans (subscriptions continue)",
            "plan(s) deactivated",
        ),
        service_action(
            "archive",
            plan_services.plan_archive,
            "plan",
            "Archive selected plans",
            "plan(s) archived",
        ),
        service_action(
            "copy",
            plan_services.plan_copy,
            "plan",
            "Copy selected plans (copies are inactive)",
            "plan(s) copied",
        ),
    ]
    readonly_fields = ("id", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        data = form.validated_input
        if change:
            plan_services.plan_update(plan=obj, data=data, actor=request.user)
            return
        created = plan_services.plan_create(data=data, actor=request.user)
        obj.pk, obj._state.adding, obj._state.db = created.pk, False, created._state.db

    def save_related(self, request, form, formsets, change):
        """Categories were saved by the service."""

    def has_delete_permission(self, request, obj=None):
        if obj is not None and extensions.usage_count("plan", obj) > 0:
            return False  # referenced: deactivate or archive instead
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        plan_services.plan_delete(plan=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda plan, actor: plan_services.plan_delete(plan=plan, actor=actor),
            "plan(s) deleted",
        )


# --- categories -----------------------------------------------------------------------------


class CategoryForm(ServiceValidatedForm):
    input_serializer = CategoryInputSerializer

    class Meta:
        model = Category
        fields = ("name", "slug", "description", "parent", "is_single", "sort_order", "plans")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

    def service_data(self) -> dict:
        parent = self.cleaned_data.get("parent")
        return {
            "name": self.cleaned_data.get("name"),
            "slug": self.cleaned_data.get("slug") or None,
            "description": self.cleaned_data.get("description"),
            "parent_id": str(parent.pk) if parent else None,
            "is_single": self.cleaned_data.get("is_single"),
            "sort_order": self.cleaned_data.get("sort_order"),
        }


@admin.register(Category)
class CategoryAdmin(ModelAdmin):
    form = CategoryForm
    list_display = (
        "name",
        "slug",
        "parent",
        "is_single",
        "plan_total",
        "registered_by",
        "sort_order",
    )
    list_filter = ("is_single", "is_root", "registered_by")
    search_fields = ("name", "slug")
    ordering = ("sort_order", "name")
    filter_horizontal = ("plans",)
    readonly_fields = ("id", "is_root", "registered_by", "created_at", "updated_at")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("parent")
            .annotate(plan_total=Count("plans"))
        )

    @admin.display(description="plans", ordering="plan_total")
    def plan_total(self, obj):
        return obj.plan_total

    def save_model(self, request, obj, form, change):
        data = form.validated_input
        if change:
            category = Category.objects.get(pk=obj.pk)
            category_services.category_update(category=category, data=data, actor=request.user)
        else:
            category = category_services.category_create(data=data, actor=request.user)
            obj.pk, obj._state.adding, obj._state.db = category.pk, False, category._state.db
        wanted = {plan.pk for plan in form.cleaned_data.get("plans", [])}
        present = set(category.plans.values_list("pk", flat=True))
        if wanted - present:
            category_services.category_attach_plans(
                category=category, plan_ids=list(wanted - present), actor=request.user
            )
        if present - wanted:
            category_services.category_detach_plans(
                category=category, plan_ids=list(present - wanted), actor=request.user
            )

    def save_related(self, request, form, formsets, change):
        """Plan links were saved through the attach / detach services."""

    def has_delete_permission(self, request, obj=None):
        if obj is not None and (obj.is_root or obj.children.exists()):
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        category_services.category_delete(category=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda category, actor: category_services.category_delete(
                category=category, actor=actor
            ),
            "category(ies) deleted",
        )


# --- add-ons --------------------------------------------------------------------------------


class AddOnForm(ServiceValidatedForm):
    input_serializer = AddOnInputSerializer

    class Meta:
        model = AddOn
        fields = (
            "name",
            "slug",
            "description",
            "price",
            "currency",
            "billing_period",
            "config",
            "is_active",
            "sort_order",
            "plans",
        )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

    def service_data(self) -> dict:
        data = {key: self.cleaned_data.get(key) for key in self.Meta.fields if key != "plans"}
        data["price"] = str(data["price"]) if data["price"] is not None else None
        data["slug"] = data["slug"] or None
        data["tarif_plan_ids"] = [str(plan.pk) for plan in self.cleaned_data.get("plans", [])]
        return data


@admin.register(AddOn)
class AddOnAdmin(ModelAdmin):
    form = AddOnForm
    list_display = (
        "name",
        "slug",
        "price",
        "currency",
        "billing_period",
        "is_active",
        "sort_order",
    )
    list_filter = ("is_active", "billing_period", "currency")
    search_fields = ("name", "slug")
    ordering = ("sort_order", "name")
    filter_horizontal = ("plans",)
    actions = [
        service_action(
            "activate",
            addon_services.addon_activate,
            "addon",
            "Activate selected add-ons",
            "add-on(s) activated",
        ),
        service_action(
            "deactivate",
            addon_services.addon_deactivate,
            "addon",
            "Deactivate selected add-ons",
            "add-on(s) deactivated",
        ),
    ]
    readonly_fields = ("id", "created_at", "updated_at")

    def save_model(self, request, obj, form, change):
        data = form.validated_input
        if change:
            addon_services.addon_update(
                addon=AddOn.objects.get(pk=obj.pk), data=data, actor=request.user
            )
            return
        created = addon_services.addon_create(data=data, actor=request.user)
        obj.pk, obj._state.adding, obj._state.db = created.pk, False, created._state.db

    def save_related(self, request, form, formsets, change):
        """Plan bindings were saved by the service."""

    def has_delete_permission(self, request, obj=None):
        if obj is not None and extensions.usage_count("addon", obj) > 0:
            return False
        return super().has_delete_permission(request, obj)

    def delete_model(self, request, obj):
        addon_services.addon_delete(addon=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        _run(
            self,
            request,
            queryset,
            lambda addon, actor: addon_services.addon_delete(addon=addon, actor=actor),
            "add-on(s) deleted",
        )
