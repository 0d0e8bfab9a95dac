"""What the audit log's back-office list filters and links by: the action's prefix (all
``invoice.`` entries), the day, the actor, and a link to the object an entry is about."""

from __future__ import annotations

from django.contrib import admin
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html

from audit.models import AuditEntry

# object_type -> the admin page of that object (by the model's "<app label>_<model name>").
OBJECT_PAGES = {
    "user": "accounts_user",
    "invoice": "invoices_invoice",
    "payment": "invoices_payment",
    "credit_note": "invoices_creditnote",
    "subscription": "subscriptions_subscription",
    "addon_subscription": "subscriptions_addonsubscription",
    "token_balance": "tokens_tokenbalance",
    "token_bundle": "tokens_tokenbundle",
    "plan": "catalog_plan",
    "addon": "catalog_addon",
    "category": "catalog_category",
    "payment_method": "catalog_paymentmethod",
    "tax_rate": "catalog_taxrate",
    "webhook": "webhooks_webhookendpoint",
}


class ActionPrefixFilter(admin.SimpleListFilter):
    """The entries whose action starts with the chosen object kind (``invoice.``)."""

    title = "action"
    parameter_name = "action_prefix"

    def lookups(self, request, model_admin):
        actions = AuditEntry.objects.order_by().values_list("action", flat=True).distinct()
        prefixes = sorted({action.split(".", 1)[0] + "." for action in actions})
        return [(prefix, prefix + "*") for prefix in prefixes]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(action__startswith=self.value())
        return queryset


@admin.display(description="object")
def object_link(entry: AuditEntry) -> str:
    """The object's admin page when it has one, else its type and id."""
    label = f"{entry.object_type} {entry.object_id}"
    page = OBJECT_PAGES.get(entry.object_type)
    if page is None:
        return label
    try:
        url = reverse(f"admin:{page}_change", args=[entry.object_id])
    except NoReverseMatch:
        return label
    return format_html('<a href="{}">{}</a>', url, label)


@admin.display(description="actor")
def actor_link(entry: AuditEntry) -> str:
    """Who acted, linking to every entry of that actor."""
    if entry.actor_id is None:
        return entry.actor_label or entry.actor_type
    label = entry.actor_email or str(entry.actor_id)
    return format_html('<a href="?actor_id={}">{}</a>', entry.actor_id, label)


LIST_FILTER = (
    "actor_type",
    ActionPrefixFilter,
    "object_type",
    ("created_at", admin.DateFieldListFilter),
)
LIST_DISPLAY = ("created_at", "actor_type", actor_link, "action", object_link, "summary")
