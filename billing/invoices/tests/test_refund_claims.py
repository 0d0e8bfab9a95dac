"""Refunds through a gateway are claimed before the provider is called: the claim's key is sent
again by every retry (staff asking again, the pending-refund job), so a refund the provider made
but never confirmed is recorded once and never made twice."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
import time_machine
from django.utils import timezone

from audit.models import ActorType
from billing.invoices.models import CreditNote, Invoice, InvoiceStatus, Refund, RefundStatus
from billing.invoices.services import invoice_capture
from billing.invoices.services.refunds import invoice_refund, refunds_complete_pending
from billing.invoices.tests.factories import buyer, custom_draft, issue_invoice
from plugins import gateway as gateways
from plugins import state as plugin_state
from vbwd.exceptions import DomainError

pytestmark = pytest.mark.django_db


class Provider(gateways.PaymentGateway):
    """Remembers refunds by idempotency key, as a real provider does; ``script`` says what the
    next calls do: ``ok``, ``refuse`` (a definite refusal), ``silent`` (the refund happens, the
    answer is lost) or ``down`` (nothing reaches the provider)."""

    name = "claimpay"

    def __init__(self) -> None:
        self.keys: list[str | None] = []
        self.refunds: dict[str, gateways.RefundResult] = {}
        self.script: list[str] = []

    def create_session(self, request):
        raise gateways.GatewayError("not used here")

    def session_status(self, session_id):
        raise gateways.GatewayError("not used here")

    def parse_webhook(self, headers, body):
        raise gateways.InvalidSignature("not used here")

    def refund(
        self, *, external_payment_id, amount, currency, currency_places, idempotency_key=None
    ):
        self.keys.append(idempotency_key)
        step = self.script.pop(0) if self.script else "ok"
        if step == "down":
            raise gateways.ProviderUnavailable("connection refused")
        if step == "refuse":
            raise gateways.GatewayError("charge_already_refunded")
        if idempotency_key not in self.refunds:
            self.refunds[idempotency_key] = gateways.RefundResult(
                refund_id=f"re_{len(self.refunds) + 1}",
                status="succeeded",
                amount=amount,
                currency=currency,
            )
        if step == "silent":
            raise gateways.ProviderUnavailable("read timed out")
        return self.refunds[idempotency_key]


@pytest.fixture
def provider(monkeypatch):
    instance = Provider()
    monkeypatch.setattr(
        gateways,
        "gateway_for",
        lambda name: instance if name == "claimpay" else pytest.fail(f"gateway {name}"),
    )
    monkeypatch.setattr(plugin_state, "is_enabled", lambda name: name == "claimpay")
    return instance


@pytest.fixture
def paid():
    invoice = issue_invoice(buyer(), [custom_draft("20.00")])
    result = invoice_capture(
        invoice_id=invoice.pk,
        gateway="claimpay",
        external_id="pay_1",
        amount=invoice.total_amount,
        currency=invoice.currency,
        actor_type=ActorType.PROVIDER,
        actor_label="claimpay",
    )
    assert result.paid
    return Invoice.objects.get(pk=invoice.pk)


def _error(call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


def test_a_lost_answer_keeps_one_claim_and_the_retry_records_the_first_refund(provider, paid):
    provider.script = ["silent"]

    error = _error(lambda: invoice_refund(invoice_id=paid.pk, amount=Decimal("5.00")))

    assert (error.status_code, error.message) == (502, "Provider refund failed: read timed out")
    claim = Refund.objects.get(invoice=paid)
    assert (claim.status, claim.amount, claim.call_started_at) == (
        RefundStatus.PENDING,
        Decimal("5.00"),
        None,
    )
    assert not CreditNote.objects.exists()

    outcome = invoice_refund(invoice_id=paid.pk, amount=Decimal("5.00"))

    assert provider.keys == [f"refund:{claim.pk}", f"refund:{claim.pk}"]
    assert len(provider.refunds) == 1  # the provider refunded once
    assert outcome.credit_note.refund_reference == "re_1"
    assert outcome.invoice.refunded_amount == Decimal("5.00")
    claim.refresh_from_db()
    assert (claim.status, claim.provider_refund_id, claim.credit_note_id) == (
        RefundStatus.SUCCEEDED,
        "re_1",
        outcome.credit_note.pk,
    )
    assert Refund.objects.count() == 1


def test_asking_again_without_an_amount_repeats_the_pending_refund(provider, paid):
    provider.script = ["down"]
    _error(lambda: invoice_refund(invoice_id=paid.pk, amount=Decimal("7.50")))

    outcome = invoice_refund(invoice_id=paid.pk)

    assert outcome.credit_note.amount == Decimal("7.50")
    assert outcome.invoice.status == InvoiceStatus.PAID  # partial: 7.50 of 20.00


def test_another_amount_or_record_only_waits_for_the_pending_refund(provider, paid):
    provider.script = ["down"]
    _error(lambda: invoice_refund(invoice_id=paid.pk, amount=Decimal("7.50")))
    expected = (
        409,
        "conflict",
        "A refund of 7.50 EUR is still pending at the provider; repeat that refund to complete it",
    )

    other = _error(lambda: invoice_refund(invoice_id=paid.pk, amount=Decimal("2.00")))
    recorded = _error(lambda: invoice_refund(invoice_id=paid.pk, record_only=True))

    assert (other.status_code, other.code, other.message) == expected
    assert (recorded.status_code, recorded.code, recorded.message) == expected
    assert provider.keys == [f"refund:{Refund.objects.get().pk}"]
    assert not CreditNote.objects.exists()


def test_a_call_under_way_is_waited_for_not_repeated(provider, paid, monkeypatch):
    from billing.invoices.services import refunds

    monkeypatch.setattr(refunds, "CLAIM_WAIT_SECONDS", 0.2)
    Refund.objects.create(
        invoice=paid,
        payment=paid.payments.get(),
        amount=Decimal("5.00"),
        currency="EUR",
        call_started_at=timezone.now(),
    )

    error = _error(lambda: invoice_refund(invoice_id=paid.pk, amount=Decimal("5.00")))

    assert (error.status_code, error.message) == (
        409,
        "A refund of this invoice is in progress at the provider",
    )
    assert provider.keys == []


def test_the_job_repeats_an_unanswered_claim_with_its_key_after_a_while(provider, paid):
    provider.script = ["silent"]
    _error(lambda: invoice_refund(invoice_id=paid.pk, amount=Decimal("5.00")))
    claim = Refund.objects.get()

    assert refunds_complete_pending() == 0  # staff may be retrying it right now
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=11)):
        assert refunds_complete_pending() == 1
        assert refunds_complete_pending() == 0

    assert provider.keys == [f"refund:{claim.pk}"] * 2
    assert len(provider.refunds) == 1
    claim.refresh_from_db()
    assert claim.status == RefundStatus.SUCCEEDED
    note = CreditNote.objects.get()
    assert (note.amount, note.refund_reference) == (Decimal("5.00"), "re_1")


def test_the_job_takes_over_a_claim_whose_process_died_during_the_call(provider, paid):
    started = timezone.now()
    claim = Refund.objects.create(
        invoice=paid,
        payment=paid.payments.get(),
        amount=Decimal("20.00"),
        currency="EUR",
        call_started_at=started,
    )

    with time_machine.travel(started + datetime.timedelta(minutes=1)):
        assert refunds_complete_pending() == 0  # the call may still be under way
    with time_machine.travel(started + datetime.timedelta(minutes=11)):
        assert refunds_complete_pending() == 1

    assert provider.keys == [f"refund:{claim.pk}"]
    paid.refresh_from_db()
    assert (paid.status, paid.refunded_amount) == (InvoiceStatus.REFUNDED, Decimal("20.00"))


def test_a_refusal_in_the_job_ends_the_claim(provider, paid):
    provider.script = ["down", "refuse"]
    _error(lambda: invoice_refund(invoice_id=paid.pk, amount=Decimal("5.00")))

    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=11)):
        assert refunds_complete_pending() == 0

    claim = Refund.objects.get()
    assert (claim.status, claim.failure_reason) == (
        RefundStatus.FAILED,
        "Provider refund failed: charge_already_refunded",
    )
    # A new refund can be asked for now.
    outcome = invoice_refund(invoice_id=paid.pk, amount=Decimal("2.00"))
    assert outcome.credit_note.amount == Decimal("2.00")
