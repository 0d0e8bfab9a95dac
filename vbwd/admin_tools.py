"""Back-office plumbing shared by the apps' admin modules: read-only screens and actions that ask
staff for a reason, then call a service once per selected row and report each outcome."""

from __future__ import annotations

import datetime
from decimal import Decimal

from django import forms
from django.contrib import messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import QuerySet
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from unfold import widgets
from unfold.admin import ModelAdmin, TabularInline

from vbwd.exceptions import DomainError

REASON_ACTION_TEMPLATE = "admin/reason_action.html"


class ReadOnlyAdmin(ModelAdmin):
    """No add, no change, no delete (and so no bulk delete action)."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.concrete_fields]


class ReadOnlyInline(TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def get_readonly_fields(self, request, obj=None):
        return self.fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# Django's plain widgets and the back office's styled ones that replace them on forms built by
# hand (model fields get theirs from the ModelAdmin already).
_STYLED_WIDGETS = {
    forms.TextInput: widgets.UnfoldAdminTextInputWidget,
    forms.EmailInput: widgets.UnfoldAdminEmailInputWidget,
    forms.URLInput: widgets.UnfoldAdminURLInputWidget,
    forms.NumberInput: widgets.UnfoldAdminIntegerFieldWidget,
    forms.Textarea: widgets.UnfoldAdminTextareaWidget,
    forms.CheckboxInput: widgets.UnfoldBooleanSwitchWidget,
    forms.DateInput: widgets.UnfoldAdminSingleDateWidget,
}


def styled_fields(form: forms.BaseForm) -> None:
    """Gives the form's plain widgets the back office's look, keeping their attributes."""
    for field in form.fields.values():
        widget = field.widget
        kind = type(widget)
        if kind is forms.Select:
            styled = widgets.UnfoldAdminSelectWidget(attrs=dict(widget.attrs))
            styled.choices = widget.choices
        elif kind is forms.PasswordInput:
            styled = widgets.UnfoldAdminPasswordWidget(
                attrs=dict(widget.attrs), render_value=widget.render_value
            )
        elif kind in _STYLED_WIDGETS:
            styled = _STYLED_WIDGETS[kind](attrs=dict(widget.attrs))
        else:
            continue
        styled.is_required = widget.is_required
        field.widget = styled


class StyledForm(forms.Form):
    """A form of an action's page, in the back office's look."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        styled_fields(self)


class StyledModelForm(forms.ModelForm):
    """A model form whose hand-declared fields get the back office's look too."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        styled_fields(self)


def admin_link(row, text=None) -> str:
    """A link to the row's own back-office page, named by ``text`` (the row itself by default)."""
    if row is None:
        return "-"
    url = reverse(f"admin:{row._meta.app_label}_{row._meta.model_name}_change", args=[row.pk])
    return format_html('<a class="font-medium text-primary-600" href="{}">{}</a>', url, text or row)


class CustomerSectionInline(ReadOnlyInline):
    """A tab of the customer's page: their rows of one kind, newest first, ten to a page, each
    linking to its own page."""

    fk_name = "user"
    tab = True
    per_page = 10
    section_order = 100


class ReasonForm(StyledForm):
    reason = forms.CharField(
        max_length=500, widget=forms.Textarea(attrs={"rows": 3}), help_text="Kept in the audit log."
    )


class ReasonActionsMixin:
    """Runs an action through a form: the first post shows it for the selected rows, the second
    (with ``apply``) calls ``apply(row, cleaned_data)`` for each row and reports every success
    and refusal (a DomainError's message) separately."""

    def _rows(self, queryset: QuerySet) -> QuerySet:
        raise NotImplementedError

    def _label(self, row) -> str:
        raise NotImplementedError

    def _describe(self, row) -> str:
        """The row as listed on the confirmation page."""
        return self._label(row)

    def _with_form(self, request, queryset, *, form_class, title, submit, apply):
        rows = self._rows(queryset)
        if "apply" in request.POST:
            form = form_class(request.POST)
            if form.is_valid():
                for row in rows:
                    try:
                        done = apply(row, form.cleaned_data)
                    except DomainError as error:
                        self.message_user(
                            request, f"{self._label(row)}: {error.message}", messages.ERROR
                        )
                    else:
                        self.message_user(request, f"{self._label(row)}: {done}", messages.SUCCESS)
                return None
        else:
            form = form_class()
        return render(
            request,
            REASON_ACTION_TEMPLATE,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "submit": submit,
                "form": form,
                "rows": [self._describe(row) for row in rows],
                "action": request.POST.get("action"),
                "selected": request.POST.getlist(ACTION_CHECKBOX_NAME),
                "select_across": request.POST.get("select_across", "0"),
                "opts": self.model._meta,
            },
        )


# --- actions on one object's page ---------------------------------------------------------------

OBJECT_ACTION_TEMPLATE = "admin/vbwd/object_action.html"


def _as_sent(value):
    """A form's value as a client would send it in JSON (moments and amounts as text)."""
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


class ApiCheckedForm(StyledForm):
    """A page action's form whose values are also checked by the API's own input serializer
    (``serializer_class``, given ``context``), so both ask for and accept the same; the cleaned
    data carries the serializer's values."""

    serializer_class: type | None = None

    def __init__(self, *args, context: dict | None = None, **kwargs):
        self.serializer_context = context or {}
        super().__init__(*args, **kwargs)

    def clean(self):
        cleaned = super().clean()
        if self.errors or self.serializer_class is None:
            return cleaned
        accepted = self.serializer_class().fields
        data = {
            name: _as_sent(value)
            for name, value in cleaned.items()
            if name in accepted and value not in (None, "")
        }
        serializer = self.serializer_class(data=data, context=self.serializer_context)
        if not serializer.is_valid():
            for name, found in serializer.errors.items():
                self.add_error(name if name in self.fields else None, [str(m) for m in found])
            return cleaned
        return {**cleaned, **serializer.validated_data}


class NoInput(StyledForm):
    """An action that asks for nothing but the confirmation."""


class ObjectActionsMixin:
    """Actions of one object's page (unfold's ``actions_detail``) run as a form page: the first
    answer shows what the action needs; a valid post shows what it will do (``preview``) with the
    values kept; posting with ``confirm`` calls ``apply(obj, cleaned_data)``, reports its message
    and returns to the object's page. A DomainError comes back on the form with nothing done."""

    def _object_action(
        self,
        request,
        object_id,
        *,
        title: str,
        submit: str,
        apply,
        preview=None,
        form_class=NoInput,
        initial: dict | None = None,
        form_kwargs: dict | None = None,
    ):
        obj = self.get_object(request, object_id)
        if obj is None:
            raise Http404(f"{self.model._meta.verbose_name} not found")
        back = reverse(f"admin:{obj._meta.app_label}_{obj._meta.model_name}_change", args=[obj.pk])
        form_kwargs = form_kwargs or {}
        confirming = False
        effect: list[str] = []
        if request.method == "POST":
            form = form_class(request.POST, **form_kwargs)
            if form.is_valid():
                if "confirm" in request.POST:
                    try:
                        done = apply(obj, form.cleaned_data)
                    except DomainError as error:
                        form.add_error(None, error.message)
                    else:
                        if isinstance(done, HttpResponse):
                            return done
                        self.message_user(request, done, messages.SUCCESS)
                        return redirect(back)
                else:
                    try:
                        effect = preview(obj, form.cleaned_data) if preview else []
                    except DomainError as error:
                        form.add_error(None, error.message)
                    else:
                        confirming = True
        else:
            form = form_class(initial=initial or {}, **form_kwargs)
            if not form.fields:
                effect = preview(obj, {}) if preview else []
                confirming = True
        return render(
            request,
            OBJECT_ACTION_TEMPLATE,
            {
                **self.admin_site.each_context(request),
                "title": title,
                "subtitle": str(obj),
                "subject": obj,
                "opts": self.model._meta,
                "original": obj,
                "form": form,
                "submit": submit,
                "confirming": confirming,
                "effect": effect,
                "cancel_url": back,
            },
        )
