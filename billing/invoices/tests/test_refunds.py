"""Refunds, credit notes and provider refund reversals (docs/concepts/invoices.md)."""

from __future__ import annotations

import datetime
import threading
from decimal import Decimal

import pytest
from django.db import connection
from django.utils import timezone

from accounts.tests.factories import AdminFactory, UserFactory
from audit.models import ActorType, AuditEntry
from billing.catalog.models import Currency, TaxRate
from billing.catalog.tests.factories import PlanFactory
from billing.invoices.models import (
    CreditNote,
    Invoice,
    InvoiceStatus,
    InvoiceType,
    LineType,
    NumberSequence,
    Payment,
    PaymentStatus,
    Refund,
    RefundStatus,
)
from billing.invoices.services import (
    LineDraft,
    invoice_capture,
    invoice_issue,
    invoice_mark_paid,
    invoice_refund,
    invoice_refund_reverse,
)
from billing.invoices.signals import payment_refunded, refund_reversed
from billing.subscriptions.models import Subscription, SubscriptionStatus
from plugins import gateway as plugin_gateway
from plugins import state as plugin_state
from tokens.models import (
    PurchaseStatus,
    TokenBundlePurchase,
    TokenTransaction,
    TokenTransactionType,
)
from tokens.services.ledger import balance_of, tokens_debit
from tokens.tests.factories import TokenBundleFactory
from vbwd.exceptions import DomainError

YEAR = timezone.now().year


# --- set-up ---------------------------------------------------------------------------------


@pytest.fixture
def buyer(db):
    """A German buyer; German seller (the settings' default) → 19 % on net prices."""
    TaxRate.objects.create(
        country_code="DE",
        name="USt",
        code="DE-19",
        rate=Decimal("19.00"),
        valid_from=datetime.date(2020, 1, 1),
    )
    return UserFactory(details={"country": "DE"})


@pytest.fixture
def staff(db):
    return AdminFactory()


def _issue(user, drafts) -> Invoice:
    return invoice_issue(
        user=user,
        invoice_type=InvoiceType.CHECKOUT,
        currency=Currency.objects.get(code="EUR"),
        drafts=drafts,
        payment_method=None,
    )


def _bundle_draft(user, *, tokens: int = 100, price: str = "9.99") -> LineDraft:
    bundle = TokenBundleFactory(token_amount=tokens, price=Decimal(price))
    purchase = TokenBundlePurchase.objects.create(
        user=user,
        bundle=bundle,
        bundle_name=bundle.name,
        status=PurchaseStatus.PENDING,
        token_amount=tokens,
        price=Decimal(price),
        currency="EUR",
    )
    return LineDraft(
        type=LineType.TOKEN_BUNDLE,
        description=bundle.name,
        unit_price=Decimal(price),
        item_id=purchase.pk,
        catalog_item_id=bundle.pk,
    )


def _paid_bundle_invoice(user, staff, *, tokens: int = 100) -> Invoice:
    """An 11.89 EUR invoice (9.99 net + 1.90 VAT) for one bundle of ``tokens``, paid by staff."""
    invoice = _issue(user, [_bundle_draft(user, tokens=tokens)])
    invoice_mark_paid(invoice_id=invoice.pk, actor=staff, payment_reference="TRANSFER-1")
    return Invoice.objects.get(pk=invoice.pk)


def _purchase(invoice) -> TokenBundlePurchase:
    return TokenBundlePurchase.objects.get(pk=invoice.lines.get().item_id)


def _spend(user, amount: int) -> None:
    tokens_debit(user=user, amount=amount, description="Chat usage")


def _error(call) -> DomainError:
    with pytest.raises(DomainError) as caught:
        call()
    return caught.value


# --- amounts, credit notes, numbering -------------------------------------------------------


def test_a_partial_refund_issues_a_credit_note_with_the_proportional_tax(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)
    assert (invoice.subtotal, invoice.tax_amount, invoice.total_amount) == (
        Decimal("9.99"),
        Decimal("1.90"),
        Decimal("11.89"),
    )

    outcome = invoice_refund(
        invoice_id=invoice.pk, actor=staff, amount=Decimal("5.00"), reason="Goodwill"
    )

    note = outcome.credit_note
    assert outcome.full_refund is False
    assert note.credit_note_number == f"CN-{YEAR}-000001"
    assert (note.amount, note.net_amount, note.tax_amount) == (
        Decimal("5.00"),
        Decimal("4.20"),
        Decimal("0.80"),
    )
    assert note.currency == "EUR"
    assert note.full_refund is False
    assert note.reason == "Goodwill"
    assert note.refund_reference == "ADMIN_REFUND"
    assert note.created_by_id == staff.pk
    assert note.reversal_data == {}
    assert (note.tokens_clawed_back, note.token_shortfall) == (0, 0)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.refunded_amount == Decimal("5.00")
    assert invoice.refunded_at is not None
    payment = Payment.objects.get(invoice=invoice)
    assert outcome.payment == payment
    assert note.payment_id == payment.pk
    assert payment.status == PaymentStatus.PARTIALLY_REFUNDED
    assert payment.refunded_amount == Decimal("5.00")
    # A partial refund reverses nothing.
    assert _purchase(invoice).status == PurchaseStatus.COMPLETED
    assert balance_of(buyer) == 100


def test_refunding_the_remainder_completes_the_invoice_and_the_credit_notes_add_up(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)
    invoice_refund(invoice_id=invoice.pk, actor=staff, amount=Decimal("5.00"))

    outcome = invoice_refund(invoice_id=invoice.pk, actor=staff)  # default: the remainder

    note = outcome.credit_note
    assert outcome.full_refund is True
    assert note.credit_note_number == f"CN-{YEAR}-000002"
    # The last credit note takes what the first left: 9.99 − 4.20 net, 1.90 − 0.80 tax.
    assert (note.amount, note.net_amount, note.tax_amount) == (
        Decimal("6.89"),
        Decimal("5.79"),
        Decimal("1.10"),
    )
    notes = CreditNote.objects.filter(invoice=invoice)
    assert sum(n.net_amount for n in notes) == invoice.subtotal
    assert sum(n.tax_amount for n in notes) == invoice.tax_amount
    assert sum(n.amount for n in notes) == invoice.total_amount
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.REFUNDED
    assert invoice.refunded_amount == Decimal("11.89")
    payment = Payment.objects.get(invoice=invoice)
    assert payment.status == PaymentStatus.REFUNDED
    assert payment.refunded_amount == Decimal("11.89")
    line = invoice.lines.get()
    assert note.reversal_data == {str(line.pk): {"status": PurchaseStatus.COMPLETED}}
    assert _purchase(invoice).status == PurchaseStatus.REFUNDED
    assert (outcome.tokens_clawed_back, outcome.token_shortfall) == (100, 0)
    assert balance_of(buyer) == 0


def test_a_full_refund_at_once_takes_the_invoice_net_and_tax(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)

    outcome = invoice_refund(invoice_id=invoice.pk, actor=staff)

    assert outcome.full_refund is True
    assert (outcome.credit_note.net_amount, outcome.credit_note.tax_amount) == (
        Decimal("9.99"),
        Decimal("1.90"),
    )
    assert outcome.credit_note.credit_note_number == f"CN-{YEAR}-000001"
    assert outcome.invoice.status == InvoiceStatus.REFUNDED
    assert NumberSequence.objects.get(series="CN", year=YEAR).last_value == 1


def test_a_full_refund_claws_back_the_bundle_tokens_with_one_ledger_entry(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)

    outcome = invoice_refund(invoice_id=invoice.pk, actor=staff)

    note = outcome.credit_note
    entry = TokenTransaction.objects.get(user=buyer, transaction_type=TokenTransactionType.REFUND)
    assert entry.amount == -100
    assert entry.balance_after == 0
    assert entry.idempotency_key == f"credit-note:{note.pk}"
    assert entry.reference_id == str(note.pk)
    assert entry.description == f"Refund of {invoice.invoice_number}"
    assert (note.tokens_clawed_back, note.token_shortfall) == (100, 0)


def test_plan_tokens_and_the_subscription_are_reversed_with_the_bundle(buyer, staff):
    plan = PlanFactory(features={"default_tokens": 50})
    subscription = Subscription.objects.create(
        user=buyer, plan=plan, status=SubscriptionStatus.PENDING
    )
    invoice = _issue(
        buyer,
        [
            LineDraft(
                type=LineType.SUBSCRIPTION,
                description=plan.name,
                unit_price=Decimal("10.00"),
                item_id=subscription.pk,
                catalog_item_id=plan.pk,
            ),
            _bundle_draft(buyer, tokens=100),
        ],
    )
    invoice_mark_paid(invoice_id=invoice.pk, actor=staff)
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert balance_of(buyer) == 150

    outcome = invoice_refund(invoice_id=invoice.pk, actor=staff)

    assert outcome.tokens_clawed_back == 150
    assert balance_of(buyer) == 0
    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.CANCELLED
    assert subscription.expires_at <= timezone.now()
    assert len(outcome.credit_note.reversal_data) == 2

    invoice_refund_reverse(credit_note_id=outcome.credit_note.pk, actor_label="stripe")

    subscription.refresh_from_db()
    assert subscription.status == SubscriptionStatus.ACTIVE
    assert subscription.expires_at > timezone.now()
    assert subscription.cancelled_at is None
    assert balance_of(buyer) == 150


# --- token shortfall ------------------------------------------------------------------------


def test_a_full_refund_is_refused_when_the_tokens_were_spent(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)
    _spend(buyer, 30)

    error = _error(lambda: invoice_refund(invoice_id=invoice.pk, actor=staff))

    assert error.status_code == 409
    assert error.code == "insufficient_tokens"
    assert error.message == (
        "Refund would claw back 100 tokens but the balance is 70. "
        "Pass force=true to claw back what is available."
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.PAID, Decimal("0"))
    assert not CreditNote.objects.exists()
    assert Payment.objects.get(invoice=invoice).status == PaymentStatus.CAPTURED
    assert not NumberSequence.objects.filter(series="CN").exists()
    assert balance_of(buyer) == 70
    assert _purchase(invoice).status == PurchaseStatus.COMPLETED


def test_force_claws_back_what_is_there_and_records_the_shortfall(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)
    _spend(buyer, 30)

    outcome = invoice_refund(invoice_id=invoice.pk, actor=staff, force=True)

    assert (outcome.tokens_clawed_back, outcome.token_shortfall) == (70, 30)
    assert (outcome.credit_note.tokens_clawed_back, outcome.credit_note.token_shortfall) == (70, 30)
    assert balance_of(buyer) == 0
    assert outcome.invoice.status == InvoiceStatus.REFUNDED


def test_a_partial_refund_does_not_check_tokens(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)
    _spend(buyer, 90)

    outcome = invoice_refund(invoice_id=invoice.pk, actor=staff, amount=Decimal("11.88"))

    assert outcome.full_refund is False
    assert outcome.tokens_clawed_back == 0
    assert balance_of(buyer) == 10


def test_the_refund_completing_a_partial_one_checks_every_granted_token(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)
    invoice_refund(invoice_id=invoice.pk, actor=staff, amount=Decimal("1.00"))
    _spend(buyer, 1)

    error = _error(lambda: invoice_refund(invoice_id=invoice.pk, actor=staff))

    assert error.code == "insufficient_tokens"
    assert "claw back 100 tokens but the balance is 99" in error.message


def test_a_provider_refund_never_refuses_for_tokens(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)
    _spend(buyer, 40)

    outcome = invoice_refund(
        invoice_id=invoice.pk,
        provider_initiated=True,
        actor_label="stripe",
        refund_reference="re_provider",
    )

    assert (outcome.tokens_clawed_back, outcome.token_shortfall) == (60, 40)
    assert outcome.credit_note.created_by_id is None
    assert outcome.credit_note.refund_reference == "re_provider"
    entry = AuditEntry.objects.get(action="invoice.refunded")
    assert (entry.actor_type, entry.actor_label, entry.actor_id) == (
        ActorType.PROVIDER,
        "stripe",
        None,
    )


# --- refusals -------------------------------------------------------------------------------


def test_only_paid_invoices_can_be_refunded(buyer, staff):
    pending = _issue(
        buyer, [LineDraft(type=LineType.CUSTOM, description="x", unit_price=Decimal("1.00"))]
    )

    error = _error(lambda: invoice_refund(invoice_id=pending.pk, actor=staff))

    assert (error.status_code, error.code, error.message) == (
        400,
        "invalid_transition",
        "Only paid invoices can be refunded",
    )
    refunded = _paid_bundle_invoice(buyer, staff)
    invoice_refund(invoice_id=refunded.pk, actor=staff)
    error = _error(lambda: invoice_refund(invoice_id=refunded.pk, actor=staff))
    assert error.message == "Only paid invoices can be refunded"


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (Decimal("0"), "Refund amount must be greater than zero"),
        (Decimal("-1.00"), "Refund amount must be greater than zero"),
        (Decimal("11.90"), "Refund amount exceeds the refundable amount (11.89 EUR)"),
        (Decimal("1.001"), "Refund amount must have at most 2 decimal places"),
    ],
)
def test_refund_amounts_are_validated(buyer, staff, amount, message):
    invoice = _paid_bundle_invoice(buyer, staff)

    error = _error(lambda: invoice_refund(invoice_id=invoice.pk, actor=staff, amount=amount))

    assert (error.status_code, error.code, error.message) == (400, "validation_error", message)
    assert error.errors == {"amount": [message]}
    assert not CreditNote.objects.exists()


def test_the_refundable_amount_shrinks_with_each_refund(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)
    invoice_refund(invoice_id=invoice.pk, actor=staff, amount=Decimal("5.00"))

    error = _error(
        lambda: invoice_refund(invoice_id=invoice.pk, actor=staff, amount=Decimal("7.00"))
    )

    assert error.message == "Refund amount exceeds the refundable amount (6.89 EUR)"


def test_an_unknown_invoice_is_not_found(db):
    import uuid

    error = _error(lambda: invoice_refund(invoice_id=uuid.uuid4()))

    assert (error.status_code, error.message) == (404, "Invoice not found")


# --- audit and signals ----------------------------------------------------------------------


@pytest.fixture
def refunds_sent():
    received = []

    def on_refunded(sender, **kwargs):
        received.append(("refunded", kwargs))

    def on_reversed(sender, **kwargs):
        received.append(("reversed", kwargs))

    payment_refunded.connect(on_refunded, dispatch_uid="test-refunds-refunded")
    refund_reversed.connect(on_reversed, dispatch_uid="test-refunds-reversed")
    yield received
    payment_refunded.disconnect(dispatch_uid="test-refunds-refunded")
    refund_reversed.disconnect(dispatch_uid="test-refunds-reversed")


def test_each_refund_writes_audit_rows_and_sends_payment_refunded_after_commit(
    buyer, staff, refunds_sent, django_capture_on_commit_callbacks
):
    invoice = _paid_bundle_invoice(buyer, staff)

    with django_capture_on_commit_callbacks(execute=True):
        partial = invoice_refund(
            invoice_id=invoice.pk, actor=staff, amount=Decimal("5.00"), reason="Late delivery"
        )
        full = invoice_refund(invoice_id=invoice.pk, actor=staff)

    assert [
        (kind, kwargs["credit_note"], kwargs["full_refund"]) for kind, kwargs in refunds_sent
    ] == [
        ("refunded", partial.credit_note, False),
        ("refunded", full.credit_note, True),
    ]
    assert refunds_sent[1][1]["invoice"].status == InvoiceStatus.REFUNDED
    assert refunds_sent[1][1]["payment"].status == PaymentStatus.REFUNDED
    actions = list(
        AuditEntry.objects.filter(
            action__in=[
                "invoice.partially_refunded",
                "invoice.refunded",
                "payment.partially_refunded",
                "payment.refunded",
                "credit_note.issued",
            ]
        )
        .order_by("created_at", "action")
        .values_list("action", "actor_type", "actor_id")
    )
    assert sorted(actions) == sorted(
        [
            ("invoice.partially_refunded", ActorType.STAFF, staff.pk),
            ("payment.partially_refunded", ActorType.STAFF, staff.pk),
            ("credit_note.issued", ActorType.STAFF, staff.pk),
            ("invoice.refunded", ActorType.STAFF, staff.pk),
            ("payment.refunded", ActorType.STAFF, staff.pk),
            ("credit_note.issued", ActorType.STAFF, staff.pk),
        ]
    )
    entry = AuditEntry.objects.get(action="invoice.partially_refunded")
    assert entry.before == {"status": "PAID", "refunded_amount": "0.00"}
    assert entry.after == {"status": "PAID", "refunded_amount": "5.00"}
    assert entry.reason == "Late delivery"


def test_a_refused_refund_sends_nothing(
    buyer, staff, refunds_sent, django_capture_on_commit_callbacks
):
    invoice = _paid_bundle_invoice(buyer, staff)
    _spend(buyer, 1)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        _error(lambda: invoice_refund(invoice_id=invoice.pk, actor=staff))

    assert callbacks == []
    assert refunds_sent == []


# --- gateway --------------------------------------------------------------------------------


class FakeGateway(plugin_gateway.PaymentGateway):
    """A provider that records refund calls and answers as told."""

    name = "fakepay"
    calls: list[dict] = []
    fail_with: str | None = None
    supports_partial_refunds = True

    def create_session(self, request):  # pragma: no cover - not used here
        raise NotImplementedError

    def session_status(self, session_id):  # pragma: no cover
        raise NotImplementedError

    def parse_webhook(self, headers, body):  # pragma: no cover
        raise NotImplementedError

    def refund(
        self, *, external_payment_id, amount, currency, currency_places, idempotency_key=None
    ):
        type(self).calls.append(
            {
                "external_payment_id": external_payment_id,
                "amount": amount,
                "currency": currency,
                "idempotency_key": idempotency_key,
            }
        )
        if self.fail_with:
            raise plugin_gateway.GatewayError(self.fail_with)
        return plugin_gateway.RefundResult(
            refund_id=f"re_{len(type(self).calls)}",
            status="succeeded",
            amount=amount,
            currency=currency,
        )


@pytest.fixture
def fakepay(monkeypatch):
    """``fakepay`` as an installed gateway plugin; enabled unless a test says otherwise."""
    FakeGateway.calls = []
    FakeGateway.fail_with = None
    enabled = {"fakepay": True}
    monkeypatch.setattr(
        plugin_gateway,
        "gateway_for",
        lambda name: FakeGateway() if name == "fakepay" else pytest.fail(f"gateway {name}"),
    )
    monkeypatch.setattr(plugin_state, "is_enabled", lambda name: enabled.get(name, False))
    return enabled


def _paid_online(user, *, tokens: int = 100) -> Invoice:
    invoice = _issue(user, [_bundle_draft(user, tokens=tokens)])
    result = invoice_capture(
        invoice_id=invoice.pk,
        gateway="fakepay",
        external_id="pi_123",
        amount=invoice.total_amount,
        currency="EUR",
        actor_type=ActorType.PROVIDER,
        actor_label="fakepay",
    )
    assert result.paid
    return Invoice.objects.get(pk=invoice.pk)


def test_a_refund_of_an_online_payment_goes_through_the_gateway(buyer, staff, fakepay):
    invoice = _paid_online(buyer)

    outcome = invoice_refund(invoice_id=invoice.pk, actor=staff, amount=Decimal("5.00"))

    claim = Refund.objects.get(invoice=invoice)
    assert FakeGateway.calls == [
        {
            "external_payment_id": "pi_123",
            "amount": Decimal("5.00"),
            "currency": "EUR",
            "idempotency_key": f"refund:{claim.pk}",
        }
    ]
    assert (claim.status, claim.amount, claim.provider_refund_id) == (
        RefundStatus.SUCCEEDED,
        Decimal("5.00"),
        "re_1",
    )
    assert claim.credit_note == outcome.credit_note
    assert outcome.credit_note.refund_reference == "re_1"
    assert outcome.payment.gateway == "fakepay"
    assert outcome.payment.status == PaymentStatus.PARTIALLY_REFUNDED

    outcome = invoice_refund(invoice_id=invoice.pk, actor=staff)

    assert FakeGateway.calls[1]["amount"] == Decimal("6.89")
    assert outcome.payment.status == PaymentStatus.REFUNDED
    assert outcome.invoice.status == InvoiceStatus.REFUNDED


def test_a_gateway_failure_records_nothing_but_the_pending_claim(
    buyer, staff, fakepay, refunds_sent
):
    invoice = _paid_online(buyer)
    FakeGateway.fail_with = "card_declined"

    error = _error(lambda: invoice_refund(invoice_id=invoice.pk, actor=staff))

    assert (error.status_code, error.code, error.message) == (
        502,
        "provider_error",
        "Provider refund failed: card_declined",
    )
    invoice.refresh_from_db()
    assert (invoice.status, invoice.refunded_amount) == (InvoiceStatus.PAID, Decimal("0"))
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.CAPTURED, Decimal("0"))
    assert not CreditNote.objects.exists()
    assert not NumberSequence.objects.filter(series="CN").exists()
    assert list(
        AuditEntry.objects.filter(action__contains="refund").values_list("action", flat=True)
    ) == ["payment.refund_claimed"]
    assert balance_of(buyer) == 100
    assert refunds_sent == []
    # The claim stays PENDING with no call under way, so a retry repeats it with its key.
    claim = Refund.objects.get(invoice=invoice)
    assert (claim.status, claim.amount, claim.call_started_at) == (
        RefundStatus.PENDING,
        Decimal("11.89"),
        None,
    )
    assert FakeGateway.calls[0]["idempotency_key"] == f"refund:{claim.pk}"


def test_a_disabled_gateway_plugin_refuses_unless_record_only(buyer, staff, fakepay):
    invoice = _paid_online(buyer)
    fakepay["fakepay"] = False

    error = _error(lambda: invoice_refund(invoice_id=invoice.pk, actor=staff))

    assert (error.status_code, error.code, error.message) == (
        400,
        "item_unavailable",
        "Payment plugin 'fakepay' is disabled; refund at the provider and use record_only",
    )
    assert not CreditNote.objects.exists()

    outcome = invoice_refund(
        invoice_id=invoice.pk, actor=staff, record_only=True, refund_reference="DASHBOARD-7"
    )

    assert FakeGateway.calls == []
    assert outcome.credit_note.refund_reference == "DASHBOARD-7"
    assert outcome.invoice.status == InvoiceStatus.REFUNDED


def test_record_only_does_not_call_the_gateway(buyer, staff, fakepay):
    invoice = _paid_online(buyer)

    outcome = invoice_refund(
        invoice_id=invoice.pk, actor=staff, amount=Decimal("1.00"), record_only=True
    )

    assert FakeGateway.calls == []
    assert outcome.credit_note.refund_reference == "ADMIN_REFUND"
    assert outcome.payment.refunded_amount == Decimal("1.00")


def test_a_provider_initiated_refund_never_calls_the_gateway(buyer, fakepay):
    invoice = _paid_online(buyer)

    outcome = invoice_refund(
        invoice_id=invoice.pk,
        amount=Decimal("2.00"),
        provider_initiated=True,
        actor_label="fakepay",
        refund_reference="re_from_dashboard",
    )

    assert FakeGateway.calls == []
    assert outcome.credit_note.refund_reference == "re_from_dashboard"
    assert outcome.payment.status == PaymentStatus.PARTIALLY_REFUNDED


def test_the_token_check_runs_before_the_gateway_is_called(buyer, staff, fakepay):
    invoice = _paid_online(buyer)
    _spend(buyer, 1)

    error = _error(lambda: invoice_refund(invoice_id=invoice.pk, actor=staff))

    assert error.code == "insufficient_tokens"
    assert FakeGateway.calls == []


def test_a_manual_payment_is_refunded_without_any_gateway(buyer, staff, fakepay):
    invoice = _paid_bundle_invoice(buyer, staff)

    outcome = invoice_refund(invoice_id=invoice.pk, actor=staff, amount=Decimal("1.00"))

    assert FakeGateway.calls == []
    assert outcome.payment.gateway == "manual"


# --- refund reversal ------------------------------------------------------------------------


def test_reversing_a_full_refund_restores_the_invoice_purchase_and_tokens(
    buyer, staff, refunds_sent, django_capture_on_commit_callbacks
):
    invoice = _paid_bundle_invoice(buyer, staff)
    _spend(buyer, 30)
    refund = invoice_refund(invoice_id=invoice.pk, actor=staff, force=True)
    assert balance_of(buyer) == 0

    with django_capture_on_commit_callbacks(execute=True):
        note = invoice_refund_reverse(credit_note_id=refund.credit_note.pk, actor_label="stripe")

    assert note.reversed_at is not None
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.refunded_amount == Decimal("0.00")
    assert invoice.refunded_at is None
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.status, payment.refunded_amount) == (PaymentStatus.CAPTURED, Decimal("0"))
    assert _purchase(invoice).status == PurchaseStatus.COMPLETED
    # Exactly what was clawed back comes back (the shortfall was never taken).
    assert balance_of(buyer) == 70
    entry = TokenTransaction.objects.get(idempotency_key=f"refund-reversal:{note.pk}")
    assert entry.amount == 70
    assert entry.transaction_type == TokenTransactionType.REFUND
    assert [kind for kind, _kwargs in refunds_sent] == ["reversed"]
    assert refunds_sent[0][1]["invoice"].status == InvoiceStatus.PAID
    audit = AuditEntry.objects.get(action="invoice.refund_reversed")
    assert (audit.actor_type, audit.actor_label) == (ActorType.PROVIDER, "stripe")
    assert audit.before == {"status": "REFUNDED", "refunded_amount": "11.89"}
    assert audit.after == {"status": "PAID", "refunded_amount": "0.00"}
    assert AuditEntry.objects.filter(action="credit_note.reversed").count() == 1


def test_a_refund_reversal_is_idempotent(
    buyer, staff, refunds_sent, django_capture_on_commit_callbacks
):
    invoice = _paid_bundle_invoice(buyer, staff)
    refund = invoice_refund(invoice_id=invoice.pk, actor=staff)
    invoice_refund_reverse(credit_note_id=refund.credit_note.pk)

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        again = invoice_refund_reverse(credit_note_id=refund.credit_note.pk)

    assert again.reversed_at is not None
    assert callbacks == []
    assert balance_of(buyer) == 100
    assert AuditEntry.objects.filter(action="credit_note.reversed").count() == 1


def test_reversing_a_partial_refund_gives_the_amount_back_and_touches_no_line(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)
    first = invoice_refund(invoice_id=invoice.pk, actor=staff, amount=Decimal("2.00"))
    invoice_refund(invoice_id=invoice.pk, actor=staff, amount=Decimal("3.00"))

    invoice_refund_reverse(credit_note_id=first.credit_note.pk)

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID
    assert invoice.refunded_amount == Decimal("3.00")
    payment = Payment.objects.get(invoice=invoice)
    assert (payment.status, payment.refunded_amount) == (
        PaymentStatus.PARTIALLY_REFUNDED,
        Decimal("3.00"),
    )
    assert _purchase(invoice).status == PurchaseStatus.COMPLETED
    assert balance_of(buyer) == 100


def test_after_a_reversal_the_invoice_can_be_refunded_again_in_full(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)
    first = invoice_refund(invoice_id=invoice.pk, actor=staff)
    invoice_refund_reverse(credit_note_id=first.credit_note.pk)

    second = invoice_refund(invoice_id=invoice.pk, actor=staff)

    # The reversed credit note no longer counts: its net/tax and claw-back were undone.
    assert (second.credit_note.net_amount, second.credit_note.tax_amount) == (
        Decimal("9.99"),
        Decimal("1.90"),
    )
    assert second.tokens_clawed_back == 100
    assert second.credit_note.credit_note_number == f"CN-{YEAR}-000002"
    assert balance_of(buyer) == 0
    assert second.invoice.status == InvoiceStatus.REFUNDED


def test_an_unknown_credit_note_is_not_found(db):
    import uuid

    error = _error(lambda: invoice_refund_reverse(credit_note_id=uuid.uuid4()))

    assert (error.status_code, error.message) == (404, "Credit note not found")


# --- concurrency (PostgreSQL row locks) -----------------------------------------------------


def _race(count: int, action) -> list[str]:
    barrier = threading.Barrier(count)
    outcomes: list[str] = []
    lock = threading.Lock()

    def run():
        try:
            barrier.wait()
            try:
                action()
                outcome = "done"
            except DomainError as error:
                outcome = error.code
            with lock:
                outcomes.append(outcome)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(outcomes)


def _tax_rate() -> None:
    TaxRate.objects.create(
        country_code="DE",
        name="USt",
        code="DE-19",
        rate=Decimal("19.00"),
        valid_from=datetime.date(2020, 1, 1),
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_full_refunds_refund_once():
    _tax_rate()
    buyer, staff = UserFactory(details={"country": "DE"}), AdminFactory()
    invoice = _paid_bundle_invoice(buyer, staff)

    outcomes = _race(5, lambda: invoice_refund(invoice_id=invoice.pk, actor=staff))

    assert outcomes == ["done"] + ["invalid_transition"] * 4
    assert CreditNote.objects.filter(invoice=invoice).count() == 1
    assert balance_of(buyer) == 0
    assert (
        TokenTransaction.objects.filter(transaction_type=TokenTransactionType.REFUND).count() == 1
    )


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_partial_refunds_never_exceed_the_total():
    _tax_rate()
    buyer, staff = UserFactory(details={"country": "DE"}), AdminFactory()
    invoice = _paid_bundle_invoice(buyer, staff)
    _spend(buyer, 100)

    outcomes = _race(
        6, lambda: invoice_refund(invoice_id=invoice.pk, actor=staff, amount=Decimal("3.00"))
    )

    # 3 × 3.00 fit into 11.89; the rest find too little left.
    assert outcomes == ["done"] * 3 + ["validation_error"] * 3
    invoice.refresh_from_db()
    assert invoice.refunded_amount == Decimal("9.00")
    assert Payment.objects.get(invoice=invoice).refunded_amount == Decimal("9.00")
    numbers = sorted(CreditNote.objects.values_list("credit_note_number", flat=True))
    assert numbers == [f"CN-{YEAR}-00000{n}" for n in (1, 2, 3)]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_online_refunds_call_the_provider_once(fakepay):
    """The invoice stays locked through the provider call: a double click refunds once."""
    _tax_rate()
    buyer = UserFactory(details={"country": "DE"})
    staff = AdminFactory()
    invoice = _paid_online(buyer)

    outcomes = _race(4, lambda: invoice_refund(invoice_id=invoice.pk, actor=staff, force=True))

    assert outcomes == ["done"] + ["invalid_transition"] * 3
    assert len(FakeGateway.calls) == 1
    assert CreditNote.objects.filter(invoice=invoice).count() == 1


def test_reversing_a_partial_refund_of_a_refunded_invoice_keeps_it_refunded(buyer, staff):
    invoice = _paid_bundle_invoice(buyer, staff)
    first = invoice_refund(invoice_id=invoice.pk, actor=staff, amount=Decimal("2.00"))
    invoice_refund(invoice_id=invoice.pk, actor=staff, force=True)  # the rest: REFUNDED

    invoice_refund_reverse(credit_note_id=first.credit_note.pk)

    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.REFUNDED  # its lines stay reversed
    assert invoice.refunded_amount == invoice.total_amount - Decimal("2.00")
    assert _purchase(invoice).status == PurchaseStatus.REFUNDED
