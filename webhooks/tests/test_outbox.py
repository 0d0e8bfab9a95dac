"""The outbox: a delivery row per event and subscribed endpoint, written with the change."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.db import transaction

from accounts.tests.factories import AdminFactory
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import PlanFactory
from billing.checkout.services import checkout_create
from billing.invoices.models import Invoice
from billing.invoices.services import invoice_mark_paid
from billing.invoices.signals import invoice_issued
from billing.invoices.tests.factories import buyer, issue_invoice
from tokens.tests.factories import TokenBundleFactory
from webhooks.models import WebhookDelivery, WebhookDeliveryStatus
from webhooks.services import deliveries_send_due, outbox_record
from webhooks.tests.factories import EndpointFactory
from webhooks.tests.signature import documented_verify

pytestmark = pytest.mark.django_db


def _deliveries() -> list[WebhookDelivery]:
    return list(WebhookDelivery.objects.order_by("created_at", "event_type"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_checkout_paid_by_staff_reaches_a_subscribed_receiver_signed(receiver):
    endpoint = EndpointFactory(url=receiver.url, events=["*"])
    customer = buyer()
    plan = PlanFactory(name="Pro", price=Decimal("29.99"), billing_period=BillingPeriod.MONTHLY)
    bundle = TokenBundleFactory(token_amount=100)

    invoice = checkout_create(
        user=customer, plan_id=str(plan.pk), token_bundle_ids=[str(bundle.pk)]
    ).invoice
    invoice_mark_paid(invoice_id=invoice.pk, actor=AdminFactory(), payment_reference="SEPA-1")
    sent = deliveries_send_due()

    expected = [
        "checkout.requested",
        "invoice.issued",
        "payment.captured",
        "subscription.activated",
        "tokens.credited",
    ]
    assert sent == len(expected)
    assert sorted(delivery.event_type for delivery in _deliveries()) == expected
    assert {delivery.status for delivery in _deliveries()} == {WebhookDeliveryStatus.DELIVERED}
    verify = documented_verify()
    received = {}
    for request in receiver.requests:
        assert verify(endpoint.secret, request.headers["VBWD-Signature"], request.body)
        assert not verify("whsec_other", request.headers["VBWD-Signature"], request.body)
        body = json.loads(request.body)
        assert request.headers["VBWD-Event-Id"] == body["id"]
        assert request.headers["User-Agent"] == "VBWD-Webhooks/1"
        assert request.headers["Content-Type"] == "application/json"
        assert request.path == "/hooks"
        received[body["type"]] = body
    assert sorted(received) == expected
    assert received["payment.captured"]["data"]["invoice"]["id"] == str(invoice.pk)
    assert received["payment.captured"]["data"]["invoice"]["status"] == "PAID"
    payment = received["payment.captured"]["data"]["payment"]
    assert (payment["invoice_id"], payment["status"]) == (str(invoice.pk), "CAPTURED")
    assert payment["amount"] == received["payment.captured"]["data"]["invoice"]["total_amount"]
    # Rendered when the event happened: the invoice was still PENDING when it was issued.
    assert received["invoice.issued"]["data"]["invoice"]["status"] == "PENDING"
    assert received["subscription.activated"]["data"]["subscription"]["status"] == "ACTIVE"
    assert received["tokens.credited"]["data"]["user_id"] == str(customer.pk)
    assert received["tokens.credited"]["data"]["balance"] == 100
    assert received["tokens.credited"]["data"]["transaction"]["amount"] == 100


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_that_rolls_back_leaves_no_delivery():
    EndpointFactory(events=["*"])
    customer = buyer()
    bundle = TokenBundleFactory(token_amount=100)

    written = []

    def change_that_fails() -> None:
        with transaction.atomic():
            checkout_create(user=customer, token_bundle_ids=[str(bundle.pk)])
            written.append(WebhookDelivery.objects.count())  # in the change's transaction
            raise RuntimeError("the change fails after the events were recorded")

    with pytest.raises(RuntimeError, match="the change fails"):
        change_that_fails()

    assert written == [2]
    assert WebhookDelivery.objects.count() == 0
    assert Invoice.objects.count() == 0


def test_only_active_endpoints_subscribed_to_the_type_get_a_delivery():
    every = EndpointFactory(events=["*"])
    issued = EndpointFactory(events=["invoice.issued"])
    EndpointFactory(events=["payment.captured"])
    EndpointFactory(events=["*"], is_active=False)

    invoice = issue_invoice(buyer())

    rows = _deliveries()
    assert sorted(str(row.endpoint_id) for row in rows) == sorted([str(every.pk), str(issued.pk)])
    assert {row.event_type for row in rows} == {"invoice.issued"}
    assert rows[0].event_id == rows[1].event_id  # one event, the same id for every endpoint
    assert rows[0].body == rows[1].body
    body = json.loads(rows[0].body)
    assert list(body) == ["id", "type", "created_at", "data"]
    assert body["id"] == str(rows[0].event_id)
    assert body["data"]["invoice"]["id"] == str(invoice.pk)
    assert (rows[0].status, rows[0].attempts, rows[0].max_attempts) == ("PENDING", 0, 8)


def test_without_subscribed_endpoints_recording_events_runs_no_query(
    django_assert_num_queries,
):
    EndpointFactory(events=["payment.captured"])
    invoice = issue_invoice(buyer())
    outbox_record(events=[(invoice_issued, {"invoice": invoice})])  # the cache is filled

    with django_assert_num_queries(0):
        assert outbox_record(events=[(invoice_issued, {"invoice": invoice})]) == 0


def test_an_endpoint_change_is_seen_by_the_next_event_at_once(admin_client):
    invoice = issue_invoice(buyer())
    assert WebhookDelivery.objects.count() == 0  # nothing subscribed, and that is cached
    endpoint = EndpointFactory(events=["payment.captured"])
    from webhooks.services import endpoint_update

    endpoint_update(endpoint_id=endpoint.pk, values={"events": ["invoice.issued"]}, actor=None)

    assert outbox_record(events=[(invoice_issued, {"invoice": invoice})]) == 1


def test_a_capture_writes_the_rows_of_all_its_events_with_one_insert():
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    EndpointFactory(events=["*"])
    EndpointFactory(events=["payment.captured", "tokens.credited"])
    customer = buyer()
    plan = PlanFactory(price=Decimal("9.99"), billing_period=BillingPeriod.MONTHLY)
    bundle = TokenBundleFactory(token_amount=10)
    invoice = checkout_create(
        user=customer, plan_id=str(plan.pk), token_bundle_ids=[str(bundle.pk)]
    ).invoice

    with CaptureQueriesContext(connection) as context:
        invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="T-1")

    inserts = [
        query for query in context.captured_queries
        if query["sql"].startswith('INSERT INTO "webhooks_webhookdelivery"')
    ]  # fmt: skip
    assert len(inserts) == 1
    rows = WebhookDelivery.objects.exclude(event_type__in=["checkout.requested", "invoice.issued"])
    assert sorted(rows.values_list("event_type", flat=True)) == [
        "payment.captured", "payment.captured", "subscription.activated",
        "tokens.credited", "tokens.credited",
    ]  # fmt: skip


def test_paying_an_invoice_with_a_coupon_records_coupon_redeemed_with_its_shapes():
    from billing.coupons.tests.factories import summer25

    EndpointFactory(events=["coupon.redeemed"])
    customer = buyer()
    plan = PlanFactory(name="Pro", price=Decimal("29.99"), billing_period=BillingPeriod.MONTHLY)
    coupon = summer25()
    invoice = checkout_create(user=customer, plan_id=str(plan.pk), coupon_code="SUMMER25").invoice
    assert WebhookDelivery.objects.count() == 0  # nothing is redeemed before the payment

    invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference="T-1")

    row = WebhookDelivery.objects.get()
    assert row.event_type == "coupon.redeemed"
    data = json.loads(row.body)["data"]
    assert list(data) == ["coupon", "redemption", "invoice"]
    assert data["coupon"] == {
        "code": "SUMMER25",
        "name": coupon.name,
        "kind": "PERCENT",
        "percent_off": "25.00",
        "amount_off": None,
        "currency": None,
        "duration": "REPEATING",
        "duration_periods": 3,
    }
    redemption = data["redemption"]
    assert (redemption["status"], redemption["discount"], redemption["currency"]) == (
        "APPLIED",
        "7.50",
        "EUR",
    )
    assert redemption["invoice_number"] == invoice.invoice_number
    assert redemption["user_email"] == customer.email
    assert data["invoice"]["id"] == str(invoice.pk)
    assert data["invoice"]["status"] == "PAID"
