"""Stripe's signed webhooks at ``POST /api/v1/plugins/stripe/webhook`` and the session routes,
against the Stripe-compatible test server.

Events are built and signed here exactly as Stripe signs them (``t=<unix time>,v1=<hex
HMAC-SHA256 of "<t>.<raw body>">``), around the objects the test server really holds: the
customer opens a session through our API and pays it at the server, then the test decides
which event reaches us, how often, how altered and how concurrently.
"""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import pytest
import requests
from django.core.servers.basehttp import ThreadedWSGIServer
from django.db import OperationalError, connection
from django.test.testcases import LiveServerThread, _StaticFilesHandler
from rest_framework.test import APIClient

from audit.models import AuditEntry
from billing.catalog.models import PaymentMethod
from billing.invoices.models import (
    Invoice,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    ProviderEvent,
    ProviderEventStatus,
)
from billing.invoices.services import provider_webhooks, sessions
from billing.invoices.signals import payment_captured
from billing.subscriptions.models import Subscription, SubscriptionStatus
from conftest import bearer
from plugins.stripe.tests.conftest import TEST_API_KEY, WEBHOOK_SECRET, checkout_with_stripe
from tests.support.race import run_together
from tokens.models import TokenBalance, TokenTransaction

D = Decimal
API = "/api/v1"
WEBHOOK = f"{API}/plugins/stripe/webhook"
CREATE_SESSION = f"{API}/plugins/stripe/create-session"
CARD = "4242424242424242"
# Pro (29.99, 500 tokens a period) and a bundle of 1000 tokens (10.00), no tax: 39.99 EUR.
TOTAL = D("39.99")
TOTAL_MINOR = 3999
INVALID_SIGNATURE = {"error": "Invalid signature", "code": "invalid_signature"}
NOT_ENABLED = {"error": "Plugin 'stripe' is not enabled", "code": "not_found"}
SESSION_NOT_FOUND = {"error": "Session not found", "code": "not_found"}
# Every wait on another thread or on HTTP is bounded by this.
WAIT_SECONDS = 30.0


@pytest.fixture(autouse=True)
def _own_cache_keys(settings):
    """The plugin state (enabled or not) and the rate-limit counters these tests depend on
    live in the shared cache; another test process using the same Redis database writes the
    same keys. Each test here gets keys of its own, removed afterwards."""
    from django.core.cache import cache

    caches = copy.deepcopy(settings.CACHES)
    prefix = caches["default"].get("KEY_PREFIX") or "vbwd"
    caches["default"]["KEY_PREFIX"] = f"{prefix}:test-webhooks:{uuid.uuid4().hex}"
    settings.CACHES = caches
    yield
    if hasattr(cache, "delete_pattern"):
        cache.delete_pattern("*")


# --- signing and delivering ---------------------------------------------------------------------


def _sign(body: bytes, *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None) -> str:
    """The Stripe-Signature header Stripe sends with ``body``."""
    moment = int(time.time()) if timestamp is None else timestamp
    digest = hmac.new(secret.encode(), f"{moment}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={moment},v1={digest}"


def _event(kind: str, obj: dict) -> bytes:
    """The raw body of a new Stripe event around ``obj``."""
    return json.dumps(
        {
            "id": f"evt_{uuid.uuid4().hex[:24]}",
            "object": "event",
            "api_version": "2024-06-20",
            "type": kind,
            "created": int(time.time()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "data": {"object": obj},
        }
    ).encode()


SIGNED_NOW = object()


def _deliver(body: bytes, header=SIGNED_NOW):
    """One delivery through the Django test client: signed now unless ``header`` is given;
    None sends no Stripe-Signature header."""
    extra = {}
    if header is SIGNED_NOW:
        extra["HTTP_STRIPE_SIGNATURE"] = _sign(body)
    elif header is not None:
        extra["HTTP_STRIPE_SIGNATURE"] = header
    return APIClient().post(WEBHOOK, data=body, content_type="application/json", **extra)


def _post_live(url: str, body: bytes) -> tuple[int, dict]:
    """One delivery over its own HTTP connection to the live server, signed now."""
    with requests.Session() as http:
        http.trust_env = False
        response = http.post(
            url,
            data=body,
            headers={"Content-Type": "application/json", "Stripe-Signature": _sign(body)},
            timeout=WAIT_SECONDS,
        )
    return response.status_code, response.json()


def _concurrently(calls: list[Callable[[], object]]) -> list:
    """Runs the calls together (``run_together``); returns their results in order and fails
    the test when any of them raised."""
    results = run_together(calls, timeout=WAIT_SECONDS)
    assert [result for result in results if isinstance(result, Exception)] == []
    return results


class _WideBacklogServer(ThreadedWSGIServer):
    # Fifty connections arrive in the same instant; Django's live server listens with a queue
    # of 10 and resets the rest, where a production server (gunicorn: 2048) queues them.
    request_queue_size = 128


class _LiveServerThread(LiveServerThread):
    server_class = _WideBacklogServer


@pytest.fixture
def live_url(transactional_db):
    """The base URL of our API served over real HTTP in this process, one thread (and one
    database connection, closed after the request) per connection."""
    thread = _LiveServerThread("127.0.0.1", _StaticFilesHandler)
    thread.daemon = True
    thread.start()
    assert thread.is_ready.wait(timeout=WAIT_SECONDS), "the live server did not start"
    if thread.error:
        raise thread.error
    yield f"http://127.0.0.1:{thread.port}"
    thread.terminate()


# --- the test server ------------------------------------------------------------------------------


def _stripe(server, method: str, path: str) -> dict:
    """A call to the test server's Stripe API as the JSON it answers (Stripe's wire format)."""
    response = server.http.request(
        method,
        f"{server.url}{path}",
        headers={"Authorization": f"Bearer {TEST_API_KEY}"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    return response.json()


def _paid_at_stripe(server, session_id: str) -> dict:
    """The customer pays the Checkout Session on Stripe's page; returns the completed session."""
    status, session = server.pay_session(session_id, card_number=CARD)
    assert status == 200, session
    assert (session["object"], session["status"], session["payment_status"]) == (
        "checkout.session",
        "complete",
        "paid",
    )
    assert session["payment_intent"].startswith("pi_")
    return session


def _checkout_session_posts(server) -> list[dict]:
    return [
        entry
        for entry in server.requests()
        if (entry["method"], entry["path"]) == ("POST", "/v1/checkout/sessions")
    ]


# --- an order: a customer's invoice with an open Stripe session -------------------------------


@dataclass
class Order:
    user: object
    client: APIClient
    invoice_id: str
    session_id: str
    payment_id: str

    def invoice(self) -> Invoice:
        return Invoice.objects.get(pk=self.invoice_id)

    def payments(self) -> list[Payment]:
        return list(Payment.objects.filter(invoice_id=self.invoice_id).order_by("created_at"))


def _client(user) -> APIClient:
    client = APIClient()
    client.credentials(**bearer(user))
    return client


@pytest.fixture
def catalog(stripe_plugin, catalog):
    """The shared catalog, sold with the stripe plugin enabled (its payment method exists)."""
    return catalog


def _checkout(client: APIClient, catalog) -> str:
    return checkout_with_stripe(client, catalog)["id"]


def _pay(client: APIClient, invoice_id: str) -> dict:
    response = client.post(f"{API}/user/invoices/{invoice_id}/pay", format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["action"] == "REDIRECT"
    assert body["session"]["session_id"].startswith("cs_")
    return body


@pytest.fixture
def order(catalog) -> Order:
    """Checkout of Pro + 1000 tokens with Stripe and ``pay``: the invoice's session is open."""
    from accounts.tests.factories import UserFactory

    user = UserFactory(email=f"payer-{uuid.uuid4().hex[:8]}@example.com")
    client = _client(user)
    invoice_id = _checkout(client, catalog)
    start = _pay(client, invoice_id)
    return Order(
        user=user,
        client=client,
        invoice_id=invoice_id,
        session_id=start["session"]["session_id"],
        payment_id=start["payment"]["id"],
    )


@pytest.fixture
def captured_signals():
    """Payments ``payment_captured`` was sent for, in order."""
    seen: list = []

    def receiver(sender, invoice, payment, **kwargs):
        seen.append(payment.pk)

    payment_captured.connect(receiver, weak=False, dispatch_uid="test_webhooks.captured")
    yield seen
    payment_captured.disconnect(dispatch_uid="test_webhooks.captured")


def _snapshot(order: Order) -> tuple:
    """What a refused delivery must leave as it was."""
    invoice = order.invoice()
    return (
        invoice.status,
        invoice.needs_review,
        invoice.review_reason,
        invoice.payment_ref,
        invoice.updated_at,
        [(p.pk, p.status, p.external_id, p.updated_at) for p in order.payments()],
    )


def _assert_paid_once(order: Order, intent_id: str, captured_signals: list) -> None:
    """The invoice is PAID by one captured payment, and everything it activates happened
    exactly once."""
    invoice = order.invoice()
    [payment] = order.payments()
    assert (payment.pk, payment.status, payment.external_id, payment.amount) == (
        uuid.UUID(order.payment_id),
        PaymentStatus.CAPTURED,
        intent_id,
        TOTAL,
    )
    assert (invoice.status, invoice.payment_ref, invoice.needs_review) == (
        InvoiceStatus.PAID,
        intent_id,
        False,
    )
    subscription = Subscription.objects.get(user=order.user)
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.saved_method_id.startswith("pm_")
    audits = AuditEntry.objects.filter(subject_user_id=order.user.pk)
    assert audits.filter(action="invoice.paid", object_id=str(invoice.pk)).count() == 1
    assert audits.filter(action="payment.captured", object_id=str(payment.pk)).count() == 1
    assert audits.filter(action="subscription.payment_method_saved").count() == 1
    # 1000 bundle tokens and 500 plan tokens, each credited once.
    assert TokenTransaction.objects.filter(user=order.user).count() == 2
    assert TokenBalance.objects.get(user=order.user).balance == 1500
    assert captured_signals == [payment.pk]


# --- 1. refused deliveries change nothing -------------------------------------------------------


@pytest.mark.parametrize(
    "case",
    ["wrong secret", "timestamp too old", "body altered", "no signature header", "garbage header"],
)
def test_a_delivery_that_fails_verification_is_400_and_stores_nothing(order, stripe_plugin, case):
    # Given a real, paid session of our invoice: a valid event would pay it.
    session = _paid_at_stripe(stripe_plugin, order.session_id)
    body = _event("checkout.session.completed", session)
    before = _snapshot(order)

    # When the delivery does not carry Stripe's signature over exactly this body
    if case == "wrong secret":
        response = _deliver(body, _sign(body, secret="whsec_someone_else"))
    elif case == "timestamp too old":
        # Stripe's tolerance is 300 s; a replay of an old delivery is refused.
        response = _deliver(body, _sign(body, timestamp=int(time.time()) - 301))
    elif case == "body altered":
        header = _sign(body)
        altered = body.replace(b'"amount_total": 3999', b'"amount_total": 3998')
        assert sum(a != b for a, b in zip(altered, body, strict=True)) == 1  # one byte
        response = _deliver(altered, header)
    elif case == "no signature header":
        response = _deliver(body, None)
    else:
        response = _deliver(body, "not-a-stripe-signature")

    # Then it is refused and nothing was stored or paid
    assert (response.status_code, response.json()) == (400, INVALID_SIGNATURE)
    assert ProviderEvent.objects.count() == 0
    assert _snapshot(order) == before
    assert order.invoice().status == InvoiceStatus.PENDING


def test_a_signature_just_inside_the_tolerance_is_accepted(order, stripe_plugin):
    # The counterpart of the 301 s refusal: 290 s old is still Stripe's own delivery.
    session = _paid_at_stripe(stripe_plugin, order.session_id)
    body = _event("checkout.session.completed", session)

    response = _deliver(body, _sign(body, timestamp=int(time.time()) - 290))

    assert (response.status_code, response.json()) == (200, {"received": True})
    assert order.invoice().status == InvoiceStatus.PAID


def test_without_a_webhook_secret_the_webhook_is_503_and_stores_nothing(
    order, stripe_plugin, monkeypatch
):
    session = _paid_at_stripe(stripe_plugin, order.session_id)
    body = _event("checkout.session.completed", session)
    # No secret in the environment and none stored: nothing can be verified.
    monkeypatch.delenv("VBWD_PLUGIN_STRIPE_WEBHOOK_SECRET")

    response = _deliver(body)

    assert (response.status_code, response.json()) == (
        503,
        {"error": "Webhook secret is not configured", "code": "service_unavailable"},
    )
    assert ProviderEvent.objects.count() == 0
    assert order.invoice().status == InvoiceStatus.PENDING


# --- 2. amount or currency differ from the invoice ----------------------------------------------


@pytest.mark.parametrize(
    ("amount_total", "currency", "captured"),
    [(TOTAL_MINOR - 1, "eur", "39.98 EUR"), (TOTAL_MINOR, "usd", "39.99 USD")],
    ids=["one cent less", "another currency"],
)
def test_a_payment_that_differs_from_the_invoice_is_recorded_and_flagged_not_paid(
    order,
    stripe_plugin,
    captured_signals,
    django_capture_on_commit_callbacks,
    amount_total,
    currency,
    captured,
):
    # Given Stripe reports our session paid, but with another amount or currency
    session = _paid_at_stripe(stripe_plugin, order.session_id)
    intent_id = session["payment_intent"]
    session.update(amount_total=amount_total, amount_subtotal=amount_total, currency=currency)

    # When the signed event arrives
    with django_capture_on_commit_callbacks(execute=True):
        response = _deliver(_event("checkout.session.completed", session))

    # Then the money is recorded as received, but the invoice waits for staff
    assert (response.status_code, response.json()) == (200, {"received": True})
    [payment] = order.payments()
    assert (payment.status, payment.external_id, payment.amount, payment.currency) == (
        PaymentStatus.CAPTURED,
        intent_id,
        D(amount_total) / 100,
        currency.upper(),
    )
    invoice = order.invoice()
    assert (invoice.status, invoice.paid_at, invoice.payment_ref) == (
        InvoiceStatus.PENDING,
        None,
        None,
    )
    assert invoice.needs_review is True
    assert invoice.review_reason == (
        f"Captured {captured} via stripe ({intent_id}) does not match the invoice total 39.99 EUR"
    )
    # Nothing the invoice sells was handed out.
    subscription = Subscription.objects.get(user=order.user)
    assert (subscription.status, subscription.saved_method_id) == (
        SubscriptionStatus.PENDING,
        None,
    )
    assert TokenTransaction.objects.filter(user=order.user).count() == 0
    assert not AuditEntry.objects.filter(action="invoice.paid").exists()
    assert captured_signals == []
    assert ProviderEvent.objects.get().status == ProviderEventStatus.PROCESSED


# --- 3. metadata alone never pays ---------------------------------------------------------------


@pytest.mark.parametrize("kind", ["payment_intent.succeeded", "checkout.session.completed"])
def test_a_payment_naming_another_users_invoice_is_flagged_and_never_captured(
    order, catalog, stripe_plugin, django_capture_on_commit_callbacks, captured_signals, kind
):
    # Given someone else's payment at Stripe whose metadata names our customer's invoice, for
    # the full amount, but which is none of that invoice's sessions or payments
    from accounts.tests.factories import UserFactory

    stranger = UserFactory()
    intent_id = f"pi_{uuid.uuid4().hex[:24]}"
    metadata = {"invoice_id": order.invoice_id, "user_id": str(stranger.pk)}
    if kind == "payment_intent.succeeded":
        obj = {
            "id": intent_id,
            "object": "payment_intent",
            "amount": TOTAL_MINOR,
            "amount_received": TOTAL_MINOR,
            "currency": "eur",
            "status": "succeeded",
            "metadata": metadata,
            "customer": None,
            "payment_method": f"pm_{uuid.uuid4().hex[:24]}",
            "setup_future_usage": None,
        }
    else:
        obj = {
            "id": f"cs_test_{uuid.uuid4().hex[:24]}",
            "object": "checkout.session",
            "mode": "payment",
            "status": "complete",
            "payment_status": "paid",
            "payment_intent": intent_id,
            "amount_total": TOTAL_MINOR,
            "currency": "eur",
            "customer": None,
            "client_reference_id": order.invoice_id,
            "metadata": metadata,
        }

    # When Stripe's signed event arrives
    with django_capture_on_commit_callbacks(execute=True):
        response = _deliver(_event(kind, obj))

    # Then the invoice is not paid, staff are told which payment named it, nothing is captured
    assert (response.status_code, response.json()) == (200, {"received": True})
    invoice = order.invoice()
    assert (invoice.status, invoice.payment_ref) == (InvoiceStatus.PENDING, None)
    assert invoice.needs_review is True
    assert invoice.review_reason == (
        f"Payment {intent_id} of 39.99 EUR via stripe names this invoice but is none of its "
        "sessions or charges; not captured"
    )
    assert [(p.status, p.external_id) for p in order.payments()] == [(PaymentStatus.PENDING, None)]
    assert not Payment.objects.filter(external_id=intent_id).exists()
    assert not Payment.objects.filter(status=PaymentStatus.CAPTURED).exists()
    assert captured_signals == []
    assert Subscription.objects.get(user=order.user).status == SubscriptionStatus.PENDING


# --- 4. exactly once under concurrent redelivery ------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_fifty_concurrent_deliveries_of_one_event_capture_once(
    order, stripe_plugin, live_url, captured_signals
):
    # Given Stripe's event for the paid session, delivered 50 times at once (Stripe retries,
    # load balancers duplicate); each delivery holds a database connection while it waits
    deliveries = 50
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT current_setting('max_connections')::int - count(*) FROM pg_stat_activity"
        )
        free = cursor.fetchone()[0]
    assert free > deliveries + 5, f"PostgreSQL has only {free} free connections"
    session = _paid_at_stripe(stripe_plugin, order.session_id)
    body = _event("checkout.session.completed", session)
    url = f"{live_url}{WEBHOOK}"

    # When they all arrive together, each on its own connection
    answers = _concurrently([lambda: _post_live(url, body)] * deliveries)

    # Then one delivery processed it and the others were acknowledged as duplicates
    assert sorted(answers, key=lambda answer: len(answer[1])) == [(200, {"received": True})] + [
        (200, {"received": True, "duplicate": True})
    ] * (deliveries - 1)
    event = ProviderEvent.objects.get()
    assert (event.status, event.attempts, event.event_type) == (
        ProviderEventStatus.PROCESSED,
        1,
        "checkout.session.completed",
    )
    _assert_paid_once(order, session["payment_intent"], captured_signals)


# --- 5. the session's and the PaymentIntent's event of one payment -------------------------------


def _both_events(server, order: Order) -> tuple[str, bytes, bytes]:
    """The paid session's checkout.session.completed and its PaymentIntent's
    payment_intent.succeeded (carrying the metadata our gateway sent, with payment_id)."""
    session = _paid_at_stripe(server, order.session_id)
    intent = _stripe(server, "GET", f"/v1/payment_intents/{session['payment_intent']}")
    assert (intent["object"], intent["status"], intent["amount"]) == (
        "payment_intent",
        "succeeded",
        TOTAL_MINOR,
    )
    # Stripe's succeeded PaymentIntent carries amount_received; the test server leaves it out.
    intent.setdefault("amount_received", intent["amount"])
    assert intent["metadata"]["payment_id"] == order.payment_id
    return (
        intent["id"],
        _event("checkout.session.completed", session),
        _event("payment_intent.succeeded", intent),
    )


@pytest.mark.parametrize("first", ["checkout.session.completed", "payment_intent.succeeded"])
def test_the_session_and_intent_events_of_one_payment_capture_once_in_either_order(
    order, stripe_plugin, captured_signals, django_capture_on_commit_callbacks, first
):
    intent_id, session_event, intent_event = _both_events(stripe_plugin, order)
    bodies = [session_event, intent_event]
    if first == "payment_intent.succeeded":
        bodies.reverse()

    with django_capture_on_commit_callbacks(execute=True):
        answers = [_deliver(body) for body in bodies]

    # Two events, both processed (neither is a duplicate of the other), one capture.
    assert [(answer.status_code, answer.json()) for answer in answers] == [
        (200, {"received": True})
    ] * 2
    assert ProviderEvent.objects.filter(status=ProviderEventStatus.PROCESSED).count() == 2
    _assert_paid_once(order, intent_id, captured_signals)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_session_and_intent_events_arriving_together_capture_once(
    order, stripe_plugin, live_url, captured_signals
):
    intent_id, session_event, intent_event = _both_events(stripe_plugin, order)
    url = f"{live_url}{WEBHOOK}"

    # Each event delivered five times, all ten at once.
    answers = _concurrently(
        [lambda: _post_live(url, session_event)] * 5 + [lambda: _post_live(url, intent_event)] * 5
    )

    assert (
        sorted(answers, key=lambda answer: len(answer[1]))
        == [(200, {"received": True})] * 2 + [(200, {"received": True, "duplicate": True})] * 8
    )
    assert [(e.status, e.attempts) for e in ProviderEvent.objects.all()] == [
        (ProviderEventStatus.PROCESSED, 1)
    ] * 2
    _assert_paid_once(order, intent_id, captured_signals)


# --- 6. concurrent create-session -------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_ten_concurrent_create_session_calls_open_one_stripe_session(
    catalog, stripe_plugin, live_url, monkeypatch
):
    from accounts.tests.factories import UserFactory

    # Given a customer's open invoice without a session yet; the test server answers in
    # milliseconds, so a request that waits for another's session never needs 20 s
    monkeypatch.setattr(sessions, "CLAIM_WAIT_SECONDS", 3.0)
    user = UserFactory()
    invoice_id = _checkout(_client(user), catalog)
    stripe_plugin.clear_requests()
    authorization = bearer(user)["HTTP_AUTHORIZATION"]

    # The second request to lock the invoice is slow (a busy database) before it looks at the
    # invoice's payments, so the first request records its session in exactly that window:
    # recording must not lock the invoice after the payment while claiming locks them the
    # other way round (a deadlock: one request 500, the others 409 after waiting). Without the
    # pause the requests meet in that window in most runs, not in every run.
    real_check = sessions._check_payable
    checks = []
    checks_lock = threading.Lock()

    def check_payable(invoice, gateway, name):
        with checks_lock:
            checks.append(name)
            second = len(checks) == 2
        if second:
            time.sleep(0.3)
        return real_check(invoice, gateway, name)

    monkeypatch.setattr(sessions, "_check_payable", check_payable)

    def create_session() -> tuple[int, dict]:
        with requests.Session() as http:
            http.trust_env = False
            response = http.post(
                f"{live_url}{CREATE_SESSION}",
                json={"invoice_id": invoice_id},
                headers={"Authorization": authorization},
                timeout=WAIT_SECONDS,
            )
        return response.status_code, response.json()

    # When the customer's app asks ten times at once (double clicks, retries, tabs)
    answers = _concurrently([create_session] * 10)

    # Then all get the one session Stripe created once
    assert [status for status, _body in answers] == [200] * 10, Counter(
        (status, body.get("error")) for status, body in answers
    )
    assert len({body["session_id"] for _status, body in answers}) == 1
    assert len({body["payment_id"] for _status, body in answers}) == 1
    session_id = answers[0][1]["session_id"]
    assert session_id.startswith("cs_")
    [post] = _checkout_session_posts(stripe_plugin)
    [payment] = Payment.objects.filter(invoice_id=invoice_id)
    assert (payment.session_id, payment.status, str(payment.pk)) == (
        session_id,
        PaymentStatus.PENDING,
        answers[0][1]["payment_id"],
    )
    assert post["idempotency_key"] == payment.idempotency_key


def test_a_session_created_at_stripe_but_not_recorded_is_recovered_by_the_next_request(
    catalog, stripe_plugin, monkeypatch
):
    from accounts.tests.factories import UserFactory

    # Given recording the session Stripe created fails once (the database connection drops)
    monkeypatch.setattr(sessions, "CLAIM_WAIT_SECONDS", 1.0)
    real_record = sessions._record
    failures = []

    def record_failing_once(*args, **kwargs):
        if not failures:
            failures.append(args[0])
            raise OperationalError("server closed the connection unexpectedly")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(sessions, "_record", record_failing_once)
    client = _client(UserFactory())
    invoice_id = _checkout(client, catalog)

    first = client.post(CREATE_SESSION, {"invoice_id": invoice_id}, format="json")
    assert (first.status_code, first.json()) == (
        500,
        {"error": "Internal server error", "code": "server_error"},
    )

    # When the customer tries again
    second = client.post(CREATE_SESSION, {"invoice_id": invoice_id}, format="json")

    # Then the call is repeated with the claim's key and Stripe answers with the session it
    # created the first time: one session at Stripe, recorded on the one claim
    assert second.status_code == 200, second.json()
    posts = _checkout_session_posts(stripe_plugin)
    assert [post["replayed"] for post in posts] == [False, True]
    assert posts[0]["idempotency_key"] == posts[1]["idempotency_key"]
    [at_stripe] = _stripe(stripe_plugin, "GET", "/v1/checkout/sessions")["data"]
    [payment] = Payment.objects.filter(invoice_id=invoice_id)
    assert (payment.session_id, payment.call_started_at) == (at_stripe["id"], None)
    assert second.json()["session_id"] == at_stripe["id"]


# --- 7. a processing failure is retried by Stripe's redelivery -------------------------------


def test_a_delivery_whose_processing_fails_is_500_and_the_redelivery_processes_it(
    order, stripe_plugin, monkeypatch
):
    # Given the capture fails once (a deadlock, a lost connection)
    real_capture = provider_webhooks.invoice_capture
    calls = []

    def failing_once(**kwargs):
        calls.append(kwargs["invoice_id"])
        if len(calls) == 1:
            raise RuntimeError("database went away")
        return real_capture(**kwargs)

    monkeypatch.setattr(provider_webhooks, "invoice_capture", failing_once)
    session = _paid_at_stripe(stripe_plugin, order.session_id)
    body = _event("checkout.session.completed", session)

    # When Stripe delivers the event
    first = _deliver(body)

    # Then it is told to retry, the event is kept unprocessed and nothing was paid
    assert (first.status_code, first.json()) == (
        500,
        {"error": "Internal server error", "code": "server_error"},
    )
    event = ProviderEvent.objects.get()
    assert (event.status, event.attempts, event.error, event.processed_at) == (
        ProviderEventStatus.FAILED,
        1,
        "RuntimeError: database went away",
        None,
    )
    assert order.invoice().status == InvoiceStatus.PENDING
    assert [p.status for p in order.payments()] == [PaymentStatus.PENDING]

    # When Stripe redelivers the same body, then it is processed and pays the invoice
    second = _deliver(body)
    assert (second.status_code, second.json()) == (200, {"received": True})
    event.refresh_from_db()
    assert (event.status, event.attempts, event.error) == (ProviderEventStatus.PROCESSED, 2, None)
    invoice = order.invoice()
    assert (invoice.status, invoice.payment_ref) == (InvoiceStatus.PAID, session["payment_intent"])

    # And a third delivery is a duplicate
    third = _deliver(body)
    assert (third.status_code, third.json()) == (200, {"received": True, "duplicate": True})
    assert len(calls) == 2


# --- 8. an expired session ------------------------------------------------------------------------


def test_an_expired_session_fails_its_payment_and_the_next_pay_opens_a_new_session(
    order, stripe_plugin
):
    # Given the customer never paid and Stripe expired the session
    expired = _stripe(stripe_plugin, "POST", f"/v1/checkout/sessions/{order.session_id}/expire")
    assert (expired["status"], expired["payment_status"]) == ("expired", "unpaid")

    # When Stripe's checkout.session.expired arrives
    response = _deliver(_event("checkout.session.expired", expired))

    # Then that attempt failed, and the invoice is still payable
    assert (response.status_code, response.json()) == (200, {"received": True})
    [payment] = order.payments()
    assert (str(payment.pk), payment.status, payment.failure_reason) == (
        order.payment_id,
        PaymentStatus.FAILED,
        "Checkout session expired",
    )
    invoice = order.invoice()
    assert (invoice.status, invoice.needs_review, invoice.is_payable) == (
        InvoiceStatus.PENDING,
        False,
        True,
    )

    # And paying again opens a new session with a new claim
    again = _pay(order.client, order.invoice_id)
    assert again["session"]["session_id"] != order.session_id
    assert again["payment"]["id"] != order.payment_id
    assert [(p.status, p.session_id) for p in order.payments()] == [
        (PaymentStatus.FAILED, order.session_id),
        (PaymentStatus.PENDING, again["session"]["session_id"]),
    ]
    assert len(_checkout_session_posts(stripe_plugin)) == 2


# --- 9. session status ----------------------------------------------------------------------------


def test_session_status_captures_a_session_paid_at_stripe_without_any_webhook(
    order, stripe_plugin, captured_signals, django_capture_on_commit_callbacks
):
    # Given the customer paid on Stripe's page and no webhook reached us (none is registered)
    session = _paid_at_stripe(stripe_plugin, order.session_id)

    # When the app returns from Stripe and asks for the session's status
    with django_capture_on_commit_callbacks(execute=True):
        response = order.client.get(f"{API}/plugins/stripe/session-status/{order.session_id}")

    # Then the status check itself, a verified answer from Stripe, paid the invoice
    assert response.status_code == 200, response.content
    assert response.json() == {
        "session_id": order.session_id,
        "status": "complete",
        "payment_status": "paid",
        "invoice_id": order.invoice_id,
        "invoice_status": "PAID",
        "amount_total": "39.99",  # the currency's places, like every amount of the API
        "currency": "EUR",
    }
    assert ProviderEvent.objects.count() == 0
    _assert_paid_once(order, session["payment_intent"], captured_signals)


def test_session_status_of_another_users_or_an_unknown_session_is_404(order, stripe_plugin):
    from accounts.tests.factories import UserFactory

    other = _client(UserFactory())

    someone_elses = other.get(f"{API}/plugins/stripe/session-status/{order.session_id}")
    unknown = order.client.get(f"{API}/plugins/stripe/session-status/cs_test_unknown")

    assert (someone_elses.status_code, someone_elses.json()) == (404, SESSION_NOT_FOUND)
    assert (unknown.status_code, unknown.json()) == (404, SESSION_NOT_FOUND)
    # Only the owner's status check may ask Stripe about the session.
    assert not [
        entry
        for entry in stripe_plugin.requests()
        if entry["method"] == "GET" and entry["path"].startswith("/v1/checkout/sessions/")
    ]


# --- 10. enabling and disabling the plugin --------------------------------------------------------


def test_enabling_registers_the_stripe_method_and_disabling_closes_its_routes(order, stripe_plugin):
    from plugins.services import plugin_disable

    # Enabling (the fixture) registered the payment method checkout offers.
    method = PaymentMethod.objects.get(code="stripe")
    assert (method.plugin_id, method.is_active) == ("stripe", True)
    session = _paid_at_stripe(stripe_plugin, order.session_id)
    body = _event("checkout.session.completed", session)

    plugin_disable(name="stripe")

    webhook = _deliver(body)
    create = order.client.post(CREATE_SESSION, {"invoice_id": order.invoice_id}, format="json")
    status = order.client.get(f"{API}/plugins/stripe/session-status/{order.session_id}")
    for response in (webhook, create, status):
        assert (response.status_code, response.json()) == (404, NOT_ENABLED)
    assert ProviderEvent.objects.count() == 0
    assert order.invoice().status == InvoiceStatus.PENDING


def test_a_paying_event_costs_a_constant_handful_of_queries(
    db, stripe_settings, django_assert_max_num_queries
):
    from billing.invoices.models import Payment as PaymentRow
    from billing.invoices.tests.factories import custom_draft, issue_invoice
    from plugins.services import plugin_enable

    plugin_enable(name="stripe")
    invoice = issue_invoice(drafts=[custom_draft("11.90"), custom_draft("5.00")])
    claim = PaymentRow.objects.create(
        invoice=invoice,
        user_id=invoice.user_id,
        gateway="stripe",
        amount=invoice.total_amount,
        currency="EUR",
        session_id="cs_queries",
        provider_data={"kind": "session"},
    )
    body = _event(
        "checkout.session.completed",
        {
            "id": "cs_queries",
            "object": "checkout.session",
            "payment_intent": "pi_queries",
            "payment_status": "paid",
            "status": "complete",
            "amount_total": 1690,
            "currency": "eur",
            "customer": None,
            "metadata": {"invoice_id": str(invoice.pk), "payment_id": str(claim.pk)},
        },
    )
    _deliver(_event("customer.created", {"id": "cus_warm"}))  # plugin state cached

    # The event insert, the tie, the invoice and payment locks, two updates, the audit rows,
    # the lines, the currency's places (once per process), and the savepoint pair that stands
    # for BEGIN and COMMIT inside the test's transaction: the same for any number of lines.
    with django_assert_max_num_queries(11):
        response = _deliver(body)

    assert response.json() == {"received": True}
    invoice.refresh_from_db()
    assert (invoice.status, invoice.payment_ref) == ("PAID", "pi_queries")


def test_the_places_the_catalog_keeps_for_a_currency_drive_its_amounts_both_ways(
    db, stripe_settings
):
    import stripe

    from billing.catalog.tests.factories_geography import CurrencyFactory
    from billing.invoices.models import Payment as PaymentRow
    from billing.invoices.tests.factories import custom_draft, issue_invoice
    from plugins.services import plugin_enable
    from plugins.stripe.gateway import StripeGateway

    plugin_enable(name="stripe")
    # A currency the catalog keeps without minor units, whatever its code says.
    whole = CurrencyFactory(decimal_places=0)
    invoice = issue_invoice(drafts=[custom_draft("1690")], currency=whole)
    claim = PaymentRow.objects.create(
        invoice=invoice,
        user_id=invoice.user_id,
        gateway="stripe",
        amount=invoice.total_amount,
        currency=whole.code,
        idempotency_key="whole-units",
        provider_data={"kind": "session"},
    )

    # Out: the session asks Stripe for 1690 whole units, not 169000.
    gateway = StripeGateway()
    request = sessions.payment_request_for(invoice, gateway=gateway, payment=claim)
    session = gateway.create_session(request)
    PaymentRow.objects.filter(pk=claim.pk).update(session_id=session.session_id)
    at_stripe = stripe.checkout.Session.retrieve(session.session_id)
    assert request.currency_places == 0
    assert (at_stripe.amount_total, at_stripe.currency) == (1690, whole.code.lower())

    # In: Stripe's 1690 pays the invoice of 1690, and its refunded 500 are 500.
    paid = _deliver(
        _event(
            "checkout.session.completed",
            {
                "id": session.session_id,
                "object": "checkout.session",
                "payment_intent": "pi_whole",
                "payment_status": "paid",
                "status": "complete",
                "amount_total": 1690,
                "currency": whole.code.lower(),
                "customer": None,
                "metadata": {"invoice_id": str(invoice.pk), "payment_id": str(claim.pk)},
            },
        )
    )
    refunded = _deliver(
        _event(
            "charge.refunded",
            {
                "id": "ch_whole",
                "object": "charge",
                "payment_intent": "pi_whole",
                "amount_refunded": 500,
                "currency": whole.code.lower(),
                "refunds": {"data": [{"id": "re_whole"}]},
            },
        )
    )

    assert (paid.status_code, refunded.status_code) == (200, 200)
    claim.refresh_from_db()
    invoice.refresh_from_db()
    assert (claim.status, claim.amount, claim.refunded_amount) == (
        "PARTIALLY_REFUNDED",
        Decimal("1690"),
        Decimal("500"),
    )
    assert (invoice.status, invoice.refunded_amount, invoice.needs_review) == (
        "PAID",
        Decimal("500"),
        False,
    )


def test_an_event_a_billing_rule_refuses_is_noted_and_flags_the_invoice(db, stripe_settings):
    from billing.invoices.models import Payment as PaymentRow
    from billing.invoices.models import ProviderEvent, ProviderEventStatus
    from billing.invoices.tests.factories import custom_draft, issue_invoice
    from plugins.services import plugin_enable

    plugin_enable(name="stripe")
    invoice = issue_invoice(drafts=[custom_draft("10.00")])
    PaymentRow.objects.create(
        invoice=invoice,
        user_id=invoice.user_id,
        gateway="stripe",
        external_id="pi_unpaid",
        amount=invoice.total_amount,
        currency="EUR",
    )
    # Stripe reports a refund of a payment whose invoice was never paid here.
    body = _event(
        "charge.refunded",
        {
            "id": "ch_unpaid",
            "object": "charge",
            "payment_intent": "pi_unpaid",
            "amount_refunded": 500,
            "currency": "eur",
        },
    )

    first = _deliver(body)
    again = _deliver(body)

    assert (first.status_code, first.json()) == (200, {"received": True})
    assert (again.status_code, again.json()) == (200, {"received": True, "duplicate": True})
    stored = ProviderEvent.objects.get()
    assert (stored.status, stored.error) == (
        ProviderEventStatus.PROCESSED,
        "Refused: Only paid invoices can be refunded",
    )
    invoice.refresh_from_db()
    assert invoice.status == "PENDING"
    assert invoice.needs_review is True
    assert invoice.review_reason == (
        f"stripe event charge.refunded ({stored.event_id}) could not be applied: "
        "Only paid invoices can be refunded"
    )


def test_a_repeated_session_event_does_not_ask_stripe_again(db, stripe_settings):
    import stripe

    from plugins.services import plugin_enable

    plugin_enable(name="stripe")
    customer = stripe.Customer.create(email="kept@example.com")
    method = stripe.PaymentMethod.create(
        type="card",
        card={"number": "4242424242424242", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
    )
    intent = stripe.PaymentIntent.create(
        amount=3999,
        currency="eur",
        customer=customer.id,
        payment_method=method.id,
        setup_future_usage="off_session",
        confirm=True,
    )
    body = _event(
        "checkout.session.completed",
        {
            "id": "cs_repeat",
            "object": "checkout.session",
            "payment_intent": intent.id,
            "payment_status": "paid",
            "amount_total": 3999,
            "currency": "eur",
            "customer": customer.id,
            "metadata": {},
        },
    )
    stripe_settings.clear_requests()

    first = _deliver(body)
    again = _deliver(body)

    assert first.json() == {"received": True}
    assert again.json() == {"received": True, "duplicate": True}
    reads = [entry["path"] for entry in stripe_settings.requests() if entry["method"] == "GET"]
    assert reads == [f"/v1/payment_intents/{intent.id}"]
