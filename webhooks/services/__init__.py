"""Use cases of outbound webhooks: endpoints, the outbox, delivery."""

from webhooks.services.delivery import (
    deliveries_send_due,
    delivery_replay,
    endpoint_test_send,
    retry_delay,
    signature_header,
)
from webhooks.services.endpoints import (
    endpoint_create,
    endpoint_delete,
    endpoint_rotate_secret,
    endpoint_toggle,
    endpoint_update,
)
from webhooks.services.outbox import outbox_record

__all__ = [
    "deliveries_send_due",
    "delivery_replay",
    "endpoint_create",
    "endpoint_delete",
    "endpoint_rotate_secret",
    "endpoint_test_send",
    "endpoint_toggle",
    "endpoint_update",
    "outbox_record",
    "retry_delay",
    "signature_header",
]
