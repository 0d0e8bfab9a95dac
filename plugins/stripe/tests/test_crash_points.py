"""Crash points of the provider calls: claim → commit → call → record.

Opening a checkout session, a staff refund and a renewal charge each write a PENDING claim and
commit it before Stripe is called, with no row lock held during the call. Whatever happens to
the call (refused before Stripe saw it, answered but the answer lost, no answer within the
timeout, the process dying during it), exactly one PENDING claim is left, and the retry (the
customer's next click, the same refund again, the billing job's next slot) sends the same
idempotency key: Stripe answers with its first result, so nothing is created, charged or
refunded twice.

Faults are injected by ``FaultyProxy`` between the gateway and the Stripe-compatible server; a
probe run by the proxy while the caller waits for Stripe checks, from a connection of its own,
that the rows involved can be locked at once (NOWAIT).
"""

from __future__ import annotations

import datetime
import io
import threading
from dataclasses import dataclass
from decimal import Decimal

import pytest
import stripe
import time_machine
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.utils import timezone

from billing.invoices.models import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    InvoiceType,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from billing.invoices.services import refunds as refund_service
from billing.invoices.services import sessions as session_service
from billing.invoices.services.claims import CLAIM_LEASE_SECONDS
from billing.subscriptions.models import Subscription, SubscriptionStatus
from plugins.stripe.gateway import StripeGateway
from plugins.stripe.tests.conftest import checkout_with_stripe
from plugins.stripe.tests.faulty_proxy import FaultyProxy
from plugins.stripe.tests.test_refunds import captured_payment, pay_by_stripe

D = Decimal
API = "/api/v1"
CREATE_SESSION = f"{API}/plugins/stripe/create-session"
FAULTS = ("refuse_before", "drop_after", "hang_after")
# Where each checkout mode opens its session at Stripe.
SESSION_PATHS = {"hosted": "/v1/checkout/sessions", "elements": "/v1/payment_intents"}
REFUNDS_PATH = "/v1/refunds"
CHARGE_PATH = "/v1/payment_intents"
PROBE_TIMEOUT_SECONDS = 10.0
# A claim whose call is still under way makes a second request wait this long, then answer 409.
SHORT_CLAIM_WAIT_SECONDS = 0.3

postgres = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


# --- the probe -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    locks: str  # "free", or the database's refusal to lock a row at once
    rows: dict[str, int]  # rows of each target visible to another connection
    in_flight: dict[str, int]  # of those, rows whose call_started_at is set (claims only)


class LockProbe:
    """Run by the proxy when a POST under ``prefix`` arrives, i.e. while the caller is blocked
    in its provider call: a thread with its own database connection locks each target's rows
    with NOWAIT and records what it found."""

    def __init__(self, prefix: str, **targets):
        self.prefix = prefix
        self.targets = targets  # label -> queryset
        self.seen: list[Seen] = []

    def __call__(self, method: str, path: str) -> None:
        if method != "POST" or path != self.prefix:
            return
        box: dict[str, Seen] = {}
        thread = threading.Thread(target=self._probe, args=(box,), daemon=True)
        thread.start()
        thread.join(PROBE_TIMEOUT_SECONDS)
        self.seen.append(box.get("seen") or Seen("no answer from the probe", {}, {}))

    def _probe(self, box: dict) -> None:
        rows: dict[str, int] = {}
        in_flight: dict[str, int] = {}
        try:
            with transaction.atomic():
                for label, queryset in self.targets.items():
                    found = list(queryset.select_for_update(nowait=True))
                    rows[label] = len(found)
                    if hasattr(queryset.model, "call_started_at"):
                        in_flight[label] = sum(row.call_started_at is not None for row in found)
            box["seen"] = Seen("free", rows, in_flight)
        except DatabaseError as error:
            box["seen"] = Seen(f"locked: {error}".strip(), rows, in_flight)
        finally:
            connection.close()


# --- fixtures and helpers ------------------------------------------------------------------


@pytest.fixture
def proxy(stripe_plugin, monkeypatch):
    """The gateway talks to Stripe through the fault-injecting proxy, with a 1 s timeout."""
    faulty = FaultyProxy(stripe_plugin.url, hang_seconds=2.5)
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_API_BASE", faulty.url)
    monkeypatch.setenv("VBWD_PLUGIN_STRIPE_TIMEOUT_SECONDS", "1")
    yield faulty
    faulty.close()
    assert faulty.hook_errors == []


def checkout(user_client, catalog) -> Invoice:
    return Invoice.objects.get(pk=checkout_with_stripe(user_client, catalog)["id"])


def proxied_posts(proxy: FaultyProxy, path: str) -> list[tuple[str | None, str]]:
    """(idempotency key, mode met) of each POST to ``path`` the gateway sent."""
    return [
        (call.idempotency_key, call.mode) for call in proxy.calls("POST", path) if call.path == path
    ]


def served_posts(server, path: str) -> list[tuple[str | None, bool, int]]:
    """(idempotency key, replayed, status) of each POST to ``path`` that reached Stripe."""
    return [
        (entry["idempotency_key"], entry["replayed"], entry["status"])
        for entry in server.requests()
        if (entry["method"], entry["path"]) == ("POST", path)
    ]


def expected_at_stripe(fault: str, key: str) -> list[tuple[str, bool, int]]:
    """What Stripe received for a call hit by ``fault`` and its retry: a refused call never
    reached it; one it answered is answered again from its idempotency cache."""
    if fault == "refuse_before":
        return [(key, False, 200)]
    return [(key, False, 200), (key, True, 200)]


def later(seconds: float):
    return time_machine.travel(timezone.now() + datetime.timedelta(seconds=seconds), tick=True)


def run_billing_jobs(at: datetime.datetime) -> None:
    with time_machine.travel(at, tick=False):
        call_command("run_billing_jobs", stdout=io.StringIO())


def error_of(response) -> tuple[int, str, str]:
    body = response.json()
    return response.status_code, body["code"], body["error"]


# --- the probe itself ----------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_probe_reports_a_row_lock_held_elsewhere(stripe_plugin, catalog, user_client):
    # given an invoice whose row this connection is about to lock
    invoice = checkout(user_client, catalog)
    probe = LockProbe(REFUNDS_PATH, invoice=Invoice.objects.filter(pk=invoice.pk))

    # when the probe runs while the lock is held, and again after it is released
    with transaction.atomic():
        Invoice.objects.select_for_update().get(pk=invoice.pk)
        probe("POST", REFUNDS_PATH)
    probe("POST", REFUNDS_PATH)

    # then it reports the lock the first time only
    assert probe.seen[0].locks.startswith("locked: could not obtain lock on row")
    assert probe.seen[1] == Seen("free", {"invoice": 1}, {})


# --- checkout sessions ---------------------------------------------------------------------


def _session_params():
    for mode in ("hosted", "elements"):
        for fault in FAULTS:
            yield pytest.param(mode, fault, marks=list(postgres), id=f"{mode}-{fault}")


@pytest.mark.parametrize(("mode", "fault"), list(_session_params()))
def test_a_failed_session_call_leaves_one_claim_that_the_next_click_completes(
    proxy, stripe_plugin, catalog, user_client, mode, fault
):
    # given an open invoice with a recurring plan (the card is to be kept: a customer first)
    stripe_plugin.checkout_mode(mode)
    invoice = checkout(user_client, catalog)
    path = SESSION_PATHS[mode]
    probe = LockProbe(
        path,
        invoice=Invoice.objects.filter(pk=invoice.pk),
        claims=Payment.objects.filter(invoice_id=invoice.pk, status=PaymentStatus.PENDING),
    )
    proxy.on_request(probe)
    proxy.set_mode(fault, path, method="POST")

    # when the customer opens a checkout session and the call to Stripe fails
    failed = user_client.post(CREATE_SESSION, {"invoice_id": str(invoice.pk)}, format="json")

    # then the answer is a provider error and one PENDING claim is left, released for a retry
    status, code, message = error_of(failed)
    assert (status, code) == (502, "provider_error")
    assert message.startswith("Payment provider error: ")
    claim = Payment.objects.get(invoice=invoice)
    assert claim.status == PaymentStatus.PENDING
    assert (claim.session_id, claim.external_id, claim.call_started_at) == (None, None, None)
    assert claim.provider_data["kind"] == "session"
    key = f"session:{claim.pk}"
    assert claim.idempotency_key == key
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PENDING
    # during the call the claim was committed and marked, and no row was locked
    assert probe.seen == [Seen("free", {"invoice": 1, "claims": 1}, {"claims": 1})]
    # Stripe made the session already unless the call was refused before reaching it
    made = (
        stripe.checkout.Session.list().data
        if mode == "hosted"
        else stripe.PaymentIntent.list().data
    )
    assert len(made) == (0 if fault == "refuse_before" else 1)

    # when Stripe answers again and the customer tries again half a minute later
    proxy.reset()
    with later(30):
        opened = user_client.post(CREATE_SESSION, {"invoice_id": str(invoice.pk)}, format="json")

    # then the same claim gets the session Stripe made for its key, made once
    assert opened.status_code == 200, opened.content
    body = opened.json()
    assert body["payment_id"] == str(claim.pk)
    claim.refresh_from_db()
    assert (claim.status, claim.session_id, claim.call_started_at) == (
        PaymentStatus.PENDING,
        body["session_id"],
        None,
    )
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert proxied_posts(proxy, path) == [(key, fault), (key, "pass")]
    assert served_posts(stripe_plugin, path) == expected_at_stripe(fault, key)
    # the customer was created once too: its call repeated its own key and was replayed
    assert served_posts(stripe_plugin, "/v1/customers") == [
        (f"{key}:customer", False, 200),
        (f"{key}:customer", True, 200),
    ]
    assert len(stripe.Customer.list().data) == 1
    if mode == "hosted":
        sessions = stripe.checkout.Session.list().data
        assert [(s.id, s.amount_total) for s in sessions] == [(body["session_id"], 3999)]
        assert body["session_url"]
    else:
        intents = stripe.PaymentIntent.list().data
        assert [(i.id, i.amount) for i in intents] == [(body["session_id"], 3999)]
        assert body["client_secret"]


@pytest.mark.parametrize(
    "mode",
    [
        pytest.param("hosted", marks=postgres),
        pytest.param("elements", marks=postgres),
    ],
)
def test_a_process_dead_during_the_session_call_is_taken_over_after_the_lease(
    proxy, stripe_plugin, catalog, user_client, monkeypatch, mode
):
    # given an open invoice, and a process that dies once Stripe has made the session
    stripe_plugin.checkout_mode(mode)
    invoice = checkout(user_client, catalog)
    path = SESSION_PATHS[mode]
    real_call = StripeGateway.create_session

    def dies_during_the_call(self, request):
        real_call(self, request)
        raise SystemExit("the worker was killed")

    monkeypatch.setattr(StripeGateway, "create_session", dies_during_the_call)

    # when the customer starts paying
    with pytest.raises(SystemExit):
        user_client.post(f"{API}/user/invoices/{invoice.pk}/pay")

    # then the claim is left PENDING and marked as in flight
    monkeypatch.setattr(StripeGateway, "create_session", real_call)
    claim = Payment.objects.get(invoice=invoice)
    key = f"session:{claim.pk}"
    assert (claim.status, claim.idempotency_key, claim.session_id) == (
        PaymentStatus.PENDING,
        key,
        None,
    )
    assert claim.call_started_at is not None

    # when the customer clicks again within the lease
    monkeypatch.setattr(session_service, "CLAIM_WAIT_SECONDS", SHORT_CLAIM_WAIT_SECONDS)
    waiting = user_client.post(f"{API}/user/invoices/{invoice.pk}/pay")

    # then that request waits for the call in flight and gives up: Stripe is not called again
    assert error_of(waiting) == (
        409,
        "conflict",
        "A payment session for this invoice is being opened; try again",
    )
    assert proxied_posts(proxy, path) == [(key, "pass")]

    # when the customer clicks again after the lease ran out
    with time_machine.travel(
        claim.call_started_at + datetime.timedelta(seconds=CLAIM_LEASE_SECONDS + 1), tick=True
    ):
        taken_over = user_client.post(f"{API}/user/invoices/{invoice.pk}/pay")

    # then the claim is taken over with the same key and Stripe answers with its session
    assert taken_over.status_code == 200, taken_over.content
    session = taken_over.json()["session"]
    claim.refresh_from_db()
    assert claim.session_id == session["session_id"]
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert proxied_posts(proxy, path) == [(key, "pass"), (key, "pass")]
    assert served_posts(stripe_plugin, path) == [(key, False, 200), (key, True, 200)]
    made = (
        stripe.checkout.Session.list().data
        if mode == "hosted"
        else stripe.PaymentIntent.list().data
    )
    assert [m.id for m in made] == [session["session_id"]]


# --- staff refunds -------------------------------------------------------------------------


def _refund_probe(invoice: Invoice) -> LockProbe:
    return LockProbe(
        REFUNDS_PATH,
        invoice=Invoice.objects.filter(pk=invoice.pk),
        payments=Payment.objects.filter(invoice_id=invoice.pk),
        claims=Refund.objects.filter(invoice_id=invoice.pk, status=RefundStatus.PENDING),
    )


def _staff_refund(admin_client, invoice: Invoice, **body):
    return admin_client.post(f"{API}/admin/invoices/{invoice.pk}/refund", body, format="json")


def _assert_nothing_refunded(invoice: Invoice, payment: Payment) -> None:
    assert not CreditNote.objects.filter(invoice=invoice).exists()
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.PAID, D("0"))
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.CAPTURED, D("0"))


def _assert_refunded_once(invoice: Invoice, payment: Payment, claim: Refund) -> None:
    """5.00 refunded once: one refund at Stripe, one credit note naming it, the claim done."""
    at_stripe = stripe.Refund.list(payment_intent=payment.external_id).data
    assert [r.amount for r in at_stripe] == [500]
    claim.refresh_from_db()
    assert (claim.status, claim.provider_refund_id, claim.call_started_at) == (
        RefundStatus.SUCCEEDED,
        at_stripe[0].id,
        None,
    )
    note = CreditNote.objects.get(invoice=invoice)
    assert (note.amount, note.refund_reference, claim.credit_note_id) == (
        D("5.00"),
        at_stripe[0].id,
        note.pk,
    )
    invoice.refresh_from_db()
    payment.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.PAID, D("5.00"))
    assert (payment.status, payment.refunded_amount) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        D("5.00"),
    )
    assert Refund.objects.filter(invoice=invoice).count() == 1


@pytest.mark.parametrize("fault", [pytest.param(f, marks=postgres) for f in FAULTS])
def test_a_failed_refund_call_leaves_one_claim_that_the_same_refund_completes(
    proxy, stripe_plugin, catalog, user_client, admin_client, fault
):
    # given an invoice paid at Stripe
    invoice = pay_by_stripe(user_client, catalog, stripe_plugin)
    payment = captured_payment(invoice)
    probe = _refund_probe(invoice)
    proxy.on_request(probe)
    proxy.set_mode(fault, REFUNDS_PATH, method="POST")

    # when staff refund 5.00 and the call to Stripe fails
    failed = _staff_refund(admin_client, invoice, amount="5.00")

    # then the answer is a provider error; one PENDING claim is left and nothing is recorded
    status, code, message = error_of(failed)
    assert (status, code) == (502, "provider_error")
    assert message.startswith("Provider refund failed: ")
    claim = Refund.objects.get(invoice=invoice)
    assert (claim.status, claim.amount, claim.currency) == (RefundStatus.PENDING, D("5.00"), "EUR")
    assert (claim.provider_refund_id, claim.call_started_at) == (None, None)
    key = f"refund:{claim.pk}"
    assert claim.idempotency_key == key
    _assert_nothing_refunded(invoice, payment)
    assert probe.seen == [
        Seen("free", {"invoice": 1, "payments": 1, "claims": 1}, {"payments": 0, "claims": 1})
    ]
    # Stripe refunded already unless the call was refused before reaching it
    made = stripe.Refund.list(payment_intent=payment.external_id).data
    assert [r.amount for r in made] == ([] if fault == "refuse_before" else [500])

    # when Stripe answers again and staff repeat the same refund
    proxy.reset()
    done = _staff_refund(admin_client, invoice, amount="5.00")

    # then the claim is completed with the refund Stripe made for its key, made once
    assert done.status_code == 200, done.content
    assert done.json()["message"] == "Partial refund of 5.00 EUR issued"
    assert proxied_posts(proxy, REFUNDS_PATH) == [(key, fault), (key, "pass")]
    assert served_posts(stripe_plugin, REFUNDS_PATH) == expected_at_stripe(fault, key)
    _assert_refunded_once(invoice, payment, claim)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_process_dead_during_the_refund_call_is_taken_over_after_the_lease(
    proxy, stripe_plugin, catalog, user_client, admin_client, monkeypatch
):
    # given an invoice paid at Stripe, and a process that dies once Stripe has refunded
    invoice = pay_by_stripe(user_client, catalog, stripe_plugin)
    payment = captured_payment(invoice)
    real_call = StripeGateway.refund

    def dies_during_the_call(self, **kwargs):
        real_call(self, **kwargs)
        raise SystemExit("the worker was killed")

    monkeypatch.setattr(StripeGateway, "refund", dies_during_the_call)

    # when staff refund 5.00
    with pytest.raises(SystemExit):
        _staff_refund(admin_client, invoice, amount="5.00")

    # then the claim is left PENDING and marked as in flight; nothing is recorded
    monkeypatch.setattr(StripeGateway, "refund", real_call)
    claim = Refund.objects.get(invoice=invoice)
    key = f"refund:{claim.pk}"
    assert (claim.status, claim.amount) == (RefundStatus.PENDING, D("5.00"))
    assert claim.call_started_at is not None
    _assert_nothing_refunded(invoice, payment)

    # when staff repeat it within the lease
    monkeypatch.setattr(refund_service, "CLAIM_WAIT_SECONDS", SHORT_CLAIM_WAIT_SECONDS)
    waiting = _staff_refund(admin_client, invoice, amount="5.00")

    # then the request waits for the call in flight and gives up: Stripe is not called again
    assert error_of(waiting) == (
        409,
        "conflict",
        "A refund of this invoice is in progress at the provider",
    )
    assert proxied_posts(proxy, REFUNDS_PATH) == [(key, "pass")]

    # when staff repeat it after the lease ran out
    with time_machine.travel(
        claim.call_started_at + datetime.timedelta(seconds=CLAIM_LEASE_SECONDS + 1), tick=True
    ):
        done = _staff_refund(admin_client, invoice, amount="5.00")

    # then the claim is taken over with the same key and Stripe answers with its refund
    assert done.status_code == 200, done.content
    assert done.json()["message"] == "Partial refund of 5.00 EUR issued"
    assert proxied_posts(proxy, REFUNDS_PATH) == [(key, "pass"), (key, "pass")]
    assert served_posts(stripe_plugin, REFUNDS_PATH) == [(key, False, 200), (key, True, 200)]
    _assert_refunded_once(invoice, payment, claim)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_an_unanswered_refund_is_completed_by_the_next_job_run(
    proxy, stripe_plugin, catalog, user_client, admin_client
):
    # given a refund of 5.00 that Stripe made but whose answer was lost
    invoice = pay_by_stripe(user_client, catalog, stripe_plugin)
    payment = captured_payment(invoice)
    proxy.set_mode("drop_after", REFUNDS_PATH, method="POST")
    assert _staff_refund(admin_client, invoice, amount="5.00").status_code == 502
    claim = Refund.objects.get(invoice=invoice)
    key = f"refund:{claim.pk}"
    proxy.reset()

    # when nobody repeats it and the billing jobs run a while later
    run_billing_jobs(claim.created_at + datetime.timedelta(minutes=15))

    # then the job repeats the claim's key and records Stripe's first refund
    assert proxied_posts(proxy, REFUNDS_PATH) == [(key, "drop_after"), (key, "pass")]
    assert served_posts(stripe_plugin, REFUNDS_PATH) == [(key, False, 200), (key, True, 200)]
    _assert_refunded_once(invoice, payment, claim)


@pytest.mark.django_db
def test_another_refund_waits_until_the_pending_one_is_settled(
    proxy, stripe_plugin, catalog, user_client, admin_client
):
    # given a refund of 5.00 whose call never reached Stripe
    invoice = pay_by_stripe(user_client, catalog, stripe_plugin)
    payment = captured_payment(invoice)
    proxy.set_mode("refuse_before", REFUNDS_PATH, method="POST")
    assert _staff_refund(admin_client, invoice, amount="5.00").status_code == 502
    claim = Refund.objects.get(invoice=invoice)
    key = f"refund:{claim.pk}"
    proxy.reset()
    pending = (
        "A refund of 5.00 EUR is still pending at the provider; repeat that refund to complete it"
    )

    # when staff ask for another amount, or to record a refund made elsewhere
    other_amount = _staff_refund(admin_client, invoice, amount="4.00")
    recorded = _staff_refund(admin_client, invoice, amount="5.00", record_only=True)
    recorded_rest = _staff_refund(admin_client, invoice, record_only=True)

    # then each is refused until the pending refund is settled; Stripe is not called
    assert error_of(other_amount) == (409, "conflict", pending)
    assert error_of(recorded) == (409, "conflict", pending)
    assert error_of(recorded_rest) == (409, "conflict", pending)
    assert proxied_posts(proxy, REFUNDS_PATH) == [(key, "refuse_before")]
    _assert_nothing_refunded(invoice, payment)

    # when staff repeat the refund without naming an amount
    done = _staff_refund(admin_client, invoice)

    # then it is the pending 5.00 that is completed, with its key
    assert done.status_code == 200, done.content
    assert done.json()["message"] == "Partial refund of 5.00 EUR issued"
    assert proxied_posts(proxy, REFUNDS_PATH) == [(key, "refuse_before"), (key, "pass")]
    assert served_posts(stripe_plugin, REFUNDS_PATH) == [(key, False, 200)]
    _assert_refunded_once(invoice, payment, claim)


# --- renewal charges -----------------------------------------------------------------------


def subscribed_with_kept_card(user_client, catalog, server) -> tuple[Subscription, Invoice]:
    """A customer who paid Pro at Stripe and let it keep the card, with the renewal issued."""
    pay_by_stripe(user_client, catalog, server)
    subscription = Subscription.objects.get(user=user_client.user)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.saved_method_gateway == "stripe"
    assert subscription.saved_method_id.startswith("pm_")
    run_billing_jobs(subscription.expires_at - datetime.timedelta(days=2))
    renewal = Invoice.objects.get(subscription_id=subscription.pk, invoice_type=InvoiceType.RENEWAL)
    assert (renewal.status, renewal.total_amount) == (InvoiceStatus.PENDING, D("29.99"))
    return subscription, renewal


def renewal_intents(renewal: Invoice) -> list:
    return [
        intent
        for intent in stripe.PaymentIntent.list().data
        if intent.to_dict()["metadata"].get("invoice_id") == str(renewal.pk)
    ]


def _renewal_probe(subscription: Subscription, renewal: Invoice) -> LockProbe:
    return LockProbe(
        CHARGE_PATH,
        invoice=Invoice.objects.filter(pk=renewal.pk),
        subscription=Subscription.objects.filter(pk=subscription.pk),
        claims=Payment.objects.filter(invoice_id=renewal.pk, status=PaymentStatus.PENDING),
    )


def _assert_charged_once(subscription, renewal, claim, end, key) -> None:
    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.PAID
    claim.refresh_from_db()
    assert claim.status == PaymentStatus.CAPTURED
    assert (claim.idempotency_key, renewal.payment_ref) == (key, claim.external_id)
    assert Payment.objects.filter(invoice=renewal).count() == 1
    intents = renewal_intents(renewal)
    assert [(i.id, i.amount, i.status) for i in intents] == [(claim.external_id, 2999, "succeeded")]
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.expires_at > end


@pytest.mark.parametrize("fault", [pytest.param(f, marks=postgres) for f in FAULTS])
def test_an_unknown_renewal_charge_is_repeated_with_its_key_at_the_next_slot(
    proxy, stripe_plugin, catalog, user_client, fault
):
    # given a renewal due at the end of the period, charged off-session through a failing call
    subscription, renewal = subscribed_with_kept_card(user_client, catalog, stripe_plugin)
    end = subscription.expires_at
    probe = _renewal_probe(subscription, renewal)
    proxy.on_request(probe)
    proxy.set_mode(fault, CHARGE_PATH, method="POST")

    # when the billing jobs run at the end of the period
    run_billing_jobs(end + datetime.timedelta(minutes=1))

    # then the outcome is unknown: one PENDING claim with the attempt's key, nothing captured
    claim = Payment.objects.get(invoice=renewal)
    key = f"renewal:{renewal.pk}:1"
    assert (claim.status, claim.idempotency_key, claim.external_id) == (
        PaymentStatus.PENDING,
        key,
        None,
    )
    assert (claim.provider_data["charge"], claim.provider_data["attempt"]) == ("saved_method", 1)
    renewal.refresh_from_db()
    # due at the period end and not paid: overdue, still payable
    assert renewal.status == InvoiceStatus.OVERDUE
    subscription.refresh_from_db()
    assert subscription.charge_attempts == 1
    assert [(s.locks, s.rows) for s in probe.seen] == [
        ("free", {"invoice": 1, "subscription": 1, "claims": 1})
    ]
    # Stripe charged already unless the call was refused before reaching it
    assert len(renewal_intents(renewal)) == (0 if fault == "refuse_before" else 1)

    # when the jobs run again in the same slot
    run_billing_jobs(end + datetime.timedelta(minutes=30))

    # then the slot is taken: Stripe is not called again
    assert proxied_posts(proxy, CHARGE_PATH) == [(key, fault)]

    # when Stripe answers again and the jobs run at the next retry slot (a day later)
    proxy.reset()
    run_billing_jobs(end + datetime.timedelta(days=1, minutes=2))

    # then the same claim is charged with the same key: Stripe's first charge, made once
    assert proxied_posts(proxy, CHARGE_PATH) == [(key, fault), (key, "pass")]
    assert served_posts(stripe_plugin, CHARGE_PATH) == expected_at_stripe(fault, key)
    _assert_charged_once(subscription, renewal, claim, end, key)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_process_dead_during_the_renewal_charge_is_repeated_with_its_key(
    proxy, stripe_plugin, catalog, user_client, monkeypatch
):
    # given a renewal due, and a process that dies once Stripe has charged the card
    subscription, renewal = subscribed_with_kept_card(user_client, catalog, stripe_plugin)
    end = subscription.expires_at
    real_call = StripeGateway.charge_saved_method

    def dies_during_the_call(self, **kwargs):
        real_call(self, **kwargs)
        raise SystemExit("the worker was killed")

    monkeypatch.setattr(StripeGateway, "charge_saved_method", dies_during_the_call)

    # when the billing jobs run at the end of the period
    with pytest.raises(SystemExit):
        run_billing_jobs(end + datetime.timedelta(minutes=1))

    # then the claim is left PENDING with its key; Stripe has charged once
    monkeypatch.setattr(StripeGateway, "charge_saved_method", real_call)
    claim = Payment.objects.get(invoice=renewal)
    key = f"renewal:{renewal.pk}:1"
    assert (claim.status, claim.idempotency_key) == (PaymentStatus.PENDING, key)
    assert len(renewal_intents(renewal)) == 1

    # when the jobs run again in the same slot (a renewal claim is guarded by the slot it took,
    # not by a lease: the next attempt is due a day later)
    run_billing_jobs(end + datetime.timedelta(minutes=2))

    # then Stripe is not called again
    assert proxied_posts(proxy, CHARGE_PATH) == [(key, "pass")]

    # when the jobs run at the next retry slot
    run_billing_jobs(end + datetime.timedelta(days=1, minutes=2))

    # then the claim's key is sent again and Stripe answers with its first charge
    assert proxied_posts(proxy, CHARGE_PATH) == [(key, "pass"), (key, "pass")]
    assert served_posts(stripe_plugin, CHARGE_PATH) == [(key, False, 200), (key, True, 200)]
    _assert_charged_once(subscription, renewal, claim, end, key)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_renewal_charge_claim_is_marked_in_flight_during_the_call(
    proxy, stripe_plugin, catalog, user_client
):
    # given a renewal due
    subscription, renewal = subscribed_with_kept_card(user_client, catalog, stripe_plugin)
    probe = _renewal_probe(subscription, renewal)
    proxy.on_request(probe)

    # when the billing jobs charge it
    run_billing_jobs(subscription.expires_at + datetime.timedelta(minutes=1))

    # then, during the call, its committed claim was marked as in flight and no lock was held
    renewal.refresh_from_db()
    assert renewal.status == InvoiceStatus.PAID
    assert probe.seen == [
        Seen("free", {"invoice": 1, "subscription": 1, "claims": 1}, {"claims": 1})
    ]
