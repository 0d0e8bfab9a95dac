"""Celery task of the webhook deliveries; its beat entry is in ``vbwd/celery.py``."""

from celery import shared_task


@shared_task
def webhook_deliveries_send() -> int:
    """Sends the due webhook deliveries (new ones and retries whose time has come)."""
    from webhooks.services import deliveries_send_due

    return deliveries_send_due()
