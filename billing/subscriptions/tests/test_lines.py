"""What paying an invoice does to a subscription (billing/subscriptions/lines.py): first payment,
renewal from the old end with the anchor day, a scheduled downgrade applied by its renewal, a plan
change with a new period, and the exclusive-category displacement."""

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from audit.models import AuditEntry
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import CategoryFactory
from billing.invoices.models import InvoiceStatus, InvoiceType
from billing.invoices.services import invoice_mark_paid, invoice_refund, invoice_refund_reverse
from billing.invoices.tests.factories import (
    addon_draft,
    addon_subscription,
    buyer,
    issue_invoice,
    monthly_plan,
    paid_invoice,
    subscription,
    subscription_draft,
)
from billing.subscriptions.models import SubscriptionStatus
from billing.subscriptions.services import renewals_issue_due, subscription_extend
from billing.subscriptions.signals import subscription_plan_changed
from tokens.services.ledger import balance_of

pytestmark = pytest.mark.django_db
UTC = datetime.UTC


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def renewal(sub, plan=None, *, period_start, period_end, reference):
    plan = plan or sub.plan
    draft = subscription_draft(sub, unit_price=plan.price)
    draft.catalog_item_id = plan.pk
    draft.period_start, draft.period_end = period_start, period_end
    return paid_invoice(
        sub.user,
        [draft],
        invoice_type=InvoiceType.RENEWAL,
        period_start=period_start,
        period_end=period_end,
        due_date=period_start,
        reference=reference,
    )


def test_monthly_periods_keep_the_anchor_day_through_short_months():
    customer = buyer()
    plan = monthly_plan(price=Decimal("9.99"), features={"default_tokens": 10})
    sub = subscription(customer, plan)
    with time_machine.travel(at(2027, 1, 31, 9), tick=False):
        paid_invoice(customer, [subscription_draft(sub)], reference="FIRST")
    sub.refresh_from_db()
    assert (sub.current_period_start, sub.expires_at, sub.anchor_day) == (
        at(2027, 1, 31, 9),
        at(2027, 2, 28, 9),
        31,
    )

    with time_machine.travel(at(2027, 2, 27, 9), tick=False):
        renewal(sub, period_start=sub.expires_at, period_end=at(2027, 3, 31, 9), reference="R1")
    sub.refresh_from_db()
    assert (sub.current_period_start, sub.expires_at) == (at(2027, 2, 28, 9), at(2027, 3, 31, 9))
    assert balance_of(customer) == 20  # the plan's tokens once per paid period


def test_a_paid_renewal_is_applied_once():
    customer = buyer()
    plan = monthly_plan(features={"default_tokens": 5})
    sub = subscription(customer, plan)
    with time_machine.travel(at(2027, 4, 1), tick=False):
        paid_invoice(customer, [subscription_draft(sub)], reference="FIRST")
    sub.refresh_from_db()
    invoice = renewal(sub, period_start=sub.expires_at, period_end=at(2027, 6, 1),
                      reference="R1")  # fmt: skip
    sub.refresh_from_db()
    # A second activation of the same line (a replayed handler) finds the period running.
    from billing.invoices import lines as registry

    line = invoice.lines.get()
    context = registry.LineContext(invoice=invoice, now=timezone.now())
    registry.handler_for(line.type).activate(line, context)
    sub.refresh_from_db()
    assert sub.expires_at == at(2027, 6, 1)
    assert balance_of(customer) == 10


def test_a_renewal_for_the_pending_plan_switches_to_it(django_capture_on_commit_callbacks):
    customer = buyer()
    pro = monthly_plan(name="Pro", price=Decimal("29.99"), features={"default_tokens": 500})
    basic = monthly_plan(name="Basic", price=Decimal("9.99"), features={"default_tokens": 100})
    sub = subscription(customer, pro)
    with time_machine.travel(at(2027, 4, 1), tick=False):
        paid_invoice(customer, [subscription_draft(sub)], reference="FIRST")
    sub.refresh_from_db()
    sub.pending_plan = basic
    sub.save(update_fields=["pending_plan"])
    received = []
    subscription_plan_changed.connect(
        lambda **kwargs: received.append(kwargs["new_plan"]), weak=False, dispatch_uid="t-pc"
    )
    try:
        with (
            time_machine.travel(at(2027, 4, 29), tick=False),
            django_capture_on_commit_callbacks(execute=True),
        ):
            renewal(sub, basic, period_start=sub.expires_at, period_end=at(2027, 6, 1),
                    reference="R1")  # fmt: skip
    finally:
        subscription_plan_changed.disconnect(dispatch_uid="t-pc")
    sub.refresh_from_db()
    assert (sub.plan_id, sub.pending_plan_id) == (basic.pk, None)
    assert (sub.current_period_start, sub.expires_at) == (at(2027, 5, 1), at(2027, 6, 1))
    assert balance_of(customer) == 600
    assert received == [basic]


def test_a_paid_plan_change_starts_a_new_period_and_voids_the_open_renewal():
    customer = buyer()
    basic = monthly_plan(name="Basic", price=Decimal("9.99"), features={"default_tokens": 100})
    pro = monthly_plan(name="Pro", price=Decimal("29.99"), features={"default_tokens": 500},
                       billing_period=BillingPeriod.YEARLY)  # fmt: skip
    sub = subscription(customer, basic)
    with time_machine.travel(at(2027, 4, 1), tick=False):
        paid_invoice(customer, [subscription_draft(sub)], reference="FIRST")
    sub.refresh_from_db()
    open_renewal_draft = subscription_draft(sub)
    open_renewal = issue_invoice(
        customer,
        [open_renewal_draft],
        invoice_type=InvoiceType.RENEWAL,
        period_start=sub.expires_at,
        period_end=at(2027, 6, 1),
    )
    change = subscription_draft(sub, unit_price=pro.price)
    change.catalog_item_id = pro.pk
    with time_machine.travel(at(2027, 4, 21, 12), tick=False):
        paid_invoice(customer, [change], invoice_type=InvoiceType.PLAN_CHANGE,
                     period_start=at(2027, 4, 1), period_end=at(2027, 5, 1),
                     reference="UPGRADE")  # fmt: skip
    sub.refresh_from_db()
    open_renewal.refresh_from_db()
    assert sub.plan_id == pro.pk
    assert (sub.current_period_start, sub.expires_at) == (at(2027, 4, 21, 12), at(2028, 4, 21, 12))
    assert open_renewal.status == InvoiceStatus.CANCELLED
    # 100 for the first period, then Pro's 500 less Basic's unused 9.5 of 30 days (32 tokens).
    assert balance_of(customer) == 568
    assert (
        AuditEntry.objects.filter(action="subscription.plan_changed", object_id=str(sub.pk)).count()
        == 1
    )


def test_activation_ends_another_subscription_in_a_shared_exclusive_category():
    customer = buyer()
    basic = monthly_plan(name="Basic")
    pro = monthly_plan(name="Pro")
    side = monthly_plan(name="Side")
    category = CategoryFactory(is_single=True)
    category.plans.add(basic, pro)
    CategoryFactory(is_single=False).plans.add(side)
    old = subscription(customer, basic)
    other = subscription(customer, side)
    paid_invoice(customer, [subscription_draft(old)], reference="OLD")
    paid_invoice(customer, [subscription_draft(other)], reference="SIDE")
    new = subscription(customer, pro)

    with time_machine.travel(timezone.now() + datetime.timedelta(days=1), tick=False):
        paid_invoice(customer, [subscription_draft(new)], reference="NEW")
        now = timezone.now()
    old.refresh_from_db()
    other.refresh_from_db()
    new.refresh_from_db()
    assert new.status == SubscriptionStatus.ACTIVE
    assert (old.status, old.expires_at, old.is_valid_at(now)) == (
        SubscriptionStatus.CANCELLED,
        now,
        False,
    )
    assert other.status == SubscriptionStatus.ACTIVE  # not exclusive: untouched


def test_a_renewal_paid_during_a_pause_extends_the_period_and_keeps_the_pause():
    customer = buyer()
    plan = monthly_plan(features={"default_tokens": 5})
    sub = subscription(customer, plan)
    with time_machine.travel(at(2027, 4, 1), tick=False):
        paid_invoice(customer, [subscription_draft(sub)], reference="FIRST")
    sub.refresh_from_db()
    sub.status, sub.paused_at = SubscriptionStatus.PAUSED, at(2027, 4, 20)
    sub.save(update_fields=["status", "paused_at"])

    with time_machine.travel(at(2027, 4, 29), tick=False):
        renewal(sub, period_start=sub.expires_at, period_end=at(2027, 6, 1), reference="R1")

    sub.refresh_from_db()
    assert (sub.status, sub.expires_at) == (SubscriptionStatus.PAUSED, at(2027, 6, 1))
    assert balance_of(customer) == 10


def test_a_renewal_paid_after_a_staff_extension_runs_a_full_period_from_the_new_end():
    customer = buyer()
    plan = monthly_plan()
    sub = subscription(customer, plan)
    with time_machine.travel(at(2027, 4, 1), tick=False):
        paid_invoice(customer, [subscription_draft(sub)], reference="FIRST")
    sub.refresh_from_db()
    issued_for = sub.expires_at  # May 1
    sub.expires_at, sub.anchor_day = at(2027, 5, 20), 20  # staff extended the period
    sub.save(update_fields=["expires_at", "anchor_day"])

    with time_machine.travel(at(2027, 4, 29), tick=False):
        renewal(sub, period_start=issued_for, period_end=at(2027, 6, 1), reference="R1")

    sub.refresh_from_db()
    assert (sub.current_period_start, sub.expires_at) == (at(2027, 5, 20), at(2027, 6, 20))


def test_a_trial_extended_by_staff_is_billed_by_its_own_invoice_from_the_extended_end():
    customer = buyer()
    plan = monthly_plan(features={"default_tokens": 7}, trial_days=14)
    with time_machine.travel(at(2027, 3, 1), tick=False):
        sub = subscription(customer, plan, status=SubscriptionStatus.TRIALING)
        trial_invoice = issue_invoice(
            customer, [subscription_draft(sub)], due_date=sub.trial_end_at
        )
    sub.status = SubscriptionStatus.PAST_DUE  # the trial ended unpaid
    sub.save(update_fields=["status"])
    with time_machine.travel(at(2027, 3, 16), tick=False):
        subscription_extend(subscription_id=sub.pk, actor=None, days=10, reason="Goodwill")
        sub.refresh_from_db()
        assert (sub.status, sub.expires_at) == (SubscriptionStatus.ACTIVE, at(2027, 3, 25))
    with time_machine.travel(at(2027, 3, 24), tick=False):
        assert renewals_issue_due() == 0  # the trial invoice bills the first period
        invoice_mark_paid(invoice_id=trial_invoice.pk, actor=None, payment_reference="LATE")

    sub.refresh_from_db()
    assert (sub.status, sub.current_period_start, sub.expires_at) == (
        SubscriptionStatus.ACTIVE,
        at(2027, 3, 25),
        at(2027, 4, 25),
    )
    assert balance_of(customer) == 7


def test_a_displaced_subscription_loses_its_open_invoices_and_add_ons():
    customer = buyer()
    basic, pro = monthly_plan(name="Basic"), monthly_plan(name="Pro")
    CategoryFactory(is_single=True).plans.add(basic, pro)
    old = subscription(customer, basic)
    paid_invoice(customer, [subscription_draft(old)], reference="OLD")
    old.refresh_from_db()
    addon = addon_subscription(customer, subscription=old, status="ACTIVE",
                               starts_at=timezone.now(), expires_at=old.expires_at)  # fmt: skip
    renewal_draft = subscription_draft(old)
    open_renewal = issue_invoice(customer, [renewal_draft], invoice_type=InvoiceType.RENEWAL,
                                 period_start=old.expires_at)  # fmt: skip
    new = subscription(customer, pro)

    paid_invoice(customer, [subscription_draft(new)], reference="NEW")

    open_renewal.refresh_from_db()
    addon.refresh_from_db()
    assert open_renewal.status == InvoiceStatus.CANCELLED
    assert addon.status == "CANCELLED"
    assert addon.is_valid is False


def test_a_full_refund_voids_the_subscriptions_other_open_invoices(admin_user):
    customer = buyer()
    plan = monthly_plan()
    sub = subscription(customer, plan)
    first = paid_invoice(customer, [subscription_draft(sub)], reference="FIRST")
    sub.refresh_from_db()
    open_renewal = issue_invoice(customer, [subscription_draft(sub)],
                                 invoice_type=InvoiceType.RENEWAL,
                                 period_start=sub.expires_at)  # fmt: skip

    invoice_refund(invoice_id=first.pk, actor=admin_user, force=True)

    open_renewal.refresh_from_db()
    sub.refresh_from_db()
    assert open_renewal.status == InvoiceStatus.CANCELLED
    assert sub.status == SubscriptionStatus.CANCELLED


def test_a_displaced_paused_subscription_ends_without_its_pause():
    customer = buyer()
    basic, pro = monthly_plan(name="Basic"), monthly_plan(name="Pro")
    CategoryFactory(is_single=True).plans.add(basic, pro)
    old = subscription(customer, basic)
    with time_machine.travel(at(2027, 4, 1), tick=False):
        paid_invoice(customer, [subscription_draft(old)], reference="OLD")
    old.refresh_from_db()
    old.status, old.paused_at, old.pause_ends_at = "PAUSED", at(2027, 4, 10), at(2027, 7, 9)
    old.save(update_fields=["status", "paused_at", "pause_ends_at"])
    new = subscription(customer, pro)

    with time_machine.travel(at(2027, 4, 15), tick=False):
        paid_invoice(customer, [subscription_draft(new)], reference="NEW")

    old.refresh_from_db()
    assert (old.status, old.cancelled_at, old.expires_at) == (
        SubscriptionStatus.CANCELLED,
        at(2027, 4, 15),
        at(2027, 4, 15),
    )
    assert (old.paused_at, old.pause_ends_at, old.pending_plan_id) == (None, None, None)
    entry = AuditEntry.objects.get(object_id=str(old.pk), action="subscription.cancelled")
    assert (entry.before["status"], entry.before["paused_at"], entry.after["paused_at"]) == (
        "PAUSED",
        at(2027, 4, 10).isoformat(),
        None,
    )


def test_a_refund_ends_the_pause_and_the_downgrade_and_its_reversal_puts_them_back(admin_user):
    customer = buyer()
    plan, cheaper = monthly_plan(name="Pro"), monthly_plan(name="Basic")
    sub = subscription(customer, plan)
    with time_machine.travel(at(2027, 4, 1), tick=False):
        first = paid_invoice(customer, [subscription_draft(sub)], reference="FIRST")
    sub.refresh_from_db()
    sub.status, sub.paused_at, sub.pause_ends_at = "PAUSED", at(2027, 4, 10), at(2027, 7, 9)
    sub.pending_plan = cheaper
    sub.save(update_fields=["status", "paused_at", "pause_ends_at", "pending_plan"])

    with time_machine.travel(at(2027, 4, 15), tick=False):
        outcome = invoice_refund(invoice_id=first.pk, actor=admin_user, force=True)
    sub.refresh_from_db()
    assert (sub.status, sub.expires_at) == (SubscriptionStatus.CANCELLED, at(2027, 4, 15))
    assert (sub.paused_at, sub.pause_ends_at, sub.pending_plan_id) == (None, None, None)

    with time_machine.travel(at(2027, 4, 16), tick=False):
        invoice_refund_reverse(credit_note_id=outcome.credit_note.pk, actor_label="stripe")
    sub.refresh_from_db()
    assert (sub.status, sub.expires_at, sub.cancelled_at) == (
        SubscriptionStatus.PAUSED,
        at(2027, 5, 1),
        None,
    )
    assert (sub.paused_at, sub.pause_ends_at, sub.pending_plan_id) == (
        at(2027, 4, 10),
        at(2027, 7, 9),
        cheaper.pk,
    )


@pytest.mark.parametrize(
    ("starts", "ends", "renewed_to"),
    [
        (at(2027, 1, 31), at(2027, 2, 28), at(2027, 3, 31)),  # clamped: keeps its day
        (at(2027, 1, 10), at(2027, 2, 15), at(2027, 3, 15)),  # moved by a pause: the new day
    ],
)
def test_a_renewed_add_on_keeps_its_day_or_the_day_a_pause_moved_it_to(starts, ends, renewed_to):
    customer = buyer()
    sub = subscription(customer, monthly_plan())
    paid_invoice(customer, [subscription_draft(sub)], reference="FIRST")
    sub.refresh_from_db()
    item = addon_subscription(customer, subscription=sub, status="ACTIVE", starts_at=starts,
                              expires_at=ends)  # fmt: skip
    drafts = [subscription_draft(sub), addon_draft(item)]

    paid_invoice(customer, drafts, invoice_type=InvoiceType.RENEWAL,
                 period_start=sub.expires_at, reference="R1")  # fmt: skip

    item.refresh_from_db()
    assert item.expires_at == renewed_to
