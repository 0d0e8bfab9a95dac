"""Renewals and the scheduled subscription jobs. Each job is
``(*, batch_size=..., now=None) -> int``, safe to run twice and on several workers at once;
``billing.subscriptions.jobs`` lists them in the order they run."""

from billing.subscriptions.services.renewal.charging import renewals_charge_saved
from billing.subscriptions.services.renewal.dunning import dunning_send
from billing.subscriptions.services.renewal.ending import (
    addons_expire,
    pauses_auto_resume,
    plan_change_invoices_void_stale,
    subscriptions_expire,
    subscriptions_mark_past_due,
)
from billing.subscriptions.services.renewal.issuing import (
    open_renewal_invoice,
    renewal_invoice_issue,
    renewals_issue_due,
)

__all__ = [
    "addons_expire",
    "dunning_send",
    "open_renewal_invoice",
    "pauses_auto_resume",
    "plan_change_invoices_void_stale",
    "renewal_invoice_issue",
    "renewals_charge_saved",
    "renewals_issue_due",
    "subscriptions_expire",
    "subscriptions_mark_past_due",
]
