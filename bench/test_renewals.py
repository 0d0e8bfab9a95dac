"""Renewal throughput on PostgreSQL: two concurrent runs of the renewal job over 100,000 due
subscriptions, beside pgbench's simple-update TPS on the same server in the same run.

Target: the two runs end within 30 seconds and renew at least 1,000 subscriptions per second,
with exactly 100,000 invoices numbered 1..100000, no gap and no duplicate. The runs are two
processes, like two Celery workers (each its own interpreter and database connection); they
share the work (rows claimed with ``SKIP LOCKED``), and each batch takes its numbers as one
block from the counter row. Each worker reports its peak resident memory: the job reads the due
subscriptions batch by batch, never all at once.
"""

from __future__ import annotations

import datetime
import multiprocessing
import os
import resource
import time
import traceback
from decimal import Decimal

import pytest
from django.db import connection, connections
from django.utils import timezone

from accounts.models import User, UserDetails
from audit.models import AuditEntry
from bench.pgbench import pgbench_tps
from billing.catalog.models import AddOn, BillingPeriod, Plan, TaxRate
from billing.invoices.models import Invoice, InvoiceLine, InvoiceType
from billing.invoices.services.bulk import rows_insert
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services import renewals_issue_due

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.benchmark(group="renewals")]

SUBSCRIPTIONS = int(os.environ.get("VBWD_RENEWAL_BENCH_SIZE", "100000"))
# One in this many subscriptions carries an add-on, so part of the invoices have two lines.
ADDON_EVERY = 10
TARGET_PER_SECOND = float(os.environ.get("VBWD_RENEWAL_TARGET", "1000"))
TARGET_SECONDS = float(os.environ.get("VBWD_RENEWAL_MAX_SECONDS", "30"))
PGBENCH_SECONDS = 10
RUNS = 2


def _due_subscriptions(count: int) -> None:
    """``count`` customers with German billing details, each with an ACTIVE monthly
    subscription ending tomorrow; every ``ADDON_EVERY``-th has an add-on bound to it. The rows
    are written with one COPY per table (the renewal job's own bulk insert), so that seeding
    100,000 subscriptions takes seconds."""
    now = timezone.now()
    TaxRate.objects.create(
        country_code="DE",
        name="MwSt.",
        code="BENCH_DE_19",
        rate=Decimal("19.00"),
        valid_from=datetime.date(2020, 1, 1),
    )
    plan = Plan.objects.create(
        name="Pro",
        slug="bench-pro",
        price=Decimal("29.99"),
        currency="EUR",
        billing_period=BillingPeriod.MONTHLY,
        features={"default_tokens": 100},
    )
    addon = AddOn.objects.create(
        name="Storage",
        slug="bench-storage",
        price=Decimal("4.99"),
        currency="EUR",
        billing_period=BillingPeriod.MONTHLY,
    )
    users = [User(email=f"renewal-{n}@bench.example", password="!") for n in range(count)]
    rows_insert(User, users)
    rows_insert(
        UserDetails,
        [
            UserDetails(
                user=user,
                first_name="Erika",
                last_name=f"Muster {n}",
                address_line_1="Heidestraße 17",
                city="Köln",
                postal_code="51147",
                country="DE",
            )
            for n, user in enumerate(users)
        ],
    )
    start = now - datetime.timedelta(days=30)
    ends = now + datetime.timedelta(days=1)
    subscriptions = [
        Subscription(
            user=user,
            plan=plan,
            status=SubscriptionStatus.ACTIVE,
            payment_method="invoice",
            started_at=start,
            current_period_start=start,
            expires_at=ends,
            anchor_day=start.day,
        )
        for user in users
    ]
    rows_insert(Subscription, subscriptions)
    rows_insert(
        AddOnSubscription,
        [
            AddOnSubscription(
                user_id=subscription.user_id,
                addon=addon,
                subscription=subscription,
                status=AddOnSubscriptionStatus.ACTIVE,
                starts_at=start,
                expires_at=ends,
            )
            for subscription in subscriptions[::ADDON_EVERY]
        ],
    )
    with connection.cursor() as cursor:  # fresh statistics, as autovacuum would have them
        for table in (
            "accounts_user",
            "accounts_userdetails",
            "subscriptions_subscription",
            "subscriptions_addonsubscription",
            "invoices_invoice",
        ):
            cursor.execute(f"ANALYZE {table}")


def _peak_rss_mib() -> float:
    """The process's peak resident set size so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _run_in_child(start, results) -> None:
    """One run of the job in a forked process, with its own database connection; reports
    (issued, peak RSS when it started, peak RSS at its end, CPU seconds): RSS in MiB."""
    try:
        connections.close_all()  # never use the parent's socket
        start.wait()
        at_start = _peak_rss_mib()
        cpu = time.process_time()
        issued = renewals_issue_due()
        results.put((issued, at_start, _peak_rss_mib(), time.process_time() - cpu))
    except Exception:  # reported by the parent's assertion
        results.put(traceback.format_exc())
    finally:
        connections.close_all()


def _concurrent_runs(runs: int) -> tuple[list[tuple], float]:
    """Starts ``runs`` renewal jobs at the same instant, each in its own process; returns each
    run's (count, peak RSS at start, peak RSS at the end, CPU seconds) and the wall time until
    the last one ended."""
    connections.close_all()  # a forked child must not inherit an open connection
    context = multiprocessing.get_context("fork")
    start = context.Barrier(runs + 1)
    results = context.Queue()
    processes = [context.Process(target=_run_in_child, args=(start, results)) for _ in range(runs)]
    for process in processes:
        process.start()
    start.wait()
    started = time.perf_counter()
    counts = [results.get(timeout=600) for _ in processes]
    elapsed = time.perf_counter() - started
    for process in processes:
        process.join()
    errors = [count for count in counts if not isinstance(count, tuple)]
    assert errors == []
    return counts, elapsed


def test_two_concurrent_renewal_runs_over_100000_due_subscriptions(benchmark, capsys, bench_target):
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: set DATABASE_URL to a PostgreSQL database")
    seeding = time.perf_counter()
    _due_subscriptions(SUBSCRIPTIONS)
    seeding = time.perf_counter() - seeding

    runs, elapsed = benchmark.pedantic(_concurrent_runs, args=(RUNS,), rounds=1, iterations=1)
    counts = [count for count, _at_start, _peak, _cpu in runs]

    # Exactly one invoice per subscription, numbered 1..N without a gap or a duplicate.
    assert sum(counts) == SUBSCRIPTIONS
    renewals = Invoice.objects.filter(invoice_type=InvoiceType.RENEWAL)
    assert renewals.count() == SUBSCRIPTIONS
    assert renewals.values("subscription_id").distinct().count() == SUBSCRIPTIONS
    year = timezone.now().year
    numbers = set(renewals.values_list("invoice_number", flat=True))
    assert numbers == {f"INV-{year}-{n:06d}" for n in range(1, SUBSCRIPTIONS + 1)}
    addon_lines = SUBSCRIPTIONS // ADDON_EVERY + (SUBSCRIPTIONS % ADDON_EVERY > 0)
    assert InvoiceLine.objects.count() == SUBSCRIPTIONS + addon_lines
    assert AuditEntry.objects.filter(action="invoice.issued").count() == SUBSCRIPTIONS
    assert renewals_issue_due() == 0

    per_second = SUBSCRIPTIONS / elapsed
    tps = pgbench_tps(PGBENCH_SECONDS)
    with capsys.disabled():
        print()
        print(
            f"Renewals, {RUNS} concurrent runs over {SUBSCRIPTIONS} due subscriptions "
            f"(PostgreSQL {connection.pg_version // 10000}, {os.cpu_count()} CPUs)"
        )
        print(
            f"  renewal job        {per_second:10.0f} subscriptions/s   "
            f"({elapsed:.2f} s; runs issued {counts})"
        )
        for number, (_count, at_start, peak, cpu) in enumerate(runs, start=1):
            print(
                f"  worker {number}           {peak:10.0f} MiB peak RSS   ({at_start:.0f} MiB "
                f"when it started, from the seeding process; {cpu:.2f} s of CPU)"
            )
        print(f"  seeding            {seeding:10.2f} s")
        if tps is None:
            print("  pgbench            not installed")
        else:
            print(f"  pgbench -N -c 2    {tps:10.0f} transactions/s")
            print(f"  ratio              {per_second / tps:10.3f} renewals per pgbench transaction")
        verdict = "met" if per_second >= TARGET_PER_SECOND else "MISSED"
        print(f"  target             {TARGET_PER_SECOND:10.0f} subscriptions/s: {verdict}")
        verdict = "met" if elapsed <= TARGET_SECONDS else "MISSED"
        print(f"  target             {TARGET_SECONDS:10.0f} s for the whole run: {verdict}")
    bench_target(
        f"renewals of {SUBSCRIPTIONS:,} subscriptions, wall time",
        f"{elapsed:.1f} s ({per_second:.0f}/s)",
        f"<= {TARGET_SECONDS:.0f} s, >= {TARGET_PER_SECOND:.0f}/s",
        elapsed <= TARGET_SECONDS and per_second >= TARGET_PER_SECOND,
    )
    assert per_second >= TARGET_PER_SECOND, (
        f"{per_second:.0f} renewals/s is below the target of {TARGET_PER_SECOND:.0f}"
    )
    assert elapsed <= TARGET_SECONDS, (
        f"the runs took {elapsed:.2f} s, more than the target of {TARGET_SECONDS:.0f} s"
    )
