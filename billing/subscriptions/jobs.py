"""The scheduled billing jobs in the order one round runs them.

Each is ``(*, batch_size=..., now=None) -> int`` (how many rows it changed), claims its rows with
``select_for_update(skip_locked=True)`` in batches of one transaction each, and is safe to run
twice and on several workers at once. Celery beat runs each on its own schedule
(``vbwd/celery.py``); ``manage.py run_billing_jobs`` runs a round by hand or from cron.

Order: resumed pauses can be due for renewal; renewals are issued before their saved methods are
charged; a charge at the period end comes before the PAST_DUE check, so a successful one never
shows the customer a PAST_DUE state; expiry (and the add-ons it takes along) before the add-on
sweep; overdue marking before dunning, which reminds about what is overdue now. Refunds the
provider has not answered are repeated with their own keys last. Higher apps append their own
jobs with ``job_register`` (outbound webhook deliveries, after everything that sends events).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from billing.invoices.services.overdue import invoices_mark_overdue
from billing.invoices.services.refunds import refunds_complete_pending
from billing.subscriptions.services.renewal import (
    addons_expire,
    dunning_send,
    pauses_auto_resume,
    plan_change_invoices_void_stale,
    renewals_charge_saved,
    renewals_issue_due,
    subscriptions_expire,
    subscriptions_mark_past_due,
)

JOBS: dict[str, Callable[..., int]] = {
    "pauses_auto_resume": pauses_auto_resume,
    "renewals_issue_due": renewals_issue_due,
    "renewals_charge_saved": renewals_charge_saved,
    "subscriptions_mark_past_due": subscriptions_mark_past_due,
    "subscriptions_expire": subscriptions_expire,
    "addons_expire": addons_expire,
    "plan_change_invoices_void_stale": plan_change_invoices_void_stale,
    "invoices_mark_overdue": invoices_mark_overdue,
    "dunning_send": dunning_send,
    "refunds_complete_pending": refunds_complete_pending,
}


def job_register(name: str, job: Callable[..., int]) -> None:
    """Adds a job of a higher app to the end of the round (from its ``AppConfig.ready()``);
    registering the same job again is a no-op."""
    if JOBS.get(name, job) is not job:
        raise ValueError(f"Job {name} is already registered")
    JOBS[name] = job


def run_jobs(only: Iterable[str] | None = None) -> dict[str, int]:
    """Runs every job once (or those named in ``only``, still in the registry's order) and
    returns name -> count. An unknown name raises ValueError before anything runs."""
    wanted = None if only is None else set(only)
    if wanted is not None:
        unknown = sorted(wanted - set(JOBS))
        if unknown:
            raise ValueError(f"Unknown job(s): {', '.join(unknown)}. Jobs: {', '.join(JOBS)}")
    return {name: job() for name, job in JOBS.items() if wanted is None or name in wanted}
