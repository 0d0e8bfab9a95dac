"""Renewal invoices and what ends periods (docs/concepts/subscriptions.md), with the clock moved by
time-machine: anchor days, a year without drift, PAST_DUE and EXPIRED, add-on lines, scheduled
downgrades, idempotent runs, and the bulk issue path the renewal job uses."""

from __future__ import annotations

import datetime
import itertools
from decimal import Decimal

import pytest
import time_machine

from audit.models import ActorType, AuditEntry
from billing.catalog.models import BillingPeriod, Currency
from billing.invoices import signals as invoice_signals
from billing.invoices.models import (
    Invoice,
    InvoiceLine,
    InvoiceStatus,
    InvoiceType,
    LineType,
    NumberSequence,
)
from billing.invoices.services import (
    InvoiceSpec,
    invoice_mark_paid,
    invoice_void,
    invoices_issue_bulk,
    number_allocate,
)
from billing.invoices.tests.factories import (
    AddOnFactory,
    PlanFactory,
    addon_draft,
    addon_subscription,
    buyer,
    custom_draft,
    de_vat,
    eur,
    invoice_method,
    issue_invoice,
    subscription,
    subscription_draft,
)
from billing.subscriptions import signals as subscription_signals
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services import (
    open_renewal_invoice,
    renewal_invoice_issue,
    renewals_issue_due,
    subscriptions_expire,
    subscriptions_mark_past_due,
)
from billing.subscriptions.tests.factories import SubscriptionFactory
from platform_settings.services import platform_settings_update
from tokens.models import TokenTransaction, TokenTransactionType
from tokens.services import balance_of

pytestmark = pytest.mark.django_db

UTC = datetime.UTC


def at(*args) -> datetime.datetime:
    return datetime.datetime(*args, tzinfo=UTC)


def activated(user, plan, *, when, addons=()) -> Subscription:
    """A subscription opened and paid by checkout at ``when`` (its first period starts then),
    with add-on subscriptions bought on the same invoice."""
    with time_machine.travel(when, tick=False):
        sub = subscription(user, plan)
        items = [addon_subscription(user, addon, subscription=sub) for addon in addons]
        invoice = issue_invoice(user, [subscription_draft(sub), *map(addon_draft, items)])
        invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference=f"C-{sub.pk}")
    sub.refresh_from_db()
    return sub


def pay(invoice: Invoice, *, when) -> None:
    with time_machine.travel(when, tick=False):
        invoice_mark_paid(invoice_id=invoice.pk, actor=None, payment_reference=f"R-{invoice.pk}")


def run_at(job, when, **kwargs) -> int:
    with time_machine.travel(when, tick=False):
        return job(**kwargs)


def renewals_of(sub) -> list[Invoice]:
    return list(
        Invoice.objects.filter(subscription_id=sub.pk, invoice_type=InvoiceType.RENEWAL).order_by(
            "invoiced_at", "invoice_number"
        )
    )


def monthly_plan(**kwargs):
    kwargs.setdefault("billing_period", BillingPeriod.MONTHLY)
    kwargs.setdefault("price", Decimal("10.00"))
    return PlanFactory(**kwargs)


# --- periods ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("year", "february_end"), [(2027, at(2027, 2, 28, 10)), (2028, at(2028, 2, 29, 10))]
)
def test_a_subscription_started_on_january_31_renews_to_february_end_then_march_31(
    year, february_end
):
    sub = activated(buyer(), monthly_plan(), when=at(year, 1, 31, 10))
    assert sub.expires_at == february_end

    assert run_at(renewals_issue_due, february_end - datetime.timedelta(days=3)) == 1
    (renewal,) = renewals_of(sub)
    assert (renewal.period_start, renewal.period_end) == (february_end, at(year, 3, 31, 10))
    pay(renewal, when=february_end - datetime.timedelta(days=1))
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert (sub.current_period_start, sub.expires_at) == (february_end, at(year, 3, 31, 10))

    assert run_at(renewals_issue_due, at(year, 3, 28, 10)) == 1
    pay(renewals_of(sub)[-1], when=at(year, 3, 30))
    sub.refresh_from_db()
    assert sub.expires_at == at(year, 4, 30, 10)


def test_a_year_of_renewals_paid_on_time_ends_one_year_after_the_start_with_twelve_grants():
    user = buyer()
    sub = activated(user, monthly_plan(features={"default_tokens": 100}), when=at(2027, 1, 31, 9))
    ends = [sub.expires_at]
    for _month in range(11):
        issue_at = sub.expires_at - datetime.timedelta(days=3)
        assert run_at(renewals_issue_due, issue_at) == 1
        assert run_at(renewals_issue_due, issue_at + datetime.timedelta(hours=1)) == 0
        pay(renewals_of(sub)[-1], when=issue_at + datetime.timedelta(days=1))
        sub.refresh_from_db()
        ends.append(sub.expires_at)

    assert sub.expires_at == at(2028, 1, 31, 9)
    assert [end.day for end in ends] == [28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31, 31]
    assert sub.status == SubscriptionStatus.ACTIVE
    renewals = renewals_of(sub)
    assert len(renewals) == 11
    assert all(invoice.status == InvoiceStatus.PAID for invoice in renewals)
    # Each period follows on from the previous end, never from the payment time.
    for previous, invoice in itertools.pairwise(renewals):
        assert invoice.period_start == previous.period_end
    grants = TokenTransaction.objects.filter(
        user=user, transaction_type=TokenTransactionType.SUBSCRIPTION
    )
    assert grants.count() == 12
    assert balance_of(user) == 1200


# --- the renewal invoice ------------------------------------------------------------------------


def test_the_renewal_invoice_bills_the_next_period_at_the_current_price_with_tax(
    django_capture_on_commit_callbacks,
):
    de_vat()
    user = buyer()
    plan = monthly_plan(name="Pro", price=Decimal("20.00"))
    sub = activated(user, plan, when=at(2027, 3, 10, 12))
    plan.price = Decimal("25.00")  # a price change applies to renewals issued afterwards
    plan.save()
    issued = []

    def on_issued(sender, invoice, **kwargs):
        issued.append(invoice.invoice_number)

    invoice_signals.invoice_issued.connect(on_issued, dispatch_uid="test-renewal-issued")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert run_at(renewals_issue_due, at(2027, 4, 7, 12)) == 1
    finally:
        invoice_signals.invoice_issued.disconnect(dispatch_uid="test-renewal-issued")

    invoice = Invoice.objects.get(subscription_id=sub.pk, invoice_type=InvoiceType.RENEWAL)
    assert issued == [invoice.invoice_number] == ["INV-2027-000002"]
    assert invoice.status == InvoiceStatus.PENDING
    assert invoice.user == user
    assert invoice.currency == "EUR"
    assert invoice.tarif_plan_id == plan.pk
    assert invoice.invoiced_at == at(2027, 4, 7, 12)
    assert invoice.due_date == at(2027, 4, 10, 12)  # the end of the current period
    assert (invoice.period_start, invoice.period_end) == (at(2027, 4, 10, 12), at(2027, 5, 10, 12))
    assert invoice.payment_method == "invoice"
    assert invoice.payment_method_name == invoice_method().name
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (
        Decimal("25.00"),
        Decimal("4.75"),
        Decimal("29.75"),
    )
    assert invoice.billing_address["country"] == "DE"
    (line,) = invoice.lines.all()
    assert line.type == LineType.SUBSCRIPTION
    assert line.description == "Pro (monthly) 2027-04-10 – 2027-05-10"
    assert (line.item_id, line.catalog_item_id) == (sub.pk, plan.pk)
    assert (line.period_start, line.period_end) == (invoice.period_start, invoice.period_end)
    assert (line.tax_rate, line.gross_amount) == (Decimal("19.00"), Decimal("29.75"))
    entry = AuditEntry.objects.get(action="invoice.issued", object_id=str(invoice.pk))
    assert (entry.actor_type, entry.actor_label) == (ActorType.SYSTEM, "renewals_issue_due")
    assert entry.subject_user_id == user.pk
    assert entry.after == {"status": "PENDING", "total_amount": "29.75", "currency": "EUR"}
    assert open_renewal_invoice(sub) == invoice


def test_renewal_lines_carry_the_bound_add_ons_converted_into_the_plan_currency():
    Currency.objects.filter(code="USD").update(exchange_rate=Decimal("1.100000"), is_active=True)
    user = buyer()
    plan = monthly_plan(name="Pro", price=Decimal("20.00"))
    storage = AddOnFactory(name="Storage", price=Decimal("5.00"))
    support = AddOnFactory(name="Support", price=Decimal("11.00"), currency="USD")
    yearly = AddOnFactory(name="Archive", price=Decimal("50.00"), billing_period="YEARLY")
    lifetime = AddOnFactory(name="Badge", price=Decimal("3.00"), billing_period="ONE_TIME")
    sub = activated(user, plan, when=at(2027, 1, 15), addons=[storage, support, yearly, lifetime])
    # Not on the renewal: cancelled, another user's subscription, unbound.
    cancelled = AddOnSubscription.objects.get(subscription=sub, addon=storage)
    AddOnSubscription.objects.filter(pk=cancelled.pk).update(
        status=AddOnSubscriptionStatus.CANCELLED, cancelled_at=at(2027, 1, 20)
    )
    with time_machine.travel(at(2027, 1, 20), tick=False):
        storage_again = addon_subscription(
            user,
            storage,
            subscription=sub,
            status=AddOnSubscriptionStatus.ACTIVE,
            starts_at=at(2027, 1, 20),
            expires_at=at(2027, 2, 20),
        )

    assert run_at(renewals_issue_due, at(2027, 2, 12)) == 1

    (invoice,) = renewals_of(sub)
    lines = list(invoice.lines.order_by("position"))
    support_item = AddOnSubscription.objects.get(subscription=sub, addon=support)
    assert [(line.type, line.description, line.unit_price, line.item_id) for line in lines] == [
        (LineType.SUBSCRIPTION, "Pro (monthly) 2027-02-15 – 2027-03-15", Decimal("20.00"), sub.pk),
        (LineType.ADD_ON, "Support (monthly) 2027-02-15 – 2027-03-15", Decimal("10.00"),
         support_item.pk),
        (LineType.ADD_ON, "Storage (monthly) 2027-02-20 – 2027-03-20", Decimal("5.00"),
         storage_again.pk),
    ]  # fmt: skip
    assert invoice.total_amount == Decimal("35.00")

    pay(invoice, when=at(2027, 2, 14))
    support_item.refresh_from_db()
    storage_again.refresh_from_db()
    assert support_item.expires_at == at(2027, 3, 15)
    assert storage_again.expires_at == at(2027, 3, 20)
    yearly_item = AddOnSubscription.objects.get(subscription=sub, addon=yearly)
    assert yearly_item.expires_at == at(2028, 1, 15)  # billed on the renewal in which it ends


def test_a_scheduled_downgrade_is_renewed_on_the_pending_plan_and_applied_when_paid():
    user = buyer()
    pro = monthly_plan(name="Pro", price=Decimal("30.00"), features={"default_tokens": 300})
    basic = monthly_plan(name="Basic", price=Decimal("10.00"), features={"default_tokens": 100})
    sub = activated(user, pro, when=at(2027, 5, 31))
    Subscription.objects.filter(pk=sub.pk).update(pending_plan=basic)

    assert run_at(renewals_issue_due, at(2027, 6, 28)) == 1

    (invoice,) = renewals_of(sub)
    (line,) = invoice.lines.all()
    assert (line.catalog_item_id, line.unit_price) == (basic.pk, Decimal("10.00"))
    assert line.description == "Basic (monthly) 2027-06-30 – 2027-07-31"
    assert invoice.tarif_plan_id == basic.pk
    pay(invoice, when=at(2027, 6, 29))
    sub.refresh_from_db()
    assert (sub.plan, sub.pending_plan) == (basic, None)
    assert sub.expires_at == at(2027, 7, 31)
    assert balance_of(user) == 400


def test_a_free_plan_renews_at_once_without_a_payment():
    user = buyer()
    sub = activated(user, monthly_plan(price=Decimal("0.00")), when=at(2027, 2, 1))

    assert run_at(renewals_issue_due, at(2027, 2, 27)) == 1

    (invoice,) = renewals_of(sub)
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.payment_ref == "zero-price"
    sub.refresh_from_db()
    assert (sub.status, sub.expires_at) == (SubscriptionStatus.ACTIVE, at(2027, 4, 1))


# --- which subscriptions renew ------------------------------------------------------------------


def test_only_active_recurring_subscriptions_inside_the_lead_time_are_renewed():
    now = at(2027, 6, 1, 12)
    soon = now + datetime.timedelta(days=3)
    with time_machine.travel(now, tick=False):
        due = SubscriptionFactory(expires_at=soon)
        exactly_now = SubscriptionFactory(expires_at=now)
        SubscriptionFactory(expires_at=soon + datetime.timedelta(seconds=1))  # not yet
        SubscriptionFactory(paused=True, expires_at=soon)
        SubscriptionFactory(cancelled=True, expires_at=soon)
        SubscriptionFactory(trialing=True, trial_end_at=soon, expires_at=soon)
        SubscriptionFactory(past_due=True, expires_at=now - datetime.timedelta(days=1))
        SubscriptionFactory(pending=True)
        SubscriptionFactory(expired=True, expires_at=now - datetime.timedelta(days=30))
        SubscriptionFactory(
            plan=PlanFactory(billing_period=BillingPeriod.ONE_TIME), expires_at=None
        )

        assert renewals_issue_due() == 2
        assert renewals_issue_due() == 0

    renewed = set(
        Invoice.objects.filter(invoice_type=InvoiceType.RENEWAL).values_list(
            "subscription_id", flat=True
        )
    )
    assert renewed == {due.pk, exactly_now.pk}


def test_the_lead_time_setting_decides_when_renewals_are_issued(admin_user):
    platform_settings_update(data={"renewal_lead_days": 0}, actor=admin_user)
    sub = activated(buyer(), monthly_plan(), when=at(2027, 8, 1))

    assert run_at(renewals_issue_due, at(2027, 8, 31, 23)) == 0
    assert run_at(renewals_issue_due, at(2027, 9, 1)) == 1
    assert renewals_of(sub)[0].due_date == at(2027, 9, 1)


def test_running_the_renewal_job_twice_issues_one_invoice_per_period():
    subs = [activated(buyer(), monthly_plan(), when=at(2027, 3, 1)) for _ in range(3)]

    assert run_at(renewals_issue_due, at(2027, 3, 29)) == 3
    assert run_at(renewals_issue_due, at(2027, 3, 29, 1)) == 0
    assert run_at(renewals_issue_due, at(2027, 3, 31), batch_size=1) == 0

    assert [len(renewals_of(sub)) for sub in subs] == [1, 1, 1]
    numbers = sorted(
        Invoice.objects.filter(invoice_type=InvoiceType.RENEWAL).values_list(
            "invoice_number", flat=True
        )
    )
    assert numbers == ["INV-2027-000004", "INV-2027-000005", "INV-2027-000006"]


def test_a_voided_renewal_is_not_reissued_by_the_job_but_by_an_explicit_request():
    sub = activated(buyer(), monthly_plan(), when=at(2027, 3, 1))
    run_at(renewals_issue_due, at(2027, 3, 29))
    (first,) = renewals_of(sub)
    invoice_void(invoice_id=first.pk, reason="Staff voided it")

    assert run_at(renewals_issue_due, at(2027, 3, 30)) == 0
    with time_machine.travel(at(2027, 3, 30), tick=False):
        again = renewal_invoice_issue(subscription_id=sub.pk)
        assert renewal_invoice_issue(subscription_id=sub.pk) is None  # idempotent
    assert again is not None
    assert (again.period_start, again.status) == (first.period_start, InvoiceStatus.PENDING)
    assert open_renewal_invoice(sub) == again


def test_renewal_invoice_issue_does_nothing_outside_the_lead_time_or_for_other_states():
    sub = activated(buyer(), monthly_plan(), when=at(2027, 3, 1))
    with time_machine.travel(at(2027, 3, 20), tick=False):
        assert renewal_invoice_issue(subscription_id=sub.pk) is None
    Subscription.objects.filter(pk=sub.pk).update(status=SubscriptionStatus.PAUSED)
    with time_machine.travel(at(2027, 3, 30), tick=False):
        assert renewal_invoice_issue(subscription_id=sub.pk) is None
    assert renewals_of(sub) == []


def test_no_second_renewal_while_one_is_open_after_a_staff_extension():
    sub = activated(buyer(), monthly_plan(), when=at(2027, 3, 1))
    run_at(renewals_issue_due, at(2027, 3, 29))
    Subscription.objects.filter(pk=sub.pk).update(expires_at=at(2027, 4, 15))

    assert run_at(renewals_issue_due, at(2027, 4, 13)) == 0
    assert len(renewals_of(sub)) == 1


def test_renewal_queries_do_not_grow_with_the_batch(django_assert_max_num_queries):
    de_vat()
    now = at(2027, 6, 1)
    with time_machine.travel(now, tick=False):

        def due_subscriptions(count: int, days: int) -> None:
            for _ in range(count):
                SubscriptionFactory(user=buyer(), expires_at=now + datetime.timedelta(days=days))

        due_subscriptions(1, 1)
        assert renewals_issue_due() == 1  # settings row, this year's number row
        due_subscriptions(3, 2)
        with django_assert_max_num_queries(20) as small:
            assert renewals_issue_due() == 3
        due_subscriptions(30, 3)
        with django_assert_max_num_queries(len(small.captured_queries)):
            assert renewals_issue_due() == 30


# --- PAST_DUE and EXPIRED -----------------------------------------------------------------------


def test_an_unpaid_renewal_makes_the_subscription_past_due_then_expired_after_the_grace(
    django_capture_on_commit_callbacks,
):
    user = buyer()
    addon = AddOnFactory(name="Storage")
    sub = activated(user, monthly_plan(), when=at(2027, 4, 1), addons=[addon])
    item = AddOnSubscription.objects.get(subscription=sub)
    run_at(renewals_issue_due, at(2027, 4, 28))
    (renewal,) = renewals_of(sub)

    assert run_at(subscriptions_mark_past_due, at(2027, 4, 30, 23)) == 0
    assert run_at(subscriptions_mark_past_due, at(2027, 5, 1)) == 1
    assert run_at(subscriptions_mark_past_due, at(2027, 5, 1, 1)) == 0
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.PAST_DUE
    assert sub.is_valid_at(at(2027, 5, 7)) is True  # access through the grace period
    entry = AuditEntry.objects.get(action="subscription.past_due", object_id=str(sub.pk))
    assert (entry.actor_type, entry.actor_label) == (
        ActorType.SYSTEM,
        "subscriptions_mark_past_due",
    )
    assert (entry.before["status"], entry.after["status"]) == ("ACTIVE", "PAST_DUE")

    expired = []

    def on_expired(sender, subscription, **kwargs):
        expired.append(subscription.pk)

    subscription_signals.subscription_expired.connect(on_expired, dispatch_uid="test-expired")
    try:
        assert run_at(subscriptions_expire, at(2027, 5, 7, 23)) == 0
        with django_capture_on_commit_callbacks(execute=True):
            assert run_at(subscriptions_expire, at(2027, 5, 8)) == 1
    finally:
        subscription_signals.subscription_expired.disconnect(dispatch_uid="test-expired")

    assert expired == [sub.pk]
    sub.refresh_from_db()
    renewal.refresh_from_db()
    item.refresh_from_db()
    assert sub.status == SubscriptionStatus.EXPIRED
    assert sub.is_valid_at(at(2027, 5, 8)) is False
    assert renewal.status == InvoiceStatus.CANCELLED
    assert item.status == AddOnSubscriptionStatus.EXPIRED
    void = AuditEntry.objects.get(action="invoice.voided", object_id=str(renewal.pk))
    assert (void.actor_type, void.actor_label) == (ActorType.SYSTEM, "subscriptions_expire")
    assert AuditEntry.objects.filter(
        action="addon_subscription.expired", object_id=str(item.pk)
    ).exists()
    assert run_at(subscriptions_expire, at(2027, 5, 9)) == 0


def test_the_grace_period_setting_decides_when_past_due_expires(admin_user):
    platform_settings_update(data={"grace_period_days": 2, "payment_retry_days": [1, 2]},
                             actor=admin_user)  # fmt: skip
    sub = activated(buyer(), monthly_plan(), when=at(2027, 4, 1))
    run_at(subscriptions_mark_past_due, at(2027, 5, 1))

    assert run_at(subscriptions_expire, at(2027, 5, 2, 23)) == 0
    assert run_at(subscriptions_expire, at(2027, 5, 3)) == 1
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.EXPIRED


def test_paying_while_past_due_restores_active_from_the_old_end():
    user = buyer()
    sub = activated(user, monthly_plan(features={"default_tokens": 10}), when=at(2027, 4, 1))
    run_at(renewals_issue_due, at(2027, 4, 28))
    run_at(subscriptions_mark_past_due, at(2027, 5, 1, 1))

    pay(renewals_of(sub)[0], when=at(2027, 5, 5))

    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert (sub.current_period_start, sub.expires_at) == (at(2027, 5, 1), at(2027, 6, 1))
    assert balance_of(user) == 20
    assert run_at(subscriptions_expire, at(2027, 5, 9)) == 0


def test_a_missed_renewal_is_issued_when_the_period_ends(admin_user):
    platform_settings_update(data={"renewal_lead_days": 0}, actor=admin_user)
    sub = activated(buyer(), monthly_plan(), when=at(2027, 4, 1))

    assert run_at(subscriptions_mark_past_due, at(2027, 5, 1, 2)) == 1

    (renewal,) = renewals_of(sub)
    assert (renewal.period_start, renewal.due_date) == (at(2027, 5, 1), at(2027, 5, 1))
    entry = AuditEntry.objects.get(action="invoice.issued", object_id=str(renewal.pk))
    assert entry.actor_label == "subscriptions_mark_past_due"
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.PAST_DUE


def test_a_trial_that_ended_unpaid_is_past_due_and_its_payment_starts_at_the_trial_end():
    user = buyer()
    plan = monthly_plan(trial_days=14)
    with time_machine.travel(at(2027, 1, 10), tick=False):
        sub = subscription(user, plan, status=SubscriptionStatus.TRIALING)
        trial_invoice = issue_invoice(user, [subscription_draft(sub)], due_date=sub.trial_end_at)
    assert sub.trial_end_at == at(2027, 1, 24)

    assert run_at(renewals_issue_due, at(2027, 1, 23)) == 0  # the trial invoice is the first
    assert run_at(subscriptions_mark_past_due, at(2027, 1, 24, 1)) == 1
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.PAST_DUE
    assert renewals_of(sub) == []

    pay(trial_invoice, when=at(2027, 1, 26))
    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert (sub.current_period_start, sub.expires_at) == (at(2027, 1, 24), at(2027, 2, 24))


def test_an_expired_trial_voids_its_unpaid_invoice():
    user = buyer()
    with time_machine.travel(at(2027, 1, 10), tick=False):
        sub = subscription(user, monthly_plan(trial_days=7), status=SubscriptionStatus.TRIALING)
        trial_invoice = issue_invoice(user, [subscription_draft(sub)], due_date=sub.trial_end_at)
    run_at(subscriptions_mark_past_due, at(2027, 1, 17))

    assert run_at(subscriptions_expire, at(2027, 1, 24)) == 1

    trial_invoice.refresh_from_db()
    sub.refresh_from_db()
    assert (sub.status, trial_invoice.status) == (
        SubscriptionStatus.EXPIRED,
        InvoiceStatus.CANCELLED,
    )


def test_one_time_cancelled_and_paused_subscriptions_never_go_past_due():
    now = at(2027, 6, 1)
    with time_machine.travel(now, tick=False):
        lifetime = SubscriptionFactory(
            plan=PlanFactory(billing_period=BillingPeriod.ONE_TIME), expires_at=None
        )
        cancelled = SubscriptionFactory(cancelled=True, expires_at=now - datetime.timedelta(days=1))
        paused = SubscriptionFactory(paused=True, expires_at=now - datetime.timedelta(days=1))

        assert subscriptions_mark_past_due() == 0
        assert subscriptions_expire(now=now + datetime.timedelta(days=30)) == 0

    statuses = {row.pk: row.status for row in Subscription.objects.all()}
    assert statuses == {
        lifetime.pk: SubscriptionStatus.ACTIVE,
        cancelled.pk: SubscriptionStatus.CANCELLED,
        paused.pk: SubscriptionStatus.PAUSED,
    }


# --- bulk issue and number blocks ---------------------------------------------------------------


def test_number_allocate_with_count_hands_out_one_consecutive_block():
    from django.db import transaction

    with transaction.atomic():
        assert number_allocate(series="INV", year=2031) == "INV-2031-000001"
        assert number_allocate(series="INV", year=2031, count=3) == [
            "INV-2031-000002",
            "INV-2031-000003",
            "INV-2031-000004",
        ]
        assert number_allocate(series="INV", year=2031) == "INV-2031-000005"
        with pytest.raises(ValueError, match="count must be at least 1"):
            number_allocate(series="INV", year=2031, count=0)
    assert NumberSequence.objects.get(series="INV", year=2031).last_value == 5


@pytest.mark.django_db(transaction=True)
def test_number_allocate_refuses_to_run_outside_a_transaction():
    with pytest.raises(RuntimeError, match="inside the issuing transaction"):
        number_allocate(series="INV", year=2031, count=2)


def test_bulk_issue_matches_single_issue_per_buyer_with_consecutive_numbers(
    django_capture_on_commit_callbacks,
):
    de_vat()
    german = buyer()
    austrian_business = buyer(country="AT", company="Wien GmbH", tax_number="ATU13585627")
    no_details = buyer()
    no_details.details.delete()
    no_details = type(no_details).objects.get(pk=no_details.pk)
    reference = issue_invoice(german, [custom_draft("10.00")])
    specs = [
        InvoiceSpec(
            user=user,
            invoice_type=InvoiceType.MANUAL,
            currency=eur(),
            drafts=[custom_draft("10.00"), custom_draft("0.05", description="Rounding")],
            payment_method=invoice_method(),
            actor_label="bulk-test",
            actor_type=ActorType.SYSTEM,
        )
        for user in (german, austrian_business, no_details)
    ]
    sent = []

    def on_issued(sender, invoice, **kwargs):
        sent.append(invoice.invoice_number)

    invoice_signals.invoice_issued.connect(on_issued, dispatch_uid="test-bulk-issued")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            invoices = invoices_issue_bulk(specs)
    finally:
        invoice_signals.invoice_issued.disconnect(dispatch_uid="test-bulk-issued")

    year = reference.invoiced_at.year
    numbers = [f"INV-{year}-{n:06d}" for n in (2, 3, 4)]
    assert [invoice.invoice_number for invoice in invoices] == numbers == sent
    stored = {row.invoice_number: row for row in Invoice.objects.filter(invoice_number__in=numbers)}
    german_invoice, reverse_charge, seller_country = (stored[number] for number in numbers)
    assert (german_invoice.tax_amount, german_invoice.total_amount) == (
        Decimal("1.91"),
        Decimal("11.96"),
    )
    assert german_invoice.billing_address == reference.billing_address
    assert german_invoice.seller == reference.seller
    assert reverse_charge.reverse_charge is True
    assert (reverse_charge.tax_amount, reverse_charge.total_amount) == (
        Decimal("0.00"),
        Decimal("10.05"),
    )
    assert seller_country.billing_address["country"] is None
    assert seller_country.total_amount == Decimal("11.96")  # the seller's country's rate
    assert InvoiceLine.objects.filter(invoice__in=invoices).count() == 6
    entries = AuditEntry.objects.filter(
        action="invoice.issued", object_id__in=[str(invoice.pk) for invoice in invoices]
    )
    assert {(entry.actor_type, entry.actor_label) for entry in entries} == {
        (ActorType.SYSTEM, "bulk-test")
    }
    assert entries.count() == 3
    # Bulk-created invoices are as immutable as loaded ones.
    from billing.invoices.models import ImmutableRecordError

    invoices[0].total_amount = Decimal("1.00")
    with pytest.raises(ImmutableRecordError):
        invoices[0].save()


def test_bulk_issue_of_nothing_allocates_nothing():
    assert invoices_issue_bulk([]) == []
    assert not NumberSequence.objects.exists()


def test_bulk_issue_refuses_an_invoice_without_lines():
    spec = InvoiceSpec(user=buyer(), invoice_type=InvoiceType.MANUAL, currency=eur(), drafts=[])
    with pytest.raises(ValueError, match="at least one line"):
        invoices_issue_bulk([spec])
    assert not Invoice.objects.exists()


def test_a_batch_that_meets_a_renewal_issued_meanwhile_is_retried_one_by_one(monkeypatch):
    from billing.subscriptions.services.renewal import issuing

    now = at(2027, 6, 1)
    with time_machine.travel(now, tick=False):
        subs = [SubscriptionFactory(expires_at=now + datetime.timedelta(days=1)) for _ in range(3)]
        taken = renewal_invoice_issue(subscription_id=subs[1].pk)
        # As if another run committed that renewal after this run looked: the batch's insert
        # hits the one-renewal-per-period constraint.
        monkeypatch.setattr(issuing, "_without_renewal", lambda rows: list(rows))

        assert renewals_issue_due() == 2

    renewals = Invoice.objects.filter(invoice_type=InvoiceType.RENEWAL)
    assert sorted(renewals.values_list("subscription_id", flat=True)) == sorted(
        sub.pk for sub in subs
    )
    assert sorted(renewals.values_list("invoice_number", flat=True)) == [
        taken.invoice_number,
        "INV-2027-000002",
        "INV-2027-000003",
    ]
