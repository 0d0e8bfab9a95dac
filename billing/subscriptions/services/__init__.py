"""Subscription use cases; each runs in one transaction with the subscription row locked, writes
an audit row and sends its signal after commit."""

from billing.subscriptions.services.addons import (
    addon_subscription_cancel,
    addon_subscription_grant,
)
from billing.subscriptions.services.creation import addon_subscription_create, subscription_create
from billing.subscriptions.services.discounts import (
    subscription_discount_apply,
    subscription_discount_remove,
)
from billing.subscriptions.services.lifecycle import (
    subscription_cancel,
    subscription_extend,
    subscription_pause,
    subscription_reactivate,
    subscription_refund,
    subscription_resume,
    subscription_staff_activate,
    subscription_staff_create,
)
from billing.subscriptions.services.plan_change import (
    subscription_cancel_downgrade,
    subscription_downgrade,
    subscription_upgrade,
)
from billing.subscriptions.services.renewal import (
    addons_expire,
    dunning_send,
    open_renewal_invoice,
    pauses_auto_resume,
    plan_change_invoices_void_stale,
    renewal_invoice_issue,
    renewals_charge_saved,
    renewals_issue_due,
    subscriptions_expire,
    subscriptions_mark_past_due,
)

__all__ = [
    "addon_subscription_cancel",
    "addon_subscription_create",
    "addon_subscription_grant",
    "addons_expire",
    "dunning_send",
    "open_renewal_invoice",
    "pauses_auto_resume",
    "plan_change_invoices_void_stale",
    "renewal_invoice_issue",
    "renewals_charge_saved",
    "renewals_issue_due",
    "subscription_cancel",
    "subscription_cancel_downgrade",
    "subscription_create",
    "subscription_discount_apply",
    "subscription_discount_remove",
    "subscription_downgrade",
    "subscription_extend",
    "subscription_pause",
    "subscription_reactivate",
    "subscription_refund",
    "subscription_resume",
    "subscription_staff_activate",
    "subscription_staff_create",
    "subscription_upgrade",
    "subscriptions_expire",
    "subscriptions_mark_past_due",
]
