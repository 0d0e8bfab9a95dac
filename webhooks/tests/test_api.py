"""The admin API of outbound webhooks: shapes, messages, the secret shown once, test and
replay, filters, 404s and query counts."""

from __future__ import annotations

import uuid

import pytest

from audit.models import AuditEntry
from billing.invoices.tests.factories import buyer, issue_invoice
from webhooks.events import EVENT_TYPES
from webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from webhooks.services import deliveries_send_due
from webhooks.tests.factories import EndpointFactory
from webhooks.tests.signature import documented_verify

pytestmark = pytest.mark.django_db

BASE = "/api/v1/admin/webhooks"
ENDPOINT_KEYS = [
    "id", "url", "description", "events", "is_active", "secret_last4", "last_triggered_at",
    "last_delivery_status", "created_at", "updated_at",
]  # fmt: skip
DELIVERY_KEYS = [
    "id", "endpoint_id", "event_id", "event_type", "status", "attempts", "max_attempts",
    "response_code", "response_body", "duration_ms", "last_attempt_at", "next_attempt_at",
    "delivered_at", "replay_of", "created_at",
]  # fmt: skip


def _delivery(endpoint, **fields) -> WebhookDelivery:
    fields.setdefault("event_id", uuid.uuid4())
    fields.setdefault("event_type", "invoice.issued")
    fields.setdefault("body", '{"id":"x","type":"invoice.issued","created_at":"t","data":{}}')
    fields.setdefault("max_attempts", 8)
    return WebhookDelivery.objects.create(endpoint=endpoint, **fields)


def test_creating_an_endpoint_shows_its_secret_once(receiver, admin_client):
    response = admin_client.post(
        BASE,
        {"url": receiver.url, "events": ["invoice.issued", "payment.captured"],
         "description": "CRM"},
        format="json",
    )  # fmt: skip

    assert response.status_code == 201
    body = response.json()
    assert body["message"] == (
        "Webhook created. Copy the signing secret now; it is shown only once."
    )
    webhook = body["webhook"]
    assert list(webhook) == [*ENDPOINT_KEYS, "secret"]
    endpoint = WebhookEndpoint.objects.get()
    assert webhook["secret"] == endpoint.secret
    assert webhook["secret"].startswith("whsec_")
    assert len(webhook["secret"]) == 70
    assert webhook["secret_last4"] == endpoint.secret[-4:]
    assert (webhook["events"], webhook["description"], webhook["is_active"]) == (
        ["invoice.issued", "payment.captured"],
        "CRM",
        True,
    )
    assert (webhook["last_triggered_at"], webhook["last_delivery_status"]) == (None, None)
    detail = admin_client.get(f"{BASE}/{endpoint.pk}").json()["webhook"]
    assert "secret" not in detail
    assert AuditEntry.objects.filter(action="webhook.created", object_id=str(endpoint.pk)).exists()


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"events": ["*"]}, "url is required"),
        ({"url": None, "events": ["*"]}, "url is required"),
        ({"url": "https://hooks.example.com"}, "events must be a non-empty list"),
        ({"url": "https://hooks.example.com", "events": []}, "events must be a non-empty list"),
        ({"url": "https://hooks.example.com", "events": "*"}, "events must be a non-empty list"),
        ({"url": "https://hooks.example.com", "events": ["invoice.paid"]},
         "Unknown event type: invoice.paid"),
    ],
)  # fmt: skip
def test_creating_refuses_missing_and_unknown_fields(admin_client, body, message, monkeypatch):
    from webhooks import addresses

    monkeypatch.setattr(addresses, "_lookup", lambda host, port: ["93.184.215.14"])
    response = admin_client.post(BASE, body, format="json")
    assert response.status_code == 400
    assert response.json()["error"] == message


def test_star_subscribes_to_everything_and_duplicates_are_dropped(receiver, admin_client):
    response = admin_client.post(
        BASE, {"url": receiver.url, "events": ["invoice.issued", "*"]}, format="json"
    )
    assert response.json()["webhook"]["events"] == ["*"]
    response = admin_client.post(
        BASE, {"url": receiver.url, "events": ["invoice.issued", "invoice.issued"]}, format="json"
    )
    assert response.json()["webhook"]["events"] == ["invoice.issued"]


def test_event_types_lists_every_subscribable_type(admin_client):
    response = admin_client.get(f"{BASE}/event-types")
    assert response.json() == {"event_types": list(EVENT_TYPES)}
    assert len(EVENT_TYPES) == 16
    assert "coupon.redeemed" in EVENT_TYPES
    assert "webhook.test" not in EVENT_TYPES


def test_the_list_is_paginated_newest_first_and_filtered(admin_client, django_assert_num_queries):
    older = EndpointFactory(events=["invoice.issued"])
    everything = EndpointFactory(events=["*"])
    inactive = EndpointFactory(events=["payment.captured"], is_active=False)

    with django_assert_num_queries(3):  # the caller, the count, the page
        response = admin_client.get(BASE)
    body = response.json()
    assert [row["id"] for row in body["webhooks"]] == [
        str(inactive.pk), str(everything.pk), str(older.pk)
    ]  # fmt: skip
    keys = ("total", "page", "per_page", "pages", "limit", "offset")
    assert [body[key] for key in keys] == [3, 1, 20, 1, 20, 0]

    def ids(query: str) -> list[str]:
        return [row["id"] for row in admin_client.get(f"{BASE}?{query}").json()["webhooks"]]

    assert ids("is_active=false") == [str(inactive.pk)]
    assert ids("event=invoice.issued") == [str(everything.pk), str(older.pk)]
    assert ids("event=&is_active=") == [str(inactive.pk), str(everything.pk), str(older.pk)]
    assert ids("per_page=1&page=2") == [str(everything.pk)]
    bad = admin_client.get(f"{BASE}?event=nope")
    assert (bad.status_code, bad.json()["error"]) == (400, "Unknown event type: nope")
    bad = admin_client.get(f"{BASE}?is_active=maybe")
    assert bad.status_code == 400


def test_the_detail_has_the_latest_twenty_deliveries(admin_client, django_assert_num_queries):
    endpoint = EndpointFactory()
    deliveries = [_delivery(endpoint) for _ in range(21)]

    with django_assert_num_queries(3):  # the caller, the endpoint, its history
        response = admin_client.get(f"{BASE}/{endpoint.pk}")

    webhook = response.json()["webhook"]
    assert list(webhook) == [*ENDPOINT_KEYS, "delivery_history"]
    history = webhook["delivery_history"]
    assert len(history) == 20
    assert list(history[0]) == DELIVERY_KEYS
    assert history[0]["id"] == str(deliveries[-1].pk)
    assert str(deliveries[0].pk) not in [row["id"] for row in history]


def test_update_changes_only_the_fields_sent(receiver, admin_client):
    endpoint = EndpointFactory(url=receiver.url, events=["invoice.issued"], description="CRM")
    response = admin_client.put(
        f"{BASE}/{endpoint.pk}", {"events": ["payment.captured"]}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "Webhook updated"
    assert (body["webhook"]["events"], body["webhook"]["description"]) == (
        ["payment.captured"],
        "CRM",
    )
    response = admin_client.patch(f"{BASE}/{endpoint.pk}", {"description": ""}, format="json")
    assert response.json()["webhook"]["description"] is None
    entry = AuditEntry.objects.filter(action="webhook.updated").order_by("created_at").first()
    assert (entry.before, entry.after) == (
        {"events": ["invoice.issued"]},
        {"events": ["payment.captured"]},
    )


def test_update_checks_the_url_rules(admin_client, settings):
    settings.DEBUG = False
    settings.VBWD_WEBHOOK_ALLOW_HTTP = False
    endpoint = EndpointFactory()
    response = admin_client.put(
        f"{BASE}/{endpoint.pk}", {"url": "http://hooks.example.com"}, format="json"
    )
    assert (response.status_code, response.json()["error"]) == (400, "URL must use https")


def test_toggle_switches_the_endpoint_off_and_on(admin_client):
    endpoint = EndpointFactory()
    off = admin_client.post(f"{BASE}/{endpoint.pk}/toggle").json()
    assert (off["message"], off["webhook"]["is_active"]) == ("Webhook disabled", False)
    on = admin_client.post(f"{BASE}/{endpoint.pk}/toggle").json()
    assert (on["message"], on["webhook"]["is_active"]) == ("Webhook enabled", True)
    assert list(
        AuditEntry.objects.filter(object_id=str(endpoint.pk))
        .order_by("created_at")
        .values_list("action", flat=True)
    ) == ["webhook.disabled", "webhook.enabled"]


def test_rotating_the_secret_shows_the_new_one_and_signs_with_it(receiver, admin_client):
    endpoint = EndpointFactory(url=receiver.url, events=["invoice.issued"])
    old = endpoint.secret
    response = admin_client.post(f"{BASE}/{endpoint.pk}/rotate-secret")

    body = response.json()
    assert body["message"] == "Signing secret rotated"
    new = body["webhook"]["secret"]
    assert new != old
    assert new == WebhookEndpoint.objects.get().secret
    issue_invoice(buyer())
    deliveries_send_due()
    verify = documented_verify()
    request = receiver.requests[0]
    assert verify(new, request.headers["VBWD-Signature"], request.body)
    assert not verify(old, request.headers["VBWD-Signature"], request.body)


def test_delete_removes_the_endpoint_with_its_deliveries(admin_client):
    endpoint = EndpointFactory()
    _delivery(endpoint)
    response = admin_client.delete(f"{BASE}/{endpoint.pk}")
    assert response.json() == {"message": "Webhook deleted"}
    assert (WebhookEndpoint.objects.count(), WebhookDelivery.objects.count()) == (0, 0)
    assert AuditEntry.objects.filter(action="webhook.deleted").count() == 1


def test_the_test_route_makes_one_synchronous_attempt(receiver, admin_client):
    endpoint = EndpointFactory(url=receiver.url, events=["invoice.issued"], is_active=False)
    response = admin_client.post(f"{BASE}/{endpoint.pk}/test")

    body = response.json()
    assert (response.status_code, body["message"]) == (200, "Test delivered")
    delivery = body["delivery"]
    assert list(delivery) == [*DELIVERY_KEYS, "payload", "attempt_log"]
    assert (delivery["event_type"], delivery["status"], delivery["attempts"]) == (
        "webhook.test",
        "DELIVERED",
        1,
    )
    assert delivery["payload"]["data"] == {"message": "Test event from VBWD"}
    assert delivery["payload"]["id"] == delivery["event_id"]
    assert [entry["response_code"] for entry in delivery["attempt_log"]] == [200]
    assert len(receiver.requests) == 1


def test_a_failed_test_is_not_retried(receiver, admin_client):
    receiver.answer = lambda index: (503, b"down", {})
    endpoint = EndpointFactory(url=receiver.url)
    body = admin_client.post(f"{BASE}/{endpoint.pk}/test").json()

    assert body["message"] == "Test delivery failed"
    assert (body["delivery"]["status"], body["delivery"]["max_attempts"]) == ("FAILED", 1)
    assert (body["delivery"]["response_code"], body["delivery"]["response_body"]) == (503, "down")
    assert deliveries_send_due() == 0


def test_deliveries_are_listed_newest_first_and_filtered(admin_client, django_assert_num_queries):
    endpoint = EndpointFactory()
    other = EndpointFactory()
    issued = _delivery(endpoint)
    failed = _delivery(endpoint, event_type="payment.captured", status=WebhookDeliveryStatus.FAILED)
    _delivery(other)

    with django_assert_num_queries(4):  # the caller, the endpoint, the count, the page
        response = admin_client.get(f"{BASE}/{endpoint.pk}/deliveries")
    assert [row["id"] for row in response.json()["deliveries"]] == [str(failed.pk), str(issued.pk)]

    def ids(query: str) -> list[str]:
        answer = admin_client.get(f"{BASE}/{endpoint.pk}/deliveries?{query}").json()
        return [row["id"] for row in answer["deliveries"]]

    assert ids("status=failed") == [str(failed.pk)]
    assert ids("event_type=invoice.issued") == [str(issued.pk)]
    assert ids("status=&event_type=") == [str(failed.pk), str(issued.pk)]
    bad = admin_client.get(f"{BASE}/{endpoint.pk}/deliveries?status=LOST")
    assert (bad.status_code, bad.json()["error"]) == (400, "Unknown status: LOST")


def test_a_delivery_detail_has_the_payload_and_the_attempts(receiver, admin_client):
    EndpointFactory(url=receiver.url, events=["invoice.issued"])
    invoice = issue_invoice(buyer())
    deliveries_send_due()
    delivery = WebhookDelivery.objects.get()

    response = admin_client.get(f"{BASE}/deliveries/{delivery.pk}")

    body = response.json()["delivery"]
    assert body["payload"]["data"]["invoice"]["id"] == str(invoice.pk)
    assert body["attempt_log"][0]["response_code"] == 200
    assert list(body["attempt_log"][0]) == [
        "attempt", "attempted_at", "response_code", "response_excerpt", "duration_ms", "error"
    ]  # fmt: skip


def test_replay_queues_the_same_event_with_replay_of(admin_client):
    endpoint = EndpointFactory()
    original = _delivery(endpoint, status=WebhookDeliveryStatus.FAILED)
    response = admin_client.post(f"{BASE}/deliveries/{original.pk}/replay")

    assert response.status_code == 202
    body = response.json()
    assert body["message"] == "Delivery queued for replay"
    assert (body["delivery"]["status"], body["delivery"]["replay_of"]) == (
        "PENDING",
        str(original.pk),
    )
    assert body["delivery"]["event_id"] == str(original.event_id)
    assert body["delivery"]["id"] != str(original.pk)


def test_replay_is_refused_for_a_disabled_endpoint(admin_client):
    original = _delivery(EndpointFactory(is_active=False))
    response = admin_client.post(f"{BASE}/deliveries/{original.pk}/replay")
    assert (response.status_code, response.json()) == (
        400,
        {"error": "Webhook endpoint is disabled", "code": "business_rule"},
    )
    assert WebhookDelivery.objects.count() == 1


@pytest.mark.parametrize(
    ("method", "path", "message"),
    [
        ("get", "{base}/{id}", "Webhook not found"),
        ("put", "{base}/{id}", "Webhook not found"),
        ("delete", "{base}/{id}", "Webhook not found"),
        ("post", "{base}/{id}/toggle", "Webhook not found"),
        ("post", "{base}/{id}/rotate-secret", "Webhook not found"),
        ("post", "{base}/{id}/test", "Webhook not found"),
        ("get", "{base}/{id}/deliveries", "Webhook not found"),
        ("get", "{base}/deliveries/{id}", "Delivery not found"),
        ("post", "{base}/deliveries/{id}/replay", "Delivery not found"),
    ],
)
def test_unknown_ids_answer_404(admin_client, method, path, message):
    url = path.format(base=BASE, id=uuid.uuid4())
    response = getattr(admin_client, method)(url, {}, format="json")
    assert (response.status_code, response.json()) == (404, {"error": message, "code": "not_found"})


def test_customers_are_refused(user_client):
    response = user_client.get(BASE)
    assert (response.status_code, response.json()["error"]) == (403, "Admin access required")
