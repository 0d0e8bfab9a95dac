"""Which URLs may be called: refused when registered and again before every attempt."""

from __future__ import annotations

import pytest

from webhooks import addresses
from webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from webhooks.services import deliveries_send_due
from webhooks.tests.factories import EndpointFactory
from webhooks.tests.receiver import Receiver

pytestmark = pytest.mark.django_db

NOT_ALLOWED = {
    "error": "URL host is not allowed",
    "code": "validation_error",
    "errors": {"url": ["URL host is not allowed"]},
}
PUBLIC = "93.184.215.14"


@pytest.fixture
def strict(settings, monkeypatch):
    """Production rules with http allowed (so the address rule is what refuses), and a
    resolver: internal.example.com is 10.0.0.1, hooks.example.com a public address."""
    settings.DEBUG = False
    settings.VBWD_WEBHOOK_ALLOW_HTTP = True
    settings.VBWD_WEBHOOK_ALLOWED_HOSTS = []
    settings.VBWD_WEBHOOK_TIMEOUT_SECONDS = 0.5
    names = {"internal.example.com": ["10.0.0.1"], "hooks.example.com": [PUBLIC]}
    real = addresses._lookup

    def lookup(host, port):
        return names[host] if host in names else real(host, port)

    monkeypatch.setattr(addresses, "_lookup", lookup)
    return names


REFUSED_URLS = [
    "http://127.0.0.1/hooks",
    "http://169.254.169.254/latest/meta-data",
    "http://[::1]/hooks",
    "http://internal.example.com/hooks",
    "http://localhost/hooks",
    "http://[::ffff:127.0.0.1]/hooks",
    "http://224.0.0.1/hooks",
    "http://0.0.0.0/hooks",
]


def _create(admin_client, url: str):
    return admin_client.post("/api/v1/admin/webhooks", {"url": url, "events": ["*"]}, format="json")


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_registration_refuses_hosts_that_are_not_public(strict, admin_client, url):
    response = _create(admin_client, url)
    assert (response.status_code, response.json()) == (400, NOT_ALLOWED)
    assert WebhookEndpoint.objects.count() == 0


def test_registration_accepts_a_public_host(strict, admin_client):
    response = _create(admin_client, "https://hooks.example.com/vbwd")
    assert response.status_code == 201
    assert response.json()["webhook"]["url"] == "https://hooks.example.com/vbwd"


def test_http_is_refused_unless_the_setting_allows_it(strict, settings, admin_client):
    settings.VBWD_WEBHOOK_ALLOW_HTTP = False
    response = _create(admin_client, "http://hooks.example.com/vbwd")
    assert response.status_code == 400
    assert response.json()["errors"] == {"url": ["URL must use https"]}


def test_debug_lifts_the_address_rule(strict, settings, admin_client):
    settings.DEBUG = True
    assert _create(admin_client, "http://127.0.0.1:9/hooks").status_code == 201


def test_the_allowed_hosts_setting_exempts_exactly_the_hosts_it_names(
    strict, settings, admin_client
):
    settings.VBWD_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    assert _create(admin_client, "http://127.0.0.1:9/hooks").status_code == 201
    assert _create(admin_client, "http://[::1]:9/hooks").status_code == 400
    assert _create(admin_client, "http://localhost:9/hooks").status_code == 400


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://hooks.example.com/x", "url must be an absolute URL"),
        ("/relative/path", "url must be an absolute URL"),
        ("https://user:secret@hooks.example.com/x", "url must be an absolute URL"),
        ("https://hooks.example.com:99999/x", "url must be an absolute URL"),
        ("https://hooks.example.com/" + "a" * 2000, "url must be at most 2000 characters"),
        ("https://no-such-host.invalid/x", "URL host is not allowed"),
    ],
)
def test_malformed_and_unresolvable_urls_are_refused(strict, admin_client, url, message):
    response = _create(admin_client, url)
    assert response.status_code == 400
    assert response.json()["errors"] == {"url": [message]}


def _pending_to(url: str) -> WebhookDelivery:
    endpoint = EndpointFactory(url=url, events=["*"])
    return WebhookDelivery.objects.create(
        endpoint=endpoint,
        event_id="5b0e6a53-3f5c-4c35-9d53-8e0f1b1c9a11",
        event_type="invoice.issued",
        body="{}",
        max_attempts=8,
        next_attempt_at="2000-01-01T00:00:00Z",
    )


@pytest.mark.parametrize("url", REFUSED_URLS)
def test_delivery_refuses_hosts_that_are_not_public_without_connecting(strict, url):
    receiver = Receiver().start()  # listening on 127.0.0.1: nothing may reach it
    try:
        port = receiver.url.split(":")[2].split("/")[0]
        target = url.replace("/hooks", f":{port}/hooks") if "/hooks" in url else url
        delivery = _pending_to(target)
        assert deliveries_send_due() == 1
    finally:
        receiver.stop()

    delivery.refresh_from_db()
    assert receiver.requests == []
    assert (delivery.status, delivery.attempts) == (WebhookDeliveryStatus.RETRYING, 1)
    assert delivery.attempt_log[0]["error"] == "URL host is not allowed"
    assert delivery.attempt_log[0]["response_code"] is None


def test_a_host_that_resolves_elsewhere_after_registration_is_refused_at_delivery(
    strict, admin_client
):
    assert _create(admin_client, "https://hooks.example.com/vbwd").status_code == 201
    strict["hooks.example.com"] = [PUBLIC, "10.0.0.1"]  # the name moved (partly) inside
    delivery = WebhookDelivery.objects.create(
        endpoint=WebhookEndpoint.objects.get(),
        event_id="5b0e6a53-3f5c-4c35-9d53-8e0f1b1c9a11",
        event_type="invoice.issued",
        body="{}",
        max_attempts=8,
        next_attempt_at="2000-01-01T00:00:00Z",
    )

    deliveries_send_due()

    delivery.refresh_from_db()
    assert delivery.attempt_log[0]["error"] == "URL host is not allowed"


def test_a_redirect_to_an_internal_address_is_never_followed(strict, settings):
    settings.VBWD_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    inside = Receiver().start()
    outside = Receiver(answer=lambda index: (307, b"", {"Location": inside.url})).start()
    try:
        delivery = _pending_to(outside.url)
        deliveries_send_due()
    finally:
        outside.stop()
        inside.stop()

    delivery.refresh_from_db()
    assert (len(outside.requests), len(inside.requests)) == (1, 0)
    assert (delivery.status, delivery.response_code) == (WebhookDeliveryStatus.RETRYING, 307)
