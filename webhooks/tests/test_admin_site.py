"""The back office of outbound webhooks: endpoints through the services, the secret shown
once, latest deliveries, and the replay action."""

from __future__ import annotations

import uuid

import pytest
from django.contrib.messages import get_messages
from django.test import Client

from accounts.tests.factories import DEFAULT_PASSWORD, AdminFactory
from audit.models import AuditEntry
from webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from webhooks.tests.factories import EndpointFactory

pytestmark = pytest.mark.django_db

ENDPOINTS = "/admin/webhooks/webhookendpoint/"
DELIVERIES = "/admin/webhooks/webhookdelivery/"


@pytest.fixture
def client() -> Client:
    client = Client()
    assert client.login(username=AdminFactory().email, password=DEFAULT_PASSWORD)
    return client


def _messages(response) -> list[str]:
    return [str(message) for message in get_messages(response.wsgi_request)]


def _delivery(endpoint, **fields) -> WebhookDelivery:
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id=fields.pop("event_id", uuid.uuid4()),
        event_type="invoice.issued",
        body='{"id":"e","type":"invoice.issued","created_at":"t","data":{"n":1}}',
        max_attempts=8,
        **fields,
    )


def test_adding_an_endpoint_goes_through_the_service_and_shows_the_secret_once(client, local_hooks):
    response = client.post(
        f"{ENDPOINTS}add/",
        {"url": "http://127.0.0.1:9/hooks", "events": ["invoice.issued", "payment.captured"],
         "description": "CRM", "is_active": "on",
         "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"},
        follow=True,
    )  # fmt: skip

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.events == ["invoice.issued", "payment.captured"]
    assert any(endpoint.secret in message for message in _messages(response))
    assert AuditEntry.objects.filter(action="webhook.created").count() == 1
    page = client.get(f"{ENDPOINTS}{endpoint.pk}/change/").content.decode()
    assert endpoint.secret not in page
    assert endpoint.secret[-4:] in page


def test_the_form_refuses_an_internal_host(client, settings):
    settings.DEBUG = False
    settings.VBWD_WEBHOOK_ALLOW_HTTP = True
    settings.VBWD_WEBHOOK_ALLOWED_HOSTS = []
    response = client.post(
        f"{ENDPOINTS}add/",
        {"url": "http://169.254.169.254/", "events": ["*"],
         "deliveries-TOTAL_FORMS": "0", "deliveries-INITIAL_FORMS": "0"},
    )  # fmt: skip
    assert response.status_code == 200
    assert "URL host is not allowed" in response.content.decode()
    assert WebhookEndpoint.objects.count() == 0


def test_an_endpoint_page_lists_its_latest_deliveries(client, django_assert_max_num_queries):
    endpoint = EndpointFactory()
    old = _delivery(endpoint)
    for _ in range(20):
        _delivery(endpoint)
    with django_assert_max_num_queries(14):
        response = client.get(f"{ENDPOINTS}{endpoint.pk}/change/")
    page = response.content.decode()
    assert page.count(f"{DELIVERIES}") >= 20
    assert f"{DELIVERIES}{old.pk}/change/" not in page
    assert f"?endpoint__id__exact={endpoint.pk}" in page


def test_a_delivery_page_shows_the_payload_and_attempts(client):
    delivery = _delivery(
        EndpointFactory(),
        attempts=1,
        attempt_log=[{"attempt": 1, "attempted_at": "2027-01-01T00:00:00Z", "response_code": 500,
                      "response_excerpt": "no", "duration_ms": 12, "error": None}],
    )  # fmt: skip
    page = client.get(f"{DELIVERIES}{delivery.pk}/change/").content.decode()
    assert "&quot;n&quot;: 1" in page
    assert "#1 2027-01-01T00:00:00Z: 500 in 12 ms" in page


def test_the_replay_action_queues_the_same_event(client):
    endpoint = EndpointFactory()
    original = _delivery(endpoint, status=WebhookDeliveryStatus.FAILED)
    disabled = _delivery(EndpointFactory(is_active=False))

    response = client.post(
        DELIVERIES,
        {"action": "replay", "_selected_action": [str(original.pk), str(disabled.pk)]},
        follow=True,
    )

    replay = WebhookDelivery.objects.get(replay_of=original)
    assert (replay.event_id, replay.status) == (original.event_id, WebhookDeliveryStatus.PENDING)
    messages = _messages(response)
    assert f"invoice.issued queued again ({replay.pk})" in messages
    assert any("Webhook endpoint is disabled" in message for message in messages)
    assert not WebhookDelivery.objects.filter(replay_of=disabled).exists()


def test_deleting_an_endpoint_goes_through_the_service(client):
    endpoint = EndpointFactory()
    _delivery(endpoint)
    client.post(f"{ENDPOINTS}{endpoint.pk}/delete/", {"post": "yes"})
    assert WebhookEndpoint.objects.count() == 0
    assert WebhookDelivery.objects.count() == 0
    assert AuditEntry.objects.filter(action="webhook.deleted").count() == 1
