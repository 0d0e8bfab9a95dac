"""An Idempotency-Key keeps its promise when the process running the request dies, when the
answer fails after the work was done, and when two duplicates run at the same moment: the
request has one effect, and the client gets that one answer.

A checkout keeps its work in the database: it runs in one transaction with its claim and its
stored answer, so a crash before the answer is stored leaves nothing, and the retry runs it once.
A payment start and a staff refund may call a payment provider: their claim commits first, and
the steps they commit are recovery points, so a retry after the stale window resumes after them.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta
from decimal import Decimal

import pytest
import time_machine
from django.db import transaction
from rest_framework.test import APIClient

from accounts.jwt import issue_pair
from accounts.tests.factories import AdminFactory, UserFactory
from billing.catalog.models import BillingPeriod
from billing.catalog.tests.factories import PlanFactory
from billing.catalog.tests.factories_payment_methods import PaymentMethodFactory
from billing.invoices.models import CreditNote, Invoice, InvoiceStatus, Payment
from billing.invoices.services.claims import provider_call_allowed
from billing.invoices.tests.factories import (
    buyer,
    custom_draft,
    issue_invoice,
    paid_invoice,
    set_billing_details,
    subscription_draft,
)
from billing.invoices.tests.test_payment_start import FakeGateway
from billing.invoices.views.user import UserInvoicePayView
from billing.subscriptions.models import Subscription
from billing.subscriptions.tests.factories import SubscriptionFactory
from plugins import gateway as gateways
from plugins import state as plugin_state
from tests.support.crash import post_and_die
from tests.support.race import run_together
from vbwd import idempotency
from vbwd.models import IdempotencyRecord

API = "/api/v1"
CHECKOUT = f"{API}/user/checkout"
D = Decimal
IN_PROGRESS = IdempotencyRecord.Status.IN_PROGRESS


def _client(user, **kwargs) -> APIClient:
    client = APIClient(**kwargs)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issue_pair(user)['token']}")
    return client


def _post(client, path, body, key):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


def _after_the_stale_window(settings):
    return time_machine.travel(timedelta(seconds=settings.VBWD_IDEMPOTENCY_STALE_SECONDS + 1))


def _dies(*args, **kwargs):
    raise SystemExit("the worker was killed")


def _shopper_and_plan():
    shopper = UserFactory()
    set_billing_details(shopper)
    plan = PlanFactory(
        name="Pro", slug="pro", price=D("29.99"), billing_period=BillingPeriod.MONTHLY
    )
    return shopper, {"plan_id": str(plan.pk)}


# --- one transaction: the checkout ---------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_checkout_killed_before_its_answer_was_stored_leaves_nothing_and_runs_once_on_retry(
    settings,
):
    # given a customer about to check out Pro
    shopper, body = _shopper_and_plan()

    # when the process dies after the checkout ran, before its answer is stored
    crash = post_and_die(
        CHECKOUT,
        body,
        token=issue_pair(shopper)["token"],
        key="checkout-1",
        crash_at="vbwd.idempotency:finish",
    )

    # then it died there, and its transaction went with it: no invoice, no claim left behind
    assert crash.crashed, crash.output
    assert not Invoice.objects.exists()
    assert not Subscription.objects.exists()
    assert not IdempotencyRecord.objects.exists()

    # when the client retries with the same key after the stale window, and once more
    with _after_the_stale_window(settings):
        retried = _post(_client(shopper), CHECKOUT, body, "checkout-1")
        replayed = _post(_client(shopper), CHECKOUT, body, "checkout-1")

    # then the checkout ran once, and the second retry gets its answer again
    assert retried.status_code == 201, retried.content
    assert "Idempotent-Replayed" not in retried.headers
    invoice = Invoice.objects.get()
    assert retried.json()["invoice"]["id"] == str(invoice.pk)
    assert (invoice.status, invoice.total_amount) == (InvoiceStatus.PENDING, D("29.99"))
    assert Subscription.objects.count() == 1
    assert replayed.status_code == 201
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.content == retried.content


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_identical_checkouts_at_once_make_one_invoice_and_give_one_answer(
    settings, monkeypatch
):
    # given a checkout that takes a moment once its key is claimed
    settings.VBWD_RATE_LIMIT_ENABLED = False
    shopper, body = _shopper_and_plan()
    token = issue_pair(shopper)["token"]
    import billing.checkout.views as checkout_views

    real_checkout = checkout_views.checkout_create

    def slow_checkout(**kwargs):
        time.sleep(0.3)
        return real_checkout(**kwargs)

    monkeypatch.setattr(checkout_views, "checkout_create", slow_checkout)

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return _post(client, CHECKOUT, body, "same-key")

    # when the same checkout is sent twice at the same moment with the same key
    responses = run_together([send, send], timeout=30)

    # then the duplicate waited for the first and replays its answer: one invoice
    assert not [r for r in responses if isinstance(r, Exception)], responses
    assert [r.status_code for r in responses] == [201, 201]
    replays = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    assert len(replays) == 1
    assert responses[0].content == responses[1].content
    assert Invoice.objects.count() == 1
    assert Subscription.objects.count() == 1


# --- resumable: paying an invoice and staff refunds ----------------------------------------


@pytest.mark.django_db
def test_a_payment_start_killed_after_its_capture_is_resumed_after_the_stale_window(
    settings, monkeypatch
):
    # given a zero-total invoice, and a worker that dies once the invoice is paid
    user = UserFactory()
    invoice = issue_invoice(user, [custom_draft("0.00")])
    pay = f"{API}/user/invoices/{invoice.pk}/pay"
    monkeypatch.setattr(idempotency, "finish", _dies)

    # when the customer starts paying it
    with pytest.raises(SystemExit):
        _post(_client(user), pay, {}, "pay-1")
    monkeypatch.undo()

    # then the capture was committed with its recovery point; the claim is left in progress
    record = IdempotencyRecord.objects.get(key="pay-1")
    assert record.status == IN_PROGRESS
    assert record.recovery == {"zero_total_paid": str(invoice.pk)}
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID

    # when the client retries at once, and again after the stale window, and once more
    blocked = _post(_client(user), pay, {}, "pay-1")
    with _after_the_stale_window(settings):
        resumed = _post(_client(user), pay, {}, "pay-1")
        replayed = _post(_client(user), pay, {}, "pay-1")

    # then the first retry waits; the next resumes after the capture and answers as the first
    # would have (not "Invoice already paid"), with one payment
    assert blocked.status_code == 409
    assert blocked.json()["code"] == "idempotency_in_progress"
    assert blocked.headers["Retry-After"] == "1"
    assert resumed.status_code == 200, resumed.content
    assert "Idempotent-Replayed" not in resumed.headers
    body = resumed.json()
    assert (body["action"], body["message"]) == ("PAID", "Invoice paid.")
    assert (body["invoice"]["id"], body["invoice"]["status"]) == (str(invoice.pk), "PAID")
    assert Payment.objects.filter(invoice=invoice).count() == 1
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.content == resumed.content


@pytest.mark.django_db
def test_a_refund_whose_answer_failed_is_answered_from_its_credit_note_on_retry(monkeypatch):
    # given a paid invoice of 20.00, and an answer that fails once the refund is recorded
    invoice = paid_invoice(drafts=[custom_draft("20.00")])
    client = _client(AdminFactory(), raise_request_exception=False)
    refund = f"{API}/admin/invoices/{invoice.pk}/refund"
    body = {"amount": "5.00", "record_only": True, "refund_reference": "BANK-RET-1"}

    def fails(note):
        raise RuntimeError("the answer could not be built")

    monkeypatch.setattr("billing.invoices.views.admin.payments.credit_note_data", fails)

    # when staff refund 5.00 and get a server error
    failed = _post(client, refund, body, "refund-1")
    monkeypatch.undo()

    # then the refund stands, and the key is released with its recovery point, not freed
    assert failed.status_code == 500
    note = CreditNote.objects.get(invoice=invoice)
    record = IdempotencyRecord.objects.get(key="refund-1")
    assert (record.status, record.claimed_at) == (IN_PROGRESS, None)
    assert record.recovery == {"credit_note": str(note.pk)}

    # when staff retry at once with the same key
    retried = _post(client, refund, body, "refund-1")

    # then the retry answers with that refund instead of refunding another 5.00
    assert retried.status_code == 200, retried.content
    assert retried.json()["message"] == "Partial refund of 5.00 EUR issued"
    assert retried.json()["credit_note"]["id"] == str(note.pk)
    assert CreditNote.objects.filter(invoice=invoice).count() == 1
    invoice.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.PAID, D("5.00"))


@pytest.mark.django_db
def test_a_subscription_refund_killed_after_it_was_recorded_is_not_made_again(
    settings, monkeypatch
):
    # given a subscription paid with an invoice of 10.00, and a worker that dies after refunding
    customer = buyer()
    subscription = SubscriptionFactory(user=customer, pending=True)
    invoice = paid_invoice(customer, [subscription_draft(subscription, unit_price="10.00")])
    admin = AdminFactory()
    refund = f"{API}/admin/subscriptions/{subscription.pk}/refund"
    monkeypatch.setattr(idempotency, "finish", _dies)
    with pytest.raises(SystemExit):
        _post(_client(admin), refund, {"amount": "4.00"}, "sub-refund-1")
    monkeypatch.undo()
    note = CreditNote.objects.get(invoice=invoice)

    # when staff retry after the stale window
    with _after_the_stale_window(settings):
        resumed = _post(_client(admin), refund, {"amount": "4.00"}, "sub-refund-1")

    # then the retry answers with the refund made, and nothing more is refunded
    assert resumed.status_code == 200, resumed.content
    assert resumed.json()["credit_note"]["id"] == str(note.pk)
    assert resumed.json()["credit_note"]["amount"] == "4.00"
    assert CreditNote.objects.count() == 1
    invoice.refresh_from_db()
    assert invoice.refunded_amount == D("4.00")


# --- the safety net ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_provider_call_is_refused_inside_a_transaction():
    provider_call_allowed("Calling outside")  # the test's own transaction does not count

    with transaction.atomic(), pytest.raises(RuntimeError) as refused:
        provider_call_allowed("Opening a payment session")

    assert str(refused.value) == (
        "Opening a payment session: a payment provider is called only outside a transaction "
        "(claim, commit, call, record); an API view that calls one sets idempotency_resumable"
    )


@pytest.mark.django_db
def test_a_view_calling_a_provider_in_the_request_transaction_fails_loudly(monkeypatch):
    # given a gateway payment method, and the pay view wrongly run in one transaction
    provider = FakeGateway()
    monkeypatch.setattr(plugin_state, "is_enabled", lambda name: name == "fakepay")
    monkeypatch.setattr(gateways, "gateway_for", lambda name: provider)
    monkeypatch.setattr(UserInvoicePayView, "idempotency_resumable", False)
    card = PaymentMethodFactory(code="card", name="Card", plugin_id="fakepay")
    user = UserFactory()
    invoice = issue_invoice(user, [custom_draft("12.00")], payment_method=card)

    # when the customer starts paying it with an Idempotency-Key
    response = _post(
        _client(user, raise_request_exception=False),
        f"{API}/user/invoices/{invoice.pk}/pay",
        {},
        "pay-1",
    )

    # then the provider is never called and the whole request is rolled back
    assert response.status_code == 500
    assert provider.requests == []
    assert not Payment.objects.filter(invoice=invoice).exists()
    assert not IdempotencyRecord.objects.exists()
