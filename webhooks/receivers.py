"""The outbox listens to every domain event inside the transaction of its change."""

from django.dispatch import receiver

from plugins.signals import domain_events_recorded
from webhooks.services import outbox_record


@receiver(domain_events_recorded, dispatch_uid="webhooks.outbox_record")
def _outbox_record(sender, events, **kwargs) -> None:
    outbox_record(events=events)
