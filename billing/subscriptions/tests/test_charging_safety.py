"""Saved-method renewal charges are safe: the invoice and the subscription
are checked again, under their locks, right before each gateway call, so a renewal voided or
paid and a subscription cancelled after the batch picked it are not charged; two runs charge an
attempt once; no lock is held while the provider answers; and an unknown outcome (a timeout) is
never taken for a decline: no FAILED payment, no ``payment_failed``, and the next attempt sends
the same idempotency key so the provider cannot charge twice."""

from __future__ import annotations

import dataclasses
import datetime
import threading

import pytest
import time_machine
from django.db import connection, transaction

from billing.invoices import signals as invoice_signals
from billing.invoices.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.invoices.services import invoice_capture, invoice_mark_paid, invoice_void
from billing.subscriptions.models import Subscription, SubscriptionStatus
from billing.subscriptions.services import renewals_charge_saved, subscription_cancel
from billing.subscriptions.services.renewal import charging
from billing.subscriptions.tests.test_jobs import saved_card_subscription
from billing.subscriptions.tests.test_renewal import at, renewals_of, run_at
from plugins import gateway as gateways
from tests.support.race import run_together

pytestmark = pytest.mark.django_db

END = at(2027, 5, 1)  # the end of the period saved_card_subscription() renews
DAY = datetime.timedelta(days=1)


class ProviderGateway(gateways.PaymentGateway):
    """A provider that keeps cards and, like real ones, remembers each charge by its idempotency
    key: a repeated key is answered with the first charge instead of charging again. Each new
    key takes the next outcome of ``script``: ``succeeded``, ``pending``, ``failed`` (declined),
    ``declined`` (raises GatewayError), ``timeout`` (the card is charged, then the answer is
    lost: TimeoutError) or ``lost`` (the request never arrives: ConnectionError, no charge).
    ``before_charge(request)`` runs inside the call before the provider looks at it."""

    name = "testpay"
    supports_saved_methods = True

    def __init__(self):
        self.script: list[str] = []
        self.calls: list[gateways.PaymentRequest] = []
        self.charges: dict[str, object] = {}  # idempotency key -> ChargeResult or error
        self.before_charge = None

    def charge_saved_method(self, *, saved_payment_method_id, request, customer_id=None):
        self.calls.append(request)
        if self.before_charge is not None:
            self.before_charge(request)
        key = request.idempotency_key
        if key in self.charges:
            answer = self.charges[key]
            if isinstance(answer, Exception):
                raise answer
            return answer
        outcome = self.script.pop(0)
        if outcome == "lost":
            raise ConnectionError("connection reset")
        if outcome == "declined":
            self.charges[key] = gateways.GatewayError("Card expired")
            raise self.charges[key]
        result = gateways.ChargeResult(
            external_payment_id=f"ch_{len(self.charges) + 1}",
            status="succeeded" if outcome == "timeout" else outcome,
            amount=request.amount,
            currency=request.currency,
            failure_reason="Insufficient funds" if outcome == "failed" else None,
        )
        self.charges[key] = result
        if outcome == "timeout":
            raise TimeoutError("read timed out")
        return result

    def create_session(self, request):
        raise NotImplementedError

    def session_status(self, session_id):
        raise NotImplementedError

    def parse_webhook(self, headers, body):
        raise NotImplementedError

    def refund(self, **kwargs):
        raise NotImplementedError


@pytest.fixture
def provider(monkeypatch):
    """``testpay`` enabled and able to charge saved methods; every other plugin disabled."""
    instance = ProviderGateway()

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

    invoice_signals.payment_failed.connect(on_failed, dispatch_uid="test-charging-safety")
    yield sent
    invoice_signals.payment_failed.disconnect(dispatch_uid="test-charging-safety")


def keys(provider) -> list[str]:
    return [request.idempotency_key for request in provider.calls]


def payments_of(invoice) -> list[tuple]:
    rows = Payment.objects.filter(invoice=invoice).order_by("created_at")
    return [(row.status, row.external_id, row.failure_reason) for row in rows]


# --- checked again right before the call --------------------------------------------------------


def _meanwhile(provider, change):
    """On the first gateway call, ``change(other)`` is applied to the other subscription of the
    batch: what a customer or staff does while the run charges the ones before it."""
    subs = [saved_card_subscription(), saved_card_subscription()]

    def before_charge(request):
        provider.before_charge = None
        (other,) = [sub for sub in subs if str(sub.pk) != request.metadata["subscription_id"]]
        change(other)
        provider.touched = other

    provider.before_charge = before_charge
    provider.script = ["succeeded", "succeeded"]
    return subs


def _void(sub):
    invoice_void(invoice_id=renewals_of(sub)[0].pk, actor=None, reason="Customer asked")


def _mark_paid(sub):
    invoice_mark_paid(invoice_id=renewals_of(sub)[0].pk, actor=None, payment_reference="BANK-1")


@pytest.mark.parametrize(
    ("change", "status"),
    [(_void, InvoiceStatus.CANCELLED), (_mark_paid, InvoiceStatus.PAID)],
    ids=["voided", "paid"],
)
def test_a_renewal_voided_or_paid_after_the_batch_picked_it_is_not_charged(
    provider, change, status
):
    _meanwhile(provider, change)

    assert run_at(renewals_charge_saved, END) == 1

    assert len(provider.calls) == 1
    other = provider.touched
    (renewal,) = renewals_of(other)
    assert renewal.status == status
    assert Payment.objects.filter(invoice=renewal, gateway="testpay").count() == 0
    other.refresh_from_db()
    assert (other.charge_attempts, other.last_charge_at) == (0, None)
    charged = Invoice.objects.get(pk=provider.calls[0].invoice_id)
    assert charged.status == InvoiceStatus.PAID


@pytest.mark.parametrize(
    "change",
    [
        lambda sub: subscription_cancel(subscription_id=sub.pk, actor=None),
        lambda sub: Subscription.objects.filter(pk=sub.pk).update(cancelled_at=END),
        lambda sub: Subscription.objects.filter(pk=sub.pk).update(
            status=SubscriptionStatus.CANCELLED, cancelled_at=END
        ),
        lambda sub: Subscription.objects.filter(pk=sub.pk).update(
            status=SubscriptionStatus.EXPIRED
        ),
        lambda sub: Subscription.objects.filter(pk=sub.pk).update(saved_method_id=None),
        lambda sub: Subscription.objects.filter(pk=sub.pk).update(saved_method_gateway="otherpay"),
    ],
    ids=[
        "cancelled",
        "cancel-flag",
        "cancel-status",
        "expired",
        "method-removed",
        "method-moved",
    ],
)
def test_a_subscription_cancelled_or_without_its_method_after_the_batch_picked_it_is_not_charged(
    provider, change
):
    _meanwhile(provider, change)

    assert run_at(renewals_charge_saved, END) == 1

    assert len(provider.calls) == 1
    assert provider.calls[0].metadata["subscription_id"] != str(provider.touched.pk)
    (renewal,) = renewals_of(provider.touched)
    assert Payment.objects.filter(invoice=renewal, gateway="testpay").count() == 0
    assert Subscription.objects.get(pk=provider.touched.pk).charge_attempts == 0


def test_a_slot_claimed_meanwhile_is_not_charged_again(provider):
    sub = saved_card_subscription()
    (renewal,) = renewals_of(sub)
    provider.script = ["failed"]
    settings = charging.platform_settings_get()
    claim = {
        "subscription_id": sub.pk,
        "invoice_id": renewal.pk,
        "gateway": "testpay",
        "now": END,
        "retry_days": list(settings.payment_retry_days),
        "grace_days": settings.grace_period_days,
    }

    first = charging.attempt_claim(**claim)

    assert (first.number, first.key, first.saved_method_id) == (
        1,
        f"renewal:{renewal.pk}:1",
        "pm_card_1",
    )
    assert charging.attempt_claim(**claim) is None
    assert run_at(renewals_charge_saved, END) == 0
    assert provider.calls == []


# --- unknown outcomes ---------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", ["timeout", "lost"])
def test_an_unknown_outcome_is_not_a_failure_and_the_next_attempt_reuses_its_key(
    provider, failures, outcome, django_capture_on_commit_callbacks
):
    """timeout: the provider charged, the answer was lost; lost: nothing reached it. Either
    way the card ends up charged once."""
    sub = saved_card_subscription()
    (renewal,) = renewals_of(sub)
    provider.script = [outcome, "succeeded"]

    with django_capture_on_commit_callbacks(execute=True):
        assert run_at(renewals_charge_saved, END) == 1

    (payment,) = Payment.objects.filter(invoice=renewal)
    assert (payment.status, payment.external_id, payment.failure_reason) == (
        PaymentStatus.PENDING,
        None,
        None,
    )
    assert payment.provider_data["idempotency_key"] == f"renewal:{renewal.pk}:1"
    assert failures == []
    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.PENDING
    sub.refresh_from_db()
    assert (sub.charge_attempts, sub.last_charge_at) == (1, END)

    assert run_at(renewals_charge_saved, END + DAY / 2) == 0  # waits for the next slot
    with django_capture_on_commit_callbacks(execute=True):
        assert run_at(renewals_charge_saved, END + DAY) == 1

    assert keys(provider) == [f"renewal:{renewal.pk}:1"] * 2
    assert len(provider.charges) == 1  # charged once at the provider
    assert payments_of(renewal) == [(PaymentStatus.CAPTURED, "ch_1", None)]
    assert Payment.objects.get(invoice=renewal).pk == payment.pk
    renewal.refresh_from_db()
    assert (renewal.status, renewal.payment_ref) == (InvoiceStatus.PAID, "ch_1")
    assert failures == []
    sub.refresh_from_db()
    assert (sub.status, sub.expires_at, sub.charge_attempts) == (
        SubscriptionStatus.ACTIVE,
        at(2027, 6, 1),
        0,
    )


def test_a_plugin_bug_is_an_unknown_outcome_too(provider, failures, monkeypatch):
    sub = saved_card_subscription()
    (renewal,) = renewals_of(sub)

    def broken(**kwargs):
        raise KeyError("amount")

    monkeypatch.setattr(provider, "charge_saved_method", broken)

    assert run_at(renewals_charge_saved, END) == 1

    assert payments_of(renewal) == [(PaymentStatus.PENDING, None, None)]
    assert failures == []


def test_a_pending_charge_declined_later_is_failed_once_and_the_next_attempt_uses_a_new_key(
    provider, failures, django_capture_on_commit_callbacks
):
    sub = saved_card_subscription()
    (renewal,) = renewals_of(sub)
    provider.script = ["pending", "succeeded"]
    first_key = f"renewal:{renewal.pk}:1"

    with django_capture_on_commit_callbacks(execute=True):
        assert run_at(renewals_charge_saved, END) == 1
    assert payments_of(renewal) == [(PaymentStatus.PENDING, "ch_1", None)]
    assert failures == []

    # The provider declines the charge afterwards; its answer to the same key says so.
    provider.charges[first_key] = dataclasses.replace(
        provider.charges[first_key], status="failed", failure_reason="Insufficient funds"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert run_at(renewals_charge_saved, END + DAY) == 1
        assert run_at(renewals_charge_saved, END + 3 * DAY) == 1

    assert keys(provider) == [first_key, first_key, f"renewal:{renewal.pk}:3"]
    assert payments_of(renewal) == [
        (PaymentStatus.FAILED, "ch_1", "Insufficient funds"),
        (PaymentStatus.CAPTURED, "ch_2", None),
    ]
    assert failures == [(renewal.invoice_number, "Insufficient funds")]
    renewal.refresh_from_db()
    assert (renewal.status, renewal.payment_ref) == (InvoiceStatus.PAID, "ch_2")


def test_an_unknown_charge_settled_by_the_provider_event_is_not_charged_again(provider):
    sub = saved_card_subscription()
    (renewal,) = renewals_of(sub)
    provider.script = ["timeout"]
    run_at(renewals_charge_saved, END)

    charge = provider.charges[f"renewal:{renewal.pk}:1"]
    with time_machine.travel(END + DAY / 2, tick=False):
        invoice_capture(
            invoice_id=renewal.pk,
            gateway="testpay",
            external_id=charge.external_payment_id,
            amount=charge.amount,
            currency=charge.currency,
        )

    assert run_at(renewals_charge_saved, END + DAY) == 0
    assert len(provider.calls) == 1
    renewal.refresh_from_db()
    assert (renewal.status, renewal.payment_ref) == (InvoiceStatus.PAID, "ch_1")


# --- definite declines --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("outcome", "reason", "external_id"),
    [("failed", "Insufficient funds", "ch_1"), ("declined", "Card expired", None)],
)
def test_a_definite_decline_fails_the_payment_and_the_next_attempt_uses_a_new_key(
    provider, failures, outcome, reason, external_id, django_capture_on_commit_callbacks
):
    sub = saved_card_subscription()
    (renewal,) = renewals_of(sub)
    provider.script = [outcome, "succeeded"]

    with django_capture_on_commit_callbacks(execute=True):
        assert run_at(renewals_charge_saved, END) == 1
    assert payments_of(renewal) == [(PaymentStatus.FAILED, external_id, reason)]
    assert failures == [(renewal.invoice_number, reason)]

    with django_capture_on_commit_callbacks(execute=True):
        assert run_at(renewals_charge_saved, END + DAY) == 1

    assert keys(provider) == [f"renewal:{renewal.pk}:1", f"renewal:{renewal.pk}:2"]
    assert payments_of(renewal)[-1][0] == PaymentStatus.CAPTURED
    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.PAID
    assert failures == [(renewal.invoice_number, reason)]


# --- concurrency (PostgreSQL row locks) ---------------------------------------------------------


def _in_thread(action):
    """Runs ``action`` on its own connection and returns what it returned or raised."""
    box: list[object] = [None]

    def run():
        try:
            box[0] = action()
        except Exception as error:  # recorded for the assertions
            box[0] = error
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    return box[0]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_runs_that_both_picked_a_renewal_charge_its_attempt_once(provider, monkeypatch):
    """Both runs get the subscription from their batch (no skipping of locked rows here) and
    reach the claim together: the second waits for the locks and finds the slot taken."""
    sub = saved_card_subscription()
    provider.script = ["failed", "failed"]

    def unlocked_batch(queryset, *, after, batch_size):
        rows = queryset if after is None else queryset.filter(pk__gt=after)
        return list(rows.order_by("pk")[:batch_size])

    barrier = threading.Barrier(2, timeout=10)
    original_claim = charging.attempt_claim

    together = []

    def claim_together(**kwargs):
        barrier.wait()
        together.append(kwargs["subscription_id"])
        return original_claim(**kwargs)

    monkeypatch.setattr(charging, "claim_batch", unlocked_batch)
    monkeypatch.setattr(charging, "attempt_claim", claim_together)

    results = run_together([lambda: run_at(renewals_charge_saved, END)] * 2, timeout=10)

    assert together == [sub.pk, sub.pk]  # both runs reached the claim
    assert sorted(results) == [0, 1]
    assert len(provider.calls) == 1
    (renewal,) = renewals_of(sub)
    assert Payment.objects.filter(invoice=renewal, gateway="testpay").count() == 1
    sub.refresh_from_db()
    assert (sub.charge_attempts, sub.last_charge_at) == (1, END)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_no_lock_is_held_while_the_provider_answers(provider):
    sub = saved_card_subscription()
    (renewal,) = renewals_of(sub)
    provider.script = ["succeeded"]
    seen = []

    def lock_both():
        with transaction.atomic():
            Invoice.objects.select_for_update(nowait=True).get(pk=renewal.pk)
            Subscription.objects.select_for_update(nowait=True).get(pk=sub.pk)
        return "free"

    provider.before_charge = lambda request: seen.append(_in_thread(lock_both))

    assert run_at(renewals_charge_saved, END) == 1

    assert seen == ["free"]
    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.PAID


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_cancellation_during_the_call_leaves_the_next_renewals_uncharged(provider):
    """The first subscription's call runs while the second is cancelled on another connection
    (which needs the locks the claim takes): the second is then not charged."""
    subs = [saved_card_subscription(), saved_card_subscription()]
    provider.script = ["succeeded", "succeeded"]
    cancelled = []

    def before_charge(request):
        provider.before_charge = None
        (other,) = [sub for sub in subs if str(sub.pk) != request.metadata["subscription_id"]]
        result = _in_thread(lambda: subscription_cancel(subscription_id=other.pk, actor=None))
        cancelled.append((other, result))

    provider.before_charge = before_charge

    assert run_at(renewals_charge_saved, END, batch_size=10) == 1

    ((other, result),) = cancelled
    assert isinstance(result, Subscription)
    assert len(provider.calls) == 1
    (renewal,) = renewals_of(other)
    assert renewal.status == InvoiceStatus.CANCELLED
    assert Payment.objects.filter(invoice=renewal).count() == 0
    other.refresh_from_db()
    assert (other.status, other.charge_attempts) == (SubscriptionStatus.CANCELLED, 0)
