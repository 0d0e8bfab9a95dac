"""The delivery job among the scheduled jobs ``run_billing_jobs`` runs, so a deployment
without a Celery worker still delivers (from cron)."""

from billing.subscriptions.jobs import job_register

JOB_NAME = "webhook_deliveries_send"


def webhook_deliveries_send() -> int:
    """Sends the due webhook deliveries; returns how many attempts were made."""
    from webhooks.services import deliveries_send_due

    return deliveries_send_due()


def register() -> None:
    job_register(JOB_NAME, webhook_deliveries_send)
