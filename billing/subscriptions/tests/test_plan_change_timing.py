"""When plan changes are computed and how long their invoices live: the upgrade reads the clock
after the row lock, and a plan-change invoice turns stale once the subscription's current period
(moved by an extension) has ended."""

from __future__ import annotations

import datetime

import pytest
import time_machine

from billing.invoices.models import InvoiceStatus, InvoiceType
from billing.invoices.tests.factories import buyer, issue_invoice, subscription_draft
from billing.subscriptions.services import plan_change as plan_change_module
from billing.subscriptions.services import (
    plan_change_invoices_void_stale,
    renewals_issue_due,
    subscription_extend,
    subscription_upgrade,
)
from billing.subscriptions.tests.open_invoices import (
    APRIL_1,
    DAY,
    JUNE_1,
    MAY_1,
    monthly_plan,
)
from billing.subscriptions.tests.test_renewal import activated, pay, renewals_of, run_at

pytestmark = pytest.mark.django_db


# --- the upgrade reads the clock after the row lock ----------------------------------------


def test_the_upgrade_is_computed_at_the_time_the_lock_was_obtained(monkeypatch):
    user = buyer()
    pro = monthly_plan("Pro", "30.00")
    sub = activated(user, monthly_plan(), when=APRIL_1)
    original = plan_change_module._locked
    with time_machine.travel(APRIL_1 + 10 * DAY, tick=False) as clock:

        def waits_for_the_lock(subscription_id):
            row = original(subscription_id)
            clock.move_to(APRIL_1 + 20 * DAY)  # another transaction held the row meanwhile
            return row

        monkeypatch.setattr(plan_change_module, "_locked", waits_for_the_lock)
        result = subscription_upgrade(subscription_id=sub.pk, actor=user, plan_id=str(pro.pk))

    assert result.proration.computed_at == APRIL_1 + 20 * DAY
    assert result.proration.remaining_seconds == 10 * 86400
    assert result.invoice.invoiced_at == APRIL_1 + 20 * DAY


# --- stale plan-change invoices follow the current period ----------------------------------


def plan_change_invoice(sub, *, when):
    with time_machine.travel(when, tick=False):
        return issue_invoice(
            sub.user,
            [subscription_draft(sub, unit_price="5.00")],
            invoice_type=InvoiceType.PLAN_CHANGE,
            period_start=sub.current_period_start,
            period_end=sub.expires_at,
        )


def test_a_plan_change_invoice_lives_until_the_end_moved_by_an_extension(admin_user):
    sub = activated(buyer(), monthly_plan(), when=APRIL_1)
    invoice = plan_change_invoice(sub, when=APRIL_1 + 10 * DAY)
    with time_machine.travel(APRIL_1 + 11 * DAY, tick=False):
        subscription_extend(subscription_id=sub.pk, actor=admin_user, days=10)

    assert run_at(plan_change_invoices_void_stale, MAY_1) == 0
    assert (
        run_at(plan_change_invoices_void_stale, MAY_1 + 10 * DAY - datetime.timedelta(seconds=1))
        == 0
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    assert run_at(plan_change_invoices_void_stale, MAY_1 + 10 * DAY) == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED


def test_a_plan_change_invoice_is_stale_once_the_next_period_has_started():
    sub = activated(buyer(), monthly_plan(), when=APRIL_1)
    invoice = plan_change_invoice(sub, when=APRIL_1 + 10 * DAY)
    assert run_at(renewals_issue_due, MAY_1 - 3 * DAY) == 1
    pay(renewals_of(sub)[0], when=MAY_1 - 2 * DAY)
    sub.refresh_from_db()
    assert (sub.current_period_start, sub.expires_at) == (MAY_1, JUNE_1)

    # The subscription's period has not ended, but it is not the one the invoice priced.
    assert run_at(plan_change_invoices_void_stale, MAY_1 - DAY) == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED


def test_an_invoice_without_a_period_falls_back_to_its_own_period_end():
    sub = activated(buyer(), monthly_plan(), when=APRIL_1)
    with time_machine.travel(APRIL_1 + DAY, tick=False):
        invoice = issue_invoice(
            sub.user,
            [subscription_draft(sub, unit_price="5.00")],
            invoice_type=InvoiceType.PLAN_CHANGE,
            period_end=APRIL_1 + 20 * DAY,
        )
    assert run_at(plan_change_invoices_void_stale, APRIL_1 + 19 * DAY) == 0
    assert run_at(plan_change_invoices_void_stale, APRIL_1 + 20 * DAY) == 1
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.CANCELLED
