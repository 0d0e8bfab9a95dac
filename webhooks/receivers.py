"""The outbox listens to every domain event inside the transaction of its change; any saved or
deleted endpoint row forgets the cached subscriptions (``QuerySet.update`` callers call
``selectors.subscriptions_changed`` themselves)."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from plugins.signals import domain_events_recorded
from webhooks import selectors
from webhooks.models import WebhookEndpoint
from webhooks.services import outbox_record


@receiver(domain_events_recorded, dispatch_uid="webhooks.outbox_record")
def _outbox_record(sender, events, **kwargs) -> None:
    outbox_record(events=events)


@receiver(post_save, sender=WebhookEndpoint, dispatch_uid="webhooks.endpoint_saved")
@receiver(post_delete, sender=WebhookEndpoint, dispatch_uid="webhooks.endpoint_deleted")
def _endpoint_changed(sender, **kwargs) -> None:
    selectors.subscriptions_changed()
