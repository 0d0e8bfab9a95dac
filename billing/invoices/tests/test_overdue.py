"""The overdue job: PENDING invoices past their due date become OVERDUE, once each."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from accounts.tests.factories import AdminFactory, UserFactory
from audit.models import ActorType, AuditEntry
from billing.catalog.models import Currency
from billing.invoices.models import Invoice, InvoiceStatus, InvoiceType, LineType
from billing.invoices.services import (
    LineDraft,
    invoice_issue,
    invoice_mark_paid,
    invoice_void,
    invoices_mark_overdue,
)
from billing.invoices.signals import invoice_overdue
from tests.support.race import run_together

ISSUED = datetime.datetime(2026, 3, 1, 9, 0, tzinfo=datetime.UTC)


def _issue(user, *, due_in_days: int = 14) -> Invoice:
    return invoice_issue(
        user=user,
        invoice_type=InvoiceType.CHECKOUT,
        currency=Currency.objects.get(code="EUR"),
        drafts=[LineDraft(type=LineType.CUSTOM, description="Consulting", unit_price=Decimal(10))],
        payment_method=None,
        due_date=ISSUED + datetime.timedelta(days=due_in_days),
        now=ISSUED,
    )


@pytest.fixture
def overdue_sent():
    received = []
    lock = threading.Lock()

    def on_overdue(sender, invoice, **kwargs):
        with lock:
            received.append(invoice.pk)

    invoice_overdue.connect(on_overdue, dispatch_uid="test-overdue")
    yield received
    invoice_overdue.disconnect(dispatch_uid="test-overdue")


def _statuses(*invoices) -> list[str]:
    return [Invoice.objects.get(pk=invoice.pk).status for invoice in invoices]


def test_pending_invoices_past_their_due_date_become_overdue(
    user, overdue_sent, django_capture_on_commit_callbacks
):
    late = _issue(user, due_in_days=14)
    later = _issue(user, due_in_days=20)
    not_yet = _issue(user, due_in_days=30)

    with (
        time_machine.travel(ISSUED + datetime.timedelta(days=21), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        marked = invoices_mark_overdue()

    assert marked == 2
    assert _statuses(late, later, not_yet) == [
        InvoiceStatus.OVERDUE,
        InvoiceStatus.OVERDUE,
        InvoiceStatus.PENDING,
    ]
    assert sorted(overdue_sent, key=str) == sorted([late.pk, later.pk], key=str)
    entry = AuditEntry.objects.get(action="invoice.overdue", object_id=str(late.pk))
    assert (entry.actor_type, entry.actor_label, entry.actor_id) == (
        ActorType.SYSTEM,
        "invoices_mark_overdue",
        None,
    )
    assert entry.subject_user_id == user.pk
    assert entry.before == {"status": "PENDING"}
    assert entry.after == {"status": "OVERDUE"}
    assert entry.summary == f"Invoice {late.invoice_number} overdue: due 2026-03-15 09:00 UTC"


def test_an_invoice_due_exactly_now_is_not_overdue_yet(user):
    invoice = _issue(user, due_in_days=14)

    with time_machine.travel(invoice.due_date, tick=False):
        assert invoices_mark_overdue() == 0
    with time_machine.travel(invoice.due_date + datetime.timedelta(seconds=1), tick=False):
        assert invoices_mark_overdue() == 1


def test_paid_voided_and_already_overdue_invoices_are_left_alone(
    user, overdue_sent, django_capture_on_commit_callbacks
):
    staff = AdminFactory()
    paid, voided, overdue = _issue(user), _issue(user), _issue(user)
    invoice_mark_paid(invoice_id=paid.pk, actor=staff)
    invoice_void(invoice_id=voided.pk, actor=staff)
    invoices_mark_overdue(now=ISSUED + datetime.timedelta(days=15))
    overdue_sent.clear()
    assert _statuses(overdue) == [InvoiceStatus.OVERDUE]

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        marked = invoices_mark_overdue(now=ISSUED + datetime.timedelta(days=60))

    assert marked == 0
    assert callbacks == []
    assert overdue_sent == []
    assert _statuses(paid, voided, overdue) == [
        InvoiceStatus.PAID,
        InvoiceStatus.CANCELLED,
        InvoiceStatus.OVERDUE,
    ]
    assert AuditEntry.objects.filter(action="invoice.overdue").count() == 1


def test_a_second_run_marks_nothing_and_sends_nothing(
    user, overdue_sent, django_capture_on_commit_callbacks
):
    _issue(user)
    now = ISSUED + datetime.timedelta(days=15)
    with django_capture_on_commit_callbacks(execute=True):
        assert invoices_mark_overdue(now=now) == 1

    with django_capture_on_commit_callbacks(execute=True):
        assert invoices_mark_overdue(now=now) == 0

    assert len(overdue_sent) == 1


def test_invoices_are_claimed_in_batches_until_none_is_left(
    user, overdue_sent, django_capture_on_commit_callbacks
):
    invoices = [_issue(user) for _ in range(5)]

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        marked = invoices_mark_overdue(batch_size=2, now=ISSUED + datetime.timedelta(days=15))

    assert marked == 5
    assert len(callbacks) == 5
    assert set(_statuses(*invoices)) == {InvoiceStatus.OVERDUE}


def test_a_batch_size_below_one_is_refused(db):
    with pytest.raises(ValueError, match="batch_size must be at least 1"):
        invoices_mark_overdue(batch_size=0)


def test_the_management_command_reports_how_many_it_marked(user):
    _issue(user)
    _issue(user)
    output = StringIO()

    with time_machine.travel(ISSUED + datetime.timedelta(days=15), tick=False):
        call_command("invoices_mark_overdue", "--batch-size", "1", stdout=output)

    assert output.getvalue().strip() == "Marked 2 invoice(s) overdue."
    assert Invoice.objects.filter(status=InvoiceStatus.OVERDUE).count() == 2


def test_the_overdue_job_is_scheduled_hourly():
    from vbwd.celery import BEAT_SCHEDULE

    entry = BEAT_SCHEDULE["mark-overdue-invoices"]
    assert entry["task"] == "billing.invoices.tasks.mark_overdue_invoices"
    assert entry["schedule"].hour == set(range(24))
    assert len(entry["schedule"].minute) == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_mark_each_invoice_once_and_signal_once(overdue_sent):
    user = UserFactory()
    invoices = [_issue(user) for _ in range(30)]
    workers = 5

    def run():
        return invoices_mark_overdue(batch_size=3, now=ISSUED + datetime.timedelta(days=15))

    results = run_together([run] * workers)
    errors = [result for result in results if isinstance(result, Exception)]
    counts = [result for result in results if not isinstance(result, Exception)]

    assert errors == []
    assert sum(counts) == 30
    assert len(overdue_sent) == 30
    assert set(overdue_sent) == {invoice.pk for invoice in invoices}
    assert AuditEntry.objects.filter(action="invoice.overdue").count() == 30
    assert set(_statuses(*invoices)) == {InvoiceStatus.OVERDUE}
