"""The renewal job's statements per batch on PostgreSQL: the same fixed list for every batch,
whatever the batch holds (subscriptions with and without add-ons), so a run's queries grow with
the number of batches and never with the number of subscriptions."""

from __future__ import annotations

import datetime
import re

import pytest
import time_machine
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from billing.catalog.tests.factories import AddOnFactory, PlanFactory
from billing.invoices.models import Invoice, InvoiceType
from billing.invoices.services.numbering import INVOICE_SERIES, number_allocate
from billing.invoices.tests.factories import buyer, de_vat
from billing.subscriptions.models import Subscription
from billing.subscriptions.services import renewals_issue_due
from billing.subscriptions.tests.factories import (
    AddOnSubscriptionFactory,
    SubscriptionFactory,
)
from platform_settings.selectors import platform_settings_get

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

NOW = datetime.datetime(2027, 6, 1, tzinfo=datetime.UTC)

# One issuing batch, in order (the test's transaction makes each batch a savepoint).
BATCH = [
    "SAVEPOINT",
    "SET LOCAL enable_seqscan",  # renewals looked up by index whatever the statistics say
    "SELECT subscriptions_subscription",  # the next candidates (keyset)
    "SELECT invoices_invoice",  # their renewals
    "SELECT subscriptions_subscription FOR UPDATE SKIP LOCKED",  # the rest locked, as values
    "SELECT invoices_invoice",  # their renewals again, once locked
    "SELECT catalog_paymentmethod",
    "SELECT catalog_currency",
    "SELECT subscriptions_addonsubscription",  # the add-ons of the whole batch
    "SELECT catalog_taxrate",  # one per buyer country
    "UPDATE invoices_numbersequence",  # the batch's block of numbers
    "COPY invoices_invoice",
    "COPY invoices_invoiceline",
    "COPY audit_auditentry",
    "RELEASE SAVEPOINT",
]
# The claim that finds nothing left ends the run.
LAST = ["SAVEPOINT", "SET LOCAL enable_seqscan", "SELECT subscriptions_subscription",
        "RELEASE SAVEPOINT"]  # fmt: skip


def _kind(sql: str) -> str:
    """The statement and its first table (and the row lock, for a locking SELECT)."""
    for prefix in ("SAVEPOINT", "RELEASE SAVEPOINT", "SET LOCAL enable_seqscan"):
        if sql.startswith(prefix):
            return prefix
    verb = sql.split(" ", 1)[0]
    match = re.search(r'(?:FROM|UPDATE|COPY|INTO) "(\w+)"', sql)
    table = match.group(1) if match else sql[:60]
    lock = " FOR UPDATE SKIP LOCKED" if "FOR UPDATE" in sql and "SKIP LOCKED" in sql else ""
    return f"{verb} {table}{lock}"


def _due(count: int, *, with_addon_every: int) -> None:
    plan = PlanFactory(price="29.99")
    addon = AddOnFactory(price="4.99")
    for n in range(count):
        subscription = SubscriptionFactory(
            user=buyer(), plan=plan, expires_at=NOW + datetime.timedelta(days=1)
        )
        if n % with_addon_every == 0:
            AddOnSubscriptionFactory(
                user=subscription.user,
                addon=addon,
                subscription=subscription,
                expires_at=subscription.expires_at,
            )


def _warm_up() -> None:
    """The settings row and this year's number row exist, and the outbound webhooks' answer to
    "who subscribes?" is cached, as after the first issue."""
    from webhooks.selectors import active_subscriptions

    with time_machine.travel(NOW, tick=False), transaction.atomic():
        platform_settings_get()
        number_allocate(series=INVOICE_SERIES, year=NOW.year, count=1)
        active_subscriptions()


def _renewed_leave_the_candidates() -> None:
    Subscription.objects.update(cancelled_at=NOW)


def _run(batch_size: int) -> tuple[int, list[str]]:
    with time_machine.travel(NOW, tick=False), CaptureQueriesContext(connection) as queries:
        issued = renewals_issue_due(batch_size=batch_size)
    return issued, [_kind(query["sql"]) for query in queries.captured_queries]


def test_every_batch_runs_the_same_fixed_statements_whatever_it_holds():
    de_vat()
    _warm_up()
    _due(7, with_addon_every=3)

    issued, kinds = _run(batch_size=3)  # batches of 3, 3 and 1

    assert issued == 7
    assert kinds == BATCH * 3 + LAST
    assert len(BATCH) == 15
    assert Invoice.objects.filter(invoice_type=InvoiceType.RENEWAL).count() == 7


def test_a_second_run_reads_each_batch_and_its_renewals_and_locks_nothing():
    de_vat()
    _warm_up()
    _due(7, with_addon_every=3)
    _run(batch_size=3)

    issued, kinds = _run(batch_size=3)

    assert issued == 0
    assert kinds == BATCH[:4] + BATCH[-1:] + BATCH[:4] + BATCH[-1:] + BATCH[:4] + BATCH[-1:] + LAST


def test_a_run_over_ten_times_the_subscriptions_runs_the_same_statements():
    de_vat()
    _warm_up()
    _due(4, with_addon_every=2)
    small_issued, small = _run(batch_size=40)
    _renewed_leave_the_candidates()
    _due(40, with_addon_every=2)
    large_issued, large = _run(batch_size=40)

    assert (small_issued, large_issued) == (4, 40)
    assert small == large == BATCH + LAST
