"""Sending deliveries: retries with growing waits, the last attempt, replay, the test route."""

from __future__ import annotations

import datetime
import itertools
import json

import pytest
import time_machine
from django.utils import timezone

from billing.invoices.signals import invoice_issued
from billing.invoices.tests.factories import buyer, issue_invoice
from webhooks.models import WebhookDelivery, WebhookDeliveryStatus
from webhooks.services import deliveries_send_due, delivery_replay, retry_delay
from webhooks.tests.factories import EndpointFactory
from webhooks.tests.signature import documented_verify

pytestmark = pytest.mark.django_db

START = datetime.datetime(2027, 3, 1, 9, 0, tzinfo=datetime.UTC)


def _one_delivery(url: str) -> WebhookDelivery:
    EndpointFactory(url=url, events=["invoice.issued"])
    issue_invoice(buyer())
    return WebhookDelivery.objects.get()


def test_the_waits_grow_threefold_from_a_minute_to_about_half_a_day():
    waits = [retry_delay(attempt) for attempt in range(1, 8)]
    assert [wait.total_seconds() / 60 for wait in waits] == [1, 3, 9, 27, 81, 243, 729]
    assert sum(waits, datetime.timedelta()) == datetime.timedelta(minutes=1093)


def test_500_three_times_then_200_delivers_the_event_on_the_fourth_attempt(receiver):
    receiver.answer = lambda index: (500, b"broken", {}) if index < 3 else (200, b"thanks", {})
    with time_machine.travel(START, tick=False) as clock:
        delivery = _one_delivery(receiver.url)
        attempts_at = []
        for _ in range(4):
            assert deliveries_send_due() == 1
            attempts_at.append(timezone.now())
            assert deliveries_send_due() == 0  # nothing due until the wait has passed
            delivery.refresh_from_db()
            if delivery.next_attempt_at is not None:
                clock.move_to(delivery.next_attempt_at)

    assert len(receiver.requests) == 4
    event_ids = {request.headers["VBWD-Event-Id"] for request in receiver.requests}
    assert event_ids == {str(delivery.event_id)}
    assert {request.headers["VBWD-Delivery-Id"] for request in receiver.requests} == {
        str(delivery.pk)
    }
    gaps = [later - earlier for earlier, later in itertools.pairwise(attempts_at)]
    assert gaps == [
        datetime.timedelta(minutes=1),
        datetime.timedelta(minutes=3),
        datetime.timedelta(minutes=9),
    ]
    assert (delivery.status, delivery.attempts) == (WebhookDeliveryStatus.DELIVERED, 4)
    assert (delivery.response_code, delivery.response_body) == (200, "thanks")
    assert delivery.delivered_at == attempts_at[-1]
    assert [entry["response_code"] for entry in delivery.attempt_log] == [500, 500, 500, 200]
    assert [entry["response_excerpt"] for entry in delivery.attempt_log] == [
        "broken", "broken", "broken", "thanks"
    ]  # fmt: skip
    assert [entry["attempt"] for entry in delivery.attempt_log] == [1, 2, 3, 4]
    assert all(entry["error"] is None for entry in delivery.attempt_log)
    assert all(isinstance(entry["duration_ms"], int) for entry in delivery.attempt_log)
    # Each attempt is signed anew, at its own time.
    verify = documented_verify()
    stamps = [request.headers["VBWD-Signature"].split(",")[0] for request in receiver.requests]
    assert stamps == [f"t={int(moment.timestamp())}" for moment in attempts_at]
    with time_machine.travel(attempts_at[-1], tick=False):
        assert verify(
            delivery.endpoint.secret,
            receiver.requests[-1].headers["VBWD-Signature"],
            receiver.requests[-1].body,
        )
    endpoint = delivery.endpoint
    endpoint.refresh_from_db()
    assert endpoint.last_delivery_status == WebhookDeliveryStatus.DELIVERED
    assert endpoint.last_triggered_at == attempts_at[-1]


def test_a_receiver_that_never_answers_ends_failed_after_eight_attempts(silent_receiver):
    with time_machine.travel(START, tick=False) as clock:
        delivery = _one_delivery(silent_receiver.url)
        for attempt in range(1, 9):
            assert deliveries_send_due() == 1
            delivery.refresh_from_db()
            assert delivery.attempts == attempt
            if attempt < 8:
                assert delivery.status == WebhookDeliveryStatus.RETRYING
                clock.move_to(delivery.next_attempt_at)
        clock.shift(datetime.timedelta(days=30))
        assert deliveries_send_due() == 0

    assert delivery.status == WebhookDeliveryStatus.FAILED
    assert delivery.next_attempt_at is None
    assert delivery.response_code is None
    assert [entry["error"] for entry in delivery.attempt_log] == ["Timed out"] * 8


def test_a_redirect_is_not_followed_and_counts_as_a_failed_attempt(receiver):
    target = "http://169.254.169.254/latest/meta-data"
    receiver.answer = lambda index: (302, b"", {"Location": target})
    delivery = _one_delivery(receiver.url)

    deliveries_send_due()

    delivery.refresh_from_db()
    assert len(receiver.requests) == 1
    assert (delivery.status, delivery.response_code) == (WebhookDeliveryStatus.RETRYING, 302)


def test_a_disabled_endpoint_keeps_its_due_deliveries_until_it_is_enabled(receiver):
    delivery = _one_delivery(receiver.url)
    endpoint = delivery.endpoint
    endpoint.is_active = False
    endpoint.save()

    assert deliveries_send_due() == 0
    endpoint.is_active = True
    endpoint.save()
    assert deliveries_send_due() == 1
    assert len(receiver.requests) == 1


def test_replay_sends_the_same_event_again_as_a_new_delivery(receiver):
    original = _one_delivery(receiver.url)
    deliveries_send_due()

    replay = delivery_replay(delivery_id=original.pk, actor=None)
    deliveries_send_due()

    replay.refresh_from_db()
    assert replay.pk != original.pk
    assert (replay.event_id, replay.body, replay.replay_of_id) == (
        original.event_id,
        original.body,
        original.pk,
    )
    assert replay.status == WebhookDeliveryStatus.DELIVERED
    first, second = receiver.requests
    assert first.body == second.body
    assert first.headers["VBWD-Event-Id"] == second.headers["VBWD-Event-Id"]
    assert first.headers["VBWD-Delivery-Id"] != second.headers["VBWD-Delivery-Id"]


def test_a_claim_leases_the_rows_for_every_attempt_running_to_its_timeout(receiver, settings):
    from webhooks.services.delivery import _claim_due

    settings.VBWD_WEBHOOK_TIMEOUT_SECONDS = 10
    EndpointFactory(url=receiver.url, events=["invoice.issued"])
    for _ in range(3):
        issue_invoice(buyer())
    with time_machine.travel(START, tick=False):
        first, rows = _claim_due(2)
        second, rest = _claim_due(2)  # the one row the first claim left
    assert len(rows) == 2
    assert len(rest) == 1
    leases = dict(WebhookDelivery.objects.values_list("claim", "next_attempt_at").distinct())
    # Two attempts of up to 10 seconds and a minute; one attempt and a minute.
    assert leases == {
        first: START + datetime.timedelta(seconds=80),
        second: START + datetime.timedelta(seconds=70),
    }


def test_an_attempt_recorded_under_an_expired_claim_is_ignored(receiver):
    from webhooks.services.delivery import _claim_due, _record
    from webhooks.transport import Answer

    delivery = _one_delivery(receiver.url)
    claim, rows = _claim_due(10)
    assert [row.pk for row in rows] == [delivery.pk]
    WebhookDelivery.objects.filter(pk=delivery.pk).update(claim=None)  # another worker took it

    recorded = _record(rows[0], claim, timezone.now(), Answer(200, "ok", 5, None))

    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (WebhookDeliveryStatus.PENDING, 0)
    assert (recorded.status, recorded.attempts) == (WebhookDeliveryStatus.PENDING, 0)


def test_the_body_sent_is_the_stored_one(receiver):
    delivery = _one_delivery(receiver.url)
    deliveries_send_due()
    assert receiver.requests[0].body == delivery.body.encode()
    assert json.loads(delivery.body)["type"] == "invoice.issued"


def test_invoice_issued_signal_is_the_source_of_the_invoice_issued_event():
    from webhooks.events import EVENTS

    assert EVENTS[invoice_issued].name == "invoice.issued"


def test_the_signing_secret_is_stored_encrypted_and_signs_as_given(receiver):
    from django.db import connection

    secret = "whsec_" + "7" * 60 + "wxyz"
    delivery = _one_delivery(receiver.url)
    endpoint = delivery.endpoint
    endpoint.secret = secret
    endpoint.save()
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM webhooks_webhookendpoint")
        stored = " ".join(str(value) for row in cursor.fetchall() for value in row)
    assert secret not in stored
    assert "wxyz" in stored  # the last four characters, for display

    deliveries_send_due()

    (request,) = receiver.requests
    assert documented_verify()(secret, request.headers["VBWD-Signature"], request.body)


def test_a_secret_encrypted_under_another_key_fails_the_attempt_without_calling(receiver, settings):
    delivery = _one_delivery(receiver.url)
    settings.VBWD_SECRETS_KEY = "another key than the one the secret was stored with"

    deliveries_send_due()

    delivery.refresh_from_db()
    assert receiver.requests == []
    assert (delivery.status, delivery.attempts) == (WebhookDeliveryStatus.RETRYING, 1)
    assert delivery.attempt_log[0]["error"] == (
        "The signing secret cannot be read with the server's secrets key (it was changed): "
        "rotate the endpoint's secret"
    )
