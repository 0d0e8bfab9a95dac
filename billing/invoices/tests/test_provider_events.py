"""The inbound provider-event store: stored once, processed once, retried after a failure."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from audit.models import AuditEntry
from audit.services import audit_record
from billing.invoices.models import ProviderEvent, ProviderEventStatus
from billing.invoices.services import provider_event_handle


class Boom(Exception):
    pass


def _deliver(handler, *, event_id: str = "evt_1", provider: str = "stripe", payload=None):
    return provider_event_handle(
        provider=provider,
        event_id=event_id,
        event_type="checkout.session.completed",
        payload=payload if payload is not None else {"id": event_id, "amount": "11.89"},
        handler=handler,
    )


def _audit(label: str) -> None:
    audit_record(action="test.handled", object_type="event", object_id=label, summary=label)


def test_a_new_event_is_stored_processed_and_its_handler_result_returned(db):
    seen = []

    def handler(event):
        seen.append(event.pk)
        assert event.status == ProviderEventStatus.RECEIVED
        return "captured"

    outcome = _deliver(handler)

    event = ProviderEvent.objects.get()
    assert outcome.duplicate is False
    assert outcome.result == "captured"
    assert outcome.event.pk == event.pk == seen[0]
    assert (event.provider, event.event_id, event.event_type) == (
        "stripe",
        "evt_1",
        "checkout.session.completed",
    )
    assert event.payload == {"id": "evt_1", "amount": "11.89"}
    assert event.status == ProviderEventStatus.PROCESSED
    assert event.attempts == 1
    assert event.processed_at is not None
    assert event.error is None


def test_a_repeated_delivery_is_a_duplicate_and_runs_nothing(db):
    calls = []
    _deliver(lambda event: calls.append(1))
    first = ProviderEvent.objects.get()

    outcome = _deliver(lambda event: calls.append(2), payload={"changed": True})

    assert outcome.duplicate is True
    assert outcome.result is None
    assert calls == [1]
    event = ProviderEvent.objects.get()
    assert event.attempts == 1
    assert event.processed_at == first.processed_at
    assert event.payload == {"id": "evt_1", "amount": "11.89"}  # the first delivery's


def test_the_same_event_id_of_another_provider_is_another_event(db):
    calls = []

    _deliver(lambda event: calls.append("stripe"), provider="stripe")
    outcome = _deliver(lambda event: calls.append("paypal"), provider="paypal")

    assert outcome.duplicate is False
    assert calls == ["stripe", "paypal"]
    assert ProviderEvent.objects.count() == 2


def test_a_failing_handler_rolls_back_marks_the_event_failed_and_re_raises(db):
    def handler(event):
        _audit("first try")
        raise Boom("invoice locked elsewhere")

    with pytest.raises(Boom):
        _deliver(handler)

    event = ProviderEvent.objects.get()
    assert event.status == ProviderEventStatus.FAILED
    assert event.error == "Boom: invoice locked elsewhere"
    assert event.attempts == 1
    assert event.processed_at is None
    assert not AuditEntry.objects.filter(action="test.handled").exists()


def test_the_retry_of_a_failed_event_is_processed_not_a_duplicate(db):
    with pytest.raises(Boom):
        _deliver(lambda event: (_ for _ in ()).throw(Boom("down")))

    outcome = _deliver(lambda event: _audit("second try") or "ok")

    assert outcome.duplicate is False
    assert outcome.result == "ok"
    event = ProviderEvent.objects.get()
    assert event.status == ProviderEventStatus.PROCESSED
    assert event.attempts == 2
    assert event.error is None
    assert AuditEntry.objects.filter(action="test.handled").count() == 1
    assert _deliver(lambda event: pytest.fail("ran twice")).duplicate is True


def test_a_handler_error_text_is_cut_to_a_readable_length(db):
    with pytest.raises(Boom):
        _deliver(lambda event: (_ for _ in ()).throw(Boom("x" * 5000)))

    assert len(ProviderEvent.objects.get().error) == 2000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_deliveries_of_one_event_run_the_handler_once():
    deliveries = 8
    barrier = threading.Barrier(deliveries)
    lock = threading.Lock()
    handled: list[int] = []
    duplicates: list[bool] = []
    errors: list[BaseException] = []

    def handler(event):
        with lock:
            handled.append(threading.get_ident())
        time.sleep(0.2)  # hold the row lock while the others arrive
        _audit("concurrent")

    def deliver():
        try:
            barrier.wait()
            outcome = _deliver(handler, event_id="evt_race")
            with lock:
                duplicates.append(outcome.duplicate)
        except BaseException as error:
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(deliveries)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert len(handled) == 1
    assert sorted(duplicates) == [False] + [True] * (deliveries - 1)
    event = ProviderEvent.objects.get(provider="stripe", event_id="evt_race")
    assert (event.status, event.attempts) == (ProviderEventStatus.PROCESSED, 1)
    assert AuditEntry.objects.filter(action="test.handled").count() == 1


def test_an_event_is_processed_once_and_a_processed_one_never_fails():
    from django.utils import timezone

    event = ProviderEvent(provider="stripe", event_id="evt_v", event_type="x")
    event.failed("RuntimeError: boom")
    assert (event.status, event.error, event.processed_at) == (
        ProviderEventStatus.FAILED,
        "RuntimeError: boom",
        None,
    )

    moment = timezone.now()
    event.processed(at=moment, note="Refused: Only paid invoices can be refunded")
    assert (event.status, event.processed_at, event.error) == (
        ProviderEventStatus.PROCESSED,
        moment,
        "Refused: Only paid invoices can be refunded",
    )
    with pytest.raises(ValueError, match="was processed before"):
        event.processed(at=moment)
    with pytest.raises(ValueError, match="cannot fail now"):
        event.failed("late")
