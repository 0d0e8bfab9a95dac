"""Exactly-once capture and gapless numbering under concurrent requests: row locks
that only PostgreSQL enforces, so these run there only."""

import threading
from decimal import Decimal

import pytest
from django.db.models import Sum
from django.utils import timezone

from audit.models import AuditEntry
from billing.invoices import signals
from billing.invoices.models import Invoice, InvoiceStatus, Payment, PaymentStatus
from billing.invoices.services import CaptureOutcome, invoice_capture
from billing.invoices.tests.factories import (
    PlanFactory,
    TokenBundleFactory,
    bundle_draft,
    bundle_purchase,
    buyer,
    custom_draft,
    de_vat,
    issue_invoice,
    subscription,
    subscription_draft,
)
from billing.subscriptions.models import SubscriptionStatus
from tests.support.race import run_together
from tokens.models import PurchaseStatus, TokenTransaction
from tokens.services import balance_of

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_twenty_concurrent_captures_pay_and_activate_exactly_once():
    de_vat()
    customer = buyer()
    sub = subscription(
        customer, PlanFactory(price=Decimal("29.99"), features={"default_tokens": 500})
    )
    purchase = bundle_purchase(customer, TokenBundleFactory(token_amount=1000, price=Decimal("10")))
    invoice = issue_invoice(customer, [subscription_draft(sub), bundle_draft(purchase)])
    assert invoice.total_amount == Decimal("47.59")
    sent: list[object] = []
    lock = threading.Lock()

    def on_captured(sender, invoice, payment, **kwargs):
        with lock:
            sent.append(payment.external_id)

    # Half the requests are retries of one provider payment, half are other payments.
    external_ids = ["pi_same"] * 10 + [f"pi_{n}" for n in range(10)]

    def capture(external_id):
        return lambda: invoice_capture(
            invoice_id=invoice.pk,
            gateway="testpay",
            external_id=external_id,
            amount=Decimal("47.59"),
            currency="EUR",
        )

    signals.payment_captured.connect(on_captured, weak=False, dispatch_uid="test-race")
    try:
        results = run_together([capture(external_id) for external_id in external_ids])
    finally:
        signals.payment_captured.disconnect(dispatch_uid="test-race")

    assert [result for result in results if isinstance(result, Exception)] == []
    outcomes = [result.outcome for result in results]
    assert outcomes.count(CaptureOutcome.CAPTURED) == 1
    assert set(outcomes) <= {
        CaptureOutcome.CAPTURED,
        CaptureOutcome.ALREADY_CAPTURED,
        CaptureOutcome.ALREADY_PAID,
    }
    winner = next(result for result in results if result.outcome == CaptureOutcome.CAPTURED)
    stored = Invoice.objects.get(pk=invoice.pk)
    assert stored.status == InvoiceStatus.PAID
    assert stored.payment_ref == winner.payment.external_id
    # Retries of the winning payment are replays; any other payment is recorded and flagged.
    for external_id, result in zip(external_ids, results, strict=True):
        if external_id == stored.payment_ref:
            assert result.outcome in (CaptureOutcome.CAPTURED, CaptureOutcome.ALREADY_CAPTURED)
        else:
            assert result.outcome == CaptureOutcome.ALREADY_PAID
    assert stored.needs_review is True
    assert Payment.objects.filter(invoice=invoice).count() == 11  # one row per provider payment
    assert Payment.objects.filter(invoice=invoice, status=PaymentStatus.CAPTURED).count() == 11

    assert AuditEntry.objects.filter(action="invoice.paid", object_id=str(invoice.pk)).count() == 1
    assert AuditEntry.objects.filter(action="subscription.activated").count() == 1
    assert AuditEntry.objects.filter(action="token_bundle_purchase.completed").count() == 1
    sub.refresh_from_db()
    purchase.refresh_from_db()
    assert sub.status == SubscriptionStatus.ACTIVE
    assert purchase.status == PurchaseStatus.COMPLETED

    ledger = TokenTransaction.objects.filter(user=customer)
    assert sorted(ledger.values_list("amount", flat=True)) == [500, 1000]
    assert ledger.values("idempotency_key").distinct().count() == 2
    assert balance_of(customer) == 1500
    assert ledger.aggregate(total=Sum("amount"))["total"] == 1500
    assert sent == [stored.payment_ref]


def test_thirty_two_issuers_of_a_hundred_invoices_leave_no_gap_and_no_duplicate():
    de_vat()
    threads, per_thread = 32, 100
    customers = [buyer() for _ in range(threads)]
    year = timezone.now().year

    def issue_many(customer):
        def run():
            return [
                issue_invoice(customer, [custom_draft("1.00")]).invoice_number
                for _ in range(per_thread)
            ]

        return run

    results = run_together([issue_many(customer) for customer in customers])

    assert [result for result in results if isinstance(result, Exception)] == []
    numbers = [number for result in results for number in result]
    expected = [f"INV-{year}-{sequence:06d}" for sequence in range(1, threads * per_thread + 1)]
    assert len(numbers) == len(set(numbers)) == threads * per_thread
    assert sorted(numbers) == expected
    assert sorted(Invoice.objects.values_list("invoice_number", flat=True)) == expected
    # Each issuer saw its own numbers in increasing order.
    for result in results:
        assert result == sorted(result)
