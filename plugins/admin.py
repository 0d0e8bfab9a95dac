"""Back-office page for plugins: enable / disable and configure (secrets are write-only)."""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.utils.html import format_html
from unfold.admin import ModelAdmin

from plugins import registry, services, state
from plugins.models import Plugin
from vbwd.admin_tools import StyledModelForm, styled_fields
from vbwd.exceptions import DomainError


def _form_field(spec):
    required = False
    if spec.secret:
        return forms.CharField(
            required=required,
            widget=forms.PasswordInput(render_value=False),
            help_text=f"{spec.description} Leave empty to keep the stored value.".strip(),
        )
    if spec.enum:
        return forms.ChoiceField(
            required=required,
            choices=[(value, value) for value in spec.enum],
            help_text=spec.description,
        )
    if spec.type == "boolean":
        return forms.BooleanField(required=False, help_text=spec.description)
    if spec.type == "integer":
        return forms.IntegerField(required=required, help_text=spec.description)
    if spec.type == "number":
        return forms.FloatField(required=required, help_text=spec.description)
    return forms.CharField(required=required, help_text=spec.description)


class PluginConfigForm(StyledModelForm):
    """One form field per declared setting; nothing secret is ever put into the page."""

    class Meta:
        model = Plugin
        fields: list[str] = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.plugin = registry.installed().get(self.instance.name)
        if self.plugin is None:
            return
        saved = state.saved_config(self.instance.name)
        for key, spec in self.plugin.settings_schema.items():
            self.fields[key] = _form_field(spec)
            if not spec.secret:
                self.initial.setdefault(key, saved.get(key))
            remove = f"{key}__clear"
            if spec.secret:
                self.fields[remove] = forms.BooleanField(
                    required=False, label=f"Remove stored {key}"
                )
        styled_fields(self)

    def configuration(self) -> dict:
        values = {}
        for key, spec in self.plugin.settings_schema.items():
            if spec.secret:
                if self.cleaned_data.get(f"{key}__clear"):
                    values[key] = None
                elif self.cleaned_data.get(key):
                    values[key] = self.cleaned_data[key]
            elif key in self.changed_data:
                values[key] = self.cleaned_data.get(key)
        return values


@admin.register(Plugin)
class PluginAdmin(ModelAdmin):
    form = PluginConfigForm
    list_display = ("name", "version", "state", "enabled_at", "disabled_at")
    search_fields = ("name",)
    actions = ["enable_plugins", "disable_plugins"]
    readonly_fields = ("name", "state", "description", "dependencies", "secrets_status")

    def get_queryset(self, request):
        # Every installed plugin gets a row (disabled) so the back office lists all of them.
        installed = registry.installed()
        existing = set(Plugin.objects.values_list("name", flat=True))
        Plugin.objects.bulk_create(
            [Plugin(name=name) for name in installed if name not in existing],
            ignore_conflicts=True,
        )
        return super().get_queryset(request).filter(name__in=list(installed))

    def get_form(self, request, obj=None, change=False, **kwargs):
        # The settings are form fields built per plugin, not model fields.
        kwargs["fields"] = []
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        base = ["name", "state", "description", "dependencies", "secrets_status"]
        plugin = registry.installed().get(obj.name) if obj else None
        if plugin is None:
            return base
        extra = []
        for key, spec in plugin.settings_schema.items():
            extra.append(key)
            if spec.secret:
                extra.append(f"{key}__clear")
        return base + extra

    @admin.display(description="version")
    def version(self, obj):
        plugin = registry.installed().get(obj.name)
        return plugin.version if plugin else "—"

    @admin.display(description="description")
    def description(self, obj):
        plugin = registry.installed().get(obj.name)
        return plugin.description if plugin else ""

    @admin.display(description="dependencies")
    def dependencies(self, obj):
        plugin = registry.installed().get(obj.name)
        return ", ".join(plugin.dependencies) if plugin and plugin.dependencies else "none"

    @admin.display(description="state")
    def state(self, obj):
        color = "green" if obj.enabled else "gray"
        return format_html(
            '<b style="color:{}">{}</b>', color, "enabled" if obj.enabled else "disabled"
        )

    @admin.display(description="secrets")
    def secrets_status(self, obj):
        if registry.installed().get(obj.name) is None:
            return "—"
        flags = state.secrets_set(obj.name)
        if not flags:
            return "none declared"
        return ", ".join(
            f"{key}: {'set' if is_set else 'not set'}" for key, is_set in flags.items()
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def save_model(self, request, obj, form, change):
        try:
            services.plugin_configure(
                name=obj.name, values=form.configuration(), actor=request.user
            )
        except DomainError as error:
            self.message_user(request, error.message, messages.ERROR)

    def _change_state(self, request, queryset, service, verb):
        for row in queryset:
            try:
                service(name=row.name, actor=request.user)
                self.message_user(request, f"Plugin {row.name} {verb}", messages.SUCCESS)
            except DomainError as error:
                self.message_user(request, f"{row.name}: {error.message}", messages.ERROR)

    @admin.action(description="Enable selected plugins")
    def enable_plugins(self, request, queryset):
        self._change_state(request, queryset, services.plugin_enable, "enabled")

    @admin.action(description="Disable selected plugins")
    def disable_plugins(self, request, queryset):
        self._change_state(request, queryset, services.plugin_disable, "disabled")
