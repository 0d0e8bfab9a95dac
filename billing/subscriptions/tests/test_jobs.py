"""The scheduled jobs besides issuing renewals (docs/concepts/jobs.md): saved-method charges
with retries, dunning, stale plan-change invoices, add-on expiry, auto-resume, and how a round is
run (the registry, ``manage.py run_billing_jobs``, Celery tasks and beat entries)."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
import time_machine
from django.core.management import CommandError, call_command

from audit.models import ActorType, AuditEntry
from billing.invoices import signals as invoice_signals
from billing.invoices.models import (
    Invoice,
    InvoiceStatus,
    InvoiceType,
    Payment,
    PaymentStatus,
)
from billing.invoices.tests.factories import (
    AddOnFactory,
    addon_subscription,
    buyer,
    issue_invoice,
    subscription_draft,
)
from billing.subscriptions import jobs, tasks
from billing.subscriptions import signals as subscription_signals
from billing.subscriptions.models import (
    AddOnSubscription,
    AddOnSubscriptionStatus,
    Subscription,
    SubscriptionStatus,
)
from billing.subscriptions.services import (
    addons_expire,
    dunning_send,
    pauses_auto_resume,
    plan_change_invoices_void_stale,
    renewals_charge_saved,
    renewals_issue_due,
    subscriptions_expire,
    subscriptions_mark_past_due,
)
from billing.subscriptions.tests.factories import SubscriptionFactory
from billing.subscriptions.tests.test_renewal import (
    activated,
    at,
    monthly_plan,
    pay,
    renewals_of,
    run_at,
)
from plugins import gateway as gateways

pytestmark = pytest.mark.django_db

DAY = datetime.timedelta(days=1)


# --- saved-method charges -----------------------------------------------------------------------


class ScriptedGateway(gateways.PaymentGateway):
    """A gateway that keeps cards and answers each charge from a script: ``succeeded``,
    ``pending``, ``failed`` (declined) or ``error`` (the call raises GatewayError)."""

    name = "testpay"
    supports_saved_methods = True

    def __init__(self):
        self.script: list[str] = []
        self.calls: list[tuple[str, gateways.PaymentRequest]] = []

    def charge_saved_method(self, *, saved_payment_method_id, request, customer_id=None):
        self.calls.append((saved_payment_method_id, request))
        outcome = self.script.pop(0)
        if outcome == "error":
            raise gateways.GatewayError("Card expired")
        return gateways.ChargeResult(
            external_payment_id=f"ch_{len(self.calls)}",
            status=outcome,
            amount=request.amount,
            currency=request.currency,
            failure_reason="Insufficient funds" if outcome == "failed" else None,
        )

    def create_session(self, request):
        raise NotImplementedError

    def session_status(self, session_id):
        raise NotImplementedError

    def parse_webhook(self, headers, body):
        raise NotImplementedError

    def refund(self, **kwargs):
        raise NotImplementedError


@pytest.fixture
def gateway(monkeypatch):
    """``testpay``: enabled, able to charge saved methods; every other plugin is disabled."""
    instance = ScriptedGateway()

    def gateway_for(name):
        if name != "testpay":
            raise gateways.NotConfigured(f"{name} is not a payment gateway")
        return instance

    monkeypatch.setattr(gateways, "gateway_for", gateway_for)
    monkeypatch.setattr("plugins.state.is_enabled", lambda name: name == "testpay")
    return instance


@pytest.fixture
def failures():
    """The ``payment_failed`` signals sent, as (invoice number, reason)."""
    sent = []

    def on_failed(sender, invoice, payment, reason, **kwargs):
        sent.append((invoice.invoice_number, reason))

    invoice_signals.payment_failed.connect(on_failed, dispatch_uid="test-jobs-failed")
    yield sent
    invoice_signals.payment_failed.disconnect(dispatch_uid="test-jobs-failed")


def saved_card_subscription(*, price="10.00", gateway_name="testpay"):
    """Active from 2027-04-01 to 2027-05-01 with a kept card and its renewal issued."""
    sub = activated(buyer(), monthly_plan(price=Decimal(price)), when=at(2027, 4, 1))
    Subscription.objects.filter(pk=sub.pk).update(
        saved_method_gateway=gateway_name, saved_method_id="pm_card_1"
    )
    run_at(renewals_issue_due, at(2027, 4, 28))
    sub.refresh_from_db()
    return sub


def test_a_saved_method_is_charged_at_the_period_end_and_the_renewal_is_paid(
    gateway, django_capture_on_commit_callbacks
):
    gateway.script = ["succeeded"]
    sub = saved_card_subscription()
    (renewal,) = renewals_of(sub)

    assert run_at(renewals_charge_saved, at(2027, 4, 30, 23)) == 0  # not before the end
    with django_capture_on_commit_callbacks(execute=True):
        assert run_at(renewals_charge_saved, at(2027, 5, 1)) == 1

    (saved_id, request) = gateway.calls[0]
    assert saved_id == "pm_card_1"
    assert (request.amount, request.currency) == (Decimal("10.00"), "EUR")
    assert request.invoice_id == str(renewal.pk)
    assert request.idempotency_key == f"renewal:{renewal.pk}:1"
    assert request.metadata["subscription_id"] == str(sub.pk)
    assert request.customer_email == sub.user.email
    renewal.refresh_from_db()
    assert (renewal.status, renewal.payment_ref) == (InvoiceStatus.PAID, "ch_1")
    payment = Payment.objects.get(invoice=renewal)
    assert (payment.gateway, payment.status) == ("testpay", PaymentStatus.CAPTURED)
    entry = AuditEntry.objects.get(action="invoice.paid", object_id=str(renewal.pk))
    assert (entry.actor_type, entry.actor_label) == (ActorType.SYSTEM, "renewals_charge_saved")
    sub.refresh_from_db()
    assert (sub.status, sub.expires_at) == (SubscriptionStatus.ACTIVE, at(2027, 6, 1))
    assert (sub.charge_attempts, sub.last_charge_at) == (0, at(2027, 5, 1))
    assert run_at(subscriptions_mark_past_due, at(2027, 5, 1, 0, 30)) == 0
    assert run_at(renewals_charge_saved, at(2027, 5, 2)) == 0
    assert len(gateway.calls) == 1


def test_failed_charges_are_retried_on_days_1_3_and_5_inside_the_grace_period(
    gateway, failures, django_capture_on_commit_callbacks
):
    gateway.script = ["failed", "error", "failed", "failed"]
    sub = saved_card_subscription()
    (renewal,) = renewals_of(sub)
    end = at(2027, 5, 1)

    attempts = {}
    with django_capture_on_commit_callbacks(execute=True):
        for hours in range(0, 8 * 24, 6):
            moment = end + datetime.timedelta(hours=hours)
            attempts[moment] = run_at(renewals_charge_saved, moment)
            run_at(subscriptions_mark_past_due, moment)

    charged_at = [moment for moment, count in attempts.items() if count]
    assert charged_at == [end, end + DAY, end + 3 * DAY, end + 5 * DAY]
    assert set(attempts.values()) == {0, 1}
    assert [request.idempotency_key for _id, request in gateway.calls] == [
        f"renewal:{renewal.pk}:{attempt}" for attempt in (1, 2, 3, 4)
    ]
    payments = Payment.objects.filter(invoice=renewal).order_by("created_at")
    assert [(row.status, row.failure_reason) for row in payments] == [
        (PaymentStatus.FAILED, "Insufficient funds"),
        (PaymentStatus.FAILED, "Card expired"),
        (PaymentStatus.FAILED, "Insufficient funds"),
        (PaymentStatus.FAILED, "Insufficient funds"),
    ]
    assert [payment.external_id for payment in payments] == ["ch_1", None, "ch_3", "ch_4"]
    assert failures == [
        (renewal.invoice_number, "Insufficient funds"),
        (renewal.invoice_number, "Card expired"),
        (renewal.invoice_number, "Insufficient funds"),
        (renewal.invoice_number, "Insufficient funds"),
    ]
    renewal.refresh_from_db()
    assert renewal.is_open
    sub.refresh_from_db()
    assert (sub.status, sub.charge_attempts) == (SubscriptionStatus.PAST_DUE, 4)
    assert run_at(subscriptions_expire, end + 7 * DAY) == 1


def test_a_late_run_charges_once_and_waits_for_the_next_retry_day(gateway):
    gateway.script = ["failed", "failed"]
    sub = saved_card_subscription()
    end = at(2027, 5, 1)

    assert run_at(renewals_charge_saved, end + datetime.timedelta(days=4)) == 1
    assert run_at(renewals_charge_saved, end + datetime.timedelta(days=4, hours=1)) == 0
    assert run_at(renewals_charge_saved, end + datetime.timedelta(days=5)) == 1
    assert run_at(renewals_charge_saved, end + datetime.timedelta(days=6)) == 0
    sub.refresh_from_db()
    assert sub.charge_attempts == 2


def test_a_pending_charge_waits_for_the_provider_event(gateway, failures):
    gateway.script = ["pending"]
    sub = saved_card_subscription()
    (renewal,) = renewals_of(sub)

    assert run_at(renewals_charge_saved, at(2027, 5, 1)) == 1

    payment = Payment.objects.get(invoice=renewal)
    assert (payment.status, payment.external_id, payment.amount) == (
        PaymentStatus.PENDING,
        "ch_1",
        Decimal("10.00"),
    )
    assert AuditEntry.objects.filter(action="payment.started", object_id=str(payment.pk)).exists()
    renewal.refresh_from_db()
    assert renewal.is_open
    assert failures == []


def test_paying_after_failed_charges_restores_active_and_stops_the_retries(gateway):
    gateway.script = ["failed"]
    sub = saved_card_subscription()
    run_at(renewals_charge_saved, at(2027, 5, 1))
    run_at(subscriptions_mark_past_due, at(2027, 5, 1))

    pay(renewals_of(sub)[0], when=at(2027, 5, 1, 12))

    assert run_at(renewals_charge_saved, at(2027, 5, 2)) == 0
    sub.refresh_from_db()
    assert (sub.status, sub.expires_at, sub.charge_attempts) == (
        SubscriptionStatus.ACTIVE,
        at(2027, 6, 1),
        0,
    )


@pytest.mark.parametrize(
    "change",
    [
        {"saved_method_gateway": "otherpay"},  # its plugin is not enabled
        {"saved_method_gateway": None, "saved_method_id": None},
        {"saved_method_id": ""},
        {"status": SubscriptionStatus.CANCELLED, "cancelled_at": at(2027, 4, 29)},
    ],
)
def test_nothing_is_charged_without_an_enabled_gateway_a_saved_method_or_a_live_subscription(
    gateway, change
):
    sub = saved_card_subscription()
    Subscription.objects.filter(pk=sub.pk).update(**change)

    assert run_at(renewals_charge_saved, at(2027, 5, 1)) == 0
    assert gateway.calls == []


def test_a_gateway_without_saved_methods_is_not_asked(gateway):
    gateway.supports_saved_methods = False
    saved_card_subscription()

    assert run_at(renewals_charge_saved, at(2027, 5, 1)) == 0
    assert gateway.calls == []


# --- dunning ------------------------------------------------------------------------------------


def test_dunning_reminds_each_unpaid_subscription_at_most_once_a_day(
    django_capture_on_commit_callbacks,
):
    sub = activated(buyer(), monthly_plan(), when=at(2027, 4, 1))
    paid = activated(buyer(), monthly_plan(), when=at(2027, 4, 1))
    run_at(renewals_issue_due, at(2027, 4, 28))
    pay(renewals_of(paid)[0], when=at(2027, 4, 29))
    (renewal,) = renewals_of(sub)
    reminders = []

    def on_reminder(sender, subscription, invoice, grace_until, **kwargs):
        reminders.append((subscription.pk, invoice.pk, grace_until))

    subscription_signals.subscription_payment_reminder.connect(
        on_reminder, dispatch_uid="test-dunning"
    )
    try:
        with django_capture_on_commit_callbacks(execute=True):
            assert run_at(dunning_send, at(2027, 4, 30, 9)) == 0  # not due yet
            run_at(subscriptions_mark_past_due, at(2027, 5, 1))
            assert run_at(dunning_send, at(2027, 5, 1, 9, 45, 3)) == 1
            assert run_at(dunning_send, at(2027, 5, 1, 23)) == 0
            assert run_at(dunning_send, at(2027, 5, 2, 9, 45, 1)) == 1
    finally:
        subscription_signals.subscription_payment_reminder.disconnect(dispatch_uid="test-dunning")

    assert reminders == [(sub.pk, renewal.pk, at(2027, 5, 8))] * 2
    sub.refresh_from_db()
    assert sub.last_reminder_at == at(2027, 5, 2, 9, 45, 1)
    entries = AuditEntry.objects.filter(action="subscription.payment_reminder")
    assert {(entry.object_id, entry.actor_label) for entry in entries} == {
        (str(sub.pk), "dunning_send")
    }
    assert entries.count() == 2


def test_dunning_reminds_about_an_overdue_renewal_of_an_active_subscription():
    sub = activated(buyer(), monthly_plan(), when=at(2027, 4, 1))
    run_at(renewals_issue_due, at(2027, 4, 28))
    Subscription.objects.filter(pk=sub.pk).update(expires_at=at(2027, 5, 20))  # staff extension

    assert run_at(dunning_send, at(2027, 4, 30)) == 0
    assert run_at(dunning_send, at(2027, 5, 2)) == 1


# --- plan changes, pauses, add-ons --------------------------------------------------------------


def test_an_unpaid_plan_change_invoice_is_voided_when_its_period_has_ended():
    user = buyer()
    sub = activated(user, monthly_plan(), when=at(2027, 4, 1))
    drafts = [subscription_draft(sub, unit_price="5.00")]
    with time_machine.travel(at(2027, 4, 10), tick=False):
        stale = issue_invoice(
            user,
            drafts,
            invoice_type=InvoiceType.PLAN_CHANGE,
            period_start=at(2027, 4, 1),
            period_end=at(2027, 5, 1),
        )
        paid = issue_invoice(
            user,
            [subscription_draft(sub, unit_price="6.00")],
            invoice_type=InvoiceType.PLAN_CHANGE,
            period_start=at(2027, 4, 1),
            period_end=at(2027, 5, 1),
        )
    Invoice.objects.filter(pk=paid.pk).update(status=InvoiceStatus.PAID)

    assert run_at(plan_change_invoices_void_stale, at(2027, 4, 30, 23)) == 0
    assert run_at(plan_change_invoices_void_stale, at(2027, 5, 1)) == 1
    assert run_at(plan_change_invoices_void_stale, at(2027, 5, 2)) == 0

    stale.refresh_from_db()
    assert stale.status == InvoiceStatus.CANCELLED
    entry = AuditEntry.objects.get(action="invoice.voided", object_id=str(stale.pk))
    assert (entry.actor_type, entry.actor_label) == (
        ActorType.SYSTEM,
        "plan_change_invoices_void_stale",
    )
    assert Invoice.objects.get(pk=paid.pk).status == InvoiceStatus.PAID


def test_a_pause_ends_by_itself_after_the_longest_pause():
    from billing.subscriptions.services import subscription_pause

    user = buyer()
    sub = activated(user, monthly_plan(), when=at(2027, 4, 1))
    with time_machine.travel(at(2027, 4, 11), tick=False):
        subscription_pause(subscription_id=sub.pk, actor=user)

    assert run_at(pauses_auto_resume, at(2027, 7, 9, 23)) == 0
    assert run_at(pauses_auto_resume, at(2027, 7, 10)) == 1  # 90 days
    assert run_at(pauses_auto_resume, at(2027, 7, 11)) == 0

    sub.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert sub.expires_at == at(2027, 5, 1) + datetime.timedelta(days=90)
    entry = AuditEntry.objects.get(action="subscription.resumed", object_id=str(sub.pk))
    assert (entry.actor_type, entry.actor_label) == (ActorType.SYSTEM, "pauses_auto_resume")


def test_add_ons_expire_when_their_period_ended_without_a_renewal():
    user = buyer()
    addon = AddOnFactory()
    now = at(2027, 6, 1)
    ended = now - datetime.timedelta(hours=1)
    with time_machine.travel(now - datetime.timedelta(days=40), tick=False):
        active_parent = SubscriptionFactory(user=user, expires_at=now + datetime.timedelta(days=2))
        renewing_parent = SubscriptionFactory(
            user=user, expires_at=now + datetime.timedelta(days=2)
        )
        paused_parent = SubscriptionFactory(user=user, paused=True)
        expired_parent = SubscriptionFactory(user=user, expired=True)

    def item(**kwargs):
        kwargs.setdefault("status", AddOnSubscriptionStatus.ACTIVE)
        kwargs.setdefault("starts_at", ended - datetime.timedelta(days=30))
        kwargs.setdefault("expires_at", ended)
        return addon_subscription(user, addon, **kwargs)

    unbound = item()
    of_active_without_line = item(subscription=active_parent)
    of_expired = item(subscription=expired_parent)
    of_paused = item(subscription=paused_parent)
    cancelled = item(status=AddOnSubscriptionStatus.CANCELLED, cancelled_at=ended)
    running = item(expires_at=now + datetime.timedelta(days=1))
    lifetime = item(expires_at=None)
    on_renewal = item(subscription=renewing_parent)
    with time_machine.travel(now - datetime.timedelta(days=1), tick=False):
        Subscription.objects.filter(pk=active_parent.pk).update(
            expires_at=now + datetime.timedelta(days=30)
        )  # its renewal is not due: the add-on is not on one
        assert renewals_issue_due() == 1
    (renewal,) = renewals_of(renewing_parent)
    assert renewal.lines.filter(item_id=on_renewal.pk).exists()

    assert run_at(addons_expire, now) == 3
    assert run_at(addons_expire, now) == 0

    statuses = {row.pk: row.status for row in AddOnSubscription.objects.all()}
    assert statuses == {
        unbound.pk: AddOnSubscriptionStatus.EXPIRED,
        of_active_without_line.pk: AddOnSubscriptionStatus.EXPIRED,
        of_expired.pk: AddOnSubscriptionStatus.EXPIRED,
        of_paused.pk: AddOnSubscriptionStatus.ACTIVE,
        on_renewal.pk: AddOnSubscriptionStatus.ACTIVE,
        cancelled.pk: AddOnSubscriptionStatus.CANCELLED,
        running.pk: AddOnSubscriptionStatus.ACTIVE,
        lifetime.pk: AddOnSubscriptionStatus.ACTIVE,
    }
    entry = AuditEntry.objects.get(action="addon_subscription.expired", object_id=str(unbound.pk))
    assert (entry.actor_type, entry.actor_label) == (ActorType.SYSTEM, "addons_expire")


# --- running the jobs ---------------------------------------------------------------------------

JOB_ORDER = [
    "pauses_auto_resume",
    "renewals_issue_due",
    "renewals_charge_saved",
    "subscriptions_mark_past_due",
    "subscriptions_expire",
    "addons_expire",
    "plan_change_invoices_void_stale",
    "invoices_mark_overdue",
    "dunning_send",
    "refunds_complete_pending",
    "webhook_deliveries_send",  # registered by the webhooks app
    "taro_sessions_expire",  # registered by the taro plugin
]


def test_the_registry_lists_every_job_in_running_order():
    assert list(jobs.JOBS) == JOB_ORDER


def test_run_jobs_runs_a_round_and_counts_what_each_job_changed():
    with time_machine.travel(at(2027, 6, 1), tick=False):
        SubscriptionFactory(expires_at=at(2027, 6, 2))
        SubscriptionFactory(expires_at=at(2027, 5, 31))
        counts = jobs.run_jobs()

    assert list(counts) == JOB_ORDER
    assert counts["renewals_issue_due"] == 2
    assert counts["subscriptions_mark_past_due"] == 1
    assert counts["invoices_mark_overdue"] == 1  # the renewal due at the ended period's end
    assert counts["dunning_send"] == 1
    assert sum(counts.values()) == 5


def test_run_jobs_only_runs_the_named_jobs_in_registry_order():
    counts = jobs.run_jobs(only=["dunning_send", "renewals_issue_due"])
    assert counts == {"renewals_issue_due": 0, "dunning_send": 0}
    with pytest.raises(ValueError, match="Unknown job\\(s\\): nope"):
        jobs.run_jobs(only=["nope", "dunning_send"])


def test_the_command_runs_every_job_once_and_prints_the_counts():
    with time_machine.travel(at(2027, 6, 1), tick=False):
        SubscriptionFactory(expires_at=at(2027, 6, 2))
        out = io.StringIO()
        call_command("run_billing_jobs", stdout=out)

    assert out.getvalue().splitlines() == [
        f"{name}: {1 if name == 'renewals_issue_due' else 0}" for name in JOB_ORDER
    ]


def test_the_command_runs_only_the_jobs_asked_for():
    out = io.StringIO()
    call_command(
        "run_billing_jobs", "--only", "dunning_send", "--only", "addons_expire", stdout=out
    )
    assert out.getvalue().splitlines() == ["addons_expire: 0", "dunning_send: 0"]


def test_the_command_names_the_jobs_when_asked_for_an_unknown_one():
    with pytest.raises(CommandError) as raised:
        call_command("run_billing_jobs", "--only", "renew_everything")
    assert str(raised.value) == ("Unknown job(s): renew_everything. Jobs: " + ", ".join(JOB_ORDER))


def test_every_job_has_a_celery_task_and_a_beat_entry():
    from vbwd.celery import BEAT_SCHEDULE, app

    app.loader.import_default_modules()  # what a worker does at start (autodiscovery)
    scheduled = {entry["task"] for entry in BEAT_SCHEDULE.values()}
    for name in JOB_ORDER:
        task = {
            "invoices_mark_overdue": "billing.invoices.tasks.mark_overdue_invoices",
            "refunds_complete_pending": "billing.invoices.tasks.refunds_complete_pending",
            "webhook_deliveries_send": "webhooks.tasks.webhook_deliveries_send",
            "taro_sessions_expire": "plugins.taro.tasks.taro_sessions_expire",
        }.get(name, f"billing.subscriptions.tasks.{name}")
        assert task in scheduled
        assert task in app.tasks


def test_a_task_runs_its_job():
    with time_machine.travel(at(2027, 6, 1), tick=False):
        SubscriptionFactory(expires_at=at(2027, 6, 2))
        assert tasks.renewals_issue_due.delay().get() == 1
        assert tasks.renewals_issue_due.delay().get() == 0
        for name in JOB_ORDER:
            if name not in (
                "renewals_issue_due",
                "invoices_mark_overdue",
                "refunds_complete_pending",
                "webhook_deliveries_send",
                "taro_sessions_expire",
            ):
                assert getattr(tasks, name).delay().get() == 0
