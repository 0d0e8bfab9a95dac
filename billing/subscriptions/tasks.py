"""Celery tasks of the scheduled subscription jobs, one per job; beat entries and
their schedules are in ``vbwd/celery.py``. Each returns the job's count."""

from celery import shared_task


def _run(name: str) -> int:
    from billing.subscriptions.jobs import JOBS

    return JOBS[name]()


@shared_task
def pauses_auto_resume() -> int:
    """Resumes subscriptions paused for the maximum pause."""
    return _run("pauses_auto_resume")


@shared_task
def renewals_issue_due() -> int:
    """Issues renewal invoices that have come within the renewal lead time."""
    return _run("renewals_issue_due")


@shared_task
def renewals_charge_saved() -> int:
    """Charges saved payment methods for open renewals at the period end and on retry days."""
    return _run("renewals_charge_saved")


@shared_task
def subscriptions_mark_past_due() -> int:
    """Moves ended, unpaid periods and trials to PAST_DUE."""
    return _run("subscriptions_mark_past_due")


@shared_task
def subscriptions_expire() -> int:
    """Expires PAST_DUE subscriptions after the grace period."""
    return _run("subscriptions_expire")


@shared_task
def addons_expire() -> int:
    """Expires add-on subscriptions whose period ended without a renewal."""
    return _run("addons_expire")


@shared_task
def plan_change_invoices_void_stale() -> int:
    """Voids unpaid plan-change invoices whose period has ended."""
    return _run("plan_change_invoices_void_stale")


@shared_task
def dunning_send() -> int:
    """Sends the daily payment reminders."""
    return _run("dunning_send")
