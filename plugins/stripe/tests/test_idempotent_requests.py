"""An Idempotency-Key on the routes that call Stripe: a request killed at any point and retried
with the same key after the stale window resumes where it stopped, so Stripe opens one session
and refunds once; two identical requests at the same moment do it once too.

These views are resumable: the key is claimed and committed first, the session or refund claim
is committed before Stripe is called (with a key fixed before the call), and the outcome is
recorded afterwards. The process is killed for real (``os._exit`` in a process of its own,
``tests.support.crash``), so nothing it had not committed survives.
"""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal

import pytest
import stripe
import time_machine
from rest_framework.test import APIClient

from accounts.jwt import issue_pair
from billing.invoices.models import (
    CreditNote,
    InvoiceStatus,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from plugins.stripe.tests.conftest import checkout_with_stripe
from plugins.stripe.tests.test_crash_points import REFUNDS_PATH, SESSION_PATHS, served_posts
from plugins.stripe.tests.test_refunds import captured_payment, pay_by_stripe
from tests.support.crash import post_and_die
from tests.support.race import run_together
from vbwd.models import IdempotencyRecord

D = Decimal
API = "/api/v1"
CREATE_SESSION = f"{API}/plugins/stripe/create-session"
SESSIONS_PATH = SESSION_PATHS["hosted"]
IN_PROGRESS = IdempotencyRecord.Status.IN_PROGRESS
SESSION_CRASH_POINTS = {
    "stripe answered, the session not recorded": "billing.invoices.services.sessions:_record",
    "the session recorded, the answer not stored": "vbwd.idempotency:finish",
}
REFUND_CRASH_POINTS = {
    "stripe refunded, the refund not recorded": "billing.invoices.services.refunds:"
    "_refund_at_gateway",
    "the refund recorded, the answer not stored": "billing.invoices.services.refunds:"
    "refund_claim_complete",
}

postgres = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _post(client, path, body, key):
    return client.post(
        path, data=json.dumps(body), content_type="application/json", HTTP_IDEMPOTENCY_KEY=key
    )


def _after_the_stale_window(settings):
    return time_machine.travel(
        timedelta(seconds=settings.VBWD_IDEMPOTENCY_STALE_SECONDS + 1), tick=True
    )


def _in_progress(response) -> bool:
    return (
        response.status_code == 409
        and response.json()["code"] == "idempotency_in_progress"
        and response.headers["Retry-After"] == "1"
    )


@pytest.mark.parametrize(
    "crash_at",
    [
        pytest.param(point, id=label, marks=postgres)
        for label, point in SESSION_CRASH_POINTS.items()
    ],
)
def test_a_session_request_killed_midway_is_resumed_with_stripes_one_session(
    stripe_plugin, catalog, user_client, settings, crash_at
):
    # given a PENDING invoice payable with Stripe
    invoice_id = checkout_with_stripe(user_client, catalog)["id"]
    body = {"invoice_id": invoice_id}
    key = f"{user_client.user.pk}:open-1"

    # when the process opening its session dies at the crash point
    crash = post_and_die(
        CREATE_SESSION,
        body,
        token=issue_pair(user_client.user)["token"],
        key="open-1",
        crash_at=crash_at,
    )

    # then Stripe opened one session for the claim's key; the request's key is still claimed
    assert crash.crashed, crash.output
    assert served_posts(stripe_plugin, SESSIONS_PATH) == [(key, False, 200)]
    claim = Payment.objects.get(invoice_id=invoice_id)
    assert (claim.status, claim.idempotency_key) == (PaymentStatus.PENDING, key)
    assert IdempotencyRecord.objects.get(key="open-1").status == IN_PROGRESS

    # when the customer retries at once, then after the stale window, then once more
    blocked = _post(user_client, CREATE_SESSION, body, "open-1")
    with _after_the_stale_window(settings):
        resumed = _post(user_client, CREATE_SESSION, body, "open-1")
        replayed = _post(user_client, CREATE_SESSION, body, "open-1")

    # then the first retry waits; the next resumes with that one session (Stripe answered the
    # repeated key from its first call, if it was asked again at all)
    assert _in_progress(blocked)
    assert resumed.status_code == 200, resumed.content
    assert "Idempotent-Replayed" not in resumed.headers
    claim.refresh_from_db()
    assert claim.session_id.startswith("cs_")
    assert resumed.json()["session_id"] == claim.session_id
    assert resumed.json()["payment_id"] == str(claim.pk)
    assert Payment.objects.filter(invoice_id=invoice_id).count() == 1
    assert [replayed for _key, replayed, _status in served_posts(stripe_plugin, SESSIONS_PATH)] == (
        [False, True] if crash_at.endswith(":_record") else [False]
    )
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert replayed.content == resumed.content


@pytest.mark.parametrize(
    "crash_at",
    [pytest.param(at, id=label, marks=postgres) for label, at in REFUND_CRASH_POINTS.items()],
)
def test_a_refund_request_killed_after_stripe_refunded_is_resumed_without_a_second_refund(
    stripe_plugin, catalog, user_client, admin_client, settings, crash_at
):
    # given an invoice paid at Stripe
    invoice = pay_by_stripe(user_client, catalog, stripe_plugin)
    payment = captured_payment(invoice)
    refund = f"{API}/admin/invoices/{invoice.pk}/refund"
    body = {"amount": "5.00"}

    # when staff refund 5.00 and the process dies once Stripe has refunded
    crash = post_and_die(
        refund,
        body,
        token=issue_pair(admin_client.user)["token"],
        key="refund-1",
        crash_at=crash_at,
        after=True,
    )

    # then Stripe refunded once, for the claim's key, which is the request's recovery point
    assert crash.crashed, crash.output
    claim = Refund.objects.get(invoice=invoice)
    key = f"refund:{claim.pk}"
    assert served_posts(stripe_plugin, REFUNDS_PATH) == [(key, False, 200)]
    record = IdempotencyRecord.objects.get(key="refund-1")
    assert (record.status, record.recovery) == (IN_PROGRESS, {"refund": str(claim.pk)})

    # when staff retry after the stale window
    with _after_the_stale_window(settings):
        resumed = _post(admin_client, refund, body, "refund-1")

    # then the retry answers with that refund: recorded once, refunded at Stripe once
    assert resumed.status_code == 200, resumed.content
    assert resumed.json()["message"] == "Partial refund of 5.00 EUR issued"
    claim.refresh_from_db()
    assert claim.status == RefundStatus.SUCCEEDED
    assert resumed.json()["credit_note"]["id"] == str(claim.credit_note_id)
    assert CreditNote.objects.filter(invoice=invoice).count() == 1
    assert [replayed for _key, replayed, _status in served_posts(stripe_plugin, REFUNDS_PATH)] == (
        [False, True] if crash_at.endswith(":_refund_at_gateway") else [False]
    )
    assert [r.amount for r in stripe.Refund.list(payment_intent=payment.external_id).data] == [500]
    invoice.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.PAID, D("5.00"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_identical_session_requests_at_once_open_one_session(
    stripe_plugin, catalog, user_client, settings
):
    # given a PENDING invoice payable with Stripe
    settings.VBWD_RATE_LIMIT_ENABLED = False
    invoice_id = checkout_with_stripe(user_client, catalog)["id"]
    token = issue_pair(user_client.user)["token"]

    def send():
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return _post(client, CREATE_SESSION, {"invoice_id": invoice_id}, "open-1")

    # when the customer's browser sends the same request twice at the same moment
    responses = run_together([send, send], timeout=60)

    # then one opened the session; the other replays it or is told the first is still running
    assert not [r for r in responses if isinstance(r, Exception)], responses
    originals = [
        r for r in responses if r.status_code == 200 and "Idempotent-Replayed" not in r.headers
    ]
    assert len(originals) == 1, [r.content for r in responses]
    (other,) = [r for r in responses if r is not originals[0]]
    if other.status_code == 200:
        assert other.headers["Idempotent-Replayed"] == "true"
        assert other.content == originals[0].content
    else:
        assert _in_progress(other), other.content
    key = f"{user_client.user.pk}:open-1"
    assert served_posts(stripe_plugin, SESSIONS_PATH) == [(key, False, 200)]
    claim = Payment.objects.get(invoice_id=invoice_id)
    assert originals[0].json()["session_id"] == claim.session_id
