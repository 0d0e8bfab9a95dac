"""Scheduled jobs run twice at the same moment (two beat workers, a manual command) share the
work and never do anything twice: row locks with SKIP LOCKED that only PostgreSQL
enforces, so these run there only."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine

from audit.models import AuditEntry
from billing.invoices.models import Invoice, InvoiceType, Payment
from billing.invoices.tests.factories import buyer
from billing.subscriptions.models import Subscription, SubscriptionStatus
from billing.subscriptions.services import (
    renewal_invoice_issue,
    renewals_charge_saved,
    renewals_issue_due,
    subscriptions_expire,
    subscriptions_mark_past_due,
)
from billing.subscriptions.tests.factories import SubscriptionFactory
from billing.subscriptions.tests.test_jobs import ScriptedGateway
from billing.subscriptions.tests.test_renewal import activated, at, monthly_plan, renewals_of
from plugins import gateway as gateways
from tests.support.race import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

NOW = at(2027, 6, 1, 12)


def _at(moment, job, **kwargs):
    def action():
        with time_machine.travel(moment, tick=False):
            return job(**kwargs)

    return action


def test_two_renewal_runs_issue_one_gapless_invoice_per_due_subscription():
    with time_machine.travel(NOW, tick=False):
        subs = [
            SubscriptionFactory(expires_at=NOW + datetime.timedelta(days=1, minutes=n))
            for n in range(150)
        ]

    results = run_together([_at(NOW, renewals_issue_due, batch_size=7) for _ in range(2)])

    assert [result for result in results if isinstance(result, Exception)] == []
    assert sum(results) == 150
    assert all(result > 0 for result in results)  # both runs took a share
    renewals = Invoice.objects.filter(invoice_type=InvoiceType.RENEWAL)
    assert sorted(renewals.values_list("subscription_id", flat=True)) == sorted(
        sub.pk for sub in subs
    )
    assert sorted(renewals.values_list("invoice_number", flat=True)) == [
        f"INV-2027-{n:06d}" for n in range(1, 151)
    ]
    assert AuditEntry.objects.filter(action="invoice.issued").count() == 150
    assert _at(NOW, renewals_issue_due)() == 0


def test_explicit_issues_and_the_job_at_once_bill_a_period_once():
    with time_machine.travel(NOW, tick=False):
        sub = SubscriptionFactory(expires_at=NOW + datetime.timedelta(days=2))

    actions = [_at(NOW, renewal_invoice_issue, subscription_id=sub.pk) for _ in range(6)]
    actions += [_at(NOW, renewals_issue_due) for _ in range(2)]
    results = run_together(actions)

    assert [result for result in results if isinstance(result, Exception)] == []
    (renewal,) = renewals_of(sub)
    issued = [result for result in results if isinstance(result, Invoice)]
    counted = sum(result for result in results if isinstance(result, int))
    assert len(issued) + counted == 1
    assert renewal.invoice_number == "INV-2027-000001"


def test_two_charge_runs_charge_a_saved_method_once(monkeypatch):
    gateway = ScriptedGateway()
    gateway.script = ["failed", "failed"]
    monkeypatch.setattr(gateways, "gateway_for", lambda name: gateway)
    monkeypatch.setattr("plugins.state.is_enabled", lambda name: name == "testpay")
    sub = activated(buyer(), monthly_plan(price=Decimal("10.00")), when=at(2027, 4, 1))
    Subscription.objects.filter(pk=sub.pk).update(
        saved_method_gateway="testpay", saved_method_id="pm_1"
    )
    _at(at(2027, 4, 28), renewals_issue_due)()

    results = run_together([_at(at(2027, 5, 1), renewals_charge_saved) for _ in range(2)])

    assert sorted(results) == [0, 1]
    assert len(gateway.calls) == 1
    assert Payment.objects.filter(invoice__subscription_id=sub.pk, gateway="testpay").count() == 1
    sub.refresh_from_db()
    assert sub.charge_attempts == 1


def test_two_runs_of_the_period_end_jobs_change_each_subscription_once():
    with time_machine.travel(NOW - datetime.timedelta(days=40), tick=False):
        ended = [
            SubscriptionFactory(expires_at=NOW - datetime.timedelta(hours=n)) for n in range(40)
        ]
        grace_over = [
            SubscriptionFactory(past_due=True, expires_at=NOW - datetime.timedelta(days=8))
            for _ in range(30)
        ]

    past_due = run_together([_at(NOW, subscriptions_mark_past_due, batch_size=3) for _ in range(2)])
    expired = run_together([_at(NOW, subscriptions_expire, batch_size=3) for _ in range(2)])

    assert sum(past_due) == 40
    assert sum(expired) == 30
    statuses = dict(Subscription.objects.values_list("pk", "status"))
    assert {statuses[sub.pk] for sub in ended} == {SubscriptionStatus.PAST_DUE}
    assert {statuses[sub.pk] for sub in grace_over} == {SubscriptionStatus.EXPIRED}
    assert AuditEntry.objects.filter(action="subscription.past_due").count() == 40
    assert AuditEntry.objects.filter(action="subscription.expired").count() == 30
    # The missing renewals were issued on the way, once each.
    assert Invoice.objects.filter(invoice_type=InvoiceType.RENEWAL).count() == 40
