"""The Celery app and every Celery beat entry.

Each periodic job of DOMAIN §11 gets one entry in ``BEAT_SCHEDULE`` below, with a comment on why
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
}

app.conf.beat_schedule = BEAT_SCHEDULE
