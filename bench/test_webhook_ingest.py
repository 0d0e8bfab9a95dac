"""Webhook ingest on PostgreSQL: distinct, pre-signed Stripe events posted by 16 concurrent
connections to the API served by gunicorn, beside pgbench's simple-update TPS on the same server
in the same run.

Each event is the ``checkout.session.completed`` of one open invoice's checkout session, so every
request does the whole pipeline: the signature check on the raw body, the insert of the provider
event (unique per event id), and the capture in one transaction (invoice and payment locked,
invoice PAID, its line activated, audit rows, the event marked processed).

Target: at least 300 events per second on the project's 2-CPU reference machine, with every
invoice PAID exactly once and every event processed.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import os
import subprocess
import threading
import time
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from accounts.models import User
from bench import httpload
from bench.pgbench import pgbench_tps
from billing.catalog.models import Currency, PaymentMethod
from billing.invoices.models import (
    Invoice,
    InvoiceStatus,
    InvoiceType,
    Payment,
    PaymentStatus,
    ProviderEvent,
    ProviderEventStatus,
)
from billing.invoices.services.bulk import InvoiceSpec, invoices_issue_bulk
from billing.invoices.services.issuing import LineDraft
from billing.invoices.services.sessions import SESSION_KIND
from plugins.services import plugin_enable

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.benchmark(group="webhooks")]

EVENTS = int(os.environ.get("VBWD_WEBHOOK_BENCH_EVENTS", "3000"))
CONNECTIONS = int(os.environ.get("VBWD_WEBHOOK_BENCH_CONNECTIONS", "16"))
TARGET_PER_SECOND = float(os.environ.get("VBWD_WEBHOOK_TARGET", "300"))
PGBENCH_SECONDS = 10
SECRET = "whsec_bench"
REPO = Path(__file__).resolve().parents[1]
# How the API is served: processes and threads for two CPUs.
SERVER = os.environ.get("VBWD_WEBHOOK_BENCH_SERVER", "-w 2 -k gthread --threads 8")


def _open_invoices(count: int) -> list[tuple[Invoice, Payment]]:
    """``count`` PENDING invoices of 11.90 EUR, each with the PENDING payment of an open Stripe
    checkout session, as ``create-session`` leaves them."""
    users = User.objects.bulk_create(
        [User(email=f"webhook-{n}@bench.example", password="!") for n in range(count)],
        batch_size=2000,
    )
    euro = Currency.objects.get(code="EUR")
    method = PaymentMethod.objects.get(code="stripe")
    invoices = []
    for start in range(0, count, 500):
        invoices += invoices_issue_bulk(
            [
                InvoiceSpec(
                    user=user,
                    invoice_type=InvoiceType.MANUAL,
                    currency=euro,
                    payment_method=method,
                    drafts=[
                        LineDraft(
                            type="CUSTOM", description="Consulting", unit_price=Decimal("11.90")
                        )
                    ],
                )
                for user in users[start : start + 500]
            ]
        )
    payments = Payment.objects.bulk_create(
        [
            Payment(
                invoice=invoice,
                user_id=invoice.user_id,
                gateway="stripe",
                amount=invoice.total_amount,
                currency="EUR",
                status=PaymentStatus.PENDING,
                session_id=f"cs_bench_{n}",
                provider_data={"kind": SESSION_KIND},
            )
            for n, invoice in enumerate(invoices)
        ],
        batch_size=2000,
    )
    with connection.cursor() as cursor:
        for table in ("invoices_invoice", "invoices_payment", "invoices_providerevent"):
            cursor.execute(f"ANALYZE {table}")
    return list(zip(invoices, payments, strict=True))


def _signed(invoice: Invoice, payment: Payment, n: int) -> tuple[bytes, str]:
    """The body Stripe sends for the paid session and its ``Stripe-Signature`` header."""
    now = int(time.time())
    body = json.dumps(
        {
            "id": f"evt_bench_{n}_{uuid.uuid4().hex[:8]}",
            "object": "event",
            "type": "checkout.session.completed",
            "created": now,
            "livemode": False,
            "data": {
                "object": {
                    "id": payment.session_id,
                    "object": "checkout.session",
                    "payment_intent": f"pi_bench_{n}",
                    "payment_status": "paid",
                    "status": "complete",
                    "amount_total": int(invoice.total_amount * 100),
                    "currency": "eur",
                    "customer": None,
                    "metadata": {
                        "invoice_id": str(invoice.pk),
                        "user_id": str(invoice.user_id),
                        "payment_id": str(payment.pk),
                    },
                }
            },
        },
        separators=(",", ":"),
    ).encode()
    digest = hmac.new(SECRET.encode(), f"{now}.".encode() + body, hashlib.sha256).hexdigest()
    return body, f"t={now},v1={digest}"


def _server(port: int) -> subprocess.Popen:
    """gunicorn on the test database: two processes of eight threads, as on a 2-CPU host."""
    process = httpload.server(
        port, "vbwd.settings", f"vbwd-webhooks-{uuid.uuid4().hex[:8]}", SERVER.split(),
        VBWD_PLUGIN_STRIPE_WEBHOOK_SECRET=SECRET, VBWD_PLUGIN_STRIPE_SECRET_KEY="sk_test_bench",
    )  # fmt: skip
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            probe = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            probe.request("GET", "/api/v1/health")
            if probe.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError("gunicorn did not start")


def _post_all(port: int, bodies: list[tuple[bytes, str]]) -> tuple[list[int], float]:
    """Posts every body once over ``CONNECTIONS`` keep-alive connections; returns the status
    codes and the wall time."""
    statuses: list[int] = []
    lock = threading.Lock()
    cursor = iter(range(len(bodies)))
    start = threading.Barrier(CONNECTIONS + 1)

    def worker():
        client = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        start.wait()
        mine = []
        while True:
            with lock:
                index = next(cursor, None)
            if index is None:
                break
            body, signature = bodies[index]
            client.request(
                "POST",
                "/api/v1/plugins/stripe/webhook",
                body=body,
                headers={"Content-Type": "application/json", "Stripe-Signature": signature},
            )
            response = client.getresponse()
            response.read()
            mine.append(response.status)
        client.close()
        with lock:
            statuses.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(CONNECTIONS)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    return statuses, time.perf_counter() - began


def test_signed_webhooks_at_16_connections(benchmark, capsys, bench_target):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL to a PostgreSQL database")
    plugin_enable(name="stripe")
    pairs = _open_invoices(EVENTS)
    bodies = [_signed(invoice, payment, n) for n, (invoice, payment) in enumerate(pairs)]
    port = httpload.free_port()
    server = _server(port)
    try:
        statuses, elapsed = benchmark.pedantic(
            _post_all, args=(port, bodies), rounds=1, iterations=1
        )
    finally:
        server.terminate()
        server.wait(timeout=30)

    assert statuses == [200] * EVENTS
    assert Invoice.objects.filter(status=InvoiceStatus.PAID).count() == EVENTS
    assert Payment.objects.filter(status=PaymentStatus.CAPTURED).count() == EVENTS
    assert ProviderEvent.objects.filter(status=ProviderEventStatus.PROCESSED).count() == EVENTS
    assert Invoice.objects.filter(needs_review=True).count() == 0

    per_second = EVENTS / elapsed
    tps = pgbench_tps(PGBENCH_SECONDS)
    with capsys.disabled():
        print()
        print(
            f"Webhook ingest, {EVENTS} distinct signed events over {CONNECTIONS} connections "
            f"(gunicorn 2 x 8 threads, PostgreSQL {connection.pg_version // 10000}, "
            f"{os.cpu_count()} CPUs, {timezone.now():%Y-%m-%d})"
        )
        print(f"  verify + store + capture {per_second:10.0f} events/s   ({elapsed:.2f} s)")
        if tps is None:
            print("  pgbench                  not installed")
        else:
            print(f"  pgbench -N -c 2          {tps:10.0f} transactions/s")
            ratio = per_second / tps
            print(f"  ratio                    {ratio:10.3f} events per pgbench transaction")
        verdict = "met" if per_second >= TARGET_PER_SECOND else "MISSED"
        print(f"  target                   {TARGET_PER_SECOND:10.0f} events/s: {verdict}")
    bench_target(
        "signed webhook events verified, stored, captured",
        f"{per_second:.0f} events/s",
        f">= {TARGET_PER_SECOND:.0f}/s",
        per_second >= TARGET_PER_SECOND,
    )
    assert per_second >= TARGET_PER_SECOND, (
        f"{per_second:.0f} events/s is below the target of {TARGET_PER_SECOND:.0f}"
    )
