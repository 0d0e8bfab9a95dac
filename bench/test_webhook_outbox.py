"""Outbound webhooks: what the outbox adds to a capture, and how fast deliveries go out.

Outbox overhead (target): staff marking a checkout paid (a plan and a token bundle: the
``payment.captured``, ``subscription.activated`` and ``tokens.credited`` events) costs at most
25 % more wall time, median over the captures, with three active endpoints subscribed to every
event than with none, measured in the same run. The captures alternate in blocks between the
two cases, so a machine that gets busier or quieter during the run affects both alike. With
endpoints, each event is rendered once (the API's shapes of the invoice, payment, subscription
or ledger row) and its three delivery rows go in with one insert, in the capture's transaction;
without, recording the events costs a cache read and no query.

Delivery throughput (printed, no target): deliveries of ``invoice.issued`` sent to a receiver on
the loopback interface, by one worker and by two at once (rows claimed with ``SKIP LOCKED``):
each attempt is one POST and one conditional update of the row.
"""

from __future__ import annotations

import os
import statistics
import time
from decimal import Decimal

import pytest
from django.db import connection

from accounts.tests.factories import AdminFactory
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import PlanFactory
from billing.checkout.services import checkout_create
from billing.invoices.services import invoice_mark_paid
from billing.invoices.signals import invoice_issued
from billing.invoices.tests.factories import buyer
from tests.support.race import run_together
from tokens.tests.factories import TokenBundleFactory
from webhooks import selectors
from webhooks.models import WebhookDelivery, WebhookDeliveryStatus, WebhookEndpoint
from webhooks.services import deliveries_send_due, outbox_record
from webhooks.tests.receiver import Receiver

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.benchmark(group="webhooks")]

CAPTURES = int(os.environ.get("VBWD_OUTBOX_BENCH_CAPTURES", "120"))  # per case
BLOCK = 10
TARGET_OVERHEAD = float(os.environ.get("VBWD_OUTBOX_TARGET", "0.25"))
DELIVERIES = int(os.environ.get("VBWD_DELIVERY_BENCH_SIZE", "1000"))


@pytest.fixture
def local_receiver(settings):
    settings.DEBUG = False
    settings.VBWD_WEBHOOK_ALLOW_HTTP = True
    settings.VBWD_WEBHOOK_ALLOWED_HOSTS = ["127.0.0.1"]
    receiver = Receiver().start()
    yield receiver
    receiver.stop()


def _open_invoices(count: int) -> list:
    plan = PlanFactory(price=Decimal("29.99"), billing_period=BillingPeriod.MONTHLY)
    bundle = TokenBundleFactory(token_amount=100)
    return [
        checkout_create(
            user=buyer(), plan_id=str(plan.pk), token_bundle_ids=[str(bundle.pk)]
        ).invoice.pk
        for _ in range(count)
    ]


def _endpoints_active(active: bool) -> None:
    WebhookEndpoint.objects.update(is_active=active)
    selectors.subscriptions_changed()


def _timed_captures(invoice_ids, staff) -> tuple[list[float], list[float]]:
    walls, cpus = [], []
    for invoice_id in invoice_ids:
        wall, cpu = time.perf_counter(), time.process_time()
        invoice_mark_paid(invoice_id=invoice_id, actor=staff, payment_reference="BENCH")
        walls.append((time.perf_counter() - wall) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return walls, cpus


def test_the_outbox_adds_at_most_a_quarter_to_a_capture(
    benchmark, capsys, bench_target, local_receiver
):
    staff = AdminFactory()
    invoices = _open_invoices(2 * CAPTURES + 2)
    for index in range(3):
        WebhookEndpoint.objects.create(
            url=f"{local_receiver.url}/{index}", events=["*"], secret=f"whsec_bench_{index}"
        )
    # Warm both paths (caches, prepared plans) before measuring.
    _endpoints_active(False)
    _timed_captures([invoices.pop()], staff)
    _endpoints_active(True)
    _timed_captures([invoices.pop()], staff)
    WebhookDelivery.objects.all().delete()

    def measure():
        results = {"none": ([], []), "three": ([], [])}
        for start in range(0, 2 * CAPTURES, 2 * BLOCK):
            for case, offset in (("none", 0), ("three", BLOCK)):
                _endpoints_active(case == "three")
                block = invoices[start + offset : start + offset + BLOCK]
                walls, cpus = _timed_captures(block, staff)
                results[case][0].extend(walls)
                results[case][1].extend(cpus)
        return results

    results = benchmark.pedantic(measure, rounds=1, iterations=1)
    medians = {
        case: (statistics.median(walls), statistics.median(cpus))
        for case, (walls, cpus) in results.items()
    }
    overhead = medians["three"][0] / medians["none"][0] - 1
    cpu_overhead = medians["three"][1] / medians["none"][1] - 1
    rows = WebhookDelivery.objects.count()
    assert rows == CAPTURES * 3 * 3  # three events, three endpoints, every capture with them
    with capsys.disabled():
        print()
        print(
            f"Capture with the outbox ({connection.vendor}, {os.cpu_count()} CPUs; "
            f"{CAPTURES} captures per case, alternating in blocks of {BLOCK})"
        )
        for case, label in (("none", "no endpoint"), ("three", "3 endpoints, every event")):
            wall, cpu = medians[case]
            print(f"  {label:<26} wall median {wall:7.2f} ms   CPU median {cpu:7.2f} ms")
        print(f"  overhead                   wall {overhead:+.1%}   CPU {cpu_overhead:+.1%}")
        verdict = "met" if overhead <= TARGET_OVERHEAD else "MISSED"
        print(f"  target                     wall <= +{TARGET_OVERHEAD:.0%}: {verdict}")
    bench_target(
        "capture, 3 endpoints vs none (wall median)",
        f"{overhead:+.1%} ({medians['none'][0]:.1f} -> {medians['three'][0]:.1f} ms)",
        f"<= +{TARGET_OVERHEAD:.0%}",
        overhead <= TARGET_OVERHEAD,
    )
    assert overhead <= TARGET_OVERHEAD, f"the outbox adds {overhead:.1%} to a capture"


def _queue(count: int, endpoint: WebhookEndpoint) -> None:
    from billing.invoices.tests.factories import issue_invoice

    invoice = issue_invoice(buyer())
    WebhookDelivery.objects.all().delete()
    outbox_record(events=[(invoice_issued, {"invoice": invoice})] * count)
    assert WebhookDelivery.objects.filter(endpoint=endpoint).count() == count


def test_delivery_throughput_to_a_local_receiver(benchmark, capsys, local_receiver):
    endpoint = WebhookEndpoint.objects.create(
        url=local_receiver.url, events=["invoice.issued"], secret="whsec_bench"
    )
    figures = {}
    for workers in (1, 2):
        _queue(DELIVERIES, endpoint)
        local_receiver.requests.clear()
        started = time.perf_counter()
        if workers == 1:
            sent = [benchmark.pedantic(deliveries_send_due, rounds=1, iterations=1)]
        else:
            sent = run_together([deliveries_send_due] * workers, timeout=600)
        elapsed = time.perf_counter() - started
        assert sum(sent) == DELIVERIES
        assert len(local_receiver.requests) == DELIVERIES
        delivered = WebhookDelivery.objects.filter(status=WebhookDeliveryStatus.DELIVERED)
        assert delivered.count() == DELIVERIES
        figures[workers] = (DELIVERIES / elapsed, elapsed, sent)
    with capsys.disabled():
        print()
        print(f"Webhook deliveries to a receiver on 127.0.0.1 ({connection.vendor})")
        for workers, (per_second, elapsed, sent) in figures.items():
            print(
                f"  {workers} worker{'s' if workers > 1 else ' '}   {per_second:8.0f} deliveries/s"
                f"   ({DELIVERIES} in {elapsed:.2f} s; per worker {sent})"
            )
