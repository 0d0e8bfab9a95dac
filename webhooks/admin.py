"""Back office of outbound webhooks: endpoints with their latest deliveries, test and secret
rotation; the deliveries with their attempts and a replay action. Every change goes through the
services (URL rules, the secret shown once, the audit log)."""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html
from unfold.admin import ModelAdmin

from vbwd.admin_tools import ReadOnlyAdmin, ReadOnlyInline, StyledModelForm
from vbwd.exceptions import DomainError
from webhooks import addresses, services
from webhooks.events import EVENT_TYPES
from webhooks.models import WebhookDelivery, WebhookEndpoint

ALL_EVENTS = "*"


class WebhookEndpointForm(StyledModelForm):
    events = forms.MultipleChoiceField(
        choices=[(ALL_EVENTS, "Every event")] + [(name, name) for name in EVENT_TYPES],
        widget=forms.CheckboxSelectMultiple,
        help_text="“Every event” includes types added later.",
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "is_active"]

    def clean_url(self) -> str:
        try:
            return addresses.url_check(self.cleaned_data["url"])
        except addresses.UrlRefused as refused:
            raise forms.ValidationError(str(refused)) from None

    def clean_events(self) -> list[str]:
        events = self.cleaned_data["events"]
        return [ALL_EVENTS] if ALL_EVENTS in events else list(events)


def _delivery_link(delivery: WebhookDelivery) -> str:
    url = reverse("admin:webhooks_webhookdelivery_change", args=[delivery.pk])
    return format_html('<a href="{}">{}</a>', url, delivery.event_type)


class LatestDeliveriesInline(ReadOnlyInline):
    model = WebhookDelivery
    fk_name = "endpoint"
    verbose_name_plural = "latest deliveries"
    fields = ["delivery", "status", "attempts", "response_code", "created_at", "next_attempt_at"]
    ordering = ["-created_at"]
    max_num = 0

    def get_queryset(self, request):
        # The inline shows the newest 20; the full history is the deliveries list.
        queryset = super().get_queryset(request)
        newest = queryset.order_by("-created_at").values_list("pk", flat=True)[:20]
        return queryset.filter(pk__in=list(newest))

    @admin.display(description="event")
    def delivery(self, row: WebhookDelivery) -> str:
        return _delivery_link(row)


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ModelAdmin):
    form = WebhookEndpointForm
    list_display = ("url", "event_list", "is_active", "last_delivery_status", "last_triggered_at")
    list_filter = ("is_active", "last_delivery_status")
    search_fields = ("url", "description")
    readonly_fields = ("secret_last4", "last_triggered_at", "last_delivery_status", "history")
    inlines = [LatestDeliveriesInline]
    actions = ["toggle", "rotate_secret", "send_test"]

    @admin.display(description="events")
    def event_list(self, row: WebhookEndpoint) -> str:
        return ", ".join(row.events)

    @admin.display(description="delivery history")
    def history(self, row: WebhookEndpoint) -> str:
        url = reverse("admin:webhooks_webhookdelivery_changelist")
        return format_html('<a href="{}?endpoint__id__exact={}">Every delivery</a>', url, row.pk)

    def save_model(self, request, obj, form, change):
        values = {field: form.cleaned_data[field] for field in form.changed_data}
        if change:
            updated = services.endpoint_update(
                endpoint_id=obj.pk, values=values, actor=request.user
            )
            obj.__dict__.update(updated.__dict__)
            return
        created = services.endpoint_create(
            url=form.cleaned_data["url"],
            events=form.cleaned_data["events"],
            description=form.cleaned_data.get("description"),
            is_active=form.cleaned_data.get("is_active", True),
            actor=request.user,
        )
        obj.__dict__.update(created.__dict__)
        self._show_secret(request, created)

    def get_deleted_objects(self, objs, request):
        # The deliveries go with their endpoint, although staff cannot delete one on its own.
        deleted, counts, _perms_needed, protected = super().get_deleted_objects(objs, request)
        return deleted, counts, set(), protected

    def delete_model(self, request, obj):
        services.endpoint_delete(endpoint_id=obj.pk, actor=request.user)

    def delete_queryset(self, request, queryset):
        for endpoint in queryset:
            services.endpoint_delete(endpoint_id=endpoint.pk, actor=request.user)

    def _show_secret(self, request, endpoint: WebhookEndpoint) -> None:
        self.message_user(
            request,
            f"Signing secret of {endpoint.url}: {endpoint.secret} (copy it now; it is shown "
            "only once)",
            messages.WARNING,
        )

    @admin.action(description="Switch on / off")
    def toggle(self, request, queryset):
        for endpoint in queryset:
            changed = services.endpoint_toggle(endpoint_id=endpoint.pk, actor=request.user)
            state = "enabled" if changed.is_active else "disabled"
            self.message_user(request, f"{changed.url}: {state}", messages.SUCCESS)

    @admin.action(description="Rotate the signing secret")
    def rotate_secret(self, request, queryset):
        for endpoint in queryset:
            rotated = services.endpoint_rotate_secret(endpoint_id=endpoint.pk, actor=request.user)
            self._show_secret(request, rotated)

    @admin.action(description="Send a test event now")
    def send_test(self, request, queryset):
        for endpoint in queryset:
            delivery = services.endpoint_test_send(endpoint_id=endpoint.pk, actor=request.user)
            code = delivery.response_code or (delivery.attempt_log[-1]["error"])
            level = messages.SUCCESS if delivery.status == "DELIVERED" else messages.ERROR
            self.message_user(request, f"{endpoint.url}: {delivery.status} ({code})", level)


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    """Read-only; a replay queues the same event again as a new delivery."""

    list_display = (
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "response_code",
        "next_attempt_at",
    )
    list_filter = ("status", "event_type", "endpoint")
    search_fields = ("event_id", "id")
    list_select_related = ("endpoint",)
    date_hierarchy = "created_at"
    ordering = ("-created_at",)
    actions = ["replay"]
    exclude = ("body", "attempt_log", "claim")

    def get_readonly_fields(self, request, obj=None):
        fields = [
            field
            for field in super().get_readonly_fields(request, obj)
            if field not in self.exclude
        ]
        return [*fields, "payload", "attempts_made"]

    @admin.display(description="payload")
    def payload(self, row: WebhookDelivery) -> str:
        text = json.dumps(json.loads(row.body), indent=2, ensure_ascii=False)
        return format_html("<pre>{}</pre>", text)

    @admin.display(description="attempt log")
    def attempts_made(self, row: WebhookDelivery) -> str:
        lines = [
            f"#{entry['attempt']} {entry['attempted_at']}: "
            f"{entry['response_code'] or entry['error']} in {entry['duration_ms']} ms"
            for entry in row.attempt_log
        ]
        return format_html("<pre>{}</pre>", "\n".join(lines) or "—")

    @admin.action(description="Replay (send the same event again)")
    def replay(self, request, queryset):
        for delivery in queryset:
            try:
                replay = services.delivery_replay(delivery_id=delivery.pk, actor=request.user)
            except DomainError as error:
                self.message_user(request, f"{delivery}: {error.message}", messages.ERROR)
            else:
                self.message_user(
                    request, f"{delivery.event_type} queued again ({replay.pk})", messages.SUCCESS
                )
