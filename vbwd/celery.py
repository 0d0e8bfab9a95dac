"""The Celery app and every Celery beat entry.

Each periodic job gets one entry in ``BEAT_SCHEDULE`` below, with a comment on why
it runs when it does. Every job is also reachable as a management command, so cron-style
deployments and operators can run it without beat. Without a broker (the embedded default)
tasks run eagerly in the calling process.
"""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "vbwd.settings")

app = Celery("vbwd")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# name -> {"task": dotted task name, "schedule": crontab/seconds, ...}; one entry per job.
BEAT_SCHEDULE: dict[str, dict] = {
    # Hourly: expired Idempotency-Key records only cost space, and a key is free again once its
    # record has expired whether or not the row is gone (vbwd/idempotency.py checks expires_at).
    "purge-idempotency-records": {
        "task": "vbwd.tasks.purge_idempotency_records",
        "schedule": crontab(minute=17),
    },
    # Daily at a quiet hour: expired refresh tokens (and their blacklist rows) can never be
    # used again, so they only grow the tables the refresh and revocation paths read.
    "flush-expired-refresh-tokens": {
        "task": "vbwd.tasks.flush_expired_refresh_tokens",
        "schedule": crontab(hour=3, minute=41),
    },
    # Hourly: an invoice becomes overdue the moment its due date passes, and dunning and the
    # customer's invoice list should say so within the hour; the job only claims PENDING rows
    # past due, so a run with nothing to do is one indexed query.
    "mark-overdue-invoices": {
        "task": "billing.invoices.tasks.mark_overdue_invoices",
        "schedule": crontab(minute=7),
    },
    # Hourly, early in the hour: a pause ends at its own moment (paused_at + max_pause_days),
    # and a resumed subscription may be due for renewal in the same round.
    "resume-long-pauses": {
        "task": "billing.subscriptions.tasks.pauses_auto_resume",
        "schedule": crontab(minute=2),
    },
    # Hourly: a renewal is due renewal_lead_days before the period end (with a lead of 0, at the
    # end itself), so an hourly scan issues it within the hour; a run with nothing due is one
    # indexed query, and each run numbers its invoices in blocks.
    "issue-due-renewals": {
        "task": "billing.subscriptions.tasks.renewals_issue_due",
        "schedule": crontab(minute=5),
    },
    # Hourly, after the renewals: the first off-session charge is due at the period end and the
    # retries on whole days after it, so the customer is charged within the hour of each slot.
    "charge-saved-methods": {
        "task": "billing.subscriptions.tasks.renewals_charge_saved",
        "schedule": crontab(minute=10),
    },
    # Hourly, after the charges: a period that ended unpaid shows PAST_DUE within the hour, and
    # one that was just charged successfully never does.
    "mark-past-due-subscriptions": {
        "task": "billing.subscriptions.tasks.subscriptions_mark_past_due",
        "schedule": crontab(minute=20),
    },
    # Hourly: access ends when the grace period is over, at most an hour late.
    "expire-subscriptions": {
        "task": "billing.subscriptions.tasks.subscriptions_expire",
        "schedule": crontab(minute=25),
    },
    # Hourly, after expiry (which expires a subscription's add-ons with it): add-ons whose own
    # period ended without a renewal.
    "expire-addons": {
        "task": "billing.subscriptions.tasks.addons_expire",
        "schedule": crontab(minute=30),
    },
    # Hourly: an unpaid upgrade invoice must not be payable after the period it was priced for.
    "void-stale-plan-change-invoices": {
        "task": "billing.subscriptions.tasks.plan_change_invoices_void_stale",
        "schedule": crontab(minute=35),
    },
    # Daily at 09:45 UTC: reminders go out at most once a day per subscription, at a time when
    # customers in Europe read their mail, after the night's renewals, charges and overdue marks.
    "send-dunning-reminders": {
        "task": "billing.subscriptions.tasks.dunning_send",
        "schedule": crontab(hour=9, minute=45),
    },
    # Every 15 minutes: a refund whose provider call failed, timed out or was cut off is asked
    # again with its own key (the provider answers with the refund it made, or makes it), so a
    # customer's money is never left between the provider and the books for long.
    "complete-pending-refunds": {
        "task": "billing.invoices.tasks.refunds_complete_pending",
        "schedule": crontab(minute="*/15"),
    },
    # Every minute: a new delivery is queued to a worker when its change commits; this entry
    # sends the retries whose time has come (the first one waits a minute) and anything queued
    # while no worker was running. A run with nothing due is one indexed query.
    "send-webhook-deliveries": {
        "task": "webhooks.tasks.webhook_deliveries_send",
        "schedule": crontab(),
    },
    # Every five minutes: tarot sessions whose time has run out are marked EXPIRED (a follow-up
    # is refused from the moment a session's time is up, whether or not this has run yet).
    "expire-taro-sessions": {
        "task": "plugins.taro.tasks.taro_sessions_expire",
        "schedule": crontab(minute="*/5"),
    },
}

app.conf.beat_schedule = BEAT_SCHEDULE
