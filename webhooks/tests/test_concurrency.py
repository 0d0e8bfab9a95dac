"""Several workers send the due deliveries at once: each is sent exactly once."""

from __future__ import annotations

from collections import Counter

import pytest

from accounts.signals import user_registered
from accounts.tests.factories import UserFactory
from tests.support.race import run_together
from webhooks.models import WebhookDelivery, WebhookDeliveryStatus
from webhooks.services import deliveries_send_due, outbox_record
from webhooks.tests.factories import EndpointFactory

EVENTS = 1000
ENDPOINTS = 3


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_send_a_thousand_events_to_three_endpoints_once_each(receiver):
    endpoints = [EndpointFactory(url=f"{receiver.url}/{index}") for index in range(ENDPOINTS)]
    user = UserFactory()
    assert outbox_record(events=[(user_registered, {"user": user})] * EVENTS) == EVENTS * ENDPOINTS
    written = {str(pk) for pk in WebhookDelivery.objects.values_list("pk", flat=True)}

    attempted = run_together([lambda: deliveries_send_due(batch_size=50)] * 2, timeout=120)

    assert all(isinstance(count, int) for count in attempted), attempted
    assert sum(attempted) == EVENTS * ENDPOINTS
    assert min(attempted) > 0  # both workers took part
    sent = Counter(request.headers["VBWD-Delivery-Id"] for request in receiver.requests)
    assert len(receiver.requests) == EVENTS * ENDPOINTS
    assert set(sent.values()) == {1}
    assert set(sent) == written
    per_endpoint = Counter(request.path for request in receiver.requests)
    assert per_endpoint == {f"/hooks/{index}": EVENTS for index in range(ENDPOINTS)}
    assert set(WebhookDelivery.objects.values_list("status", "attempts").distinct()) == {
        (WebhookDeliveryStatus.DELIVERED, 1)
    }
    assert {endpoint.pk for endpoint in endpoints} == set(
        WebhookDelivery.objects.values_list("endpoint_id", flat=True).distinct()
    )
